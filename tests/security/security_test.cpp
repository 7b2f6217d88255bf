// The connection-layer rows of issue 15, each reproduced against a live
// server on loopback (ServerHarness: the real HttpServer over a fixture
// model) with the attack as the issue describes it, and the behaviour now
// expected. Every loop is bounded; every test stops by itself.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "security/raw_client.h"
#include "server/server_harness.h"

namespace chunkserve::server {
namespace {

using security_testing::RawClient;
using security_testing::RawResponse;
using testing::HarnessOptions;
using testing::ServerHarness;
using Clock = std::chrono::steady_clock;

const char kKey[] = "test-key-0123456789";

double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

std::string Get(const std::string& path, const std::string& extra = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra + "\r\n";
}

std::string Post(const std::string& path, const std::string& body, const std::string& type = "application/json",
                 const std::string& extra = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body;
}

std::string Bearer() { return std::string("Authorization: Bearer ") + kKey + "\r\n"; }

// One request on a fresh connection.
std::optional<RawResponse> Ask(int port, const std::string& request, int timeout_ms = 5000) {
  RawClient c(port);
  if (!c.connected() || !c.Send(request)) return std::nullopt;
  return c.Read(timeout_ms);
}

// Peak resident memory of this process (the server runs in it), in MiB.
double PeakRssMib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

// gzip of `n_copies` x `data`, streamed (a bomb is built without holding its
// decompressed size, so the test's own peak memory stays low).
std::string Gzip(const std::string& data, int level, size_t n_copies = 1) {
  z_stream zs{};
  deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out;
  char buf[65536];
  for (size_t i = 0; i < n_copies; ++i) {
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs.avail_in = static_cast<uInt>(data.size());
    const int flush = i + 1 == n_copies ? Z_FINISH : Z_NO_FLUSH;
    do {
      zs.next_out = reinterpret_cast<Bytef*>(buf);
      zs.avail_out = sizeof(buf);
      deflate(&zs, flush);
      out.append(buf, sizeof(buf) - zs.avail_out);
    } while (zs.avail_out == 0);
  }
  deflateEnd(&zs);
  return out;
}

// Hostile clients of row 1: each connection sends a partial request line,
// then one header line every `period_ms`, without a key, never finishing.
class Tricklers {
 public:
  Tricklers(int port, int n, int period_ms) : period_ms_(period_ms) {
    for (int i = 0; i < n; ++i) {
      auto c = std::make_unique<RawClient>(port);
      if (c->connected()) c->Send("POST /v1/chat/completions HT");
      conns_.push_back(std::move(c));
    }
    thread_ = std::thread([this] { Loop(); });
  }
  ~Tricklers() {
    stop_ = true;
    thread_.join();
  }
  int connected() const {
    int n = 0;
    for (const auto& c : conns_) n += c->connected() ? 1 : 0;
    return n;
  }

 private:
  void Loop() {
    int line = 0;
    while (!stop_) {
      for (auto& c : conns_)
        if (c->connected()) c->Send(line == 0 ? "TP/1.1\r\n" : "X-Slow-" + std::to_string(line) + ": 1\r\n");
      ++line;
      for (int t = 0; t < period_ms_ && !stop_; t += 10) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  int period_ms_;
  std::vector<std::unique_ptr<RawClient>> conns_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// Row 1: 64 trickling unauthenticated connections (more than the 8 workers)
// must not delay a keyed client: p99 of /health below 200 ms.
TEST(SecurityTest, SlowClientsDoNotStarveKeyedClient) {
  HarnessOptions o;
  o.api_keys = {kKey};
  o.tune_http = [](HttpServerOptions& h) { h.n_http_threads = 8; };
  ServerHarness s(o);
  Tricklers hostile(s.port(), 64, 100);
  ASSERT_EQ(hostile.connected(), 64);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // every trickler has sent lines
  std::vector<double> ms;
  for (int i = 0; i < 200; ++i) {
    const auto t0 = Clock::now();
    std::optional<RawResponse> r = Ask(s.port(), Get("/health", Bearer()));
    ms.push_back(MsSince(t0));
    ASSERT_TRUE(r.has_value()) << "request " << i;
    ASSERT_EQ(r->status, 200);
  }
  const double p50 = Percentile(ms, 0.5), p99 = Percentile(ms, 0.99);
  std::printf("keyed /health with 64 trickling connections open: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", p50, p99,
              *std::max_element(ms.begin(), ms.end()));
  EXPECT_LT(p99, 200.0);
  // Keep-alive requests of an authenticated client too.
  RawClient keyed(s.port());
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(keyed.Send(Get("/v1/models", Bearer())));
    std::optional<RawResponse> r = keyed.Read(2000);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
  }
}

// Row 1: the whole head has a deadline; sending a header line now and then
// does not extend it.
TEST(SecurityTest, TricklingHeadIsCutAtTheHeaderDeadline) {
  HarnessOptions o;
  o.tune_http = [](HttpServerOptions& h) { h.header_timeout_ms = 1000; };
  ServerHarness s(o);
  RawClient c(s.port());
  ASSERT_TRUE(c.Send("GET /health HTTP/1.1\r\n"));
  const auto t0 = Clock::now();
  bool cut = false;
  for (int i = 0; i < 40 && !cut; ++i) {  // at most 4 s
    c.Send("X-Line-" + std::to_string(i) + ": 1\r\n");
    cut = c.ClosedWithin(100) || c.eof();
  }
  EXPECT_TRUE(cut) << "a trickling head kept its connection for 4 s";
  EXPECT_LT(MsSince(t0), 2500);
  // It was told why (408) before the close.
  RawClient again(s.port());
  ASSERT_TRUE(again.Send("GET /health HTTP/1.1\r\n"));
  std::optional<RawResponse> r = again.Read(3000);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 408);
}

// Row 1: idle connections (connect, send nothing) cost no worker, and a
// POST without Content-Length holds nothing.
TEST(SecurityTest, IdleConnectionsAndBodilessPostHoldNoWorker) {
  HarnessOptions o;
  o.api_keys = {kKey};
  o.tune_http = [](HttpServerOptions& h) { h.n_http_threads = 4; };
  ServerHarness s(o);
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 64; ++i) idle.push_back(std::make_unique<RawClient>(s.port()));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto t0 = Clock::now();
  std::optional<RawResponse> r = Ask(s.port(), Get("/health"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_LT(MsSince(t0), 500);
  t0 = Clock::now();
  r = Ask(s.port(), "POST /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 401);  // only GET /health is open
  EXPECT_LT(MsSince(t0), 500);
  t0 = Clock::now();
  r = Ask(s.port(), "POST /health HTTP/1.1\r\nHost: localhost\r\n" + Bearer() + "\r\n");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 405);  // a known path, the wrong method: answered at once
  EXPECT_LT(MsSince(t0), 500);
  t0 = Clock::now();
  r = Ask(s.port(), "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n" + Bearer() + "\r\n");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 400);  // no body means an empty body, not "read until EOF"
  EXPECT_LT(MsSince(t0), 500);
}

// Row 1: the key is checked as soon as the head is in, before the body is
// read: a 1 MB Content-Length without a key is refused without waiting.
TEST(SecurityTest, KeyCheckedBeforeTheBody) {
  HarnessOptions o;
  o.api_keys = {kKey};
  o.max_body_bytes = 8 << 20;
  ServerHarness s(o);
  const auto t0 = Clock::now();
  std::optional<RawResponse> r =
      Ask(s.port(), "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                    "Content-Length: 1000000\r\n\r\n{\"messages\":");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 401);
  EXPECT_LT(MsSince(t0), 500);
  // A slow body from a keyed client has its own deadline.
  HarnessOptions o2;
  o2.tune_http = [](HttpServerOptions& h) { h.body_timeout_ms = 800; };
  ServerHarness s2(o2);
  RawClient c(s2.port());
  ASSERT_TRUE(c.Send("POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                     "Content-Length: 100\r\n\r\n{"));
  r = c.Read(3000);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 408);
}

// Row 1: over the connection cap, unauthenticated incomplete connections are
// shed first; an authenticated keep-alive connection survives a flood.
TEST(SecurityTest, ConnectionCapShedsUnauthenticatedFirst) {
  HarnessOptions o;
  o.api_keys = {kKey};
  o.tune_http = [](HttpServerOptions& h) {
    h.max_connections = 16;
    h.max_connections_per_ip = 16;
    h.keep_alive_ms = 20'000;
  };
  ServerHarness s(o);
  RawClient keyed(s.port());
  ASSERT_TRUE(keyed.Send(Get("/v1/models", Bearer())));
  std::optional<RawResponse> r = keyed.Read(2000);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->status, 200);
  // 48 hostile connections, each with a partial head: the cap is 16.
  std::vector<std::unique_ptr<RawClient>> hostile;
  for (int i = 0; i < 48; ++i) {
    hostile.push_back(std::make_unique<RawClient>(s.port()));
    hostile.back()->Send("GET /v1/models HTTP/1.1\r\nHost: localhost\r\n");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const ConnectionLayerStats st = s.http().connection_stats();
  EXPECT_GE(st.shed, 32);
  EXPECT_LE(st.open, 16);
  std::optional<RawResponse> metrics = Ask(s.port(), Get("/metrics", Bearer()));
  ASSERT_TRUE(metrics.has_value());
  EXPECT_NE(metrics->body.find("chunkserve_http_connections_shed_total "), std::string::npos);
  // The authenticated connection is still there and served.
  ASSERT_TRUE(keyed.Send(Get("/v1/models", Bearer())));
  r = keyed.Read(2000);
  ASSERT_TRUE(r.has_value()) << "the authenticated connection was shed";
  EXPECT_EQ(r->status, 200);
  // And a new keyed client gets in.
  r = Ask(s.port(), Get("/health", Bearer()));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
}

// Row 1 (memory side): bodies held at once are bounded, so connections that
// each announce a maximal body cannot make the server buffer them all.
TEST(SecurityTest, BufferedBodiesAreBounded) {
  HarnessOptions o;
  o.max_body_bytes = 1 << 20;
  o.tune_http = [](HttpServerOptions& h) { h.max_buffered_body_bytes = 2 << 20; };
  ServerHarness s(o);
  const std::string head = "POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                           "Content-Length: 1000000\r\n\r\n{";
  auto a = std::make_unique<RawClient>(s.port());
  RawClient b(s.port()), c(s.port());
  ASSERT_TRUE(a->Send(head));
  ASSERT_TRUE(b.Send(head));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(c.Send(head));
  std::optional<RawResponse> r = c.Read(2000);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->Header("retry-after"), "1");
  EXPECT_EQ(s.http().connection_stats().refused_busy, 1);
  // A client that leaves frees its share.
  a.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  RawClient d(s.port());
  ASSERT_TRUE(d.Send(head + std::string(999'999, ' ')));
  r = d.Read(5000);
  ASSERT_TRUE(r.has_value());
  EXPECT_NE(r->status, 503);  // read and served (a 400: the body is not JSON)
}

// Without keys nobody is authenticated: connections that announce a body
// and never send it cannot fill the cap for their body deadline.
TEST(SecurityTest, StalledBodiesAreShedWithoutKeys) {
  HarnessOptions o;
  o.tune_http = [](HttpServerOptions& h) {
    h.max_connections = 8;
    h.max_connections_per_ip = 8;
  };
  ServerHarness s(o);
  std::vector<std::unique_ptr<RawClient>> stalled;
  for (int i = 0; i < 8; ++i) {
    stalled.push_back(std::make_unique<RawClient>(s.port()));
    stalled.back()->Send("POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                         "Content-Length: 100\r\n\r\n{");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto t0 = Clock::now();
  std::optional<RawResponse> r = Ask(s.port(), Get("/health"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_LT(MsSince(t0), 500);
  EXPECT_GE(s.http().connection_stats().shed, 1);
}

// Row 2: a gzip bomb is refused after at most the body limit of inflation,
// and without a key it is not inflated at all.
TEST(SecurityTest, GzipBombIsNotInflated) {
  HarnessOptions o;
  o.max_body_bytes = 1 << 20;
  ServerHarness s(o);
  const std::string bomb = Gzip(std::string(size_t{1} << 20, '\0'), 9, 300);  // 300 MiB -> ~300 KB
  ASSERT_LT(bomb.size(), size_t{1} << 20);
  const double rss0 = PeakRssMib();
  const auto t0 = Clock::now();
  std::optional<RawResponse> r =
      Ask(s.port(), Post("/v1/chat/completions", bomb, "application/json", "Content-Encoding: gzip\r\n"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(r->body.find("decompressed"), std::string::npos) << r->body;
  EXPECT_LT(MsSince(t0), 2000);
  EXPECT_LT(PeakRssMib() - rss0, 64.0) << "the bomb was inflated";
  // Without the key the body is not even read.
  HarnessOptions ok;
  ok.api_keys = {kKey};
  ok.max_body_bytes = 1 << 20;
  ServerHarness keyed(ok);
  r = Ask(keyed.port(), Post("/health", bomb, "application/json", "Content-Encoding: gzip\r\n"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 401);
  // A well-formed compressed request still works.
  const std::string body = R"({"prompt": "the miller", "max_tokens": 2, "temperature": 0})";
  r = Ask(s.port(), Post("/v1/completions", Gzip(body, 6), "application/json", "Content-Encoding: gzip\r\n"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200) << r->body;
  r = Ask(s.port(), Post("/v1/completions", body, "application/json", "Content-Encoding: br\r\n"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 415);
}

// Row 3: 8 MB of "[[[[..." and 2 M tiny values are refused before parsing.
TEST(SecurityTest, DeepOrHugeJsonIsRefusedBeforeParsing) {
  HarnessOptions o;
  o.max_body_bytes = 9 << 20;
  ServerHarness s(o);
  const double rss0 = PeakRssMib();
  std::optional<RawResponse> r = Ask(s.port(), Post("/v1/chat/completions", std::string(8 << 20, '[')), 10000);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("nests deeper"), std::string::npos) << r->body;
  std::string wide = "[0";
  while (wide.size() < (size_t{4} << 20)) wide += ",0";
  wide += "]";
  r = Ask(s.port(), Post("/v1/embeddings", "{\"input\": " + wide + "}"), 10000);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("values"), std::string::npos) << r->body;
  // The test's own request strings take ~25 MB; a parse would take hundreds.
  EXPECT_LT(PeakRssMib() - rss0, 100.0);
}

// Row 9: a JSON body sent as form-urlencoded (curl -d) is a clear 415, not
// a 413 from httplib's 8 KB form limit; as application/json it is served.
TEST(SecurityTest, FormEncodedJsonIsUnsupportedMediaTypeNotTooLarge) {
  ServerHarness s;
  std::string text(8300, 'a');
  const std::string body = R"({"prompt": ")" + text.substr(0, 8200) + R"(", "max_tokens": 1})";
  std::optional<RawResponse> r =
      Ask(s.port(), Post("/v1/completions", body, "application/x-www-form-urlencoded"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 415);
  EXPECT_NE(r->body.find("application/json"), std::string::npos);
  r = Ask(s.port(), Post("/v1/completions", body, "application/json; charset=utf-8"));
  ASSERT_TRUE(r.has_value());
  EXPECT_NE(r->status, 413);
  EXPECT_NE(r->status, 415);
}

// Chunked request bodies are decoded under the same body limit.
TEST(SecurityTest, ChunkedBodiesAreDecodedUnderTheLimit) {
  HarnessOptions o;
  o.max_body_bytes = 1 << 16;
  ServerHarness s(o);
  const std::string body = R"({"prompt": "the miller", "max_tokens": 2, "temperature": 0})";
  std::string chunked;
  for (size_t i = 0; i < body.size(); i += 7) {
    const std::string part = body.substr(i, 7);
    char size[16];
    std::snprintf(size, sizeof(size), "%zx", part.size());
    chunked += std::string(size) + "\r\n" + part + "\r\n";
  }
  chunked += "0\r\n\r\n";
  const std::string head = "POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n";
  RawClient c(s.port());
  ASSERT_TRUE(c.Send(head + chunked + Get("/health")));  // and a pipelined request after it
  std::optional<RawResponse> r = c.Read(5000);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200) << r->body;
  r = c.Read(2000);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  // Over the limit: 413 once the decoded size passes it.
  RawClient big(s.port());
  ASSERT_TRUE(big.Send(head));
  for (int i = 0; i < 40; ++i)
    if (!big.Send("1000\r\n" + std::string(0x1000, ' ') + "\r\n")) break;
  r = big.Read(3000);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 413);
}

// Row 10: pipelined requests are all answered, in order.
TEST(SecurityTest, PipelinedRequestsAreAnswered) {
  ServerHarness s;
  RawClient c(s.port());
  const auto t0 = Clock::now();
  ASSERT_TRUE(c.Send(Get("/health") + Get("/v1/models") + Get("/health")));
  for (int i = 0; i < 3; ++i) {
    std::optional<RawResponse> r = c.Read(2000);
    ASSERT_TRUE(r.has_value()) << "response " << i;
    EXPECT_EQ(r->status, 200);
    if (i == 1) {
      EXPECT_NE(r->body.find("fixture"), std::string::npos);
    }
  }
  EXPECT_LT(MsSince(t0), 1000);
}

// Row 11: a known path with the wrong method is 405 with Allow, at once.
TEST(SecurityTest, WrongMethodIs405WithAllow) {
  ServerHarness s;
  struct Case {
    std::string request, allow;
  } cases[] = {
      {Get("/v1/chat/completions"), "POST"},
      {"PUT /v1/collections HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n", "GET, HEAD, POST"},
      {"PATCH /health HTTP/1.1\r\nHost: localhost\r\n\r\n", "GET, HEAD"},
  };
  for (const Case& c : cases) {
    const auto t0 = Clock::now();
    std::optional<RawResponse> r = Ask(s.port(), c.request);
    ASSERT_TRUE(r.has_value()) << c.request;
    EXPECT_EQ(r->status, 405) << c.request;
    EXPECT_EQ(r->Header("allow"), c.allow);
    EXPECT_LT(MsSince(t0), 500);
  }
  std::optional<RawResponse> r = Ask(s.port(), Get("/v1/nothing-here"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 404);
}

// Row 5: a foreign Host (DNS rebinding) is refused on a loopback server;
// --allowed-host admits a name.
TEST(SecurityTest, ForeignHostRefusedOnLoopback) {
  HarnessOptions o;
  o.tune_http = [](HttpServerOptions& h) { h.allowed_hosts = {"myhost.lan"}; };
  ServerHarness s(o);
  std::optional<RawResponse> r = Ask(s.port(), "GET /v1/models HTTP/1.1\r\nHost: evil.example\r\n\r\n");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 403);
  for (const char* host : {"localhost:8080", "127.0.0.1", "[::1]:1234", "myhost.lan:99"}) {
    r = Ask(s.port(), std::string("GET /v1/models HTTP/1.1\r\nHost: ") + host + "\r\n\r\n");
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200) << host;
  }
}

// Row 5: a page on another origin cannot change state (no key configured):
// POSTs with a foreign Origin are refused unless --cors-origin allows them,
// text/plain "JSON" is refused, and an allowed origin gets CORS headers.
TEST(SecurityTest, CrossOriginStateChangesRefused) {
  const std::string db = ::testing::TempDir() + "/security_cors.db";
  std::filesystem::remove(db);
  HarnessOptions o;
  o.rag_db_path = db;
  o.tune_http = [](HttpServerOptions& h) { h.cors_origins = {"http://app.example"}; };
  ServerHarness s(o);
  const std::string create = R"({"name": "up"})";
  std::optional<RawResponse> r =
      Ask(s.port(), Post("/v1/collections", create, "application/json", "Origin: http://evil.example\r\n"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 403);
  r = Ask(s.port(), Post("/v1/collections", create, "text/plain"));  // a "simple" CORS request
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 415);
  r = Ask(s.port(), Post("/v1/collections", create, "multipart/form-data; boundary=x",
                         "Origin: http://evil.example\r\n"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 403);
  // Same origin (the server's own page) and the allowed origin pass.
  r = Ask(s.port(), Post("/v1/collections", create, "application/json", "Origin: http://127.0.0.1\r\n"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200) << r->body;
  r = Ask(s.port(),
          Post("/v1/collections", R"({"name": "up2"})", "application/json", "Origin: http://app.example\r\n"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->Header("access-control-allow-origin"), "http://app.example");
  // Its refusals are readable too.
  r = Ask(s.port(), Post("/v1/collections", "{}", "text/plain", "Origin: http://app.example\r\n"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 415);
  EXPECT_EQ(r->Header("access-control-allow-origin"), "http://app.example");
  // Preflight.
  r = Ask(s.port(), "OPTIONS /v1/collections HTTP/1.1\r\nHost: localhost\r\nOrigin: http://app.example\r\n"
                    "Access-Control-Request-Method: POST\r\n\r\n");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 204);
  EXPECT_EQ(r->Header("access-control-allow-origin"), "http://app.example");
  r = Ask(s.port(), "OPTIONS /v1/collections HTTP/1.1\r\nHost: localhost\r\nOrigin: http://evil.example\r\n\r\n");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 403);
}

// Every RouteTable entry matches a handler (a stale entry would turn a
// working route into a 405): each route's first method, on a sample path,
// is neither 404 nor 405.
TEST(SecurityTest, RouteTableMatchesTheHandlers) {
  const std::string db = ::testing::TempDir() + "/security_routes.db";
  std::filesystem::remove(db);
  HarnessOptions o;
  o.rag_db_path = db;
  ServerHarness s(o);
  ASSERT_EQ(Ask(s.port(), Post("/v1/collections", R"({"name": "c"})"))->status, 200);
  for (const RouteTable::Route& route : RouteTable::Default().routes()) {
    std::string path = route.label;
    for (auto [from, to] : {std::pair<std::string, std::string>{"/documents/{id}", "/documents/999"},
                            {"{id}", "fixture"},
                            {"{asset}", "app.js"},
                            {"{name}", "c"}}) {
      if (size_t at = path.find(from); at != std::string::npos) path.replace(at, from.size(), to);
    }
    const std::string& method = route.methods.front();
    const std::string req = method + " " + path + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" +
                            (method == "POST" ? "Content-Length: 2\r\n\r\n{}" : "\r\n");
    std::optional<RawResponse> r = Ask(s.port(), req);
    ASSERT_TRUE(r.has_value()) << method << " " << path;
    EXPECT_NE(r->status, 405) << method << " " << path;
    // 404 only where a handler answers a missing resource in its own words.
    if (r->status == 404) {
      EXPECT_EQ(r->body.find("Unknown route"), std::string::npos) << method << " " << path;
    }
  }
}

}  // namespace
}  // namespace chunkserve::server
