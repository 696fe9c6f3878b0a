// Fragment coordinates of mma.sync.aligned.m16n8k32.row.col.s32.s8.u8.s32 as the PTX ISA defines
// them ("Matrix Fragments for mma.m16n8k32", .s8/.u8 multiplicands, .s32 accumulators), the
// ldmatrix.x4 addresses that load an A fragment, and the B fragment taken straight from words of
// the rows-order packed ternary format (packed_ternary.h). One definition, used by the kernel
// (bitlinear_mma.cu) and by the CPU model of a warp's product in tests/cuda/test_infer_mma.cpp.
// Plain C++ may include this header.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define A48_MMA_FN __host__ __device__ __forceinline__
#else
#define A48_MMA_FN inline
#endif

namespace a48::cuda::mma {

inline constexpr int kM = 16, kN = 8, kK = 32;  // the instruction's shape

// groupID = %laneid >> 2 and threadID_in_group = %laneid % 4 of the PTX text.
A48_MMA_FN int group_id(int lane) { return lane >> 2; }
A48_MMA_FN int thread_in_group(int lane) { return lane & 3; }

// A [16 x 32] (int8, 4 registers of 4 bytes; elements a0..a15 low to high): byte b of register r
// of `lane` holds A[a_row][a_col]. PTX: row = groupID for ai, 0 <= i < 4 || 8 <= i < 12, else
// groupID + 8; col = threadID_in_group * 4 + (i & 3), + 16 for i >= 8; here i = 4 r + b.
A48_MMA_FN int a_row(int lane, int r) { return group_id(lane) + 8 * (r & 1); }
A48_MMA_FN int a_col(int lane, int r, int b) { return 4 * thread_in_group(lane) + b + 16 * (r >> 1); }

// B [32 x 8] (uint8, 2 registers; b0..b7): byte b of register r holds B[b_row][b_col]. PTX: row =
// threadID_in_group * 4 + (i & 3), + 16 for i >= 4; col = groupID; here i = 4 r + b.
A48_MMA_FN int b_row(int lane, int r, int b) { return 4 * thread_in_group(lane) + b + 16 * r; }
A48_MMA_FN int b_col(int lane) { return group_id(lane); }

// C/D [16 x 8] (int32, 4 registers c0..c3): row = groupID for c0, c1, groupID + 8 for c2, c3;
// col = threadID_in_group * 2 + (i & 1).
A48_MMA_FN int c_row(int lane, int r) { return group_id(lane) + 8 * (r >> 1); }
A48_MMA_FN int c_col(int lane, int r) { return 2 * thread_in_group(lane) + (r & 1); }

// ldmatrix.sync.aligned.m8n8.x4.b16 of an A fragment from a row-major byte tile: `lane` supplies
// the address of row ldsm_a_row, byte column ldsm_a_col. Lanes 8m .. 8m + 7 give the 8 rows of
// matrix m, which fills register m; thread i receives bytes 4 (i % 4) .. + 3 of row i / 4 of each
// matrix. So register 0 = rows 0-7, bytes 0-15; 1 = rows 8-15, bytes 0-15; 2 = rows 0-7, bytes
// 16-31; 3 = rows 8-15, bytes 16-31: the A layout above.
A48_MMA_FN int ldsm_a_row(int lane) { return lane & 15; }
A48_MMA_FN int ldsm_a_col(int lane) { return (lane >> 4) * 16; }

// Register r of the B fragment of the k32 step at codes k0 .. k0 + 31 (k0 a multiple of 32) of a
// rows-order line, for output column b_col(lane): `word` = word k0 / 16 + r of that line, which
// holds codes k0 + 16 r .. + 15; (word >> 2 j) & 0x03030303 are the stored t + 1 of codes
// 16 w + 4 j .. + 3 as bytes in order (packed_ternary.h), so j = threadID_in_group gives rows
// b_row(lane, r, 0 .. 3) of B, as stored u8 codes.
A48_MMA_FN uint32_t b_from_word(uint32_t word, int lane) {
  return (word >> (2 * thread_in_group(lane))) & 0x03030303u;
}

}  // namespace a48::cuda::mma
