#include "server/kv_policy_field.h"

#include <string>

namespace chunkserve::server {
namespace {

Status SetKind(const Json& name, kv::KvPolicy* p) {
  if (!name.is_string()) return InvalidArgumentError("'kv_policy' name must be a string");
  const std::optional<kv::KvPolicyKind> kind = kv::ParseKvPolicyKind(name.get<std::string>());
  if (!kind)
    return InvalidArgumentError("'kv_policy': unknown policy '" + name.get<std::string>() +
                                "' (full, sinks, snapkv, h2o, streaming, pages, headwise, gemfilter)");
  p->kind = *kind;
  return Status::Ok();
}

StatusOr<int64_t> PositiveInt(const Json& obj, const char* field, int64_t fallback) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_number_integer() || it->get<int64_t>() < 0)
    return InvalidArgumentError(std::string("'kv_policy.") + field + "' must be a non-negative integer");
  return it->get<int64_t>();
}

}  // namespace

StatusOr<kv::KvPolicy> ParseKvPolicyField(const Json& body, const kv::KvPolicy& server_default) {
  auto it = body.find("kv_policy");
  if (it == body.end() || it->is_null()) return server_default;
  kv::KvPolicy p = server_default;
  if (it->is_string()) {
    RETURN_IF_ERROR(SetKind(*it, &p));
  } else if (it->is_object()) {
    auto name = it->find("name");
    if (name == it->end()) return InvalidArgumentError("'kv_policy' needs a 'name'");
    RETURN_IF_ERROR(SetKind(*name, &p));
    ASSIGN_OR_RETURN(p.budget, PositiveInt(*it, "budget", p.budget));
    ASSIGN_OR_RETURN(p.n_sinks, PositiveInt(*it, "sinks", p.n_sinks));
    ASSIGN_OR_RETURN(p.window, PositiveInt(*it, "window", p.window));
    ASSIGN_OR_RETURN(p.pool_size, PositiveInt(*it, "pool", p.pool_size));
  } else {
    return InvalidArgumentError("'kv_policy' must be a policy name or an object with 'name' and 'budget'");
  }
  if (p.active() && p.budget == 0)
    return InvalidArgumentError("'kv_policy' " + std::string(kv::KvPolicyName(p.kind)) +
                                " needs a 'budget' (the server has none: serve --kv-budget)");
  if (const Status v = kv::ValidateKvPolicy(p); !v.ok()) return InvalidArgumentError("'kv_policy': " + v.message());
  return p;
}

}  // namespace chunkserve::server
