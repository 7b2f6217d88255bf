#include "model/forward_profile.h"

namespace chunkserve::model {

std::string_view ForwardOpName(ForwardOp op) {
  switch (op) {
    case ForwardOp::kEmbed: return "embed";
    case ForwardOp::kAttnNorm: return "attn_norm";
    case ForwardOp::kQkv: return "qkv_matmul";
    case ForwardOp::kQkvPost: return "qkv_bias_rope_store";
    case ForwardOp::kAttention: return "attention";
    case ForwardOp::kWo: return "wo_matmul";
    case ForwardOp::kAttnResidual: return "attn_residual_ffn_norm";
    case ForwardOp::kGateUp: return "gate_up_matmul";
    case ForwardOp::kActivation: return "swiglu";
    case ForwardOp::kDown: return "down_matmul";
    case ForwardOp::kFfnResidual: return "ffn_residual";
    case ForwardOp::kOutputNorm: return "output_norm";
    case ForwardOp::kHead: return "head_matmul";
    case ForwardOp::kMoeFfn: return "moe_ffn";
    case ForwardOp::kCount: break;
  }
  return "?";
}

}  // namespace chunkserve::model
