// The CUDA inference engine (model/engine.h) for Hopper: packed 2-bit ternary weights
// (packed_ternary.h), the fused per-token quantizer pass (row_quant.h), dp4a BitLinear kernels
// (bitlinear.h; gate and up in one launch with up masked by the gate; the sparse-input kernel for
// o_proj and down_proj at up to 4 rows per call only with A48_CUDA_SPARSE_INPUT=1, since the dense
// one is faster on the H100), RoPE/KV-cache writes and attention over device KV caches, split over
// blocks (flash-decoding) for up to 16 rows (attention.h), and the LM head in fp32 or int8
// (head.h). Each sequence's KV cache lives on the device. Calls of up to 16 rows run as a captured
// CUDA graph, one per (rows, logit rows) shape; kernels are chained with programmatic dependent
// launch (pdl_launch.cuh; A48_CUDA_PDL=0 turns it off).
//
// Agreement with ReferenceEngine: every integer product and every quantizer code is the
// reference's; attention sums in double in another order, RMSNorm/INT4 double sums in a tree
// order, and the fp32 head sums in float (see the headers). Logits agree to ~1e-5 relative on
// random small models (tests/cuda/test_infer_engine.cpp states the bound); the int8 head adds its
// weight rounding. Runs every ternary scheme; not `fp`. Table 2's sparsity counters are not
// gathered (a SparsityStats passed to forward() is left as it is).
//
// Host-only header: no CUDA types.
#pragma once

#include <memory>

#include "model/engine.h"
#include "model/weights.h"

namespace a48 {

// Throws a48::Error when no CUDA device `device` exists or the model is not one this engine runs.
std::unique_ptr<Engine> make_cuda_engine(std::shared_ptr<const Model> model, int device, bool int8_head);

}  // namespace a48
