// Warp-level dp4a products of rows-order packed ternary matrices (packed_ternary.h) with int8
// activation codes (device code; .cu files only). bitlinear.cu's kernels give every warp R rows;
// the fused decode kernel (decode_layers.cu) walks the rows over all warps of its grid. Both get
// bit-identical results: the int32 sums are exact and the epilogue is the same expression,
//   y[t, o] = float(double(alpha) * double(step_t) * double(sum_i (t[o, i] + 1) q[t, i] - sum_t)).
// kGlobalCodes: the codes are in global memory and read-only for the kernel (read through the
// read-only cache), else in shared memory.
#pragma once

#include <cstdint>

#include "cuda/infer/act.cuh"

namespace a48::cuda {

// Up to 3 matrices of the same n_in stacked by rows (q/k/v), as one row index.
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
// kernel's output, so kernels do this before they wait for the previous kernel (or barrier):
// their weight reads then overlap it.
__device__ inline void warp_prefetch_l2(const void* p, int bytes, int lane) {
  const char* c = static_cast<const char*>(p);
  for (int off = lane * 128; off < bytes; off += 32 * 128) asm volatile("prefetch.global.L2 [%0];" ::"l"(c + off));
  if (lane == 0) asm volatile("prefetch.global.L2 [%0];" ::"l"(c + bytes - 1));
}

constexpr int kChunkUnroll = 4;  // 16-byte weight loads per lane and line in flight together

template <bool kGlobalCodes>
__device__ __forceinline__ int4 load_codes(const int4* p) {
  if constexpr (kGlobalCodes) {
    return __ldg(p);
  } else {
    return *p;
  }
}

// This lane's sums of (t + 1) q over R lines (null: a padding line, all t = 0) for T tokens,
// chunks lane, lane + 32, ...; not yet reduced over the warp. The weight loads of kChunkUnroll
// chunks are issued before any is used: with one chunk at a time a warp had 1 KB in flight and
// waited one memory latency per chunk.
template <int R, int T, bool kGlobalCodes>
__device__ inline void lane_dots(const uint4* const (&line)[R], int n_chunks, int lane, const int8_t* q,
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
        const int4 a0 = load_codes<kGlobalCodes>(qa), a1 = load_codes<kGlobalCodes>(qa + 1),
                   a2 = load_codes<kGlobalCodes>(qa + 2), a3 = load_codes<kGlobalCodes>(qa + 3);
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

__device__ inline float bitlinear_rescale(float alpha, float step, int32_t exact) {
  return static_cast<float>(static_cast<double>(alpha) * static_cast<double>(step) * static_cast<double>(exact));
}

// Rows row0 .. row0 + R - 1 of the stacked matrices for tokens t0 .. t0 + T - 1 (one warp; every
// lane calls). With a gate, (t, o) with act(gate[t, o]) == 0 are 0 and rows inactive for every
// token are not read.
template <int R, int T, bool kGlobalCodes>
__device__ inline void rows_warp(const RowSegments& s, int row0, int lane, const int8_t* q, int64_t ld_q,
                                 const float* steps, const int32_t* sums, int t0, int n_tokens, const float* gate,
                                 int64_t ld_gate, int act) {
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
  }
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
    lane_dots<R, T, kGlobalCodes>(line, s.words_per_line / 4, lane, q, ld_q, t0, n_tokens, acc);
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
        const float out = active[r][t] ? bitlinear_rescale(s.alpha[seg[r]], steps[t0 + t], v - sums[t0 + t]) : 0.0f;
        s.y[seg[r]][(t0 + t) * s.ld_y[seg[r]] + local[r]] = out;
      }
    }
  }
}

// One GLU's gate and up projections.
struct GluRows {
  const uint32_t* gate_w;
  const uint32_t* up_w;
  float gate_alpha, up_alpha;
  int n_rows, words_per_line;
  float* gate_y;
  float* up_y;
  int64_t ld_y;
};

// Gate rows row0 .. row0 + R - 1, then the same up rows only where act(gate) != 0 for some token
// (the mask computed from the very floats written, so the result equals the gate product followed
// by the masked up product).
template <int R, int T, bool kGlobalCodes>
__device__ inline void glu_warp(const GluRows& g, int row0, int lane, const int8_t* q, int64_t ld_q,
                                const float* steps, const int32_t* sums, int t0, int n_tokens, int act) {
  const int n_chunks = g.words_per_line / 4;
  // Warp-wide sums of (t + 1) q over R lines of `w` for the T tokens; every lane gets them.
  auto dots = [&](const uint32_t* w, int (&acc)[R][T]) {
    const uint4* line[R];
#pragma unroll
    for (int r = 0; r < R; ++r) {
      line[r] = row0 + r < g.n_rows
                    ? reinterpret_cast<const uint4*>(w + static_cast<int64_t>(row0 + r) * g.words_per_line)
                    : nullptr;
    }
    lane_dots<R, T, kGlobalCodes>(line, n_chunks, lane, q, ld_q, t0, n_tokens, acc);
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
  dots(g.gate_w, acc);
#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int t = 0; t < T; ++t) {
      const int row = row0 + r;
      active[r][t] = false;
      if (row >= g.n_rows || t0 + t >= n_tokens) continue;
      const float gv = bitlinear_rescale(g.gate_alpha, steps[t0 + t], acc[r][t] - sums[t0 + t]);
      if (lane == ((r * T + t) & 31)) g.gate_y[(t0 + t) * g.ld_y + row] = gv;
      active[r][t] = activated_nonzero(gv, act);
      any = any || active[r][t];
    }
  }
  if (any) dots(g.up_w, acc);
#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int t = 0; t < T; ++t) {
      const int row = row0 + r;
      if (lane != ((r * T + t) & 31) || row >= g.n_rows || t0 + t >= n_tokens) continue;
      const float out = active[r][t] ? bitlinear_rescale(g.up_alpha, steps[t0 + t], acc[r][t] - sums[t0 + t]) : 0.0f;
      g.up_y[(t0 + t) * g.ld_y + row] = out;
    }
  }
}

}  // namespace a48::cuda
