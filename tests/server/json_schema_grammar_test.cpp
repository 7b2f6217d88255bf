// JSON schema -> GBNF: texts the grammar admits parse and validate (random
// walks through the matcher and a constrained Sampler on random logits,
// checked by an independent validator below), the JSON-object grammar
// against many valid and invalid texts, and unsupported keywords refused by
// name.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "sampling/grammar.h"
#include "sampling/grammar_constraint.h"
#include "sampling/grammar_matcher.h"
#include "sampling/sampler.h"
#include "server/json_schema_grammar.h"
#include "server/json_schema_validator.h"

namespace chunkserve::server {
namespace {

std::shared_ptr<const sampling::Grammar> Compile(const std::string& gbnf) {
  StatusOr<sampling::Grammar> g = sampling::ParseGbnf(gbnf);
  EXPECT_TRUE(g.ok()) << g.status().ToString() << "\n" << gbnf;
  return std::make_shared<const sampling::Grammar>(std::move(g).value());
}

// A random sentence of the grammar: random allowed bytes, ending when the
// matcher can end and a coin (biased to end as the text grows) says so.
std::string RandomWalk(const std::shared_ptr<const sampling::Grammar>& g, std::mt19937& rng) {
  sampling::GrammarMatcher m(g);
  std::string text;
  for (int step = 0; step < 4000; ++step) {
    if (m.CanEnd() && (!m.CanContinue() || rng() % 100 < 5 + text.size() / 8)) return text;
    std::vector<char> next;
    for (int b = 0; b < 256; ++b)
      if (m.Allows(std::string(1, static_cast<char>(b)))) next.push_back(static_cast<char>(b));
    // Favour closing characters so that walks end.
    std::vector<char> closers;
    for (char c : next)
      if (c == '"' || c == '}' || c == ']' || c == ',') closers.push_back(c);
    const char c = !closers.empty() && rng() % 3 == 0 ? closers[rng() % closers.size()] : next[rng() % next.size()];
    EXPECT_TRUE(m.Accept(std::string(1, c)));
    text += c;
  }
  ADD_FAILURE() << "walk did not end: " << text;
  return text;
}

const std::vector<Json>& Schemas() {
  static const std::vector<Json> k = {
      Json::parse(R"({"type": "object", "properties": {"name": {"type": "string", "maxLength": 8},
          "age": {"type": "integer", "minimum": 0, "maximum": 150}, "tags": {"type": "array",
          "items": {"type": "string", "enum": ["a", "b", "c"]}, "minItems": 1, "maxItems": 3}},
          "required": ["name", "age"], "additionalProperties": false})"),
      Json::parse(R"({"type": "object", "properties": {"x": {"type": "number", "minimum": -5, "maximum": 3}},
          "additionalProperties": false})"),
      Json::parse(R"({"type": "object", "properties": {"a": {"type": "boolean"}, "b": {"type": "null"},
          "c": {"const": {"k": [1, "two"]}}}})"),
      Json::parse(R"({"anyOf": [{"type": "integer", "minimum": -1200, "maximum": -37}, {"type": "string",
          "minLength": 2, "maxLength": 4}, {"type": ["boolean", "null"]}]})"),
      Json::parse(R"({"$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"},
          "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 2}}, "required": ["v"]}},
          "$ref": "#/$defs/node"})"),
      Json::parse(R"({"type": "object", "additionalProperties": {"type": "integer", "minimum": 10, "maximum": 19}})"),
      Json::parse(R"({"type": "array", "items": {"type": "number"}, "minItems": 2})"),
      Json::parse(R"({"type": "integer", "minimum": 7, "maximum": 123456})"),
      Json::parse(R"({"type": "number", "minimum": 0, "maximum": 1, "title": "p", "description": "a probability"})"),
      Json::parse(R"({"type": "object", "properties": {"s": {"type": "string", "minLength": 3}},
          "required": ["s", "extra"]})"),
      Json::parse(R"({"description": "anything"})"),
      Json::parse(R"({"$defs": {"Pet": {"type": "object", "properties": {"kind": {"enum": ["cat", "dog"]}},
          "required": ["kind"], "additionalProperties": false}}, "type": "object",
          "properties": {"pet": {"allOf": [{"$ref": "#/$defs/Pet"}], "description": "Pydantic style"}},
          "required": ["pet"]})"),
  };
  return k;
}

TEST(JsonSchemaGrammarTest, RandomSentencesParseAndValidate) {
  std::mt19937 rng(5);
  for (const Json& schema : Schemas()) {
    StatusOr<std::string> gbnf = JsonSchemaToGbnf(schema);
    ASSERT_TRUE(gbnf.ok()) << gbnf.status().ToString() << " " << schema.dump();
    auto g = Compile(*gbnf);
    for (int i = 0; i < 60; ++i) {
      const std::string text = RandomWalk(g, rng);
      ASSERT_TRUE(Json::accept(text)) << text << "\n" << *gbnf;
      EXPECT_TRUE(testing::Validates(Json::parse(text), schema)) << text << " against " << schema.dump();
    }
  }
}

TEST(JsonSchemaGrammarTest, ValidDocumentsAreAdmitted) {
  const std::vector<std::pair<size_t, std::string>> cases = {
      {0, R"({"age":150,"name":"Zoë","tags":["a","c"]})"}, {0, R"({"age": 0, "name": ""})"},
      {1, R"({"x":-4.99})"}, {1, R"({"x":3})"}, {1, R"({})"}, {3, R"(-1200)"}, {3, R"("\u00e9\n")"}, {3, "null"},
      {4, R"({"v":0,"kids":[{"v":1},{"v":-2,"kids":[]}]})"}, {5, R"({"q":10,"r":19})"}, {7, "123456"}, {7, "7"},
      {8, "0.5"}, {8, "1"}, {9, R"({"s":"abc","extra":[1]})"}};
  for (const auto& [i, text] : cases) {
    auto g = Compile(*JsonSchemaToGbnf(Schemas()[i]));
    sampling::GrammarMatcher m(g);
    EXPECT_TRUE(m.Accept(text) && m.CanEnd()) << text;
  }
  const std::vector<std::pair<size_t, std::string>> refused = {
      {0, R"({"age":151,"name":"x"})"}, {0, R"({"name":"x"})"}, {0, R"({"age":1,"name":"123456789"})"},
      {0, R"({"age":1,"name":"x","tags":[]})"}, {0, R"({"age":1,"name":"x","other":1})"}, {1, R"({"x":3.5})"},
      {1, R"({"x":-5.1})"}, {3, "-36"}, {3, R"("a")"}, {5, R"({"q":20})"}, {7, "6"}, {7, "123457"}, {7, "0123"},
      {8, "1.5"}, {8, "-0.1"}, {9, R"({"s":"abc"})"}};
  for (const auto& [i, text] : refused) {
    auto g = Compile(*JsonSchemaToGbnf(Schemas()[i]));
    sampling::GrammarMatcher m(g);
    EXPECT_FALSE(m.Accept(text) && m.CanEnd()) << text;
  }
}

// json_object: compact dumps of random objects are admitted; whatever the
// grammar admits after random one-byte mutations is JSON (an object).
TEST(JsonSchemaGrammarTest, JsonObjectGrammarAgainstManyTexts) {
  auto g = Compile(JsonObjectGbnf());
  std::mt19937 rng(9);
  std::function<Json(int)> random_value = [&](int depth) -> Json {
    switch (rng() % (depth > 3 ? 4 : 6)) {
      case 0: return Json(static_cast<int64_t>(rng() % 2000) - 1000);
      case 1: return Json((static_cast<double>(rng() % 1000) - 500) / 8);
      case 2: {
        const char* pieces[] = {"s", "\"", "\\", "\n", "\x01", "é", "😀", "/"};
        std::string str;
        for (unsigned i = rng() % 5; i > 0; --i) str += pieces[rng() % 8];
        return Json(str);
      }
      case 3: return rng() % 2 ? Json(nullptr) : Json(rng() % 2 == 0);
      case 4: {
        Json a = Json::array();
        for (unsigned i = rng() % 4; i > 0; --i) a.push_back(random_value(depth + 1));
        return a;
      }
      default: {
        Json o = Json::object();
        for (unsigned i = rng() % 4; i > 0; --i) o[std::string("k") + std::to_string(rng() % 10)] = random_value(depth + 1);
        return o;
      }
    }
  };
  int admitted_mutants = 0;
  for (int i = 0; i < 400; ++i) {
    Json o = Json::object();
    for (unsigned k = rng() % 5; k > 0; --k) o["key" + std::to_string(k)] = random_value(1);
    const std::string text = o.dump();
    sampling::GrammarMatcher m(g);
    ASSERT_TRUE(m.Accept(text) && m.CanEnd()) << text;
    for (int j = 0; j < 10; ++j) {
      std::string mutant = text;
      const size_t at = rng() % mutant.size();
      const std::string alphabet = "{}[]\":,0123456789.-eE tfn\\u";
      switch (rng() % 3) {
        case 0: mutant[at] = alphabet[rng() % alphabet.size()]; break;
        case 1: mutant.erase(at, 1); break;
        default: mutant.insert(at, 1, alphabet[rng() % alphabet.size()]);
      }
      sampling::GrammarMatcher mm(g);
      if (mm.Accept(mutant) && mm.CanEnd()) {
        ++admitted_mutants;
        ASSERT_TRUE(Json::accept(mutant)) << mutant;
        ASSERT_TRUE(Json::parse(mutant).is_object()) << mutant;
      }
    }
  }
  EXPECT_GT(admitted_mutants, 100);
  for (const char* bad : {"[]", "1", "\"x\"", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{'a':1}", "{\"a\":01}"}) {
    sampling::GrammarMatcher m(g);
    EXPECT_FALSE(m.Accept(bad) && m.CanEnd()) << bad;
  }
}

TEST(JsonSchemaGrammarTest, UnsupportedKeywordsAreNamed) {
  auto message = [](const char* schema) {
    StatusOr<std::string> g = JsonSchemaToGbnf(Json::parse(schema));
    return g.ok() ? std::string("ok") : g.status().message();
  };
  EXPECT_EQ(message(R"({"type": "object", "properties": {"name": {"type": "string", "pattern": "^a"}}})"),
            "unsupported JSON schema keyword 'pattern' at /properties/name");
  EXPECT_NE(message(R"({"oneOf": [{"type": "string"}]})").find("'oneOf'"), std::string::npos);
  EXPECT_NE(message(R"({"allOf": [{"type": "string"}, {"maxLength": 3}]})").find("'allOf'"), std::string::npos);
  EXPECT_NE(message(R"({"type": "date"})").find("unsupported type 'date'"), std::string::npos);
  EXPECT_NE(message(R"({"type": "number", "minimum": 0.5})").find("fractional"), std::string::npos);
  EXPECT_NE(message(R"({"$ref": "#/$defs/missing"})").find("#/$defs/missing"), std::string::npos);
  EXPECT_NE(message(R"({"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"})").find("left-recursive"),
            std::string::npos);
  EXPECT_NE(message(R"({"type": "string", "minLength": 5, "maxLength": 2})").find("maxLength"), std::string::npos);
  EXPECT_EQ(message(R"({"type": "string", "format": "date-time", "title": "t"})"), "ok");
}

// Random logits through the constrained Sampler over a byte-level
// vocabulary with multi-byte pieces: every finished text validates.
TEST(JsonSchemaGrammarTest, RandomLogitGenerationAlwaysValidates) {
  std::vector<std::string> vocab;
  for (int b = 0; b < 256; ++b) vocab.push_back(std::string(1, static_cast<char>(b)));
  for (const char* p : {"{\"", "\":", "\": ", "\",\"", "name", "age", "tags", "true", "null", "12", "\"a\"", "]}",
                        "\"}", "[\"", "x\":", "\", \""})
    vocab.push_back(p);
  vocab.push_back("");  // end of generation
  const auto eog = static_cast<int32_t>(vocab.size() - 1);
  auto table = std::make_shared<const sampling::TokenTable>(vocab);
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0, 2);
  for (size_t si = 0; si < Schemas().size(); ++si) {
    const Json& schema = Schemas()[si];
    auto g = Compile(*JsonSchemaToGbnf(schema));
    auto cache = std::make_shared<sampling::GrammarMaskCache>(64);
    for (int run = 0; run < 10; ++run) {
      sampling::SamplingParams p;
      p.temperature = 1.0f;
      p.top_k = 0;
      p.top_p = 1.0f;
      p.min_p = 0.0f;
      p.seed = static_cast<uint64_t>(run);
      sampling::Sampler s(p, table->n_vocab());
      s.SetEndOfGenerationTokens({eog});
      s.SetConstraint(std::make_unique<sampling::GrammarConstraint>(g, table, cache));
      std::string text;
      bool ended = false;
      std::vector<float> logits(static_cast<size_t>(table->n_vocab()));
      for (int step = 0; step < 3000 && !ended; ++step) {
        for (float& x : logits) x = normal(rng);
        // Quotes and closers tempt, so that strings and containers end.
        for (char c : std::string("\"]}")) logits[static_cast<unsigned char>(c)] += 3;
        logits[static_cast<size_t>(eog)] += 4;
        const int32_t t = s.Sample(logits);
        if (t == eog) {
          ended = true;
        } else {
          text += table->bytes(t);
          s.Accept(t);
        }
      }
      ASSERT_TRUE(ended) << "schema " << si << ": " << text;
      ASSERT_TRUE(Json::accept(text)) << text;
      EXPECT_TRUE(testing::Validates(Json::parse(text), schema)) << text << " against " << schema.dump();
    }
  }
}

}  // namespace
}  // namespace chunkserve::server
