// The integer kernels behind cpu::bitlinear, one table per ISA (scalar, AVX2, AVX-512 VNNI).
//
// This header is included by the per-ISA translation units, which are compiled with their own -m
// flags: it must hold declarations and plain structs only. An inline function or template defined
// here would be compiled once per ISA and the linker could keep the AVX-512 copy for everyone.
//
// The product kernels (rows, cols) compute raw sums over the packed fields c = t + 1 in {0, 1, 2}
// (ternary_pack.h):
//   S = sum_i c_i * q_i,      so that      sum_i t_i * q_i = S - sum_i q_i,
// which is the form an unsigned-times-signed byte product (vpdpbusd, vpmaddubsw) computes. The
// caller (bitlinear.cpp) subtracts sum_i q_i and applies the float scale. All sums are exact in
// int32 for the dimensions pack_linear accepts.
#pragma once

#include <cstdint>

namespace a48::cpu {

// Rows order: dense GEMV (n_tokens = 1), GEMM (prefill), and the row-masked GEMV (a row list).
struct RowsKernelArgs {
  const uint8_t* weights = nullptr;  // [n_out, strips_per_line, 64] packed rows, 64-byte aligned
  int64_t strips_per_line = 0;
  const int8_t* q = nullptr;  // [n_tokens, q_stride] activations zero-padded to
                              // strips_per_line * 256, each token 64-byte aligned
  int64_t q_stride = 0;
  int64_t n_tokens = 0;
  const int32_t* rows = nullptr;  // [n_rows] the output rows to compute, any order
  int64_t n_rows = 0;
  int32_t* sums = nullptr;  // [n_tokens, sums_stride]: S for row rows[r] of token t goes to
  int64_t sums_stride = 0;  //   sums[t * sums_stride + rows[r]]; nothing else is written
};

// Columns order: the sparse-input GEMV and GEMM over a list of input columns (the non-zero ones).
inline constexpr int64_t kColsMaxTokens = 4;  // tokens per columns-kernel call (a prefill tile)

struct ColsKernelArgs {
  const uint8_t* weights = nullptr;  // [n_in, strips_per_line, 64] packed columns, 64-byte aligned
  int64_t strips_per_line = 0;
  const int32_t* cols = nullptr;  // [4 * n_groups] input columns, in groups of 4; padding entries
                                  //   name a valid column and carry q = 0
  const uint32_t* q4 = nullptr;   // [n_groups, n_tokens]: byte j of q4[g * n_tokens + t] is
                                  //   q_t[cols[4g + j]] (as int8)
  int64_t n_groups = 0;
  int64_t n_tokens = 0;             // 1 .. kColsMaxTokens
  const int32_t* strips = nullptr;  // [n_strips] output strips: strip s is rows 256s .. 256s+255
  int64_t n_strips = 0;
  int32_t* sums = nullptr;  // [n_tokens, sums_stride], sums_stride >= strips_per_line * 256:
  int64_t sums_stride = 0;  //   whole strips are written (padding rows included)
};

using RowsKernel = void (*)(const RowsKernelArgs&);
using ColsKernel = void (*)(const ColsKernelArgs&);
// The read-bandwidth probe of the benchmarks: the wrapping sum of the 64-bit words of
// data[0, bytes), bytes a multiple of 64, data 64-byte aligned, read with the ISA's widest loads
// (a scalar loop reaches about half of what 512-bit loads do on the same memory).
using StreamKernel = uint64_t (*)(const uint8_t* data, int64_t bytes);
// The sparse kernels' column list: writes the indices i in [0, n) with q[i] != 0 to out in
// increasing order and returns their count. out must have room for n + 64 entries (vector stores
// may write past the count).
using NonzeroKernel = int64_t (*)(const int8_t* q, int64_t n, int32_t* out);

// The LM head's matrix-vector product over weight rows stored in fp32 or fp16:
// y[r] = sum_i x[i] * float(w[r * n_in + i]) for r in [0, n_rows). Accumulation is fp32 in 16
// interleaved lanes (element i goes to lane i % 16), summed pairwise at the end, on every ISA, so
// the tables agree to fp32 rounding of the lane order only (tests/cpu/test_head_kernels.cpp
// states the tolerance against a double reference).
// The int8 head is integer: int8 rows times the token's int8 absmax codes (eq. 3), exact int32
// sums y[r] = sum_i w[r, i] * x[i] (|sum| <= n_in * 128 * 127), identical on every ISA; the
// caller applies the row scale and the token's step. x in [-127, 127] (the quantizer's range).
using HeadF32Kernel = void (*)(const float* w, int64_t n_in, int64_t n_rows, const float* x,
                               float* y);
using HeadF16Kernel = void (*)(const uint16_t* w, int64_t n_in, int64_t n_rows, const float* x,
                               float* y);
using HeadI8Kernel = void (*)(const int8_t* w, int64_t n_in, int64_t n_rows, const int8_t* x,
                              int32_t* y);

struct KernelTable {
  const char* name;
  RowsKernel rows;
  ColsKernel cols;
  StreamKernel stream;
  NonzeroKernel nonzero;
  HeadF32Kernel head_f32;
  HeadF16Kernel head_f16;
  HeadI8Kernel head_i8;
};

// The head kernels of each ISA (head_scalar.cpp, avx2/head.cpp, avx512/head.cpp).
void head_f32_scalar(const float* w, int64_t n_in, int64_t n_rows, const float* x, float* y);
void head_f16_scalar(const uint16_t* w, int64_t n_in, int64_t n_rows, const float* x, float* y);
void head_i8_scalar(const int8_t* w, int64_t n_in, int64_t n_rows, const int8_t* x, int32_t* y);
void head_f32_avx2(const float* w, int64_t n_in, int64_t n_rows, const float* x, float* y);
void head_f16_avx2(const uint16_t* w, int64_t n_in, int64_t n_rows, const float* x, float* y);
void head_i8_avx2(const int8_t* w, int64_t n_in, int64_t n_rows, const int8_t* x, int32_t* y);
void head_f32_avx512(const float* w, int64_t n_in, int64_t n_rows, const float* x, float* y);
void head_f16_avx512(const uint16_t* w, int64_t n_in, int64_t n_rows, const float* x, float* y);
void head_i8_avx512(const int8_t* w, int64_t n_in, int64_t n_rows, const int8_t* x, int32_t* y);

// Defined in bitlinear_scalar.cpp, avx2/bitlinear.cpp and avx512/bitlinear.cpp (the last two
// only on x86-64 builds). Use dispatch.h to pick one: calling a table the CPU lacks is SIGILL.
extern const KernelTable kScalarKernels;
extern const KernelTable kAvx2Kernels;
extern const KernelTable kAvx512Kernels;

}  // namespace a48::cpu
