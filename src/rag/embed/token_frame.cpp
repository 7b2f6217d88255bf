#include "rag/embed/token_frame.h"

#include <algorithm>

namespace chunkserve::rag {

Status TokenFrame::Validate(const std::string& model_path) const {
  if (max_tokens <= n_special())
    return InvalidArgumentError(model_path + ": max_tokens " + std::to_string(max_tokens) + " leaves no room for text");
  return Status::Ok();
}

std::vector<int32_t> TokenFrame::Frame(const std::vector<int32_t>& body) const {
  const size_t keep = std::min(body.size(), static_cast<size_t>(max_tokens - n_special()));
  std::vector<int32_t> ids;
  ids.reserve(keep + static_cast<size_t>(n_special()));
  if (first_id) ids.push_back(*first_id);
  ids.insert(ids.end(), body.begin(), body.begin() + static_cast<std::ptrdiff_t>(keep));
  if (last_id) ids.push_back(*last_id);
  if (ids.empty()) ids.push_back(empty_id);  // a forward pass needs one token
  return ids;
}

}  // namespace chunkserve::rag
