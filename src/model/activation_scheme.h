// Which activation quantizer feeds each projection, per scheme: §2.1 and Figure 1 (a4.8),
// §2.3 (FP4 variant), §3.2 (ablations), BitNet b1.58 (all INT8) and full precision.
#pragma once

#include <string>
#include <string_view>

namespace a48 {

enum class ActivationScheme {
  fp,        // full precision: latent weights, no quantization (the LLaMA baseline)
  b158,      // BitNet b1.58: ternary weights, INT8 absmax everywhere ("b1.58")
  a48,       // BitNet a4.8: INT4 absmean into QKV and gate/up, top-K + INT8 into o_proj, INT8 into down
  a48_fp4,   // BitNet a4.8 (FP4): FP4 E2M1 MinMax everywhere except INT8 into down ("a4.8-fp4")
  int4_all,  // ablation §3.2: INT4 absmean everywhere, beta = 2 mean|X| for down ("int4-all")
  fp4_all,   // ablation §3.2: FP4 E2M1 MinMax everywhere ("fp4-all")
};

// The four places a BitLinear reads activations from (Figure 1).
enum class ProjectionInput { qkv, out, gate_up, down };

enum class ActivationQuantizer {
  none,          // full precision
  int8_absmax,   // eq. 3
  int4_absmean,  // eq. 7
  int4_absmean_double_beta,  // eq. 7 with beta = 2 mean|X| (§3.2)
  fp4_e2m1,      // eqs. 8-9, E2M1
};

struct ProjectionQuantization {
  ActivationQuantizer quantizer = ActivationQuantizer::none;
  float topk_keep_fraction = 1.0f;  // < 1: eq. 1's top-K before quantizing
  bool ternary_weights = true;      // false only for `fp`
};

// `topk_fraction` is the config's top-K keep fraction for o_proj (0.5 in the paper).
ProjectionQuantization projection_quantization(ActivationScheme scheme, ProjectionInput input,
                                               float topk_fraction);

ActivationScheme parse_activation_scheme(std::string_view name);  // throws a48::Error
std::string_view to_string(ActivationScheme scheme);

}  // namespace a48
