// Learning-rate, weight-decay and activation-scheme schedules: the formulas of schedule.h.
#include "train/schedule.h"

#include <cmath>

#include "core/error.h"

namespace a48 {

namespace {

void check_step(const ScheduleConfig& c, int64_t step, const char* who) {
  check(c.total_steps > 0, "{}: total_steps {} must be positive", who, c.total_steps);
  check(c.warmup_steps >= 0 && c.warmup_steps < c.total_steps,
        "{}: warmup_steps {} must be in [0, total_steps {})", who, c.warmup_steps, c.total_steps);
  check(step >= 0 && step < c.total_steps, "{}: step {} outside [0, {})", who, step, c.total_steps);
}

// The second stage starts at T/2, rounded down (t >= T/2 with integer division).
bool in_second_half(const ScheduleConfig& c, int64_t step) { return step >= c.total_steps / 2; }

}  // namespace

double learning_rate_at(const ScheduleConfig& c, int64_t step) {
  check_step(c, step, "learning_rate_at");
  if (step < c.warmup_steps) {
    return c.peak_lr * static_cast<double>(step + 1) / static_cast<double>(c.warmup_steps);
  }
  const double decay = 1.0 - static_cast<double>(step - c.warmup_steps) /
                                 static_cast<double>(c.total_steps - c.warmup_steps);
  const double peak = c.two_stage_lr && in_second_half(c, step) ? c.second_lr : c.peak_lr;
  return peak * decay;
}

double weight_decay_at(const ScheduleConfig& c, int64_t step) {
  check_step(c, step, "weight_decay_at");
  return c.two_stage_lr && in_second_half(c, step) ? 0.0 : c.weight_decay;
}

ActivationScheme activation_scheme_at(const ScheduleConfig& c, int64_t step) {
  check_step(c, step, "activation_scheme_at");
  check(c.stage2_fraction >= 0.0 && c.stage2_fraction <= 1.0,
        "activation_scheme_at: stage2_fraction {} must be in [0, 1]", c.stage2_fraction);
  switch (c.final_scheme) {
    case ActivationScheme::fp:
    case ActivationScheme::b158:
      return c.final_scheme;  // one stage
    case ActivationScheme::a48:
    case ActivationScheme::a48_fp4:
    case ActivationScheme::int4_all:
    case ActivationScheme::fp4_all:
      break;
  }
  // The last round(fraction * T) steps train with the final scheme (§2.2: "the last 5% of the
  // training tokens"), the steps before as b1.58 (W1.58A8).
  const int64_t stage2_steps = std::llround(c.stage2_fraction * static_cast<double>(c.total_steps));
  return step >= c.total_steps - stage2_steps ? c.final_scheme : ActivationScheme::b158;
}

}  // namespace a48
