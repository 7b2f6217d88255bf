#include "sampling/sampling_params.h"

#include <cmath>
#include <string>

namespace chunkserve::sampling {
namespace {

Status OutOfRange(const SamplingNames& names, const char* SamplingNames::*field, const std::string& rule) {
  return InvalidArgumentError(std::string(names.*field) + " " + rule);
}

}  // namespace

Status ValidateSamplingParams(const SamplingParams& p, const SamplingNames& names) {
  if (!std::isfinite(p.temperature) || p.temperature < 0 || p.temperature > 100)
    return OutOfRange(names, &SamplingNames::temperature, "must be a number in [0, 100] (0: greedy)");
  if (!std::isfinite(p.top_p) || p.top_p <= 0 || p.top_p > 1)
    return OutOfRange(names, &SamplingNames::top_p, "must lie in (0, 1] (1: off)");
  if (!std::isfinite(p.min_p) || p.min_p < 0 || p.min_p > 1)
    return OutOfRange(names, &SamplingNames::min_p, "must lie in [0, 1] (0: off)");
  if (p.top_k < 0) return OutOfRange(names, &SamplingNames::top_k, "must be >= 0 (0: off)");
  if (!std::isfinite(p.repeat_penalty) || p.repeat_penalty < 0.01f || p.repeat_penalty > 10)
    return OutOfRange(names, &SamplingNames::repeat_penalty, "must lie in [0.01, 10] (1: off)");
  if (!std::isfinite(p.presence_penalty) || std::fabs(p.presence_penalty) > 2)
    return OutOfRange(names, &SamplingNames::presence_penalty, "must lie in [-2, 2] (0: off)");
  if (!std::isfinite(p.frequency_penalty) || std::fabs(p.frequency_penalty) > 2)
    return OutOfRange(names, &SamplingNames::frequency_penalty, "must lie in [-2, 2] (0: off)");
  return Status::Ok();
}

}  // namespace chunkserve::sampling
