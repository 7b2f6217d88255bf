// The connection layer's pure parts without sockets: the request-head
// parser on handcrafted bad heads, the gate's decisions, the JSON shape
// check and capped inflation.
#include <gtest/gtest.h>
#include <zlib.h>

#include <random>
#include <string>

#include "security/request_head_fuzz_one.h"
#include "server/body_limits.h"
#include "server/chunked_decoder.h"
#include "server/request_gate.h"
#include "server/request_head.h"

namespace chunkserve::server {
namespace {

StatusOr<RequestHead> Parse(const std::string& head) { return ParseRequestHead(head); }

TEST(RequestHeadTest, ParsesAValidHead) {
  auto h = Parse("POST /v1/x%20y?a=1#frag HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\nX-A:  v  \r\n\r\n");
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->method, "POST");
  EXPECT_EQ(h->path, "/v1/x y");
  EXPECT_EQ(h->content_length, 12u);
  EXPECT_EQ(*h->Header("x-a"), "v");
  EXPECT_TRUE(h->keep_alive);
  const std::string out = h->Serialize(5);
  EXPECT_NE(out.find("Content-Length: 5\r\n"), std::string::npos);
  EXPECT_EQ(out.find("Content-Length: 12"), std::string::npos);
  EXPECT_EQ(out.substr(out.size() - 4), "\r\n\r\n");
}

TEST(RequestHeadTest, RefusesHandcraftedBadHeads) {
  const char* bad[] = {
      "GET /\r\n\r\n",                                                           // no version
      "GET / HTTP/1.1 extra\r\nHost: h\r\n\r\n",                                 // four parts
      "GET / HTTP/2.0\r\nHost: h\r\n\r\n",                                       // version
      "G(T / HTTP/1.1\r\nHost: h\r\n\r\n",                                       // method token
      "GET http://x/ HTTP/1.1\r\nHost: h\r\n\r\n",                               // absolute form
      "GET / HTTP/1.1\r\n\r\n",                                                  // no Host
      "GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n",                            // obs-fold
      "GET / HTTP/1.1\r\nHost h\r\n\r\n",                                        // no colon
      "GET / HTTP/1.1\r\nHo st: h\r\n\r\n",                                      // name token
      "GET / HTTP/1.1\r\nHost: h\r\nX: a\x01" "b\r\n\r\n",                       // control char
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n",                // CL digits
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",                // CL sign
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",  // CL conflict
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",  // smuggling
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",  // TE list
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n",  // CL overflow
      "GET / HTTP/1.1\r\nHost: h\r\n",                                           // unterminated
  };
  for (const char* head : bad) EXPECT_FALSE(Parse(head).ok()) << head;
  EXPECT_TRUE(Parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n").ok());
  // Limits.
  RequestHeadLimits small;
  small.max_headers = 2;
  auto many = ParseRequestHead("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", small);
  EXPECT_EQ(many.status().code(), StatusCode::kOutOfRange);
  // Every truncation of a valid head is refused, never a crash.
  const std::string good = "POST /v1/completions HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n";
  for (size_t n = 0; n < good.size(); ++n) EXPECT_FALSE(Parse(good.substr(0, n)).ok()) << n;
}

TEST(RequestHeadTest, HttpOneZeroClosesByDefault) {
  auto h = Parse("GET / HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(h.ok());
  EXPECT_FALSE(h->keep_alive);
  h = Parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n");
  ASSERT_TRUE(h.ok());
  EXPECT_FALSE(h->keep_alive);
}

GateVerdict Judge(const RequestGate& gate, const std::string& head) {
  StatusOr<RequestHead> h = ParseRequestHead(head);
  EXPECT_TRUE(h.ok()) << head;
  return gate.Check(*h);
}

TEST(RequestGateTest, Decisions) {
  RequestGateOptions o;
  o.api_keys = {"k1"};
  o.max_body_bytes = 100;
  RequestGate gate(o);
  EXPECT_EQ(Judge(gate, "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n").pass, true);
  EXPECT_EQ(Judge(gate, "GET /v1/models HTTP/1.1\r\nHost: localhost\r\n\r\n").status, 401);
  EXPECT_EQ(Judge(gate, "GET /v1/models HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer k2\r\n\r\n").status, 401);
  EXPECT_EQ(Judge(gate, "GET /v1/models HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer k1\r\n\r\n").pass, true);
  // Auth comes before the method check: routes do not leak to strangers.
  EXPECT_EQ(Judge(gate, "DELETE /v1/models HTTP/1.1\r\nHost: localhost\r\n\r\n").status, 401);
  // /health is open only to GET/HEAD; other methods need the key too.
  EXPECT_EQ(Judge(gate, "POST /health HTTP/1.1\r\nHost: localhost\r\n\r\n").status, 401);
  const std::string key = "Authorization: Bearer k1\r\n";
  EXPECT_EQ(Judge(gate, "POST /health HTTP/1.1\r\nHost: localhost\r\n" + key + "\r\n").status, 405);
  EXPECT_EQ(Judge(gate, "GET /v1/models HTTP/1.1\r\nHost: evil.example\r\n" + key + "\r\n").status, 403);
  GateVerdict big = Judge(gate, "POST /v1/completions HTTP/1.1\r\nHost: localhost\r\n" + key +
                                    "Content-Type: application/json\r\nContent-Length: 101\r\n\r\n");
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(Judge(gate, "POST /v1/completions HTTP/1.1\r\nHost: localhost\r\n" + key +
                            "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\n")
                .status,
            415);
  EXPECT_EQ(Judge(gate, "POST /v1/completions HTTP/1.1\r\nHost: localhost\r\n" + key +
                            "Transfer-Encoding: chunked\r\n\r\n")
                .status,
            415);  // a chunked body is a body: JSON only
  GateVerdict chunked = Judge(gate, "POST /v1/completions HTTP/1.1\r\nHost: localhost\r\n" + key +
                                        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_TRUE(chunked.pass);
  EXPECT_TRUE(chunked.chunked);
  GateVerdict gz = Judge(gate, "POST /v1/completions HTTP/1.1\r\nHost: localhost\r\n" + key +
                                   "Content-Type: application/json\r\nContent-Encoding: GZIP\r\n"
                                   "Content-Length: 9\r\n\r\n");
  EXPECT_TRUE(gz.pass);
  EXPECT_TRUE(gz.inflate);
  EXPECT_EQ(gz.body_bytes, 9u);
}

TEST(RequestGateTest, HostsOnLoopbackAndElsewhere) {
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.9.8.7"));
  EXPECT_TRUE(IsLoopbackHost("[::1]"));
  EXPECT_TRUE(IsLoopbackHost("LOCALHOST"));
  EXPECT_FALSE(IsLoopbackHost("128.0.0.1"));
  EXPECT_FALSE(IsLoopbackHost("localhost.evil.example"));
  RequestGateOptions any;
  any.bound_host = "0.0.0.0";
  RequestGate open(any);
  EXPECT_TRUE(Judge(open, "GET /health HTTP/1.1\r\nHost: anything.example\r\n\r\n").pass);
  any.allowed_hosts = {"api.example"};
  RequestGate listed(any);
  EXPECT_TRUE(Judge(listed, "GET /health HTTP/1.1\r\nHost: API.example:443\r\n\r\n").pass);
  EXPECT_EQ(Judge(listed, "GET /health HTTP/1.1\r\nHost: other.example\r\n\r\n").status, 403);
}

TEST(BodyLimitsTest, JsonShape) {
  EXPECT_TRUE(CheckJsonShape(R"({"a": [1, 2, {"b": "[[[[[[ ,,,, \" [["}]})").ok());
  JsonShapeLimits l;
  l.max_depth = 3;
  l.max_values = 5;
  EXPECT_TRUE(CheckJsonShape("[[[1]]]", l).ok());
  EXPECT_FALSE(CheckJsonShape("[[[[1]]]]", l).ok());
  EXPECT_TRUE(CheckJsonShape("[1,2,3,4]", l).ok());
  EXPECT_FALSE(CheckJsonShape("[1,2,3,4,5,6]", l).ok());
  EXPECT_TRUE(CheckJsonShape(R"(["[[[[[[[[", "\\"])", l).ok());
}

std::string Compress(const std::string& data, int window_bits) {
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, data.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

TEST(BodyLimitsTest, InflateUnderACap) {
  const std::string text = R"({"prompt": "hello"})";
  for (int bits : {15 + 16, 15, -15}) {  // gzip, zlib, raw deflate
    StatusOr<std::string> out = InflateBody(Compress(text, bits), 1000);
    ASSERT_TRUE(out.ok()) << bits << " " << out.status().ToString();
    EXPECT_EQ(*out, text);
  }
  StatusOr<std::string> bomb = InflateBody(Compress(std::string(10 << 20, 'a'), 15 + 16), 1 << 20);
  EXPECT_EQ(bomb.status().code(), StatusCode::kResourceExhausted);
  const std::string gz = Compress(text, 15 + 16);
  EXPECT_FALSE(InflateBody(gz.substr(0, gz.size() / 2), 1000).ok());
  EXPECT_FALSE(InflateBody("not compressed at all", 1000).ok());
}

TEST(ChunkedDecoderTest, DecodesByteByByteAndRefusesBadFraming) {
  const std::string raw = "4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-T: 1\r\n\r\nNEXT";
  // Whole, and fed one byte at a time (as a trickling client would).
  for (size_t step : {raw.size(), size_t{1}}) {
    ChunkedDecoder d({});
    std::string body, pending;
    size_t fed = 0;
    while (!d.done() && fed < raw.size()) {
      pending += raw.substr(fed, step);
      fed += step;
      StatusOr<size_t> used = d.Feed(pending, &body);
      ASSERT_TRUE(used.ok()) << used.status().ToString();
      pending.erase(0, *used);
    }
    EXPECT_TRUE(d.done());
    EXPECT_EQ(body, "Wikipedia in\r\n\r\nchunks.");
    EXPECT_EQ(pending + raw.substr(fed), "NEXT");
  }
  const char* bad[] = {"x\r\n", "\r\n", "4\r\nWikiXX\r\n", "fffffffffffffffff\r\n", "4 x\r\nWiki\r\n"};
  for (const char* b : bad) {
    ChunkedDecoder d({});
    std::string body;
    EXPECT_FALSE(d.Feed(b, &body).ok()) << b;
  }
  ChunkedDecoder::Limits small;
  small.max_body_bytes = 8;
  ChunkedDecoder d(small);
  std::string body;
  EXPECT_EQ(d.Feed("5\r\nhello\r\n5\r\n", &body).status().code(), StatusCode::kResourceExhausted);
  small.max_raw_bytes = 64;
  ChunkedDecoder padded(small);
  std::string many;
  for (int i = 0; i < 8; ++i) many += "1;" + std::string(20, 'p') + "\r\nx\r\n";
  EXPECT_EQ(padded.Feed(many, &body).status().code(), StatusCode::kResourceExhausted);
}

// The fuzz harness on seeded mutations of valid requests (byte flips,
// insertions of framing characters, truncations): no crash, and the
// Serialize round trip holds.
TEST(RequestHeadTest, SeededMutationsOfTheFuzzHarness) {
  const std::string seeds[] = {
      "POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: localhost:8080\r\nAuthorization: Bearer k\r\n"
      "Content-Type: application/json\r\nContent-Length: 17\r\nOrigin: http://ok.example\r\n\r\n{\"a\": [1, {}]}",
      "GET /v1/collections/a%2Fb HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
      "OPTIONS /v1/search HTTP/1.1\r\nHost: [::1]\r\nOrigin: http://x\r\n\r\n",
  };
  const char specials[] = {'\r', '\n', ':', ' ', '\t', '%', '?', '#', '\0', '[', '{', '"', '\\'};
  std::mt19937 rng(15);
  for (int i = 0; i < 30000; ++i) {
    std::string s = seeds[rng() % 3];
    const int n_edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < n_edits && !s.empty(); ++e) {
      const size_t at = rng() % s.size();
      switch (rng() % 4) {
        case 0: s[at] = static_cast<char>(rng() & 0xff); break;
        case 1: s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), specials[rng() % sizeof(specials)]); break;
        case 2: s.erase(at, 1 + rng() % 8); break;
        default: s.resize(at); break;
      }
    }
    fuzzing::FuzzOneRequestHead(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
}

}  // namespace
}  // namespace chunkserve::server
