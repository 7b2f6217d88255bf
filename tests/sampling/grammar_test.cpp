// Grammar (GBNF parsing, UTF-8 classes), GrammarMatcher (bytes and the
// token mask, against its exact twin) and the constrained Sampler.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

#include "sampling/grammar.h"
#include "sampling/grammar_constraint.h"
#include "sampling/grammar_matcher.h"
#include "sampling/sampler.h"
#include "sampling/utf8_ranges.h"

namespace chunkserve::sampling {
namespace {

std::shared_ptr<const Grammar> Compile(const std::string& gbnf) {
  StatusOr<Grammar> g = ParseGbnf(gbnf);
  EXPECT_TRUE(g.ok()) << g.status().ToString() << "\n" << gbnf;
  return std::make_shared<const Grammar>(std::move(g).value());
}

bool Matches(const std::shared_ptr<const Grammar>& g, const std::string& text) {
  GrammarMatcher m(g);
  return m.Accept(text) && m.CanEnd();
}

TEST(Utf8RangesTest, EveryCodePointIsCoveredExactlyWhenInRange) {
  const std::vector<std::pair<uint32_t, uint32_t>> ranges = {
      {0, 0x10FFFF}, {0x41, 0x5A}, {0x7F, 0x800}, {0x3A9, 0x10437}, {0xD000, 0xE100}, {0x10000, 0x10FFFF}};
  for (auto [lo, hi] : ranges) {
    const std::vector<ByteRangeSequence> seqs = Utf8Ranges(lo, hi);
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp += (cp < 0x20000 ? 1 : 97)) {
      if (cp >= 0xD800 && cp <= 0xDFFF) continue;
      std::vector<uint8_t> bytes;
      AppendUtf8(cp, bytes);
      int hits = 0;
      for (const ByteRangeSequence& s : seqs) {
        if (s.size() != bytes.size()) continue;
        bool ok = true;
        for (size_t i = 0; i < s.size(); ++i) ok = ok && bytes[i] >= s[i].lo && bytes[i] <= s[i].hi;
        hits += ok;
      }
      ASSERT_EQ(hits, (cp >= lo && cp <= hi) ? 1 : 0) << std::hex << cp << " in " << lo << ".." << hi;
    }
  }
}

TEST(GrammarTest, LiteralsClassesAndRepetitions) {
  auto g = Compile(R"(
    # a comment
    root ::= "ab" [0-9]{2,3} x? ("-" | "+")* tail
    x ::= [^a-z\n]
    tail ::= "é" | [α-ω]+
  )");
  EXPECT_TRUE(Matches(g, "ab12é"));
  EXPECT_TRUE(Matches(g, "ab123Zé"));
  EXPECT_TRUE(Matches(g, "ab123Z-+-αβγ"));
  EXPECT_TRUE(Matches(g, "ab12世é"));  // [^a-z\n] takes a 3-byte character
  EXPECT_FALSE(Matches(g, "ab1é"));
  EXPECT_FALSE(Matches(g, "ab12345é"));
  EXPECT_FALSE(Matches(g, "ab12qé"));
  EXPECT_FALSE(Matches(g, "ab12\né"));
  EXPECT_FALSE(Matches(g, "ab12"));
  EXPECT_FALSE(Matches(g, "ab12é "));
  // A token may end inside a character: bytes one at a time.
  GrammarMatcher m(g);
  const std::string text = "ab12αω";
  for (char c : text) ASSERT_TRUE(m.Accept(std::string(1, c)));
  EXPECT_TRUE(m.CanEnd());
  EXPECT_TRUE(m.CanContinue());
  EXPECT_TRUE(m.Accept("\xCE"));   // the lead byte of a Greek letter...
  EXPECT_FALSE(m.Accept("A"));     // ...needs its continuation byte
}

TEST(GrammarTest, EscapesAndAnyCharacter) {
  auto g = Compile(R"(root ::= "\x41\u00e9\"\\" . [\]\-] "\t")");
  EXPECT_TRUE(Matches(g, "Aé\"\\😀]\t"));
  EXPECT_TRUE(Matches(g, "Aé\"\\x-\t"));
  EXPECT_FALSE(Matches(g, "Aé\"\\xx\t"));
}

TEST(GrammarTest, ErrorsNameWhatIsWrong) {
  auto err = [](const std::string& gbnf) {
    StatusOr<Grammar> g = ParseGbnf(gbnf);
    return g.ok() ? std::string("ok") : g.status().message();
  };
  EXPECT_NE(err("root ::= x").find("'x' is used but not defined"), std::string::npos);
  EXPECT_NE(err("a ::= \"x\"").find("no 'root'"), std::string::npos);
  EXPECT_NE(err("root ::= root \"a\" | \"b\"").find("'root' is left-recursive"), std::string::npos);
  EXPECT_NE(err("root ::= (\"a\"?)*").find("left-recursive"), std::string::npos);
  EXPECT_NE(err("root ::= \"abc").find("unterminated string literal at line 1"), std::string::npos);
  EXPECT_NE(err("root ::= \"a\"\nb ::= [z-a]").find("out of order at line 2"), std::string::npos);
  EXPECT_NE(err("root ::= (\"a\"").find("'('"), std::string::npos);
  EXPECT_NE(err("root ::= \"a\"{3,1}").find("n < m"), std::string::npos);
  EXPECT_NE(err("root ::= \"\\q\"").find("unknown escape"), std::string::npos);
  EXPECT_NE(err("root ::= \"a\"\nroot ::= \"b\"").find("defined twice"), std::string::npos);
  EXPECT_NE(err("root := \"a\"").find("'::='"), std::string::npos);
  EXPECT_EQ(err("root ::= \"\"*"), "ok");  // repeating nothing is nothing
}

constexpr char kJsonGbnf[] = R"(
root ::= value
value ::= object | array | string | number | "true" | "false" | "null"
object ::= "{" ws (string ws ":" ws value ws ("," ws string ws ":" ws value ws)*)? "}"
array ::= "[" ws (value ws ("," ws value ws)*)? "]"
string ::= "\"" ([^"\\\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4}))* "\""
number ::= "-"? ("0" | [1-9] [0-9]*) ("." [0-9]+)? ([eE] [-+]? [0-9]+)?
ws ::= [ \t\n]*
)";

TEST(GrammarTest, JsonTextsAcceptedAndRefused) {
  auto g = Compile(kJsonGbnf);
  for (const char* ok : {"{}", "[]", "0", "-0.5e+10", "\"a\\u00e9\\n\"", "{\"a\": [1, 2, {\"b\": null}], \"c\": true}",
                         " [ 1 ,2 ]", "\"é😀\"", "[[[[[]]]]]"}) {
    std::string text = ok;
    if (text[0] == ' ') text = text.substr(1);  // root has no leading ws
    EXPECT_TRUE(Matches(g, text)) << text;
  }
  for (const char* bad : {"{", "[1,]", "01", "1.", "\"a", "{\"a\" 1}", "{a: 1}", "\"\\x\"", "[1 2]", "tru", "\"\x01\""})
    EXPECT_FALSE(Matches(g, bad)) << bad;
}

// A vocabulary with every byte, multi-byte pieces and prefixes of each other.
std::vector<std::string> TestVocab(size_t n_random, uint32_t seed) {
  std::vector<std::string> v;
  for (int b = 0; b < 256; ++b) v.push_back(std::string(1, static_cast<char>(b)));
  for (const char* p : {"{\"", "\":", "\": ", "\",", "true", "false", "null", "{}", "[]", "[{", "}]", "12", "0.",
                        ".5", "e+", "\\n", "\\u00", "é", "😀", "abc", "ab", "a", "\"}", "\"]", "},", ", \"", "  "})
    v.push_back(p);
  std::mt19937 rng(seed);
  const std::string alphabet = "{}[]\":,.-+0123456789eE truefalsn\\u\xC3\xA9\xF0\x9F";
  for (size_t i = 0; i < n_random; ++i) {
    std::string t;
    const size_t len = 1 + rng() % 6;
    for (size_t k = 0; k < len; ++k) t += alphabet[rng() % alphabet.size()];
    v.push_back(t);
  }
  v.push_back("");  // a control token: never allowed
  return v;
}

// The mask walk against its exact twin (one Allows() per token), in many
// states reached by random allowed tokens.
TEST(GrammarMatcherTest, AllowedTokensEqualsPerTokenCheck) {
  auto g = Compile(kJsonGbnf);
  TokenTable table(TestVocab(3000, 7));
  std::mt19937 rng(11);
  for (int run = 0; run < 20; ++run) {
    GrammarMatcher m(g);
    for (int step = 0; step < 40; ++step) {
      std::vector<uint8_t> fast(static_cast<size_t>(table.n_vocab()));
      m.AllowedTokens(table, fast);
      std::vector<int32_t> allowed;
      for (int32_t t = 0; t < table.n_vocab(); ++t) {
        const bool slow = !table.bytes(t).empty() && m.Allows(table.bytes(t));
        ASSERT_EQ(fast[static_cast<size_t>(t)] != 0, slow) << "token '" << table.bytes(t) << "' step " << step;
        if (slow) allowed.push_back(t);
      }
      if (allowed.empty()) break;
      ASSERT_TRUE(m.Accept(table.bytes(allowed[rng() % allowed.size()])));
    }
  }
}

TEST(GrammarMatcherTest, StateKeyAndCompaction) {
  auto g = Compile(kJsonGbnf);
  GrammarMatcher a(g), b(g);
  ASSERT_TRUE(a.Accept("[\"x"));
  ASSERT_TRUE(b.Accept("[\"xyz"));
  EXPECT_EQ(a.StateKey(), b.StateKey());  // inside the same string
  ASSERT_TRUE(b.Accept("\""));
  EXPECT_NE(a.StateKey(), b.StateKey());
  // A long text forces arena compaction; the state stays right.
  GrammarMatcher c(g);
  ASSERT_TRUE(c.Accept("["));
  for (int i = 0; i < 3000; ++i) ASSERT_TRUE(c.Accept(i ? ",[1]" : "[1]"));
  ASSERT_TRUE(c.Accept("]"));
  EXPECT_TRUE(c.CanEnd());
  EXPECT_FALSE(c.CanContinue());
}

TEST(GrammarConstraintTest, CachedMaskEqualsComputedMask) {
  auto g = Compile(kJsonGbnf);
  auto table = std::make_shared<const TokenTable>(TestVocab(500, 3));
  auto cache = std::make_shared<GrammarMaskCache>(64);
  GrammarConstraint cached(g, table, cache), plain(g, table, nullptr);
  const std::vector<std::string> steps = {"{\"", "ab", "abc", "\": ", "[", "12", ",", "true", "]", "}"};
  for (int pass = 0; pass < 2; ++pass) {
    cached.Reset();
    plain.Reset();
    for (const std::string& piece : steps) {
      std::vector<uint8_t> a(static_cast<size_t>(table->n_vocab())), b(a.size());
      cached.FillAllowed(a);
      plain.FillAllowed(b);
      ASSERT_EQ(a, b) << "before '" << piece << "'";
      int32_t id = -1;
      for (int32_t t = 0; t < table->n_vocab(); ++t)
        if (table->bytes(t) == piece) id = t;
      ASSERT_GE(id, 0);
      ASSERT_TRUE(cached.Allows(id));
      cached.Accept(id);
      plain.Accept(id);
    }
    EXPECT_TRUE(cached.CanEnd());
  }
  EXPECT_GT(cache->n_hits(), 0);
}

// Random logits, the constrained Sampler: every text parses, greedy is the
// argmax over allowed tokens, and the end comes only where the grammar can end.
TEST(ConstrainedSamplerTest, RandomLogitsAlwaysGiveGrammarText) {
  auto g = Compile(kJsonGbnf);
  std::vector<std::string> vocab = TestVocab(800, 5);
  const auto eog = static_cast<int32_t>(vocab.size() - 1);  // the empty control token
  auto table = std::make_shared<const TokenTable>(vocab);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0, 3);
  int n_complete = 0;
  for (int run = 0; run < 60; ++run) {
    SamplingParams p;
    p.temperature = run % 3 == 0 ? 0.0f : 1.0f;
    p.top_k = run % 2 ? 20 : 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = static_cast<uint64_t>(run);
    Sampler s(p, table->n_vocab());
    s.SetEndOfGenerationTokens({eog});
    s.SetConstraint(std::make_unique<GrammarConstraint>(g, table, nullptr));
    GrammarMatcher check(g);
    std::string text;
    std::vector<float> logits(static_cast<size_t>(table->n_vocab()));
    for (int step = 0; step < 200; ++step) {
      for (float& x : logits) x = normal(rng);
      logits[static_cast<size_t>(eog)] += 2.0f;  // ending is tempting
      const int32_t t = s.Sample(logits);
      if (p.temperature <= 0) {
        // Greedy: no allowed token (nor an allowed end) has a higher logit.
        for (int32_t o = 0; o < table->n_vocab(); ++o) {
          if (logits[static_cast<size_t>(o)] <= logits[static_cast<size_t>(t)]) continue;
          const bool allowed = o == eog ? check.CanEnd() : !table->bytes(o).empty() && check.Allows(table->bytes(o));
          ASSERT_FALSE(allowed) << "token " << o << " beats " << t;
        }
      }
      if (t == eog) {
        EXPECT_TRUE(check.CanEnd()) << text;
        ++n_complete;
        break;
      }
      ASSERT_TRUE(check.Accept(table->bytes(t))) << text << " + '" << table->bytes(t) << "'";
      text += table->bytes(t);
      s.Accept(t);
    }
  }
  EXPECT_GT(n_complete, 30);
}

TEST(ConstrainedSamplerTest, GreedyIsTheArgmaxOverAllowedTokens) {
  auto g = Compile(R"(root ::= "b" | "cd")");
  auto table = std::make_shared<const TokenTable>(std::vector<std::string>{"a", "b", "c", "cd", "d"});
  SamplingParams p;
  p.temperature = 0;
  Sampler s(p, 5);
  s.SetConstraint(std::make_unique<GrammarConstraint>(g, table, nullptr));
  EXPECT_EQ(s.Sample(std::vector<float>{9, 1, 3, 2, 8}), 2);  // "c" beats "cd" and "b"
  EXPECT_EQ(s.Sample(std::vector<float>{9, 1, 0, 2, 8}), 3);
  s.Accept(2);
  EXPECT_EQ(s.Sample(std::vector<float>{9, 1, 3, 2, 0}), 4);  // only "d" continues "c"
}

// The two-stage draw (unconstrained pick, then a pick among allowed
// survivors) has the law p(t) / p(allowed).
TEST(ConstrainedSamplerTest, SamplingIsTheConditionalDistribution) {
  auto g = Compile(R"(root ::= [ab])");
  auto table = std::make_shared<const TokenTable>(std::vector<std::string>{"a", "b", "c", "d"});
  const std::vector<float> logits = {0.0f, std::log(3.0f), std::log(4.0f), std::log(2.0f)};
  std::map<int32_t, int> counts;
  const int n = 40000;
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = 42;
  Sampler s(p, 4);
  s.SetConstraint(std::make_unique<GrammarConstraint>(g, table, nullptr));
  for (int i = 0; i < n; ++i) ++counts[s.Sample(logits)];
  EXPECT_EQ(counts.count(2) + counts.count(3), 0u);
  EXPECT_NEAR(counts[0] / double(n), 0.25, 0.01);
  EXPECT_NEAR(counts[1] / double(n), 0.75, 0.01);
  // Drafts: a refused draft is never kept; an allowed one keeps its
  // conditional probability.
  int kept = 0;
  for (int i = 0; i < n; ++i) {
    EXPECT_NE(s.SampleAgainstDraft(logits, 2), 2);
    kept += s.SampleAgainstDraft(logits, 1) == 1;
  }
  EXPECT_NEAR(kept / double(n), 0.75, 0.01);
}

// With truncation (top-k), a draft is accepted with the probability Sample()
// gives it: the chain's survivors conditioned on the allowed set.
TEST(ConstrainedSamplerTest, DraftLawMatchesSampleUnderTruncation) {
  auto g = Compile(R"(root ::= [abc])");
  auto table = std::make_shared<const TokenTable>(std::vector<std::string>{"a", "b", "c", "d", "e"});
  // top_k = 3 keeps d, b, a (c is cut); allowed survivors: b (3), a (1).
  const std::vector<float> logits = {0.0f, std::log(3.0f), -1.0f, std::log(8.0f), -2.0f};
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 3;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = 9;
  Sampler s(p, 5);
  s.SetConstraint(std::make_unique<GrammarConstraint>(g, table, nullptr));
  const int n = 40000;
  int sampled_b = 0, kept_b = 0;
  for (int i = 0; i < n; ++i) {
    sampled_b += s.Sample(logits) == 1;
    kept_b += s.SampleAgainstDraft(logits, 1) == 1;
  }
  EXPECT_NEAR(sampled_b / double(n), 0.75, 0.01);
  EXPECT_NEAR(kept_b / double(n), 0.75, 0.01);
}

TEST(ConstrainedSamplerTest, EndOfGenerationOnlyWhereTheGrammarEnds) {
  auto g = Compile(R"(root ::= "ab")");
  auto table = std::make_shared<const TokenTable>(std::vector<std::string>{"a", "b", ""});
  SamplingParams p;
  p.temperature = 0;
  Sampler s(p, 3);
  s.SetEndOfGenerationTokens({2});
  s.SetConstraint(std::make_unique<GrammarConstraint>(g, table, nullptr));
  const std::vector<float> eos_first = {0, 1, 5};
  EXPECT_EQ(s.Sample(eos_first), 0);
  s.Accept(0);
  EXPECT_EQ(s.Sample(eos_first), 1);
  s.Accept(1);
  EXPECT_EQ(s.Sample(std::vector<float>{9, 9, 0}), 2);  // complete: only the end
}

}  // namespace
}  // namespace chunkserve::sampling

namespace chunkserve::sampling {
namespace {

// The fuzz harness's checks (fuzz/gbnf_fuzzer.cpp) on seeded mutations of
// valid grammars: parse or a precise error, never a crash or a hang; an
// ambiguous grammar is cut at kMaxStacks parses.
TEST(GrammarFuzzTest, MutatedGrammarsNeverCrash) {
  const std::vector<std::string> seeds = {kJsonGbnf, "root ::= \"a\"{2,5} [^\\n]* (\"x\" | r)?\nr ::= [a-z\\u00e9]+ \"!\"",
                                          "root ::= (a | b)*\na ::= \"ab\"\nb ::= \"a\" \"b\"?"};
  const std::string alphabet = "()[]{}|*+?\"\\-^:=.,# \nabrxo0129u";
  const TokenTable table(std::vector<std::string>{"a", "ab", "{", "}", "\"", " ", "0", "12", "\xC3\xA9", ""});
  std::vector<uint8_t> allowed(static_cast<size_t>(table.n_vocab()));
  std::mt19937 rng(17);
  int parsed = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string text = seeds[rng() % seeds.size()];
    for (int k = 1 + static_cast<int>(rng() % 4); k > 0; --k) {
      const size_t at = rng() % (text.size() + 1);
      switch (rng() % 3) {
        case 0: if (at < text.size()) text[at] = alphabet[rng() % alphabet.size()]; break;
        case 1: if (at < text.size()) text.erase(at, 1); break;
        default: text.insert(at, 1, alphabet[rng() % alphabet.size()]);
      }
    }
    StatusOr<Grammar> g = ParseGbnf(text);
    if (!g.ok()) {
      EXPECT_EQ(g.status().message().rfind("grammar: ", 0), 0u) << g.status().message();
      continue;
    }
    ++parsed;
    GrammarMatcher m(std::make_shared<const Grammar>(std::move(g).value()));
    for (size_t j = 0; j < text.size() && j < 32; ++j) {
      m.AllowedTokens(table, allowed);
      EXPECT_LE(m.n_stacks(), GrammarMatcher::kMaxStacks);
      if (!m.Accept(text.substr(j, 1))) break;
    }
  }
  EXPECT_GT(parsed, 100);
  // (a | aa)* keeps many parses alive; the matcher stays bounded.
  auto ambiguous = std::make_shared<const Grammar>(*ParseGbnf("root ::= x*\nx ::= (\"a\" | \"a\" \"a\" | \"a\" \"a\" \"a\") x?"));
  GrammarMatcher m(ambiguous);
  for (int j = 0; j < 200 && m.Accept("a"); ++j) EXPECT_LE(m.n_stacks(), GrammarMatcher::kMaxStacks);
}

}  // namespace
}  // namespace chunkserve::sampling
