// Embedding lookup and LM head (head.h).
#include "cuda/infer/head.h"

#include <algorithm>
#include <cmath>

#include "cuda/common/check.h"
#include "cuda/infer/pdl_launch.cuh"

namespace a48::cuda {

namespace {

constexpr int kHeadWarps = 8;
constexpr int kHeadRows = 8;  // token rows per pass: each head row is read once per 8 tokens

__global__ void embed_kernel(const float* __restrict__ table, int64_t d, const int32_t* __restrict__ tokens,
                             float* __restrict__ x, int64_t ld_x) {
  pdl_wait();  // pdl_launch.cuh: the previous kernel's writes are visible from here on
  pdl_release();
  const int64_t t = blockIdx.y;
  const float* src = table + static_cast<int64_t>(tokens[t]) * d;
  for (int64_t i = blockIdx.x * blockDim.x + threadIdx.x; i < d; i += gridDim.x * blockDim.x) x[t * ld_x + i] = src[i];
}

// Wide: the decode variant (d % 16 == 0, at most 2 rows); a separate instance, so the general one
// keeps its registers and occupancy.
template <bool Int8, bool Wide>
__global__ void __launch_bounds__(kHeadWarps * 32)
    head_kernel(const float* __restrict__ w32, const int8_t* __restrict__ w8, const float* __restrict__ scale,
                int64_t vocab, int64_t d, const float* __restrict__ normed, int64_t ld,
                const int32_t* __restrict__ rows, int n_rows, float* __restrict__ logits) {
  pdl_wait();  // pdl_launch.cuh: the previous kernel's writes are visible from here on
  pdl_release();
  const int warp = static_cast<int>(threadIdx.x >> 5), lane = static_cast<int>(threadIdx.x & 31);
  const int64_t v = static_cast<int64_t>(blockIdx.x) * kHeadWarps + warp;
  if (v >= vocab) return;
  for (int r0 = 0; r0 < n_rows; r0 += kHeadRows) {
    float acc[kHeadRows];
    const float* x[kHeadRows];
#pragma unroll
    for (int r = 0; r < kHeadRows; ++r) {
      acc[r] = 0.0f;
      x[r] = r0 + r < n_rows ? normed + static_cast<int64_t>(rows[r0 + r]) * ld : nullptr;
    }
    if constexpr (Int8) {
      if constexpr (Wide) {
        // Decode: 16 codes per 16-byte load, 4 loads per lane in flight before the first is used.
        // (With more rows the uncoalesced 64-byte reads of x per lane cost more than this saves.)
        const int4* wr = reinterpret_cast<const int4*>(w8 + v * d);
        const int64_t n16 = d / 16;
        for (int64_t i0 = lane; i0 < n16; i0 += 4 * 32) {
          int4 c[4];
#pragma unroll
          for (int u = 0; u < 4; ++u) c[u] = i0 + 32 * u < n16 ? __ldg(wr + i0 + 32 * u) : make_int4(0, 0, 0, 0);
#pragma unroll
          for (int u = 0; u < 4; ++u) {
            const int64_t i = i0 + 32 * u;
            if (i >= n16) break;
            const char4* cc = reinterpret_cast<const char4*>(&c[u]);
#pragma unroll
            for (int r = 0; r < kHeadRows; ++r) {
              if (x[r] == nullptr) break;
              const float4* xv = reinterpret_cast<const float4*>(x[r] + 16 * i);
#pragma unroll
              for (int k = 0; k < 4; ++k) {
                const float4 xk = xv[k];
                acc[r] += cc[k].x * xk.x + cc[k].y * xk.y + cc[k].z * xk.z + cc[k].w * xk.w;
              }
            }
          }
        }
      } else {
        const char4* wr = reinterpret_cast<const char4*>(w8 + v * d);
        for (int64_t i = lane; i < d / 4; i += 32) {
          const char4 c = __ldg(wr + i);
#pragma unroll
          for (int r = 0; r < kHeadRows; ++r) {
            if (x[r] == nullptr) break;
            const float4 xv = *reinterpret_cast<const float4*>(x[r] + 4 * i);
            acc[r] += c.x * xv.x + c.y * xv.y + c.z * xv.z + c.w * xv.w;
          }
        }
      }
    } else {
      const float* wr = w32 + v * d;
      for (int64_t i = lane; i < d; i += 32) {
        const float wv = __ldg(wr + i);
#pragma unroll
        for (int r = 0; r < kHeadRows; ++r) {
          if (x[r] == nullptr) break;
          acc[r] += wv * x[r][i];
        }
      }
    }
#pragma unroll
    for (int r = 0; r < kHeadRows; ++r) {
      float s = acc[r];
      for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
      if (lane == 0 && r0 + r < n_rows) logits[static_cast<int64_t>(r0 + r) * vocab + v] = Int8 ? s * scale[v] : s;
    }
  }
}

}  // namespace

void embed_rows(const float* table, int64_t d, const int32_t* tokens, int64_t n_tokens, float* x, int64_t ld_x,
                cudaStream_t stream) {
  check(n_tokens > 0 && n_tokens <= 65535 && d > 0 && ld_x >= d, "embed_rows: {} tokens of {}", n_tokens, d);
  const dim3 grid(static_cast<unsigned>(std::min<int64_t>((d + 255) / 256, 32)), static_cast<unsigned>(n_tokens));
  launch_pdl(embed_kernel, grid, dim3(256), 0, stream, table, d, tokens, x, ld_x);
  CUDA_CHECK_LAUNCH();
}

DeviceHead upload_head(const std::vector<float>& w, int64_t vocab, int64_t d, bool int8) {
  check(vocab > 0 && d > 0 && static_cast<int64_t>(w.size()) == vocab * d, "upload_head: {} values for [{}, {}]",
        w.size(), vocab, d);
  DeviceHead h;
  h.vocab = vocab;
  h.d = d;
  h.int8 = int8;
  if (!int8) {
    h.f32 = to_device(w);
    return h;
  }
  check(d % 4 == 0, "upload_head: an int8 head needs d % 4 == 0, got {}", d);
  std::vector<int8_t> w8(w.size());
  std::vector<float> scale(static_cast<std::size_t>(vocab));
  for (int64_t v = 0; v < vocab; ++v) {
    float m = 0.0f;
    for (int64_t i = 0; i < d; ++i) m = std::max(m, std::fabs(w[static_cast<std::size_t>(v * d + i)]));
    const float s = m > 0.0f ? m / 127.0f : 0.0f;
    scale[static_cast<std::size_t>(v)] = s;
    for (int64_t i = 0; i < d; ++i) {
      const float q = s > 0.0f ? std::nearbyint(w[static_cast<std::size_t>(v * d + i)] / s) : 0.0f;
      w8[static_cast<std::size_t>(v * d + i)] = static_cast<int8_t>(std::clamp(q, -127.0f, 127.0f));
    }
  }
  h.w8 = to_device(w8);
  h.scale = to_device(scale);
  return h;
}

void head_logits(const DeviceHead& head, const float* normed, int64_t ld, const int32_t* rows, int64_t n_rows,
                 float* logits, cudaStream_t stream) {
  check(n_rows > 0 && ld >= head.d, "head_logits: {} rows, stride {}", n_rows, ld);
  check(!head.int8 || ld % 4 == 0, "head_logits: the int8 head needs a stride multiple of 4, got {}", ld);
  const unsigned blocks = static_cast<unsigned>((head.vocab + kHeadWarps - 1) / kHeadWarps);
  if (head.int8) {
    const bool wide = head.d % 16 == 0 && ld % 4 == 0 && n_rows <= 2;
    launch_pdl(wide ? head_kernel<true, true> : head_kernel<true, false>, dim3(blocks), dim3(kHeadWarps * 32), 0,
               stream, nullptr, head.w8.data(), head.scale.data(), head.vocab, head.d, normed, ld, rows,
               static_cast<int>(n_rows), logits);
  } else {
    launch_pdl(head_kernel<false, false>, dim3(blocks), dim3(kHeadWarps * 32), 0, stream, head.f32.data(), nullptr,
               nullptr, head.vocab, head.d, normed, ld, rows, static_cast<int>(n_rows), logits);
  }
  CUDA_CHECK_LAUNCH();
}

}  // namespace a48::cuda
