// JSON scanner, GloVe converter, static SIF embedder and the collection
// transform.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "rag/embed/embedder.h"
#include "rag/embed/json_scanner.h"
#include "rag/embed/static_embedder.h"
#include "rag/embed_test_util.h"

namespace chunkserve::rag {
namespace {

TEST(JsonScanner, StringsNumbersAndSkipping) {
  JsonScanner js(R"( {"a\"b\u00e9\ud83d\ude00": [1.5, -2e3, true, null, {"x": []}], "n": 7} )");
  ASSERT_TRUE(js.Expect('{').ok());
  bool first = true;
  ASSERT_TRUE(*js.NextElement(&first, '}'));
  std::string key;
  ASSERT_TRUE(js.ReadString(&key).ok());
  EXPECT_EQ(key, "a\"b\xc3\xa9\xf0\x9f\x98\x80");
  ASSERT_TRUE(js.Expect(':').ok());
  ASSERT_TRUE(js.SkipValue().ok());
  ASSERT_TRUE(*js.NextElement(&first, '}'));
  ASSERT_TRUE(js.ReadString(&key).ok());
  ASSERT_TRUE(js.Expect(':').ok());
  double n = 0;
  ASSERT_TRUE(js.ReadNumber(&n).ok());
  EXPECT_EQ(n, 7);
  EXPECT_FALSE(*js.NextElement(&first, '}'));
  EXPECT_TRUE(js.ExpectEnd().ok());
}

TEST(JsonScanner, BadInputIsAnError) {
  for (const char* bad : {"\"unterminated", "\"bad \\q escape\"", "\"\\ud800 lone\"", "[1, 2", "[1 2]", "+1", "nan",
                          "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
                          "\"ctl\x01\""}) {
    JsonScanner js(bad);
    Status s = js.SkipValue();
    if (s.ok()) s = js.ExpectEnd();
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(GloveConverter, TinyModelRoundTrip) {
  TestDir dir("embed_tiny");
  const std::string model = WriteTinyGloveModel(dir);
  ASSERT_FALSE(model.empty());
  auto e = StaticEmbedder::Load(model);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ((*e)->dim(), 8);
  EXPECT_EQ((*e)->vocab_size(), 38u);
  EXPECT_EQ((*e)->Find("the"), 0);
  EXPECT_EQ((*e)->Find("dog"), 11);
  EXPECT_EQ((*e)->Find("unicorn"), -1);
  // SIF weight grows as the word gets rarer.
  EXPECT_LT((*e)->SifWeight(0), (*e)->SifWeight(11));
  EXPECT_LT((*e)->SifWeight(11), (*e)->SifWeight(37));
  // Embed = weighted average over known words (case folded, punctuation split).
  std::vector<float> v(8), dog(8);
  ASSERT_TRUE((*e)->Embed("The DOG, (unicorn)!", v).ok());
  // "the": e0 + common; "dog": e1 + 0.1 on axis 6 + common.
  const float w_the = (*e)->SifWeight(0), w_dog = (*e)->SifWeight(11);
  EXPECT_NEAR(v[0], w_the * 1.0f / 2, 1e-3);
  EXPECT_NEAR(v[1], w_dog * 1.0f / 2, 1e-3);
  EXPECT_NEAR(v[6], w_dog * 0.1f / 2, 1e-3);
  EXPECT_NEAR(v[7], (w_the + w_dog) * 0.8f / 2, 1e-3);
  // Nothing known: the zero vector.
  ASSERT_TRUE((*e)->Embed("unicorn 123 ???", v).ok());
  for (float x : v) EXPECT_EQ(x, 0.0f);
  // The id names the content and the SIF parameter.
  auto e2 = StaticEmbedder::Load(model, {.sif_a = 1e-2});
  ASSERT_TRUE(e2.ok());
  EXPECT_NE((*e)->id(), (*e2)->id());
  EXPECT_EQ((*e)->id().rfind("glove-sif/tiny-glove/8/", 0), 0u) << (*e)->id();
}

TEST(GloveConverter, BadFilesAreRejectedAndWriteNothing) {
  TestDir dir("embed_bad");
  const std::string good = TinyGloveJson();
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    const size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) s.replace(at, from.size(), to);
    return s;
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not json", "hello"},
      {"truncated", good.substr(0, good.size() / 2)},
      {"size mismatch", replace("\"size\":38", "\"size\":39")},
      {"bad dims", replace("\"dimensions\":8", "\"dimensions\":0")},
      {"l2 index", replace("\"l2NormIndex\":8", "\"l2NormIndex\":7")},
      {"word without vector", replace("\"words\":[\"the\"", "\"words\":[\"zebra\"")},
      {"wrong rank", replace("\"dog\":[", "\"dog\":[0,0,0,0,0,0,0,0,1,99],\"dogx\":[")},
      {"short vector", replace("\"cat\":[", "\"cat\":[1],\"catx\":[")},
      {"trailing data", good + "x"},
  };
  for (const auto& [name, json] : cases) {
    dir.Write("bad.json", json);
    auto r = ConvertGloveJson(dir.path("bad.json"), dir.path("bad.gguf"));
    EXPECT_FALSE(r.ok()) << name;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << name << ": " << r.status().ToString();
    }
    EXPECT_FALSE(std::filesystem::exists(dir.path("bad.gguf"))) << name;
  }
  EXPECT_FALSE(ConvertGloveJson(dir.path("missing.json"), dir.path("x.gguf")).ok());
  // A GGUF that is not a GloVe model is refused by the embedder.
  EXPECT_FALSE(StaticEmbedder::Load(dir.path("missing.gguf")).ok());
}

TEST(CollectionTransform, RemovesCommonComponentAndNormalizes) {
  // Rows = strong shared direction (axis 0) + distinct small parts.
  std::vector<float> rows;
  for (int i = 0; i < 40; ++i) {
    float r[4] = {5.0f, 0, 0, 0};
    r[1 + i % 3] = 1.0f;
    rows.insert(rows.end(), r, r + 4);
  }
  const auto u = FirstPrincipalDirection(rows, 40, 4);
  ASSERT_EQ(u.size(), 4u);
  EXPECT_NEAR(std::fabs(u[0]), 1.0, 0.05);
  CollectionTransform t{u};
  std::vector<float> a = {5, 1, 0, 0}, b = {5, 0, 1, 0};
  t.Apply(a);
  t.Apply(b);
  double dot = 0, na = 0;
  for (int i = 0; i < 4; ++i) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
  }
  EXPECT_NEAR(na, 1.0, 1e-5);
  EXPECT_LT(dot, 0.2);  // without removal they would be ~0.96 alike
  // Too few rows: no component; zero stays zero.
  EXPECT_TRUE(FirstPrincipalDirection(rows, 3, 4).empty());
  std::vector<float> zero(4, 0.0f);
  t.Apply(zero);
  for (float x : zero) EXPECT_EQ(x, 0.0f);
}

// The real vectors, when a converted GGUF is provided (not at unit-test time
// by default: converting 300 MB of JSON takes seconds).
TEST(StaticEmbedder, RealGloveSemantics) {
  const char* path = std::getenv("CHUNKSERVE_GLOVE_GGUF");
  if (!path || !std::filesystem::exists(path)) GTEST_SKIP() << "set CHUNKSERVE_GLOVE_GGUF to a converted glove.gguf";
  auto e = StaticEmbedder::Load(path);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  auto embed = [&](const char* text) {
    std::vector<float> v(static_cast<size_t>((*e)->dim()));
    EXPECT_TRUE((*e)->Embed(text, v).ok());
    CollectionTransform{}.Apply(v);
    return v;
  };
  auto cos = [](const std::vector<float>& a, const std::vector<float>& b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
    return s;
  };
  const auto king = embed("king"), queen = embed("queen"), carrot = embed("carrot");
  EXPECT_GT(cos(king, queen), cos(king, carrot) + 0.2);
}

}  // namespace
}  // namespace chunkserve::rag

namespace chunkserve::rag {
namespace {

// Random corruption of a valid GloVe JSON: the converter returns an error or
// a valid model, never crashes.
TEST(GloveConverter, MutatedInputNeverCrashes) {
  TestDir dir("embed_mutate");
  const std::string good = TinyGloveJson();
  std::mt19937_64 rng(3);
  int n_bad = 0;
  for (int trial = 0; trial < 200; ++trial) {
    std::string s = good;
    const int n_flips = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < n_flips; ++f) s[rng() % s.size()] = "{}[],:\"\\0123456789.eE-+ax\x01\xff"[rng() % 27];
    if (rng() % 4 == 0) s.resize(rng() % s.size());
    dir.Write("m.json", s);
    auto r = ConvertGloveJson(dir.path("m.json"), dir.path("m.gguf"));
    if (!r.ok()) {
      ++n_bad;
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
      continue;
    }
    EXPECT_TRUE(StaticEmbedder::Load(dir.path("m.gguf")).ok());
  }
  EXPECT_GT(n_bad, 100);
}

}  // namespace
}  // namespace chunkserve::rag
