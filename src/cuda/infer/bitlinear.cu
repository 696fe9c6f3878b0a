// BitLinear decode kernels (bitlinear.h): dp4a over the 2-bit codes of packed_ternary.h.
#include "cuda/infer/bitlinear.h"

#include <algorithm>

#include "cuda/common/check.h"
#include "cuda/infer/act.cuh"
#include "cuda/infer/dp4a_rows.cuh"
#include "cuda/infer/pdl_launch.cuh"

namespace a48::cuda {

namespace {

constexpr int kRowsPerWarp = 2;
constexpr int kRowsWarps = 4;  // warps per block of the rows kernel

template <int R, int T>
__global__ void __launch_bounds__(kRowsWarps * 32)
    rows_kernel(RowSegments s, const int8_t* __restrict__ q, int64_t ld_q,
                const float* __restrict__ steps, const int32_t* __restrict__ sums, int n_tokens,
                const float* __restrict__ gate, int64_t ld_gate, int act) {
  const int warp = static_cast<int>(threadIdx.x >> 5), lane = static_cast<int>(threadIdx.x & 31);
  const int row0 = (static_cast<int>(blockIdx.x) * kRowsWarps + warp) * R;
  const int t0 = static_cast<int>(blockIdx.y) * T;
  if (gate == nullptr) {  // masked rows may not be read at all
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const int row = row0 + r;
      if (row >= s.n_rows) break;
      const int seg = row < s.end[0] ? 0 : (row < s.end[1] ? 1 : 2);
      const int local = row - (seg == 0 ? 0 : s.end[seg - 1]);
      warp_prefetch_l2(s.w[seg] + static_cast<int64_t>(local) * s.words_per_line, s.words_per_line * 4, lane);
    }
  }
  pdl_wait();  // pdl_launch.cuh: the previous kernel's writes are visible from here on
  pdl_release();
  if (row0 >= s.n_rows) return;
  rows_warp<R, T, true>(s, row0, lane, q, ld_q, steps, sums, t0, n_tokens, gate, ld_gate, act);
}

template <int R, int T>
__global__ void __launch_bounds__(kRowsWarps * 32)
    glu_rows_kernel(GluRows g, const int8_t* __restrict__ q, int64_t ld_q, const float* __restrict__ steps,
                    const int32_t* __restrict__ sums, int n_tokens, int act) {
  const int warp = static_cast<int>(threadIdx.x >> 5), lane = static_cast<int>(threadIdx.x & 31);
  const int row0 = (static_cast<int>(blockIdx.x) * kRowsWarps + warp) * R;
#pragma unroll
  for (int r = 0; r < R; ++r) {
    if (row0 + r < g.n_rows) {  // gate rows (up rows are read only where the gate is active)
      warp_prefetch_l2(g.gate_w + static_cast<int64_t>(row0 + r) * g.words_per_line, g.words_per_line * 4, lane);
    }
  }
  pdl_wait();  // pdl_launch.cuh: the previous kernel's writes are visible from here on
  pdl_release();
  if (row0 >= g.n_rows) return;
  glu_warp<R, T, true>(g, row0, lane, q, ld_q, steps, sums, static_cast<int>(blockIdx.y) * T, n_tokens, act);
}

template <int T>
void launch_glu(const GluRows& g, const ActivationCodes& a, int act, cudaStream_t stream) {
  const int warps = (g.n_rows + kRowsPerWarp - 1) / kRowsPerWarp;
  const dim3 grid(static_cast<unsigned>((warps + kRowsWarps - 1) / kRowsWarps),
                  static_cast<unsigned>((a.n_tokens + T - 1) / T));
  launch_pdl(glu_rows_kernel<kRowsPerWarp, T>, grid, dim3(kRowsWarps * 32), 0, stream,
      g, a.q, a.ld, a.step, a.sum, static_cast<int>(a.n_tokens), act);
  CUDA_CHECK_LAUNCH();
}

template <int T>
void launch_rows(const RowSegments& s, const ActivationCodes& a, const float* gate, int64_t ld_gate,
                 int act, cudaStream_t stream) {
  const int warps = (s.n_rows + kRowsPerWarp - 1) / kRowsPerWarp;
  const dim3 grid(static_cast<unsigned>((warps + kRowsWarps - 1) / kRowsWarps),
                  static_cast<unsigned>((a.n_tokens + T - 1) / T));
  launch_pdl(rows_kernel<kRowsPerWarp, T>, grid, dim3(kRowsWarps * 32), 0, stream,
      s, a.q, a.ld, a.step, a.sum, static_cast<int>(a.n_tokens), gate, ld_gate, act);
  CUDA_CHECK_LAUNCH();
}

constexpr int kColumnsWarps = 8;
constexpr int kColumnsPerWarp = 16;
constexpr int kColumnsGroup = 8;  // columns whose loads are in flight together

template <int T>
__global__ void __launch_bounds__(kColumnsWarps * 32)
    columns_kernel(const uint32_t* __restrict__ w, int words_per_line, int n_in, int n_out,
                   const int8_t* __restrict__ q, int64_t ld_q, int n_tokens,
                   int32_t* __restrict__ acc, int64_t ld_acc) {
  pdl_wait();  // pdl_launch.cuh: the previous kernel's writes are visible from here on
  pdl_release();
  __shared__ int32_t partial[T][16][32];  // [token, field k, lane]
  const int warp = static_cast<int>(threadIdx.x >> 5), lane = static_cast<int>(threadIdx.x & 31);
  const int m = static_cast<int>(blockIdx.x) * 32 + lane;  // the word (16 outputs) this lane owns
  const int t0 = static_cast<int>(blockIdx.z) * T;
  for (int i = static_cast<int>(threadIdx.x); i < T * 16 * 32; i += blockDim.x) (&partial[0][0][0])[i] = 0;

  int sum[T][16];
#pragma unroll
  for (int t = 0; t < T; ++t)
#pragma unroll
    for (int k = 0; k < 16; ++k) sum[t][k] = 0;

  const int first = (static_cast<int>(blockIdx.y) * kColumnsWarps + warp) * kColumnsPerWarp;
#pragma unroll 1
  for (int g = 0; g < kColumnsPerWarp; g += kColumnsGroup) {
    int qv[kColumnsGroup][T];
    uint32_t wv[kColumnsGroup];
#pragma unroll
    for (int j = 0; j < kColumnsGroup; ++j) {
      const int i = first + g + j;
      bool nonzero = false;
#pragma unroll
      for (int t = 0; t < T; ++t) {
        qv[j][t] = (i < n_in && t0 + t < n_tokens) ? static_cast<int>(q[(t0 + t) * ld_q + i]) : 0;
        nonzero = nonzero || qv[j][t] != 0;
      }
      // Only the lines of non-zero inputs are read: the point of the columns order.
      wv[j] = (nonzero && m < words_per_line) ? __ldg(w + static_cast<int64_t>(i) * words_per_line + m) : 0u;
    }
#pragma unroll
    for (int j = 0; j < kColumnsGroup; ++j) {
#pragma unroll
      for (int k = 0; k < 16; ++k) {
        const int code = static_cast<int>((wv[j] >> (2 * k)) & 3u);  // t + 1
#pragma unroll
        for (int t = 0; t < T; ++t) sum[t][k] += code * qv[j][t];
      }
    }
  }
  __syncthreads();  // partial is zeroed
#pragma unroll
  for (int t = 0; t < T; ++t)
#pragma unroll
    for (int k = 0; k < 16; ++k)
      if (sum[t][k] != 0) atomicAdd_block(&partial[t][k][lane], sum[t][k]);
  __syncthreads();
  for (int idx = static_cast<int>(threadIdx.x); idx < T * 16 * 32; idx += blockDim.x) {
    const int t = idx / 512, k = (idx / 32) % 16, l = idx % 32;
    const int word = static_cast<int>(blockIdx.x) * 32 + l;
    const int o = k * words_per_line + word;
    const int32_t v = partial[t][k][l];
    if (v != 0 && word < words_per_line && o < n_out && t0 + t < n_tokens) {
      atomicAdd(&acc[(t0 + t) * ld_acc + o], v);
    }
  }
}

template <int T>
void launch_columns(const DeviceTernary& w, const ActivationCodes& a, int32_t* acc, int64_t ld_acc,
                    cudaStream_t stream) {
  const int per_block = kColumnsWarps * kColumnsPerWarp;
  const dim3 grid(static_cast<unsigned>((w.words_per_line + 31) / 32),
                  static_cast<unsigned>((w.n_in + per_block - 1) / per_block),
                  static_cast<unsigned>((a.n_tokens + T - 1) / T));
  launch_pdl(columns_kernel<T>, grid, dim3(kColumnsWarps * 32), 0, stream,
      w.words.data(), static_cast<int>(w.words_per_line), static_cast<int>(w.n_in),
      static_cast<int>(w.n_out), a.q, a.ld, static_cast<int>(a.n_tokens), acc, ld_acc);
  CUDA_CHECK_LAUNCH();
}

__global__ void finalize_kernel(int32_t* __restrict__ acc, int64_t ld_acc, int n_out, float alpha,
                                const float* __restrict__ steps, const int32_t* __restrict__ sums,
                                float* __restrict__ y, int64_t ld_y, bool zero_acc) {
  pdl_wait();  // pdl_launch.cuh: the previous kernel's writes are visible from here on
  pdl_release();
  const int t = static_cast<int>(blockIdx.y);
  for (int o = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); o < n_out; o += gridDim.x * blockDim.x) {
    const int32_t exact = acc[t * ld_acc + o] - sums[t];
    y[t * ld_y + o] = static_cast<float>(static_cast<double>(alpha) * static_cast<double>(steps[t]) *
                                         static_cast<double>(exact));
    if (zero_acc) acc[t * ld_acc + o] = 0;
  }
}

void check_codes(const ActivationCodes& a, int64_t n_in, const char* who) {
  check(a.q != nullptr && a.step != nullptr && a.sum != nullptr && a.n_tokens > 0,
        "{}: activation codes missing or no tokens ({})", who, a.n_tokens);
  check(a.ld >= padded_codes(n_in) && a.ld % kLineAlignCodes == 0,
        "{}: activation stride {} must be a multiple of 64 and >= {}", who, a.ld, padded_codes(n_in));
  check(a.n_tokens <= 65535 * 16, "{}: {} tokens in one launch", who, a.n_tokens);
}

}  // namespace

void bitlinear_rows(const BitlinearOutput* outputs, int n_outputs, const ActivationCodes& a,
                    const float* gate, int64_t ld_gate, HiddenActivation act, cudaStream_t stream) {
  check(n_outputs >= 1 && n_outputs <= 3, "bitlinear_rows: {} outputs (1 to 3)", n_outputs);
  check(gate == nullptr || n_outputs == 1, "bitlinear_rows: a gate masks a single matrix");
  RowSegments s{};
  int rows = 0;
  const int64_t n_in = outputs[0].w->n_in;
  for (int i = 0; i < n_outputs; ++i) {
    const BitlinearOutput& out = outputs[i];
    check(out.w != nullptr && out.y != nullptr && out.w->order == TernaryOrder::rows,
          "bitlinear_rows: output {} needs a rows-order matrix and an output", i);
    check(out.w->n_in == n_in, "bitlinear_rows: matrix {} has n_in {}, the first {}", i, out.w->n_in, n_in);
    check(out.ld >= out.w->n_out, "bitlinear_rows: output {} stride {} < n_out {}", i, out.ld, out.w->n_out);
    check(gate == nullptr || ld_gate >= out.w->n_out, "bitlinear_rows: gate stride {} < n_out {}", ld_gate,
          out.w->n_out);
    rows += static_cast<int>(out.w->n_out);
    s.w[i] = out.w->words.data();
    s.end[i] = rows;
    s.alpha[i] = out.w->scale;
    s.y[i] = out.y;
    s.ld_y[i] = out.ld;
  }
  for (int i = n_outputs; i < 3; ++i) {
    s.end[i] = rows;
    s.w[i] = s.w[0];
    s.y[i] = s.y[0];
  }
  s.n_rows = rows;
  s.words_per_line = static_cast<int>(outputs[0].w->words_per_line);
  check_codes(a, n_in, "bitlinear_rows");
  const int act_code = act == HiddenActivation::relu2 ? 0 : 1;
  if (a.n_tokens == 1) {
    launch_rows<1>(s, a, gate, ld_gate, act_code, stream);
  } else if (a.n_tokens == 2) {
    launch_rows<2>(s, a, gate, ld_gate, act_code, stream);
  } else if (a.n_tokens <= 4) {
    launch_rows<4>(s, a, gate, ld_gate, act_code, stream);
  } else if (a.n_tokens <= 8) {
    launch_rows<8>(s, a, gate, ld_gate, act_code, stream);
  } else {
    launch_rows<16>(s, a, gate, ld_gate, act_code, stream);
  }
}

void bitlinear_glu(const DeviceTernary& gate_w, const DeviceTernary& up_w, const ActivationCodes& a, float* gate_y,
                   float* up_y, int64_t ld_y, HiddenActivation act, cudaStream_t stream) {
  check(gate_w.order == TernaryOrder::rows && up_w.order == TernaryOrder::rows && gate_w.n_out == up_w.n_out &&
            gate_w.n_in == up_w.n_in,
        "bitlinear_glu: gate [{}, {}] and up [{}, {}] must be rows-order matrices of one shape", gate_w.n_out,
        gate_w.n_in, up_w.n_out, up_w.n_in);
  check(gate_y != nullptr && up_y != nullptr && ld_y >= gate_w.n_out, "bitlinear_glu: output stride {} < n_out {}",
        ld_y, gate_w.n_out);
  check_codes(a, gate_w.n_in, "bitlinear_glu");
  const GluRows g{gate_w.words.data(), up_w.words.data(), gate_w.scale, up_w.scale, static_cast<int>(gate_w.n_out),
                  static_cast<int>(gate_w.words_per_line), gate_y, up_y, ld_y};
  const int act_code = act == HiddenActivation::relu2 ? 0 : 1;
  if (a.n_tokens == 1) {
    launch_glu<1>(g, a, act_code, stream);
  } else if (a.n_tokens == 2) {
    launch_glu<2>(g, a, act_code, stream);
  } else if (a.n_tokens <= 4) {
    launch_glu<4>(g, a, act_code, stream);
  } else if (a.n_tokens <= 8) {
    launch_glu<8>(g, a, act_code, stream);
  } else {
    launch_glu<16>(g, a, act_code, stream);
  }
}

void bitlinear_columns(const DeviceTernary& w, const ActivationCodes& a, int32_t* acc,
                       int64_t ld_acc, cudaStream_t stream) {
  check(w.order == TernaryOrder::columns, "bitlinear_columns: the matrix is not in columns order");
  check(acc != nullptr && ld_acc >= w.n_out, "bitlinear_columns: accumulator stride {} < n_out {}", ld_acc,
        w.n_out);
  check_codes(a, w.n_in, "bitlinear_columns");
  if (a.n_tokens == 1) {
    launch_columns<1>(w, a, acc, ld_acc, stream);
  } else if (a.n_tokens == 2) {
    launch_columns<2>(w, a, acc, ld_acc, stream);
  } else {
    launch_columns<4>(w, a, acc, ld_acc, stream);
  }
}

void bitlinear_finalize(int32_t* acc, int64_t ld_acc, int64_t n_out, float alpha,
                        const ActivationCodes& a, float* y, int64_t ld_y, bool zero_acc,
                        cudaStream_t stream) {
  check(acc != nullptr && y != nullptr && ld_acc >= n_out && ld_y >= n_out && a.n_tokens > 0 &&
            a.n_tokens <= 65535,
        "bitlinear_finalize: bad arguments (n_out {}, ld_acc {}, ld_y {}, tokens {})", n_out, ld_acc, ld_y,
        a.n_tokens);
  const int threads = 256;
  const dim3 grid(static_cast<unsigned>(std::min<int64_t>((n_out + threads - 1) / threads, 64)),
                  static_cast<unsigned>(a.n_tokens));
  launch_pdl(finalize_kernel, grid, dim3(threads), 0, stream, acc, ld_acc, static_cast<int>(n_out), alpha, a.step, a.sum, y,
                                                ld_y, zero_acc);
  CUDA_CHECK_LAUNCH();
}

}  // namespace a48::cuda
