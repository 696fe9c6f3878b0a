// cpu::bitlinear: the BitLinear product (eqs. 2, 6; ref/bitlinear.h) on packed ternary weights
// (ternary_pack.h), with the dispatched integer kernels (kernel_table.h) and a thread pool.
//
//   y[o] = float(double(alpha) * double(step) * sum_i t[o, i] q[i])
//
// bit for bit what ref::bitlinear / ref::project's integer path compute: the int32 sum is exact and
// the rescale is the same expression, so results do not depend on the ISA or the thread count.
//
// Which work is skipped follows the order the weights were packed in:
//   rows order     reads every row it computes; rows whose row_mask is 0 are neither read nor
//                  computed (the up projection on the non-zero gate channels, §2.1);
//   columns order  reads only the input columns whose q is non-zero, whatever the density (at 0%
//                  zeros this is the dense GEMV, no slower), so the choice between dense and
//                  sparse is made when packing: columns for down_proj and o_proj (top-K), rows for
//                  q/k/v/gate (dense) and up (row-masked). A row_mask there skips whole 256-row
//                  strips whose rows are all masked.
#pragma once

#include <cstdint>
#include <span>

#include "cpu/kernel_table.h"
#include "cpu/ternary_pack.h"
#include "cpu/thread_pool.h"

namespace a48::cpu {

// One token. q: [n_in] activation codes (any int8, -128 included), y: [n_out]. row_mask: empty or
// [n_out]; rows with mask 0 are set to 0 (as ref::project). pool: nullptr runs on the calling
// thread. kernels: nullptr uses active_kernels() (dispatch.h). Throws a48::Error on bad shapes.
void bitlinear(const PackedLinear& w, std::span<const int8_t> q, float step, std::span<float> y,
               std::span<const float> row_mask = {}, ThreadPool* pool = nullptr,
               const KernelTable* kernels = nullptr);

// n_tokens tokens at once (prefill): each weight strip is read once per tile of tokens.
// q: [n_tokens, n_in], steps: [n_tokens], y: [n_tokens, n_out], row_mask: empty or
// [n_tokens, n_out]. Token t's row equals bitlinear() of that token alone.
void bitlinear_tokens(const PackedLinear& w, int64_t n_tokens, std::span<const int8_t> q,
                      std::span<const float> steps, std::span<float> y,
                      std::span<const float> row_mask = {}, ThreadPool* pool = nullptr,
                      const KernelTable* kernels = nullptr);

// The packed weight bytes bitlinear() reads for this input and mask (benchmark counters).
int64_t bitlinear_weight_bytes(const PackedLinear& w, std::span<const int8_t> q,
                               std::span<const float> row_mask = {});

}  // namespace a48::cpu
