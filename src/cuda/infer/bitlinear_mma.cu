// BitLinear on the INT8 tensor cores (bitlinear_mma.h): a multistage cp.async GEMM over
// mma.sync m16n8k32, A = activation codes (s8), B = stored ternary codes t + 1 (u8).
//
// Block tile kTokens x kRows outputs, K in chunks of kChunkCodes codes through a kStages-deep
// cp.async ring in shared memory: per stage the codes [kTokens][128] (+16 bytes per row against
// bank conflicts, read with ldmatrix.x4) and the packed words [kRows][8] (2 bits per code, read
// with 16-byte loads, shifted and masked into B fragments, mma_m16n8k32.h). Each warp owns
// kWarpTokens x kWarpRows outputs as int32 accumulators in registers; the A fragment is loaded
// once per k32 step and reused over the warp's kNTiles row tiles, a decoded B fragment over its
// kMTiles token tiles. The epilogue subtracts sum_t q and rescales in double as bitlinear_rows does.
#include "cuda/infer/bitlinear_mma.h"

#include <cstddef>
#include <cstdint>

#include "cuda/common/check.h"
#include "cuda/common/kernel_attributes.h"
#include "cuda/infer/act.cuh"
#include "cuda/infer/mma_m16n8k32.h"
#include "cuda/infer/pdl_launch.cuh"

namespace a48::cuda {

namespace {

constexpr int kChunkCodes = 128;                        // codes of K per pipeline stage
constexpr int kChunkWords = kChunkCodes / kCodesPerWord;  // packed words per row and stage
constexpr int kStages = 4;

// A block tile of kTokens x kRows outputs: kWarpsM x kWarpsN warps of kWarpTokens x kWarpRows,
// each a grid of kMTiles x kNTiles mma tiles (16 tokens x 8 rows).
template <int Tokens, int Rows, int WarpTokens, int WarpRows, int MinBlocksPerSm>
struct Tile {
  static constexpr int kTokens = Tokens, kRows = Rows, kWarpTokens = WarpTokens, kWarpRows = WarpRows;
  static constexpr int kWarpsM = Tokens / WarpTokens, kWarpsN = Rows / WarpRows;
  static constexpr int kThreads = 32 * kWarpsM * kWarpsN;
  static constexpr int kMinBlocks = MinBlocksPerSm;
  static constexpr int kMTiles = WarpTokens / mma::kM, kNTiles = WarpRows / mma::kN;
  // Shared memory of one stage. Codes [kTokens][kARowBytes]: the row pitch 144 = 9 * 16 bytes puts
  // the 8 rows of each ldmatrix phase in 8 different 16-byte bank groups. Words [kRows][kBRowBytes]:
  // the 8 rows of a B fragment are read by 16-byte loads, 2 distinct rows per quarter warp.
  static constexpr int kARowBytes = kChunkCodes + 16;
  static constexpr int kBRowBytes = kChunkWords * 4;
  static constexpr int kAStageBytes = kTokens * kARowBytes, kBStageBytes = kRows * kBRowBytes;
  static constexpr int kSmemBytes = kStages * (kAStageBytes + kBStageBytes);
  // 16-byte copies per thread and stage: codes (8 per row), words (2 per row).
  static constexpr int kACopies = kTokens * (kChunkCodes / 16) / kThreads;
  static constexpr int kBCopies = kRows * (kBRowBytes / 16) / kThreads;

  static_assert(Tokens % WarpTokens == 0 && Rows % WarpRows == 0, "whole warps per block tile");
  static_assert(WarpTokens % mma::kM == 0 && WarpRows % mma::kN == 0, "whole mma tiles per warp");
  static_assert(kChunkCodes % (2 * mma::kK) == 0, "a stage is pairs of k32 steps (one 16-byte word load)");
  static_assert(kBRowBytes == 32, "two 16-byte word copies per row and stage");
  static_assert(kACopies * kThreads == kTokens * (kChunkCodes / 16), "code copies divide among threads");
  static_assert(kBCopies * kThreads == kRows * (kBRowBytes / 16), "word copies divide among threads");
  static_assert(kARowBytes % 16 == 0 && (kARowBytes / 16) % 2 == 1, "odd 16-byte pitch: no ldmatrix conflicts");
  static_assert(kSmemBytes <= 227 * 1024, "shared memory of one block");
};

using TileLarge = Tile<128, 128, 64, 64, 2>;  // 4 warps of 64 x 64: 128 int32 accumulators a thread
using TileMedium = Tile<64, 128, 64, 32, 3>;  // 4 warps of 64 x 32: twice the blocks of TileLarge
using TileSmall = Tile<32, 128, 32, 32, 4>;   // 4 warps of 32 x 32: few tokens

struct MmaParams {
  const uint32_t* w[3];  // [n_out_i, words_per_line] packed rows of each matrix
  int end[3];            // exclusive end of each matrix in the stacked row index
  float alpha[3];
  float* y[3];
  int64_t ld_y[3];
  int n_rows, words_per_line;
  const int8_t* q;  // [n_tokens, ld_q]
  int64_t ld_q;
  const float* steps;
  const int32_t* sums;
  int n_tokens;
  const float* gate;  // null or [n_tokens, ld_gate]
  int64_t ld_gate;
  int act;
};

// v[seg] for seg in 0..2 by selects: a dynamically indexed kernel parameter array would be copied
// to local memory.
template <class T>
__device__ __forceinline__ T pick(T v0, T v1, T v2, int seg) {
  return seg == 0 ? v0 : (seg == 1 ? v1 : v2);
}

// 16-byte global -> shared copy; src_bytes 0 writes zeros and reads nothing.
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int Pending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending) : "memory");
}

__device__ __forceinline__ uint4 lds_128(uint32_t addr) {
  uint4 v;
  asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];\n" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "r"(addr));
  return v;
}

__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// c += A (s8, 16 x 32) B (u8, 32 x 8), int32 (wrapping; the sums here stay below 2^30).
__device__ __forceinline__ void mma_s8u8(int (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm("mma.sync.aligned.m16n8k32.row.col.s32.s8.u8.s32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// activated_nonzero (act.cuh) as one out-of-line copy: inlined at each of a thread's up to 128
// outputs, SiLU's expf and division made the kernel ~10k instructions long.
__device__ __noinline__ bool gate_active(float g, int act) { return activated_nonzero(g, act); }

// Writes one warp's outputs: register r of tile (i, j) is token tok_base + 16 i + c_row(lane, r),
// stacked row row_base + 8 j + c_col(lane, r); the rescale is bitlinear_rows' expression, and with
// kGate outputs whose activated gate is 0 are 0. A lane's tokens are first + 8 k (first = tok_base
// + groupID): 32-bit offsets from first, as the launcher checks n_tokens * ld < 2^31.
template <class T, bool kGate>
__device__ __forceinline__ void store_tile(const MmaParams& p, const int (&acc)[T::kMTiles][T::kNTiles][4],
                                           int tok_base, int row_base, int lane) {
  const int first = tok_base + mma::group_id(lane);
  float steps[T::kMTiles][2];
  int32_t sums[T::kMTiles][2];
#pragma unroll
  for (int i = 0; i < T::kMTiles; ++i)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int t = tok_base + i * mma::kM + mma::c_row(lane, 2 * h);
      steps[i][h] = t < p.n_tokens ? p.steps[t] : 0.0f;
      sums[i][h] = t < p.n_tokens ? p.sums[t] : 0;
    }
#pragma unroll
  for (int j = 0; j < T::kNTiles; ++j) {
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const int row = row_base + j * mma::kN + mma::c_col(lane, e);
      if (row >= p.n_rows) continue;
      const int seg = (row >= p.end[0]) + (row >= p.end[1]);
      const int local = row - pick(0, p.end[0], p.end[1], seg);
      const double alpha = static_cast<double>(pick(p.alpha[0], p.alpha[1], p.alpha[2], seg));
      const int ld_y = static_cast<int>(pick(p.ld_y[0], p.ld_y[1], p.ld_y[2], seg));
      float* column = pick(p.y[0], p.y[1], p.y[2], seg) + local + static_cast<int64_t>(first) * ld_y;
#pragma unroll
      for (int i = 0; i < T::kMTiles; ++i) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int r = 2 * h + e;
          const int t = tok_base + i * mma::kM + mma::c_row(lane, r);
          const int32_t exact = acc[i][j][r] - sums[i][h];
          float out = static_cast<float>(alpha * static_cast<double>(steps[i][h]) * static_cast<double>(exact));
          if (t >= p.n_tokens) continue;
          if constexpr (kGate) {
            if (!gate_active(p.gate[static_cast<int64_t>(t) * p.ld_gate + row], p.act)) out = 0.0f;
          }
          column[(t - first) * ld_y] = out;
        }
      }
    }
  }
}

// store_tile without a gate for a warp whose outputs all exist and lie in one matrix (segment
// seg): the common case of a prefill. Pointer, stride and scale are then uniform, the stores take
// immediate offsets, and alpha * step is formed once per token (the same first product).
template <class T>
__device__ __forceinline__ void store_tile_whole(const MmaParams& p, const int (&acc)[T::kMTiles][T::kNTiles][4],
                                                 int tok_base, int row_base, int lane, int seg) {
  const double alpha = static_cast<double>(pick(p.alpha[0], p.alpha[1], p.alpha[2], seg));
  const int ld_y = static_cast<int>(pick(p.ld_y[0], p.ld_y[1], p.ld_y[2], seg));
  // Output (token tok_base + c_row(lane, 0), row row_base + c_col(lane, 0)) of this lane.
  float* lane_out = pick(p.y[0], p.y[1], p.y[2], seg) + (row_base - pick(0, p.end[0], p.end[1], seg)) +
                    mma::c_col(lane, 0) + static_cast<int64_t>(tok_base + mma::c_row(lane, 0)) * ld_y;
#pragma unroll
  for (int i = 0; i < T::kMTiles; ++i) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int t = tok_base + i * mma::kM + mma::c_row(lane, 2 * h);
      const double scale = alpha * static_cast<double>(p.steps[t]);
      const int32_t sum = p.sums[t];
      float* out = lane_out + (i * mma::kM + mma::c_row(lane, 2 * h) - mma::c_row(lane, 0)) * ld_y;
#pragma unroll
      for (int j = 0; j < T::kNTiles; ++j)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int32_t exact = acc[i][j][2 * h + e] - sum;
          out[j * mma::kN + mma::c_col(lane, e) - mma::c_col(lane, 0)] =
              static_cast<float>(scale * static_cast<double>(exact));
        }
    }
  }
}

template <class T>
__global__ void __launch_bounds__(T::kThreads, T::kMinBlocks) rows_mma_kernel(const MmaParams p) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int tid = static_cast<int>(threadIdx.x), lane = tid & 31, warp = tid >> 5;
  const int row0 = static_cast<int>(blockIdx.x) * T::kRows;    // first stacked output row
  const int tok0 = static_cast<int>(blockIdx.y) * T::kTokens;  // first token
  const int k_codes = p.words_per_line * static_cast<int>(kCodesPerWord);
  const int n_chunks = (k_codes + kChunkCodes - 1) / kChunkCodes;
  const uint32_t smem_a = static_cast<uint32_t>(__cvta_generic_to_shared(smem));  // [kStages][kTokens][kARowBytes]
  const uint32_t smem_b = smem_a + kStages * T::kAStageBytes;                     // [kStages][kRows][kBRowBytes]

  // Word copies: row tid / 2 + c * kThreads / 2 of the tile, bytes 16 (tid & 1) .. + 15 of its 32.
  const uint32_t* b_line[T::kBCopies];
#pragma unroll
  for (int c = 0; c < T::kBCopies; ++c) {
    const int row = row0 + tid / 2 + c * (T::kThreads / 2);
    b_line[c] = nullptr;
    if (row < p.n_rows) {
      const int seg = (row >= p.end[0]) + (row >= p.end[1]);
      const int local = row - pick(0, p.end[0], p.end[1], seg);
      b_line[c] = pick(p.w[0], p.w[1], p.w[2], seg) + static_cast<int64_t>(local) * p.words_per_line + (tid & 1) * 4;
    }
  }
  auto load_words = [&](int stage, int chunk) {
#pragma unroll
    for (int c = 0; c < T::kBCopies; ++c) {
      const uint32_t dst = smem_b + stage * T::kBStageBytes + (tid / 2 + c * (T::kThreads / 2)) * T::kBRowBytes +
                           (tid & 1) * 16;
      const bool ok = b_line[c] != nullptr && chunk * kChunkWords + (tid & 1) * 4 < p.words_per_line;
      cp_async_16(dst, ok ? static_cast<const void*>(b_line[c] + chunk * kChunkWords) : p.w[0], ok ? 16 : 0);
    }
  };
  // Code copies: token tid / 8 + c * kThreads / 8 of the tile, codes 16 (tid & 7) .. + 15 of the chunk.
  auto load_codes = [&](int stage, int chunk) {
    const int col = chunk * kChunkCodes + (tid & 7) * 16;
#pragma unroll
    for (int c = 0; c < T::kACopies; ++c) {
      const int r = tid / 8 + c * (T::kThreads / 8);
      const int t = tok0 + r;
      const bool ok = t < p.n_tokens && col < k_codes;  // zeros past the tokens and past K
      const uint32_t dst = smem_a + stage * T::kAStageBytes + r * T::kARowBytes + (tid & 7) * 16;
      cp_async_16(dst, ok ? static_cast<const void*>(p.q + t * p.ld_q + col) : p.q, ok ? 16 : 0);
    }
  };

  // The weights are no previous kernel's output: their first stages are requested before
  // pdl_wait() (pdl_launch.cuh), the codes after it. Group s holds stage s (group 0 also the
  // words of the later prologue stages), so waiting for group s is enough for stage s.
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s)
    if (s < n_chunks) load_words(s, s);
  pdl_wait();
  pdl_release();
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < n_chunks) load_codes(s, s);
    cp_async_commit();
  }

  const int wm0 = (warp % T::kWarpsM) * T::kWarpTokens, wn0 = (warp / T::kWarpsM) * T::kWarpRows;
  // This lane's ldmatrix row address (token wm0 + ldsm_a_row, byte ldsm_a_col) and B row (wn0 + b_col).
  const uint32_t a_lane = smem_a + (wm0 + mma::ldsm_a_row(lane)) * T::kARowBytes + mma::ldsm_a_col(lane);
  const uint32_t b_lane = smem_b + (wn0 + mma::b_col(lane)) * T::kBRowBytes;

  int acc[T::kMTiles][T::kNTiles][4];
#pragma unroll
  for (int i = 0; i < T::kMTiles; ++i)
#pragma unroll
    for (int j = 0; j < T::kNTiles; ++j)
#pragma unroll
      for (int r = 0; r < 4; ++r) acc[i][j][r] = 0;

#pragma unroll 1
  for (int chunk = 0; chunk < n_chunks; ++chunk) {
    cp_async_wait<kStages - 2>();  // this thread's copies of stage `chunk` have landed
    __syncthreads();               // everyone's have, and stage chunk - 1 is no longer read
    const int next = chunk + kStages - 1;
    if (next < n_chunks) {
      load_words(next % kStages, next);
      load_codes(next % kStages, next);
    }
    cp_async_commit();  // possibly empty: keeps one group per chunk

    const int stage = chunk % kStages;
    const uint32_t a_stage = a_lane + stage * T::kAStageBytes;
    const uint32_t b_stage = b_lane + stage * T::kBStageBytes;
#pragma unroll
    for (int pair = 0; pair < kChunkCodes / (2 * mma::kK); ++pair) {
      // Words 4 pair .. 4 pair + 3 of each of this lane's rows: codes 64 pair .. + 63 of the chunk.
      uint4 words[T::kNTiles];
#pragma unroll
      for (int j = 0; j < T::kNTiles; ++j)
        words[j] = lds_128(b_stage + j * mma::kN * T::kBRowBytes + pair * 16);
#pragma unroll
      for (int step = 0; step < 2; ++step) {  // k32 step at code 64 pair + 32 step of the chunk
        uint32_t a[T::kMTiles][4];
#pragma unroll
        for (int i = 0; i < T::kMTiles; ++i)
          ldsm_x4(a[i], a_stage + i * mma::kM * T::kARowBytes + pair * 2 * mma::kK + step * mma::kK);
#pragma unroll
        for (int j = 0; j < T::kNTiles; ++j) {
          const uint32_t b0 = mma::b_from_word(step == 0 ? words[j].x : words[j].z, lane);
          const uint32_t b1 = mma::b_from_word(step == 0 ? words[j].y : words[j].w, lane);
#pragma unroll
          for (int i = 0; i < T::kMTiles; ++i) mma_s8u8(acc[i][j], a[i], b0, b1);
        }
      }
    }
  }
  cp_async_wait<0>();  // only empty groups remain; leave none behind

  // Epilogue; the branches are warp-uniform.
  const int tok_base = tok0 + wm0, row_base = row0 + wn0, row_last = row_base + T::kWarpRows - 1;
  const int seg = (row_base >= p.end[0]) + (row_base >= p.end[1]);
  const bool whole = tok_base + T::kWarpTokens <= p.n_tokens && row_last < p.n_rows &&
                     seg == (row_last >= p.end[0]) + (row_last >= p.end[1]);
  if (p.gate == nullptr && whole) {
    store_tile_whole<T>(p, acc, tok_base, row_base, lane, seg);
  } else if (p.gate == nullptr) {
    store_tile<T, false>(p, acc, tok_base, row_base, lane);
  } else {
    store_tile<T, true>(p, acc, tok_base, row_base, lane);
  }
}

template <class T>
void launch_tile(const MmaParams& p, cudaStream_t stream) {
  const int64_t token_tiles = (p.n_tokens + T::kTokens - 1) / T::kTokens;
  check(token_tiles <= 65535, "bitlinear_rows_mma: {} tokens in one launch", p.n_tokens);
  // Above 48 KB of dynamic shared memory a kernel must opt in; the carveout asks for the largest
  // shared memory split, so that kMinBlocks blocks fit on an SM.
  allow_dynamic_smem(rows_mma_kernel<T>, static_cast<std::size_t>(T::kSmemBytes), true);
  const dim3 grid(static_cast<unsigned>((p.n_rows + T::kRows - 1) / T::kRows), static_cast<unsigned>(token_tiles));
  launch_pdl(rows_mma_kernel<T>, grid, dim3(T::kThreads), static_cast<std::size_t>(T::kSmemBytes), stream, p);
  CUDA_CHECK_LAUNCH();
}

template <class T>
int64_t tile_blocks(int64_t n_tokens, int64_t n_rows) {
  return ((n_tokens + T::kTokens - 1) / T::kTokens) * ((n_rows + T::kRows - 1) / T::kRows);
}

}  // namespace

const char* mma_tile_name(MmaTile tile) {
  switch (tile) {
    case MmaTile::automatic: return "automatic";
    case MmaTile::tokens128_rows128: return "128x128";
    case MmaTile::tokens64_rows128: return "64x128";
    case MmaTile::tokens32_rows128: return "32x128";
  }
  return "?";
}

MmaTile mma_tile_for(int64_t n_tokens, int64_t n_rows, int sm_count) {
  // The largest tile that still gives every SM a block; with none, the smallest (most blocks).
  if (n_tokens > TileSmall::kTokens) {
    if (tile_blocks<TileLarge>(n_tokens, n_rows) >= sm_count) return MmaTile::tokens128_rows128;
    if (tile_blocks<TileMedium>(n_tokens, n_rows) >= sm_count) return MmaTile::tokens64_rows128;
  }
  return MmaTile::tokens32_rows128;
}

void bitlinear_rows_mma(const BitlinearOutput* outputs, int n_outputs, const ActivationCodes& a,
                        const float* gate, int64_t ld_gate, HiddenActivation act, cudaStream_t stream,
                        MmaTile tile) {
  check(outputs != nullptr && n_outputs >= 1 && n_outputs <= 3, "bitlinear_rows_mma: {} outputs (1 to 3)",
        n_outputs);
  check(gate == nullptr || n_outputs == 1, "bitlinear_rows_mma: a gate masks a single matrix");
  check(outputs[0].w != nullptr, "bitlinear_rows_mma: output 0 has no matrix");
  MmaParams p{};
  int64_t rows = 0;
  const int64_t n_in = outputs[0].w->n_in;
  for (int i = 0; i < n_outputs; ++i) {
    const BitlinearOutput& out = outputs[i];
    check(out.w != nullptr && out.y != nullptr && out.w->order == TernaryOrder::rows,
          "bitlinear_rows_mma: output {} needs a rows-order matrix and an output", i);
    check(out.w->n_in == n_in, "bitlinear_rows_mma: matrix {} has n_in {}, the first {}", i, out.w->n_in, n_in);
    check(out.w->words_per_line * kCodesPerWord == padded_codes(n_in) && out.w->n_lines == out.w->n_out,
          "bitlinear_rows_mma: matrix {} is not a rows-order image of [{}, {}]", i, out.w->n_out, n_in);
    check(out.ld >= out.w->n_out, "bitlinear_rows_mma: output {} stride {} < n_out {}", i, out.ld, out.w->n_out);
    check(a.n_tokens * out.ld < (int64_t{1} << 31), "bitlinear_rows_mma: output {} of {} x {} floats (2^31 at most)",
          i, a.n_tokens, out.ld);
    check(gate == nullptr || ld_gate >= out.w->n_out, "bitlinear_rows_mma: gate stride {} < n_out {}", ld_gate,
          out.w->n_out);
    rows += out.w->n_out;
    p.w[i] = out.w->words.data();
    p.end[i] = static_cast<int>(rows);
    p.alpha[i] = out.w->scale;
    p.y[i] = out.y;
    p.ld_y[i] = out.ld;
  }
  for (int i = n_outputs; i < 3; ++i) {
    p.w[i] = p.w[0];
    p.end[i] = static_cast<int>(rows);
    p.y[i] = p.y[0];
    p.ld_y[i] = p.ld_y[0];
  }
  check(a.q != nullptr && a.step != nullptr && a.sum != nullptr && a.n_tokens > 0,
        "bitlinear_rows_mma: activation codes missing or no tokens ({})", a.n_tokens);
  check(a.ld >= padded_codes(n_in) && a.ld % kLineAlignCodes == 0,
        "bitlinear_rows_mma: activation stride {} must be a multiple of 64 and >= {}", a.ld, padded_codes(n_in));
  check(reinterpret_cast<uintptr_t>(a.q) % 16 == 0, "bitlinear_rows_mma: activation codes not 16-byte aligned");
  check(a.n_tokens <= (int64_t{1} << 30), "bitlinear_rows_mma: {} tokens in one launch", a.n_tokens);
  p.n_rows = static_cast<int>(rows);
  p.words_per_line = static_cast<int>(outputs[0].w->words_per_line);
  p.q = a.q;
  p.ld_q = a.ld;
  p.steps = a.step;
  p.sums = a.sum;
  p.n_tokens = static_cast<int>(a.n_tokens);
  p.gate = gate;
  p.ld_gate = ld_gate;
  p.act = act == HiddenActivation::relu2 ? 0 : 1;

  if (tile == MmaTile::automatic) {
    int device = 0, sm_count = 0;
    CUDA_CHECK(cudaGetDevice(&device));
    CUDA_CHECK(cudaDeviceGetAttribute(&sm_count, cudaDevAttrMultiProcessorCount, device));
    tile = mma_tile_for(a.n_tokens, rows, sm_count);
  }
  switch (tile) {
    case MmaTile::tokens128_rows128: launch_tile<TileLarge>(p, stream); break;
    case MmaTile::tokens64_rows128: launch_tile<TileMedium>(p, stream); break;
    case MmaTile::tokens32_rows128:
    case MmaTile::automatic: launch_tile<TileSmall>(p, stream); break;
  }
}

}  // namespace a48::cuda
