// kernels_bench: decode (matrix-vector) and prefill (matrix-matrix) speed of
// MatMul at the Qwen2.5-0.5B shapes (hidden 896, ffn 4864, 14 heads / 2 KV
// heads of 64, vocab 151936, 24 layers), per weight type and thread count,
// plus the machine's memory read bandwidth. One JSON line per measurement.
//
// Every layer has its own weights (as in a real model), so decode streams the
// whole model from memory each token; weights are random (quantized from a
// few random rows, tiled), which does not change the kernels' speed.
//
// Usage: kernels_bench [--types q8_0,q4_K] [--threads 1,2] [--layers 24]
//                      [--prompt 512] [--decode-tokens 20] [--isa avx512]
//                      [--prefill-reps 3] [--no-output] [--no-bandwidth]
//        kernels_bench --shapes [--m 1,4,16,64,512] [--types q8_0] [--threads 2]
//                      [--isa avx512] [--min-ms 300] [--peak]
// --shapes: one line per (type, matrix shape of the 0.5B model, M tokens):
// GMAC/s of int8 work and GB/s of weights read, against the machine's peak
// (--peak measures it: independent vpdpbusd zmm chains, 64 MACs each; and
// the vdpbf16ps and vfmadd231ps peaks that bound bf16 and f32 attention).
// Figures: medians over the repetitions ("best_*": the fastest one, i.e.
// when other processes left the cores alone; "cpu_*": work / (process CPU
// seconds / threads), the rate had every thread kept its core, which is what
// a shared, busy machine can still tell; spin-waiting counts as CPU time, so
// it errs low).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include <immintrin.h>

#include "base/clock.h"
#include "base/thread_pool.h"
#include "kernels/aligned_buffer.h"
#include "kernels/bandwidth.h"
#include "kernels/matmul.h"

namespace chunkserve::kernels {
namespace {

struct MatShape {
  const char* name;
  int64_t rows, cols;
};

// One transformer layer of Qwen2.5-0.5B, then the output projection.
const MatShape kLayer[] = {{"attn_q", 896, 896},   {"attn_k", 128, 896},   {"attn_v", 128, 896},
                           {"attn_output", 896, 896}, {"ffn_gate", 4864, 896}, {"ffn_up", 4864, 896},
                           {"ffn_down", 896, 4864}};
const MatShape kOutput = {"output", 151936, 896};

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t end = std::min(s.find(',', start), s.size());
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

StatusOr<PackedMatrix> RandomPacked(DType type, const MatShape& s, Isa isa, uint32_t seed) {
  const size_t row_bytes = *RowBytes(type, s.cols);
  constexpr int kDistinctRows = 64;
  std::vector<uint8_t> distinct(row_bytes * kDistinctRows);
  std::vector<float> f(static_cast<size_t>(s.cols));
  uint32_t state = seed * 2654435761u + 1;
  for (int r = 0; r < kDistinctRows; ++r) {
    for (auto& v : f) {
      state = state * 1664525u + 1013904223u;
      v = (static_cast<float>(state >> 8) / 16777216.0f - 0.5f) * 0.1f;
    }
    RETURN_IF_ERROR(QuantizeRow(type, f.data(), distinct.data() + r * row_bytes, s.cols));
  }
  std::vector<uint8_t> w(row_bytes * static_cast<size_t>(s.rows));
  for (int64_t r = 0; r < s.rows; ++r) {
    std::memcpy(w.data() + r * row_bytes, distinct.data() + (r % kDistinctRows) * row_bytes, row_bytes);
  }
  return PackedMatrix::Pack({type, s.rows, s.cols, w.data()}, isa);
}

struct Model {
  std::vector<PackedMatrix> mats;  // layer-major, then output
  size_t bytes = 0;
  double params = 0;
};

// K-quants need rows of whole 256-element super-blocks; like llama.cpp's
// quantizer, matrices whose rows are not (896 columns here) fall back to a
// simple type of similar size. A "q4_K" model of this shape is therefore
// q5_0 except ffn_down (4864 columns), which is what Qwen2.5-0.5B Q4_K_M
// files look like (q2_K, q3_K and iq4_xs fall back to iq4_nl).
DType TypeForShape(DType type, const MatShape& s) {
  if (s.cols % 256 == 0) return type;
  switch (type) {
    case DType::kQ4_K: return DType::kQ5_0;
    case DType::kQ5_K: return DType::kQ5_1;
    case DType::kQ6_K: return DType::kQ8_0;
    case DType::kQ2_K: case DType::kQ3_K: case DType::kIQ4_XS: return DType::kIQ4_NL;
    default: return type;
  }
}

StatusOr<Model> BuildModel(DType type, int n_layers, bool with_output, Isa isa) {
  Model m;
  for (int l = 0; l < n_layers; ++l) {
    for (const MatShape& s : kLayer) {
      ASSIGN_OR_RETURN(PackedMatrix p, RandomPacked(TypeForShape(type, s), s, isa, static_cast<uint32_t>(l * 16 + (&s - kLayer))));
      m.bytes += p.bytes();
      m.params += static_cast<double>(s.rows) * static_cast<double>(s.cols);
      m.mats.push_back(std::move(p));
    }
  }
  if (!with_output) return m;
  ASSIGN_OR_RETURN(PackedMatrix out, RandomPacked(TypeForShape(type, kOutput), kOutput, isa, 999));
  m.bytes += out.bytes();
  m.params += static_cast<double>(kOutput.rows) * static_cast<double>(kOutput.cols);
  m.mats.push_back(std::move(out));
  return m;
}

double ProcessCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Timing {
  double wall_s;
  double cpu_s;  // CPU time of the whole process: with one thread, the run
                 // without the time other processes took from it
};

// Runs every matrix of the model once over n tokens.
Timing RunModel(const Model& m, int64_t n, AlignedVector<float>& x, AlignedVector<float>& y, ThreadPool* pool) {
  const double cpu0 = ProcessCpuSeconds();
  Stopwatch sw;
  for (const PackedMatrix& w : m.mats) MatMul(w, x.data(), n, y.data(), pool);
  return {sw.ElapsedSeconds(), ProcessCpuSeconds() - cpu0};
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// ---------------------------------------------------------------- --shapes

// Multiply-accumulate peaks of one core: 16 independent zmm chains of one
// instruction (16 chains hide a 4-6 cycle latency at 2 per cycle) in inline
// asm, so the compiler cannot spill or drop them: vpdpbusd (int8, 64 MACs,
// the quantized matmul), vdpbf16ps (bf16, 32 MACs, bf16 attention) and
// vfmadd231ps (f32, 16 MACs, f32 attention). Timed in thread CPU time: the
// rate while this thread holds its core. Also returns the clock, from a
// chain of dependent scalar adds (1 cycle each).
struct Peak {
  double vnni_gmacs;
  double bf16_gmacs;
  double fma_gmacs;
  double ghz;
};
double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
#define CS_SIXTEEN_CHAINS(op)                                                                       \
  op " %%zmm30, %%zmm31, %%zmm0\n " op " %%zmm30, %%zmm31, %%zmm1\n " op " %%zmm30, %%zmm31, %%zmm2\n " \
  op " %%zmm30, %%zmm31, %%zmm3\n " op " %%zmm30, %%zmm31, %%zmm4\n " op " %%zmm30, %%zmm31, %%zmm5\n " \
  op " %%zmm30, %%zmm31, %%zmm6\n " op " %%zmm30, %%zmm31, %%zmm7\n " op " %%zmm30, %%zmm31, %%zmm8\n " \
  op " %%zmm30, %%zmm31, %%zmm9\n " op " %%zmm30, %%zmm31, %%zmm10\n " op " %%zmm30, %%zmm31, %%zmm11\n " \
  op " %%zmm30, %%zmm31, %%zmm12\n " op " %%zmm30, %%zmm31, %%zmm13\n " op " %%zmm30, %%zmm31, %%zmm14\n " \
  op " %%zmm30, %%zmm31, %%zmm15\n"
#define CS_CHAIN_CLOBBERS                                                                                          \
  "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", \
      "xmm14", "xmm15"
Peak PeaksOneThread() {
  constexpr int64_t kIters = 20000000;
  // Instructions per second of 16 chains of `asm_block`.
  auto rate = [](auto&& run) {
    const double t0 = ThreadCpuSeconds();
    run();
    return static_cast<double>(kIters) * 16 / (ThreadCpuSeconds() - t0);
  };
  Peak p{};
  p.vnni_gmacs = rate([] {
    for (int64_t r = 0; r < kIters; ++r) __asm__ volatile(CS_SIXTEEN_CHAINS("vpdpbusd") ::: CS_CHAIN_CLOBBERS);
  }) * 64 / 1e9;
  if (__builtin_cpu_supports("avx512bf16")) {
    p.bf16_gmacs = rate([] {
      for (int64_t r = 0; r < kIters; ++r) __asm__ volatile(CS_SIXTEEN_CHAINS("vdpbf16ps") ::: CS_CHAIN_CLOBBERS);
    }) * 32 / 1e9;
  }
  p.fma_gmacs = rate([] {
    for (int64_t r = 0; r < kIters; ++r) __asm__ volatile(CS_SIXTEEN_CHAINS("vfmadd231ps") ::: CS_CHAIN_CLOBBERS);
  }) * 16 / 1e9;
  const double t0 = ThreadCpuSeconds();
  for (int64_t r = 0; r < kIters * 4; ++r) {
    __asm__ volatile("add $1, %%rax\n add $1, %%rax\n add $1, %%rax\n add $1, %%rax\n" ::: "rax");
  }
  p.ghz = static_cast<double>(kIters) * 16 / (ThreadCpuSeconds() - t0) / 1e9;
  return p;
}

// The AMX tile unit's int8 rate on one core: tdpbssd into 4 independent
// 16 x 16 sums, with K = 64 (a full tile: the unit's peak) and K = 32 (one
// 32-element block per product, as gemm_amx.cpp runs it). GMAC/s.
struct alignas(64) AmxTileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};
__attribute__((target("amx-tile,amx-int8"))) double AmxInt8Gmacs(int k) {
  constexpr int64_t kIters = 2000000;
  AmxTileConfig cfg;
  for (int t = 0; t < 4; ++t) cfg.rows[t] = 16, cfg.colsb[t] = 64;
  cfg.rows[4] = 16, cfg.colsb[4] = static_cast<uint16_t>(k);  // A: 16 x K bytes
  cfg.rows[5] = static_cast<uint8_t>(k / 4), cfg.colsb[5] = 64;  // B: K/4 x 64 bytes
  _tile_loadconfig(&cfg);
  _tile_zero(4);
  _tile_zero(5);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  const double t0 = ThreadCpuSeconds();
  for (int64_t r = 0; r < kIters; ++r) {
    _tile_dpbssd(0, 4, 5);
    _tile_dpbssd(1, 4, 5);
    _tile_dpbssd(2, 4, 5);
    _tile_dpbssd(3, 4, 5);
  }
  const double seconds = ThreadCpuSeconds() - t0;
  _tile_release();
  return static_cast<double>(kIters) * 4 * 16 * 16 * k / seconds / 1e9;
}

const MatShape kShapes[] = {{"896x896", 896, 896},
                            {"128x896", 128, 896},
                            {"4864x896", 4864, 896},
                            {"896x4864", 896, 4864},
                            {"151936x896", 151936, 896}};

int ShapesMain(const std::vector<std::string>& types, const std::vector<int>& threads, const std::vector<int64_t>& ms,
               Isa isa, double min_s, bool peak) {
  if (peak && DetectedIsa() >= Isa::kAvx512) {
    const Peak p = PeaksOneThread();
    std::printf("{\"bench\":\"vnni_peak\",\"threads\":1,\"gmac_per_s\":%.1f,\"ghz\":%.2f,"
                "\"vpdpbusd_per_cycle\":%.2f}\n",
                p.vnni_gmacs, p.ghz, p.vnni_gmacs / 64 / p.ghz);
    if (p.bf16_gmacs > 0)
      std::printf("{\"bench\":\"bf16_dot_peak\",\"threads\":1,\"gmac_per_s\":%.1f,\"vdpbf16ps_per_cycle\":%.2f}\n",
                  p.bf16_gmacs, p.bf16_gmacs / 32 / p.ghz);
    std::printf("{\"bench\":\"f32_fma_peak\",\"threads\":1,\"gmac_per_s\":%.1f,\"vfmadd231ps_per_cycle\":%.2f}\n",
                p.fma_gmacs, p.fma_gmacs / 16 / p.ghz);
    if (DetectedIsa() >= Isa::kAmx) {
      const double k64 = AmxInt8Gmacs(64), k32 = AmxInt8Gmacs(32);
      std::printf("{\"bench\":\"amx_int8_peak\",\"threads\":1,\"gmac_per_s\":%.1f,\"k32_gmac_per_s\":%.1f,"
                  "\"macs_per_cycle\":%.0f}\n",
                  k64, k32, k64 * 1e9 / (p.ghz * 1e9));
    }
    std::fflush(stdout);
  }
  const int64_t max_m = *std::max_element(ms.begin(), ms.end());
  AlignedVector<float> x(static_cast<size_t>(max_m) * 4864);  // aligned as the model's activations
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 7919) % 1000) / 1000.0f - 0.5f;
  for (const std::string& tname : types) {
    const auto type = ParseDType(tname);
    if (!type) {
      std::fprintf(stderr, "unknown type %s\n", tname.c_str());
      return 2;
    }
    for (const MatShape& s : kShapes) {
      // Enough copies that one pass over them leaves the 32 MB L3, as the
      // 24 layers of a real model do (decode reads weights from memory).
      auto first = RandomPacked(TypeForShape(*type, s), s, isa, 7);
      if (!first.ok()) {
        std::fprintf(stderr, "%s\n", first.status().ToString().c_str());
        return 1;
      }
      const size_t one_bytes = first->bytes();
      const int n_copies = static_cast<int>(std::clamp<size_t>((96u << 20) / one_bytes + 1, 1, 64));
      std::vector<PackedMatrix> copies;
      copies.push_back(std::move(*first));
      for (int c = 1; c < n_copies; ++c) copies.push_back(*RandomPacked(TypeForShape(*type, s), s, isa, 7 + c));
      AlignedVector<float> y(static_cast<size_t>(max_m) * s.rows);
      for (int t : threads) {
        ThreadPool pool(t);
        for (int64_t m : ms) {
          for (const PackedMatrix& w : copies) MatMul(w, x.data(), m, y.data(), &pool);  // warm-up
          std::vector<double> per_call;
          const double cpu0 = ProcessCpuSeconds();
          Stopwatch total;
          size_t i = 0;
          while (total.ElapsedSeconds() < min_s || per_call.size() < 5) {
            Stopwatch sw;
            MatMul(copies[i++ % copies.size()], x.data(), m, y.data(), &pool);
            per_call.push_back(sw.ElapsedSeconds());
          }
          const double cpu_per_call = (ProcessCpuSeconds() - cpu0) / t / static_cast<double>(per_call.size());
          const double med = Median(per_call);
          const double best = *std::min_element(per_call.begin(), per_call.end());
          const double macs = static_cast<double>(m) * static_cast<double>(s.rows) * static_cast<double>(s.cols);
          std::printf(
              "{\"bench\":\"matmul_shape\",\"type\":\"%s\",\"isa\":\"%s\",\"threads\":%d,\"shape\":\"%s\","
              "\"m\":%lld,\"us\":%.1f,\"best_us\":%.1f,\"gmac_per_s\":%.1f,\"best_gmac_per_s\":%.1f,"
              "\"cpu_gmac_per_s\":%.1f,\"weight_gb_per_s\":%.1f}\n",
              tname.c_str(), std::string(IsaName(isa)).c_str(), t, s.name, static_cast<long long>(m), med * 1e6,
              best * 1e6, macs / med / 1e9, macs / best / 1e9, macs / cpu_per_call / 1e9, static_cast<double>(one_bytes) / med / 1e9);
          std::fflush(stdout);
        }
      }
    }
  }
  return 0;
}

int Main(int argc, char** argv) {
  std::vector<std::string> types = {"q8_0", "q4_K"};
  std::vector<int> threads = {1, 2};
  int n_layers = 24;
  int64_t prompt = 512;
  int decode_tokens = 20;
  int prefill_reps = 3;
  Isa isa = ActiveIsa();
  bool bandwidth = true;
  bool with_output = true;
  bool shapes = false, peak = false;
  std::vector<int64_t> ms = {1, 4, 16, 64, 512};
  double min_s = 0.3;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const std::string v = i + 1 < argc ? argv[i + 1] : "";
    if (a == "--types") {
      types = Split(v), ++i;
    } else if (a == "--threads") {
      threads.clear();
      for (const auto& t : Split(v)) threads.push_back(std::stoi(t));
      ++i;
    } else if (a == "--layers") {
      n_layers = std::stoi(v), ++i;
    } else if (a == "--prompt") {
      prompt = std::stoll(v), ++i;
    } else if (a == "--prefill-reps") {
      prefill_reps = std::stoi(v), ++i;
    } else if (a == "--decode-tokens") {
      decode_tokens = std::stoi(v), ++i;
    } else if (a == "--isa") {
      isa = ParseIsaName(v).value_or(Isa::kAvx512);
      ++i;
    } else if (a == "--no-output") {
      with_output = false;
    } else if (a == "--shapes") {
      shapes = true;
    } else if (a == "--peak") {
      peak = true;
    } else if (a == "--m") {
      ms.clear();
      for (const auto& t : Split(v)) ms.push_back(std::stoll(t));
      ++i;
    } else if (a == "--min-ms") {
      min_s = std::stod(v) / 1000.0, ++i;
    } else if (a == "--no-bandwidth") {
      bandwidth = false;
    } else {
      std::fprintf(stderr, "unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  if (shapes) {
    if (ms.empty()) return 2;
    return ShapesMain(types, threads, ms, isa, min_s, peak);
  }
  if (bandwidth) {
    for (int t : threads) {
      ThreadPool pool(t);
      const BandwidthResult bw = MeasureReadBandwidth(&pool);
      std::printf("{\"bench\":\"read_bandwidth\",\"threads\":%d,\"gb_per_s\":%.2f,\"min_gb_per_s\":%.2f,"
                  "\"max_gb_per_s\":%.2f}\n",
                  t, bw.median_gbs, bw.min_gbs, bw.max_gbs);
      std::fflush(stdout);
    }
  }
  AlignedVector<float> x(static_cast<size_t>(prompt) * 4864);  // aligned as the model's activations
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 7919) % 1000) / 1000.0f - 0.5f;
  AlignedVector<float> y(static_cast<size_t>(prompt) * kOutput.rows);
  for (const std::string& tname : types) {
    const auto type = ParseDType(tname);
    if (!type) {
      std::fprintf(stderr, "unknown type %s\n", tname.c_str());
      return 2;
    }
    Stopwatch pack_sw;
    auto model = BuildModel(*type, n_layers, with_output, isa);
    if (!model.ok()) {
      std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
      return 1;
    }
    // Includes making the random GGUF rows; an upper bound on Pack's time.
    std::printf("{\"bench\":\"pack\",\"type\":\"%s\",\"isa\":\"%s\",\"layers\":%d,\"seconds\":%.3f}\n",
                tname.c_str(), std::string(IsaName(isa)).c_str(), n_layers, pack_sw.ElapsedSeconds());
    for (int t : threads) {
      ThreadPool pool(t);
      RunModel(*model, 1, x, y, &pool);  // warm-up
      std::vector<double> dec, dec_cpu;
      for (int i = 0; i < decode_tokens; ++i) {
        const Timing tm = RunModel(*model, 1, x, y, &pool);
        dec.push_back(tm.wall_s);
        dec_cpu.push_back(tm.cpu_s / t);
      }
      const double dec_s = Median(dec);
      std::printf(
          "{\"bench\":\"decode\",\"type\":\"%s\",\"isa\":\"%s\",\"threads\":%d,\"layers\":%d,"
          "\"bytes_per_token\":%zu,\"tokens_per_s\":%.2f,\"gb_per_s\":%.2f,\"best_gb_per_s\":%.2f,"
          "\"cpu_gb_per_s\":%.2f}\n",
          tname.c_str(), std::string(IsaName(isa)).c_str(), t, n_layers, model->bytes, 1.0 / dec_s,
          static_cast<double>(model->bytes) / dec_s / 1e9,
          static_cast<double>(model->bytes) / *std::min_element(dec.begin(), dec.end()) / 1e9,
          static_cast<double>(model->bytes) / Median(dec_cpu) / 1e9);
      std::fflush(stdout);
      if (prompt > 1) {
        std::vector<double> pre, pre_cpu;
        for (int i = 0; i < prefill_reps; ++i) {
          const Timing tm = RunModel(*model, prompt, x, y, &pool);
          pre.push_back(tm.wall_s);
          pre_cpu.push_back(tm.cpu_s / t);
        }
        const double pre_s = Median(pre);
        const double ops = 2.0 * model->params * static_cast<double>(prompt);
        std::printf(
            "{\"bench\":\"prefill\",\"type\":\"%s\",\"isa\":\"%s\",\"threads\":%d,\"layers\":%d,\"tokens\":%lld,"
            "\"tokens_per_s\":%.1f,\"best_tokens_per_s\":%.1f,\"gop_per_s\":%.1f,\"cpu_gop_per_s\":%.1f}\n",
            tname.c_str(), std::string(IsaName(isa)).c_str(), t, n_layers, static_cast<long long>(prompt),
            static_cast<double>(prompt) / pre_s,
            static_cast<double>(prompt) / *std::min_element(pre.begin(), pre.end()), ops / pre_s / 1e9,
            ops / Median(pre_cpu) / 1e9);
        std::fflush(stdout);
      }
    }
  }
  return 0;
}

}  // namespace
}  // namespace chunkserve::kernels

int main(int argc, char** argv) { return chunkserve::kernels::Main(argc, argv); }
