#include "model/activation_scheme.h"

#include "core/error.h"

namespace a48 {

ProjectionQuantization projection_quantization(ActivationScheme scheme, ProjectionInput input,
                                               float topk_fraction) {
  using Q = ActivationQuantizer;
  switch (scheme) {
    case ActivationScheme::fp:
      return {Q::none, 1.0f, false};
    case ActivationScheme::b158:
      return {Q::int8_absmax, 1.0f, true};
    case ActivationScheme::a48:
      switch (input) {
        case ProjectionInput::qkv:
        case ProjectionInput::gate_up: return {Q::int4_absmean, 1.0f, true};     // eqs. 6-7
        case ProjectionInput::out: return {Q::int8_absmax, topk_fraction, true};  // eq. 1
        case ProjectionInput::down: return {Q::int8_absmax, 1.0f, true};          // eq. 3
      }
      break;
    case ActivationScheme::a48_fp4:
      // §2.3: "we only leave the inputs to down projection of FFN at 8-bit integers, and quantize
      // the other activations to FP4". o_proj keeps its top-K sparsification.
      switch (input) {
        case ProjectionInput::qkv:
        case ProjectionInput::gate_up: return {Q::fp4_e2m1, 1.0f, true};
        case ProjectionInput::out: return {Q::fp4_e2m1, topk_fraction, true};
        case ProjectionInput::down: return {Q::int8_absmax, 1.0f, true};
      }
      break;
    case ActivationScheme::int4_all:
      if (input == ProjectionInput::down) return {Q::int4_absmean_double_beta, 1.0f, true};
      return {Q::int4_absmean, 1.0f, true};
    case ActivationScheme::fp4_all:
      return {Q::fp4_e2m1, 1.0f, true};
  }
  fail("unknown activation scheme");
}

ActivationScheme parse_activation_scheme(std::string_view name) {
  if (name == "fp") return ActivationScheme::fp;
  if (name == "b1.58") return ActivationScheme::b158;
  if (name == "a4.8") return ActivationScheme::a48;
  if (name == "a4.8-fp4") return ActivationScheme::a48_fp4;
  if (name == "int4-all") return ActivationScheme::int4_all;
  if (name == "fp4-all") return ActivationScheme::fp4_all;
  fail("unknown activation scheme '{}' (expected fp, b1.58, a4.8, a4.8-fp4, int4-all, fp4-all)",
       name);
}

std::string_view to_string(ActivationScheme scheme) {
  switch (scheme) {
    case ActivationScheme::fp: return "fp";
    case ActivationScheme::b158: return "b1.58";
    case ActivationScheme::a48: return "a4.8";
    case ActivationScheme::a48_fp4: return "a4.8-fp4";
    case ActivationScheme::int4_all: return "int4-all";
    case ActivationScheme::fp4_all: return "fp4-all";
  }
  return "?";
}

}  // namespace a48
