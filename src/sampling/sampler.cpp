#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/logging.h"
#include "sampling/logit_bias.h"
#include "sampling/penalties.h"
#include "sampling/truncation.h"

namespace chunkserve::sampling {

Sampler::Sampler(SamplingParams params, int n_vocab)
    : params_(std::move(params)), n_vocab_(n_vocab), rng_(params_.seed) {
  CHECK(n_vocab_ > 0);
  BuildChain();
}

Sampler::~Sampler() = default;
Sampler::Sampler(Sampler&&) noexcept = default;
Sampler& Sampler::operator=(Sampler&&) noexcept = default;

void Sampler::BuildChain() {
  chain_.clear();

  if (!params_.logit_bias.empty()) {
    chain_.push_back(std::make_unique<LogitBiasProcessor>("logit_bias", params_.logit_bias, n_vocab_));
  }
  if (params_.ignore_eos && !eog_ids_.empty()) {
    std::vector<std::pair<int32_t, float>> ban;
    for (int32_t id : eog_ids_) ban.emplace_back(id, -std::numeric_limits<float>::infinity());
    chain_.push_back(std::make_unique<LogitBiasProcessor>("eog_ban", std::move(ban), n_vocab_));
  }
  if (!PenaltiesProcessor::IsNoOp(params_.repeat_last_n, params_.repeat_penalty,
                                  params_.frequency_penalty, params_.presence_penalty)) {
    chain_.push_back(std::make_unique<PenaltiesProcessor>(
        params_.repeat_last_n, params_.repeat_penalty, params_.frequency_penalty,
        params_.presence_penalty));
  }
  if (params_.temperature > 0.0f) {
    const size_t min_keep = static_cast<size_t>(std::max(1, params_.min_keep));
    if (params_.top_k > 0) chain_.push_back(std::make_unique<TopKProcessor>(params_.top_k));
    if (params_.top_p < 1.0f) chain_.push_back(std::make_unique<TopPProcessor>(params_.top_p, min_keep));
    if (params_.min_p > 0.0f) chain_.push_back(std::make_unique<MinPProcessor>(params_.min_p, min_keep));
    if (params_.temperature != 1.0f) {
      chain_.push_back(std::make_unique<TemperatureProcessor>(params_.temperature));
    }
  }
}

int32_t Sampler::Sample(std::span<const float> logits) {
  const int32_t pick = SampleUnconstrained(logits);
  if (!constraint_ || IsAllowed(pick)) return pick;
  return SampleConstrained(logits);
}

bool Sampler::IsAllowed(int32_t token) {
  return IsEndOfGeneration(token) ? constraint_->CanEnd() : constraint_->Allows(token);
}

bool Sampler::ComputeAllowed() {
  allowed_.resize(static_cast<size_t>(n_vocab_));
  constraint_->FillAllowed(allowed_);
  const uint8_t can_end = constraint_->CanEnd() ? 1 : 0;
  for (int32_t id : eog_ids_)
    if (id >= 0 && id < n_vocab_) allowed_[static_cast<size_t>(id)] = can_end;
  return std::find(allowed_.begin(), allowed_.end(), uint8_t{1}) != allowed_.end();
}

void Sampler::KeepAllowedCandidates() {
  std::vector<TokenCandidate>& d = candidates_.data;
  d.erase(std::remove_if(d.begin(), d.end(), [this](const TokenCandidate& c) { return !allowed_[static_cast<size_t>(c.id)]; }),
          d.end());
  candidates_.probs_valid = false;
}

int32_t Sampler::SampleConstrained(std::span<const float> logits) {
  if (!ComputeAllowed()) {
    last_p_ = 1.0f;
    return eog_ids_.empty() ? SampleUnconstrained(logits) : eog_ids_.front();
  }
  if (params_.temperature <= 0.0f && chain_.empty()) {
    // The argmax over allowed ids (NaN as -inf, lowest id on ties).
    int32_t best = -1;
    float best_value = 0;
    for (int32_t i = 0; i < n_vocab_; ++i) {
      if (!allowed_[static_cast<size_t>(i)]) continue;
      const float v = std::isnan(logits[static_cast<size_t>(i)]) ? -std::numeric_limits<float>::infinity()
                                                                  : logits[static_cast<size_t>(i)];
      if (best < 0 || v > best_value) {
        best = i;
        best_value = v;
      }
    }
    last_p_ = 1.0f;
    return best;
  }
  KeepAllowedCandidates();
  if (candidates_.data.empty()) {
    // Truncation left no allowed token: run the chain over the allowed ones.
    candidates_.Fill(logits);
    KeepAllowedCandidates();
    for (auto& processor : chain_) processor->Apply(candidates_);
  }
  if (params_.temperature <= 0.0f) {
    const TokenCandidate* best = &candidates_.data.front();
    for (const TokenCandidate& c : candidates_.data)
      if (c.logit > best->logit || (c.logit == best->logit && c.id < best->id)) best = &c;
    last_p_ = 1.0f;
    return best->id;
  }
  return Draw(candidates_.ComputeNormalizer());
}

int32_t Sampler::SampleUnconstrained(std::span<const float> logits) {
  CHECK(logits.size() == static_cast<size_t>(n_vocab_));
  if (chain_.empty() && params_.temperature <= 0.0f) {
    // Plain greedy: the same argmax (lowest id on ties) straight from the row,
    // without building the candidate list (a decode step's worth of time on
    // a 150k vocabulary).
    // NaN counts as -inf, as the candidate list stores it.
    auto value = [](float x) { return std::isnan(x) ? -std::numeric_limits<float>::infinity() : x; };
    size_t best = 0;
    float best_value = value(logits[0]);
    for (size_t i = 1; i < logits.size(); ++i) {
      const float v = value(logits[i]);
      if (v > best_value) {
        best = i;
        best_value = v;
      }
    }
    last_p_ = 1.0f;
    return static_cast<int32_t>(best);
  }
  candidates_.Fill(logits);
  for (auto& processor : chain_) {
    processor->Apply(candidates_);
    CHECK(!candidates_.data.empty());
  }

  if (params_.temperature <= 0.0f) {
    // Greedy: highest logit, lowest id on ties.
    const TokenCandidate* best = &candidates_.data.front();
    for (const TokenCandidate& c : candidates_.data) {
      if (c.logit > best->logit || (c.logit == best->logit && c.id < best->id)) best = &c;
    }
    last_p_ = 1.0f;
    return best->id;
  }

  return Draw(candidates_.ComputeNormalizer());
}

// Draws from the softmax in a fixed order (descending logit, ties by id) so
// the same uniform number maps to the same token everywhere; only the prefix
// the draw reaches gets sorted.
int32_t Sampler::Draw(const TokenCandidates::Normalizer& norm) {
  const double u = rng_.NextDouble();
  const size_t n = candidates_.data.size();
  size_t pick = candidates_.FindCumulative(u, /*strict=*/true, norm);
  if (pick == n) {
    // Rounding left the total a hair under u: take the last token with p > 0.
    pick = n - 1;
    while (pick > 0 && norm.P(candidates_.data[pick], n) <= 0.0) --pick;
  }
  last_p_ = static_cast<float>(norm.P(candidates_.data[pick], n));
  return candidates_.data[pick].id;
}

bool Sampler::FillTargetCandidates(std::span<const float> logits) {
  CHECK(logits.size() == static_cast<size_t>(n_vocab_));
  candidates_.Fill(logits);
  for (auto& processor : chain_) {
    processor->Apply(candidates_);
    CHECK(!candidates_.data.empty());
  }
  if (constraint_) {
    // The draft is verified against Sample()'s constrained law: the chain's
    // survivors that are allowed (or the chain over the allowed tokens when
    // none survived). A draft the constraint refuses has probability 0.
    if (!ComputeAllowed()) return false;
    KeepAllowedCandidates();
    if (candidates_.data.empty()) {
      candidates_.Fill(logits);
      KeepAllowedCandidates();
      for (auto& processor : chain_) processor->Apply(candidates_);
    }
  }
  return true;
}

int32_t Sampler::SampleAgainstDraft(std::span<const float> logits, int32_t draft) {
  if (params_.temperature <= 0.0f) return Sample(logits);
  if (!FillTargetCandidates(logits)) return SampleConstrained(logits);
  TokenCandidates::Normalizer norm = candidates_.ComputeNormalizer();
  const size_t n = candidates_.data.size();
  auto at = std::find_if(candidates_.data.begin(), candidates_.data.end(),
                         [&](const TokenCandidate& c) { return c.id == draft; });
  const double p_draft = at == candidates_.data.end() ? 0.0 : norm.P(*at, n);
  if (rng_.NextDouble() < p_draft) {
    last_p_ = static_cast<float>(p_draft);
    return draft;
  }
  // Rejected: draw from p with the draft removed (renormalised).
  if (at != candidates_.data.end()) {
    if (n == 1) return draft;  // p_draft was 1: unreachable, kept for safety
    candidates_.data.erase(at);  // keeps a sorted list sorted
    norm = candidates_.ComputeNormalizer();
    // Nothing else has mass (the draft's p rounded under 1).
    if (norm.uniform) return draft;
  }
  return Draw(norm);
}

int32_t Sampler::SampleAgainstDraftDistribution(std::span<const float> logits, int32_t draft,
                                                std::span<const float> q) {
  if (params_.temperature <= 0.0f) return Sample(logits);
  CHECK(q.size() == static_cast<size_t>(n_vocab_));
  if (!FillTargetCandidates(logits)) return SampleConstrained(logits);
  const TokenCandidates::Normalizer norm = candidates_.ComputeNormalizer();
  const size_t n = candidates_.data.size();
  auto at = std::find_if(candidates_.data.begin(), candidates_.data.end(),
                         [&](const TokenCandidate& c) { return c.id == draft; });
  const double p_draft = at == candidates_.data.end() ? 0.0 : norm.P(*at, n);
  const double q_draft = draft >= 0 && draft < n_vocab_ ? q[static_cast<size_t>(draft)] : 0.0;
  // q(draft) > 0 for a draft drawn from q; a zero is read as "always keep
  // what p allows" (ratio infinite), which only a broken drafter reaches.
  const double keep = q_draft > 0 ? std::min(1.0, p_draft / q_draft) : (p_draft > 0 ? 1.0 : 0.0);
  if (rng_.NextDouble() < keep) {
    last_p_ = static_cast<float>(p_draft);
    return draft;
  }
  // Rejected: draw from the residual max(0, p - q), in the candidates'
  // order (fixed for given logits).
  double residual = 0;
  for (const TokenCandidate& c : candidates_.data)
    residual += std::max(0.0, norm.P(c, n) - static_cast<double>(q[static_cast<size_t>(c.id)]));
  if (!(residual > 0)) return Draw(norm);  // p == q up to rounding: p itself
  const double u = rng_.NextDouble() * residual;
  double sum = 0;
  const TokenCandidate* last = nullptr;
  for (const TokenCandidate& c : candidates_.data) {
    const double r = std::max(0.0, norm.P(c, n) - static_cast<double>(q[static_cast<size_t>(c.id)]));
    if (r <= 0) continue;
    last = &c;
    sum += r;
    if (u < sum) break;
  }
  last_p_ = static_cast<float>(norm.P(*last, n));
  return last->id;
}

void Sampler::Accept(int32_t token) {
  for (auto& processor : chain_) processor->Accept(token);
  if (constraint_ && !IsEndOfGeneration(token)) constraint_->Accept(token);
}

void Sampler::SetConstraint(std::shared_ptr<TokenConstraint> constraint) { constraint_ = std::move(constraint); }

void Sampler::Reset() {
  for (auto& processor : chain_) processor->Reset();
  if (constraint_) constraint_->Reset();
  rng_.Seed(params_.seed);
  last_p_ = 1.0f;
}

void Sampler::SetEndOfGenerationTokens(std::vector<int32_t> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  eog_ids_ = std::move(ids);
  if (params_.ignore_eos) {
    // Only the ban changes; swap it in place so penalty history survives.
    auto it = std::find_if(chain_.begin(), chain_.end(),
                           [](const auto& p) { return p->name() == "eog_ban"; });
    std::vector<std::pair<int32_t, float>> ban;
    for (int32_t id : eog_ids_) ban.emplace_back(id, -std::numeric_limits<float>::infinity());
    auto processor = std::make_unique<LogitBiasProcessor>("eog_ban", std::move(ban), n_vocab_);
    if (it != chain_.end()) {
      *it = std::move(processor);
    } else {
      const bool has_bias = !chain_.empty() && chain_.front()->name() == "logit_bias";
      chain_.insert(chain_.begin() + (has_bias ? 1 : 0), std::move(processor));
    }
  }
}

bool Sampler::IsEndOfGeneration(int32_t token) const {
  return std::binary_search(eog_ids_.begin(), eog_ids_.end(), token);
}

std::string Sampler::ChainDescription() const {
  std::string out;
  for (const auto& processor : chain_) {
    if (!out.empty()) out += ',';
    out += processor->name();
  }
  if (!out.empty()) out += ',';
  out += params_.temperature <= 0.0f ? "greedy" : "dist";
  return out;
}

}  // namespace chunkserve::sampling
