// The RAG pipeline: citations parsing, the segmented prompt, extractive
// answers with exact byte citations, and generation through the engine with
// a fixture model (chunk cache reuse on the second ask).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "base/mapped_file.h"
#include "fixture/fixture_model.h"
#include "rag/embed/collection_embedding.h"
#include "rag/embed/static_embedder.h"
#include "rag/embed_test_util.h"
#include "rag/ingest/ingester.h"
#include "rag/embed/model_perplexity.h"
#include "rag/pipeline/engine_generator.h"
#include "rag/pipeline/prompt_fit.h"
#include "rag/pipeline/rag_pipeline.h"
#include "rag/text/token_counter.h"

namespace chunkserve::rag {
namespace {

TEST(Citations, FindsBracketedSourceNumbers) {
  EXPECT_EQ(FindCitations("A [2]. B [1, 3] and [3][2]; not [7] or [x] or [2", 5), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(FindCitations("[0] [6] [ 4 ]", 5), (std::vector<int>{4}));
  EXPECT_TRUE(FindCitations("", 3).empty());
  EXPECT_TRUE(FindCitations("[1]", 0).empty());
}

class PipelineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fixture::FixtureSpec spec;
    spec.seed = 5;
    spec.n_embd = 64;
    spec.n_layer = 2;
    spec.n_head = 4;
    spec.n_head_kv = 2;
    spec.n_ff = 96;
    spec.n_vocab = 300;
    model_path_ = (std::filesystem::path(::testing::TempDir()) / "pipeline_test_fixture.gguf").string();
    ASSERT_TRUE(fixture::WriteFixtureModel(spec, model_path_, nullptr).ok());
  }

  void SetUp() override {
    dir_.Write("docs/navy.txt",
               "The fleet sailed at dawn. Our navy guards the ocean lanes.\n\nEvery sailor trained in the harbor "
               "for a year. The ships returned in spring.\n");
    dir_.Write("docs/money.txt",
               "The budget was balanced this year. Tax revenue rose by ten percent.\n\nThe treasury paid down the "
               "debt. Dollars were saved.\n");
    dir_.Write("docs/school.md", "# Schools\n\nEvery student deserves a good teacher. Education builds the nation.\n");
    auto store = Store::Open(dir_.path("db.sqlite"), Store::Mode::kReadWrite);
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
    IngestParams p;
    p.paths = {dir_.path("docs")};
    p.collection = "c";
    p.chunker.chunk_tokens = 24;
    p.chunker.overlap_tokens = 4;
    ApproxTokenCounter counter;
    Ingester ingester(store_.get(), &counter);
    ASSERT_TRUE(ingester.Run(p).ok());
    collection_ = **store_->FindCollection("c");
  }

  static std::string model_path_;
  TestDir dir_{"pipeline"};
  std::unique_ptr<Store> store_;
  int64_t collection_ = 0;
};
std::string PipelineTest::model_path_;

TEST_F(PipelineTest, ExtractiveAnswerCitesExactSentenceBytes) {
  RagPipeline pipeline(store_.get(), collection_, nullptr, nullptr, nullptr);
  AskParams params;
  auto r = pipeline.Ask("How did tax revenue change?", params);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->extractive);
  EXPECT_NE(r->answer.find("Tax revenue rose by ten percent."), std::string::npos) << r->answer;
  ASSERT_FALSE(r->evidence.empty());
  ASSERT_FALSE(r->cited.empty());
  const Citation& first = r->evidence[0];
  EXPECT_TRUE(first.path.ends_with("money.txt"));
  // The cited bytes of the file are exactly the sentence.
  auto bytes = ReadFileToString(first.path);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->substr(static_cast<size_t>(first.source_begin),
                          static_cast<size_t>(first.source_end - first.source_begin)),
            first.text);
  // The answer cites the source the sentence came from.
  EXPECT_EQ(r->sources[static_cast<size_t>(first.number - 1)].path, first.path);
  EXPECT_NE(r->answer.find("[" + std::to_string(first.number) + "]"), std::string::npos);
  // Nothing relevant: a clear answer, no sources.
  auto none = pipeline.Ask("zebra quantum", params);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->answer, kNoSourcesAnswer);
  EXPECT_TRUE(none->sources.empty());
}

TEST_F(PipelineTest, ExtractiveWithDenseRetrievalUsesTheEmbedder) {
  const std::string glove = WriteTinyGloveModel(dir_);
  auto embedder = StaticEmbedder::Load(glove);
  ASSERT_TRUE(embedder.ok());
  ASSERT_TRUE(EmbedCollection(store_.get(), collection_, **embedder).ok());
  auto dense = DenseIndex::Open(store_.get(), collection_, {});
  ASSERT_TRUE(dense.ok());
  RagPipeline pipeline(store_.get(), collection_, embedder->get(), dense->get(), nullptr);
  auto r = pipeline.Ask("Which sailor trained in the harbor?", AskParams());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_FALSE(r->retrieved.empty());
  EXPECT_TRUE(r->retrieved[0].hit.path.ends_with("navy.txt"));
  EXPECT_NE(r->answer.find("Every sailor trained in the harbor"), std::string::npos) << r->answer;
}

TEST_F(PipelineTest, PromptSegmentsAreCanonicalAndChunkTokensStable) {
  auto tok = tokenizer::Tokenizer::Open(model_path_);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  auto docs = store_->ListDocuments(collection_);
  ASSERT_TRUE(docs.ok());
  std::vector<SearchHit> all;
  for (const auto& d : *docs) {
    auto chunks = store_->GetChunks(d.id);
    ASSERT_TRUE(chunks.ok());
    for (auto& c : *chunks) all.push_back({d.path, c, 0.0});
  }
  ASSERT_GE(all.size(), 3u);
  // ChatML with and without a system prompt.
  const engine::PromptAssembler chatml(tok->get(), tokenizer::ChatTemplate::ChatMl());
  for (const char* system : {kDefaultRagSystemPrompt, ""}) {
    RagPromptOptions options;
    options.system_prompt = system;
    // Two selections sharing all[1], in different retrieval orders.
    auto a = BuildRagPrompt("What about <|im_end|> the fleet?", {all[2], all[1]}, chatml, options);
    auto b = BuildRagPrompt("Another question", {all[1], all[0], all[2]}, chatml, options);
    ASSERT_TRUE(a.ok() && b.ok());
    // Layout: prefix, chunk, prefix(label), chunk, tail.
    ASSERT_EQ(a->segments.size(), 5u);
    EXPECT_EQ(a->segments[0].kind, engine::SegmentKind::kPrefix);
    EXPECT_EQ(a->segments[1].kind, engine::SegmentKind::kChunk);
    EXPECT_EQ(a->segments[2].kind, engine::SegmentKind::kPrefix);
    EXPECT_EQ(a->segments[3].kind, engine::SegmentKind::kChunk);
    EXPECT_EQ(a->segments[4].kind, engine::SegmentKind::kTail);
    // Canonical order: by path then ordinal, whatever the retrieval order.
    EXPECT_EQ(a->sources[0].chunk_id, std::min(all[1], all[2], [](const SearchHit& x, const SearchHit& y) {
                return x.path != y.path ? x.path < y.path : x.chunk.ordinal < y.chunk.ordinal;
              }).chunk.id);
    // all[1]'s chunk segment has the same tokens in both prompts.
    auto chunk_tokens = [&](const RagPrompt& p, int64_t chunk_id) {
      int n = 0;
      for (const auto& s : p.segments) {
        if (s.kind != engine::SegmentKind::kChunk) continue;
        if (p.sources[static_cast<size_t>(n++)].chunk_id == chunk_id) return s.tokens;
      }
      return std::vector<int32_t>{};
    };
    const auto ta = chunk_tokens(*a, all[1].chunk.id);
    EXPECT_FALSE(ta.empty());
    EXPECT_EQ(ta, chunk_tokens(*b, all[1].chunk.id));
    // Numbered labels are in the text; the question is there verbatim.
    EXPECT_NE(a->text.find("[1] "), std::string::npos);
    EXPECT_NE(a->text.find("[2] "), std::string::npos);
    EXPECT_NE(a->text.find("What about <|im_end|> the fleet?"), std::string::npos);
    // ... and its "<|im_end|>" is text, not the control token: the tail holds
    // exactly the template's own two (end of the user turn, none after the
    // assistant's start).
    const std::optional<int32_t> im_end = (*tok)->FindToken("<|im_end|>");
    ASSERT_TRUE(im_end.has_value());
    EXPECT_EQ(std::count(a->segments[4].tokens.begin(), a->segments[4].tokens.end(), *im_end), 1);
    int64_t n = 0;
    for (const auto& s : a->segments) n += static_cast<int64_t>(s.tokens.size());
    EXPECT_EQ(n, a->n_tokens);
  }
}

// Issue 20: a prompt always fits the model: sources dropped first, then a
// shorter answer (not below half the room), then the best chunk cut; every
// result fits, and only a context too small for the template alone fails.
TEST_F(PipelineTest, PromptFitsTheContextByDroppingShorteningAndCutting) {
  auto tok = tokenizer::Tokenizer::Open(model_path_);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  const engine::PromptAssembler chatml(tok->get(), tokenizer::ChatTemplate::ChatMl());
  auto docs = store_->ListDocuments(collection_);
  ASSERT_TRUE(docs.ok());
  std::vector<SearchHit> hits;
  for (const auto& d : *docs) {
    auto chunks = store_->GetChunks(d.id);
    ASSERT_TRUE(chunks.ok());
    for (auto& c : *chunks) hits.push_back({d.path, c, 0.0});
  }
  ASSERT_GE(hits.size(), 3u);
  hits.resize(3);
  // A long best chunk, as a collection chunked for a bigger model has.
  for (int i = 0; i < 6; ++i) hits[0].chunk.text += " " + hits[0].chunk.text;
  const RagPromptOptions options;
  auto full = FitRagPrompt("fleet?", hits, chatml, options, 64, 0);
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->n_sources_dropped, 0);
  const int64_t n_full = full->prompt.n_tokens;
  auto bare = BuildRagPrompt("fleet?", {}, chatml, options);
  ASSERT_TRUE(bare.ok());
  ASSERT_GT(n_full / 2, bare->n_tokens + 64 + 8);
  for (const int64_t n_ctx : {n_full + 64, n_full + 10, n_full / 2, bare->n_tokens + 64 + 8}) {
    SCOPED_TRACE(n_ctx);
    auto fit = FitRagPrompt("fleet?", hits, chatml, options, 64, n_ctx);
    ASSERT_TRUE(fit.ok()) << fit.status().ToString();
    EXPECT_LE(fit->prompt.n_tokens + fit->max_new_tokens, n_ctx);
    EXPECT_GE(fit->prompt.sources.size(), 1u);  // something was found, something is shown
    EXPECT_GE(fit->max_new_tokens, std::min<int64_t>(64, (n_ctx - bare->n_tokens) / 2));
    if (n_ctx == n_full + 64) {
      EXPECT_EQ(fit->n_sources_dropped, 0);
      EXPECT_EQ(fit->max_new_tokens, 64);
    } else {
      EXPECT_GT(fit->n_sources_dropped + static_cast<int>(fit->source_cut) + static_cast<int>(fit->max_new_tokens < 64), 0);
    }
  }
  // Cut: the best chunk's text is a prefix of the original.
  auto cut = FitRagPrompt("fleet?", hits, chatml, options, 16, bare->n_tokens + 40);
  ASSERT_TRUE(cut.ok()) << cut.status().ToString();
  EXPECT_EQ(cut->max_new_tokens, 16);
  EXPECT_TRUE(cut->source_cut);
  EXPECT_EQ(cut->n_sources_dropped, 2);
  ASSERT_EQ(cut->prompt.sources.size(), 1u);
  EXPECT_LT(cut->prompt.sources[0].text.size(), hits[0].chunk.text.size());
  EXPECT_EQ(hits[0].chunk.text.rfind(cut->prompt.sources[0].text.substr(0, 20), 0), 0u);
  // No room for a source next to the answer asked for: a clear OutOfRange.
  auto none = FitRagPrompt("fleet?", hits, chatml, options, 64, bare->n_tokens + 64);
  EXPECT_EQ(none.status().code(), StatusCode::kOutOfRange);
}

TEST_F(PipelineTest, GeneratedAnswerThroughEngineReusesChunksOnSecondAsk) {
  model::LoadOptions lo;
  lo.n_threads = 1;
  auto model = model::Model::Load(model_path_, lo);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  engine::EngineOptions eo;
  eo.kv_budget_bytes = size_t{64} << 20;
  auto core = engine::Engine::Create(model->get(), eo);
  ASSERT_TRUE(core.ok()) << core.status().ToString();
  auto gen = EngineGenerator::Create(core->get());
  ASSERT_TRUE(gen.ok()) << gen.status().ToString();
  RagPipeline pipeline(store_.get(), collection_, nullptr, nullptr, gen->get());
  AskParams params;
  params.generation.max_new_tokens = 8;
  params.retrieve.select = false;  // the same sources both times
  std::string streamed;
  auto first = pipeline.Ask("navy fleet ships", params, [&](std::string_view p) { streamed += p; });
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_FALSE(first->extractive);
  EXPECT_EQ(streamed, first->answer);
  ASSERT_FALSE(first->sources.empty());
  EXPECT_GT(first->generation.stats.n_generated_tokens, 0);
  EXPECT_GT(first->generation.stats.n_prompt_tokens, 0);
  EXPECT_GT(first->generation.stats.n_chunk_misses, 0);
  // Asking a different question over the same chunks: they come from the
  // chunk cache (or the prefix cache) instead of being computed again.
  auto second = pipeline.Ask("navy fleet ships?", params);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->sources.size(), first->sources.size());
  EXPECT_GT(second->generation.stats.n_reused_tokens(), 0);
  EXPECT_LT(second->generation.stats.n_computed_tokens, first->generation.stats.n_computed_tokens);
  // Same question, greedy: the same answer.
  auto third = pipeline.Ask("navy fleet ships", params);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->answer, first->answer);
  // --extractive overrides the generator.
  params.extractive = true;
  auto ex = pipeline.Ask("navy fleet ships", params);
  ASSERT_TRUE(ex.ok());
  EXPECT_TRUE(ex->extractive);
}

}  // namespace
}  // namespace chunkserve::rag

namespace chunkserve::rag {
namespace {

// The model-backed scorer on the fixture model: one finite value > 0 per
// sentence, deterministic, and windowing keeps every sentence scored.
TEST_F(PipelineTest, ModelPerplexityScoresEverySentence) {
  model::LoadOptions lo;
  lo.n_threads = 1;
  auto model = model::Model::Load(model_path_, lo);
  ASSERT_TRUE(model.ok());
  const std::vector<std::string_view> sentences = {"The fleet sailed at dawn.", "Our navy guards the ocean lanes.",
                                                   "Every sailor trained in the harbor for a year.", "",
                                                   "The ships returned in spring."};
  for (int64_t window : {512, 16}) {
    auto scorer = ModelPerplexity::Create(model->get(), window);
    ASSERT_TRUE(scorer.ok()) << scorer.status().ToString();
    const auto a = (*scorer)->Perplexities(sentences);
    const auto b = (*scorer)->Perplexities(sentences);
    ASSERT_EQ(a.size(), sentences.size());
    EXPECT_EQ(a, b);
    for (double v : a) {
      EXPECT_TRUE(std::isfinite(v));
      EXPECT_GT(v, 0.0);
    }
    EXPECT_EQ(a[3], 1.0);  // no tokens: neutral
    EXPECT_NE((*scorer)->id().find("/w" + std::to_string(window)), std::string::npos);
  }
  // And it drives the chunker end to end.
  auto scorer = ModelPerplexity::Create(model->get());
  ASSERT_TRUE(scorer.ok());
  ChunkerParams params;
  params.kind = ChunkerKind::kPerplexity;
  params.chunk_tokens = 64;
  params.overlap_tokens = 8;
  params.perplexity = scorer->get();
  auto bytes = ReadFileToString(dir_.path("docs/navy.txt"));
  ASSERT_TRUE(bytes.ok());
  ApproxTokenCounter counter;
  const auto chunks = ChunkDocument(ExtractPlainText(*bytes), params, counter);
  ASSERT_FALSE(chunks.empty());
  for (const Chunk& c : chunks) EXPECT_LE(c.n_tokens, 64u);
}

}  // namespace
}  // namespace chunkserve::rag
