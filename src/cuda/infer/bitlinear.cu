// BitLinear decode kernels (bitlinear.h): dp4a over the 2-bit codes of packed_ternary.h.
#include "cuda/infer/bitlinear.h"

#include <algorithm>

#include "cuda/common/check.h"
#include "cuda/infer/act.cuh"
#include "cuda/infer/pdl_launch.cuh"

namespace a48::cuda {

namespace {

constexpr int kRowsPerWarp = 2;
constexpr int kRowsWarps = 4;  // warps per block of the rows kernel

struct RowSegments {
  const uint32_t* w[3];
  int end[3];  // exclusive row end of each matrix in the stacked row index
  float alpha[3];
  float* y[3];
  int64_t ld_y[3];
  int n_rows;
  int words_per_line;
};

// Asks L2 for the `bytes` bytes at p, one 128-byte line per lane at a time. The weights are no
// previous kernel's output, so the kernels below do this before pdl_wait(): under programmatic
// dependent launch their weight reads then overlap the previous kernel (a row pass on one SM).
__device__ inline void warp_prefetch_l2(const void* p, int bytes, int lane) {
  const char* c = static_cast<const char*>(p);
  for (int off = lane * 128; off < bytes; off += 32 * 128) asm volatile("prefetch.global.L2 [%0];" ::"l"(c + off));
  if (lane == 0) asm volatile("prefetch.global.L2 [%0];" ::"l"(c + bytes - 1));
}

constexpr int kChunkUnroll = 4;  // 16-byte weight loads per lane and line in flight together

// This lane's sums of (t + 1) q over R lines (null: a padding line, all t = 0) for T tokens,
// chunks lane, lane + 32, ...; not yet reduced over the warp. The weight loads of kChunkUnroll
// chunks are issued before any is used: with one chunk at a time a warp had 1 KB in flight and
// waited one memory latency per chunk.
template <int R, int T>
__device__ inline void lane_dots(const uint4* const (&line)[R], int n_chunks, int lane, const int8_t* __restrict__ q,
                                 int64_t ld_q, int t0, int n_tokens, int (&acc)[R][T]) {
  const uint4 pad = make_uint4(0x55555555u, 0x55555555u, 0x55555555u, 0x55555555u);
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int t = 0; t < T; ++t) acc[r][t] = 0;
  for (int c0 = lane; c0 < n_chunks; c0 += 32 * kChunkUnroll) {
    uint4 wv[kChunkUnroll][R];
#pragma unroll
    for (int u = 0; u < kChunkUnroll; ++u)
#pragma unroll
      for (int r = 0; r < R; ++r) {
        const int c = c0 + 32 * u;
        wv[u][r] = (line[r] != nullptr && c < n_chunks) ? __ldg(line[r] + c) : pad;
      }
#pragma unroll
    for (int u = 0; u < kChunkUnroll; ++u) {
      const int c = c0 + 32 * u;
      if (c >= n_chunks) break;
#pragma unroll
      for (int t = 0; t < T; ++t) {
        if (t0 + t >= n_tokens) break;
        const int4* qa = reinterpret_cast<const int4*>(q + (t0 + t) * ld_q) + 4 * c;
        const int4 a0 = __ldg(qa), a1 = __ldg(qa + 1), a2 = __ldg(qa + 2), a3 = __ldg(qa + 3);
        const int av[16] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w,
                            a2.x, a2.y, a2.z, a2.w, a3.x, a3.y, a3.z, a3.w};
#pragma unroll
        for (int r = 0; r < R; ++r) {
          const uint32_t ww[4] = {wv[u][r].x, wv[u][r].y, wv[u][r].z, wv[u][r].w};
#pragma unroll
          for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int k = 0; k < 4; ++k)
              acc[r][t] = __dp4a(static_cast<int>((ww[j] >> (2 * k)) & 0x03030303u), av[4 * j + k], acc[r][t]);
        }
      }
    }
  }
}

template <int R, int T>
__global__ void __launch_bounds__(kRowsWarps * 32)
    rows_kernel(RowSegments s, const int8_t* __restrict__ q, int64_t ld_q,
                const float* __restrict__ steps, const int32_t* __restrict__ sums, int n_tokens,
                const float* __restrict__ gate, int64_t ld_gate, int act) {
  const int warp = static_cast<int>(threadIdx.x >> 5), lane = static_cast<int>(threadIdx.x & 31);
  const int row0 = (static_cast<int>(blockIdx.x) * kRowsWarps + warp) * R;
  const int t0 = static_cast<int>(blockIdx.y) * T;

  const uint4* line[R];
  int seg[R], local[R];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int row = row0 + r;
    seg[r] = row < s.end[0] ? 0 : (row < s.end[1] ? 1 : 2);
    local[r] = row - (seg[r] == 0 ? 0 : s.end[seg[r] - 1]);
    line[r] = row < s.n_rows
                  ? reinterpret_cast<const uint4*>(s.w[seg[r]] + static_cast<int64_t>(local[r]) * s.words_per_line)
                  : nullptr;
    if (line[r] != nullptr && gate == nullptr) warp_prefetch_l2(line[r], s.words_per_line * 4, lane);
  }
  pdl_wait();  // pdl_launch.cuh: the previous kernel's writes are visible from here on
  pdl_release();
  if (row0 >= s.n_rows) return;

  bool active[R][T];
  bool any = false;
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int row = row0 + r;
    const bool valid = row < s.n_rows;
#pragma unroll
    for (int t = 0; t < T; ++t) {
      bool on = valid && t0 + t < n_tokens;
      if (on && gate != nullptr) on = activated_nonzero(gate[(t0 + t) * ld_gate + row], act);
      active[r][t] = on;
      any = any || on;
    }
  }

  int acc[R][T];
  if (any) {
    lane_dots<R, T>(line, s.words_per_line / 4, lane, q, ld_q, t0, n_tokens, acc);
  } else {
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int t = 0; t < T; ++t) acc[r][t] = 0;
  }

#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int t = 0; t < T; ++t) {
      int v = acc[r][t];
#pragma unroll
      for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
      const int row = row0 + r;
      if (lane == ((r * T + t) & 31) && row < s.n_rows && t0 + t < n_tokens) {
        float out = 0.0f;
        if (active[r][t]) {
          const int32_t exact = v - sums[t0 + t];
          out = static_cast<float>(static_cast<double>(s.alpha[seg[r]]) * static_cast<double>(steps[t0 + t]) *
                                   static_cast<double>(exact));
        }
        s.y[seg[r]][(t0 + t) * s.ld_y[seg[r]] + local[r]] = out;
      }
    }
  }
}

// Gate and up of one GLU in one launch: each warp computes R gate rows, writes them, and reads the
// same up rows only where act(gate) != 0 for some token (the mask computed from the very floats it
// wrote, so the result equals the gate launch followed by the masked up launch).
template <int R, int T>
__global__ void __launch_bounds__(kRowsWarps * 32)
    glu_rows_kernel(const uint32_t* __restrict__ gate_w, const uint32_t* __restrict__ up_w, float gate_alpha,
                    float up_alpha, int n_rows, int words_per_line, const int8_t* __restrict__ q, int64_t ld_q,
                    const float* __restrict__ steps, const int32_t* __restrict__ sums, int n_tokens,
                    float* __restrict__ gate_y, float* __restrict__ up_y, int64_t ld_y, int act) {
  const int warp = static_cast<int>(threadIdx.x >> 5), lane = static_cast<int>(threadIdx.x & 31);
  const int row0 = (static_cast<int>(blockIdx.x) * kRowsWarps + warp) * R;
#pragma unroll
  for (int r = 0; r < R; ++r) {
    if (row0 + r < n_rows) {  // gate rows (up rows are read only where the gate is active)
      warp_prefetch_l2(gate_w + static_cast<int64_t>(row0 + r) * words_per_line, words_per_line * 4, lane);
    }
  }
  pdl_wait();  // pdl_launch.cuh: the previous kernel's writes are visible from here on
  pdl_release();
  if (row0 >= n_rows) return;
  const int t0 = static_cast<int>(blockIdx.y) * T;
  const int n_chunks = words_per_line / 4;

  // Warp-wide sums of (t + 1) q over R lines of `w` for the T tokens; every lane gets them.
  auto dots = [&](const uint32_t* w, int (&acc)[R][T]) {
    const uint4* line[R];
#pragma unroll
    for (int r = 0; r < R; ++r) {
      line[r] = row0 + r < n_rows ? reinterpret_cast<const uint4*>(w + static_cast<int64_t>(row0 + r) * words_per_line)
                                  : nullptr;
    }
    lane_dots<R, T>(line, n_chunks, lane, q, ld_q, t0, n_tokens, acc);
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int t = 0; t < T; ++t)
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) acc[r][t] += __shfl_xor_sync(0xffffffffu, acc[r][t], off);
  };

  int acc[R][T];
  bool active[R][T];
  bool any = false;
  dots(gate_w, acc);
#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int t = 0; t < T; ++t) {
      const int row = row0 + r;
      active[r][t] = false;
      if (row >= n_rows || t0 + t >= n_tokens) continue;
      const float g = static_cast<float>(static_cast<double>(gate_alpha) * static_cast<double>(steps[t0 + t]) *
                                         static_cast<double>(acc[r][t] - sums[t0 + t]));
      if (lane == ((r * T + t) & 31)) gate_y[(t0 + t) * ld_y + row] = g;
      active[r][t] = activated_nonzero(g, act);
      any = any || active[r][t];
    }
  }
  if (any) dots(up_w, acc);
#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int t = 0; t < T; ++t) {
      const int row = row0 + r;
      if (lane != ((r * T + t) & 31) || row >= n_rows || t0 + t >= n_tokens) continue;
      float out = 0.0f;
      if (active[r][t]) {
        out = static_cast<float>(static_cast<double>(up_alpha) * static_cast<double>(steps[t0 + t]) *
                                 static_cast<double>(acc[r][t] - sums[t0 + t]));
      }
      up_y[(t0 + t) * ld_y + row] = out;
    }
  }
}

template <int T>
void launch_glu(const DeviceTernary& gate_w, const DeviceTernary& up_w, const ActivationCodes& a, float* gate_y,
                float* up_y, int64_t ld_y, int act, cudaStream_t stream) {
  const int n_rows = static_cast<int>(gate_w.n_out);
  const int warps = (n_rows + kRowsPerWarp - 1) / kRowsPerWarp;
  const dim3 grid(static_cast<unsigned>((warps + kRowsWarps - 1) / kRowsWarps),
                  static_cast<unsigned>((a.n_tokens + T - 1) / T));
  launch_pdl(glu_rows_kernel<kRowsPerWarp, T>, grid, dim3(kRowsWarps * 32), 0, stream,
      gate_w.words.data(), up_w.words.data(), gate_w.scale, up_w.scale, n_rows,
      static_cast<int>(gate_w.words_per_line), a.q, a.ld, a.step, a.sum, static_cast<int>(a.n_tokens), gate_y, up_y,
      ld_y, act);
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
  const int act_code = act == HiddenActivation::relu2 ? 0 : 1;
  if (a.n_tokens == 1) {
    launch_glu<1>(gate_w, up_w, a, gate_y, up_y, ld_y, act_code, stream);
  } else if (a.n_tokens == 2) {
    launch_glu<2>(gate_w, up_w, a, gate_y, up_y, ld_y, act_code, stream);
  } else if (a.n_tokens <= 4) {
    launch_glu<4>(gate_w, up_w, a, gate_y, up_y, ld_y, act_code, stream);
  } else if (a.n_tokens <= 8) {
    launch_glu<8>(gate_w, up_w, a, gate_y, up_y, ld_y, act_code, stream);
  } else {
    launch_glu<16>(gate_w, up_w, a, gate_y, up_y, ld_y, act_code, stream);
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
