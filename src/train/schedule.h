// Learning-rate and weight-decay schedule of BitNet b1.58 (Appendix A, Table 7), and the
// two-stage activation recipe of BitNet a4.8 (§2.2, §3).
//
// Our reading of the b1.58 two-stage schedule, as formulas (t = optimizer step, T = total steps,
// W = warm-up steps = 375):
//   t < W:            lr = peak_lr * (t + 1) / W
//   W <= t < T/2:     lr = peak_lr   * (1 - (t - W) / (T - W))     (stage 1: linear decay)
//   t >= T/2:         lr = second_lr * (1 - (t - W) / (T - W))     (stage 2: the same decay from
//                                                                  the lower peak: a sharp drop)
//   weight decay:     wd = 0.1 in the first half, 0 in the second
// The activation recipe is separate: the last `stage2_fraction` of the tokens (default 5%) train
// with the final scheme (a4.8 ...); before that the model trains as W1.58A8 with ReLU^2 GLU (b1.58).
// Schemes fp and b1.58 have one stage.
#pragma once

#include <cstdint>

#include "model/activation_scheme.h"

namespace a48 {

struct ScheduleConfig {
  int64_t total_steps = 0;
  int64_t warmup_steps = 375;
  double peak_lr = 1.5e-3;
  double second_lr = 1e-3;  // for `fp` (LLaMA baseline) set equal to peak_lr: one stage
  double weight_decay = 0.1;
  bool two_stage_lr = true;  // false: one linear decay from peak_lr and constant weight decay
  double stage2_fraction = 0.05;
  ActivationScheme final_scheme = ActivationScheme::a48;
};

double learning_rate_at(const ScheduleConfig& config, int64_t step);
double weight_decay_at(const ScheduleConfig& config, int64_t step);
// b1.58 before the last stage2_fraction of steps when the final scheme is a 4-bit one, else final.
ActivationScheme activation_scheme_at(const ScheduleConfig& config, int64_t step);

}  // namespace a48
