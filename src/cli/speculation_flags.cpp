#include "cli/speculation_flags.h"

namespace chunkserve::cli {

Status ValidateDrafterFlags(const Flags& flags) {
  if (flags.Has(kSelfDraftLayersFlag)) {
    ASSIGN_OR_RETURN(const long long n, flags.GetInt(kSelfDraftLayersFlag, 0));
    if (n < 1) return InvalidArgumentError("--self-draft-layers must be >= 1");
    if (flags.Has(kDraftModelFlag))
      return InvalidArgumentError("--draft-model and --self-draft-layers name two drafters; give one");
  }
  if (flags.Has(kDraftModelFlag) && flags.GetOr(kDraftModelFlag, "").empty())
    return InvalidArgumentError("--draft-model needs a GGUF file");
  return Status::Ok();
}

StatusOr<std::optional<sched::LookupDraftOptions>> SpeculationFromFlags(const Flags& flags,
                                                                        const std::string& default_mode) {
  const std::string mode = flags.GetOr(kSpeculateFlag, default_mode);
  ASSIGN_OR_RETURN(const long long n_draft, flags.GetInt(kDraftTokensFlag, 8));
  if (n_draft < 1 || n_draft > 64) return InvalidArgumentError("--draft-tokens must lie in [1, 64]");
  RETURN_IF_ERROR(ValidateDrafterFlags(flags));
  if (mode == "off") return std::optional<sched::LookupDraftOptions>();
  sched::LookupDraftOptions o;
  o.max_draft = static_cast<int>(n_draft);
  if (mode == "draft") {
    if (!flags.Has(kDraftModelFlag) && !flags.Has(kSelfDraftLayersFlag))
      return InvalidArgumentError("--speculate draft needs a drafter: --draft-model D.gguf or --self-draft-layers N");
    o.source = sched::DraftSource::kModel;
    return std::optional<sched::LookupDraftOptions>(o);
  }
  if (mode != "lookup") return InvalidArgumentError("--speculate must be off, lookup or draft, not '" + mode + "'");
  return std::optional<sched::LookupDraftOptions>(o);
}

StatusOr<std::unique_ptr<model::Model>> SetUpDrafter(const Flags& flags, const model::Model& target,
                                                     engine::EngineOptions* options) {
  if (flags.Has(kSelfDraftLayersFlag)) {
    ASSIGN_OR_RETURN(const long long n, flags.GetInt(kSelfDraftLayersFlag, 0));
    options->self_draft_layers = n;
    return std::unique_ptr<model::Model>();
  }
  const std::string path = flags.GetOr(kDraftModelFlag, "");
  if (path.empty()) return std::unique_ptr<model::Model>();
  model::LoadOptions lo;
  lo.pool = target.pool();
  lo.attention_precision = target.attention_precision();
  auto draft = model::Model::Load(path, lo);
  if (!draft.ok()) return Status(draft.status().code(), "--draft-model " + path + ": " + draft.status().message());
  options->draft_model = draft->get();
  return std::move(*draft);
}

}  // namespace chunkserve::cli
