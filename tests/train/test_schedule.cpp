// (e) The learning-rate, weight-decay and activation-scheme schedules (train/schedule.h).
#include <gtest/gtest.h>

#include "core/error.h"
#include "train/schedule.h"

namespace a48 {
namespace {

// T = 1000, W = 375, peak 1.5e-3, second 1e-3: T - W = 625, T/2 = 500.
ScheduleConfig paper_schedule() {
  ScheduleConfig c;
  c.total_steps = 1000;
  return c;
}

TEST(Schedule, TwoStageLearningRateByHand) {
  const ScheduleConfig c = paper_schedule();
  EXPECT_DOUBLE_EQ(learning_rate_at(c, 0), 1.5e-3 / 375);                  // (0 + 1) / W
  EXPECT_DOUBLE_EQ(learning_rate_at(c, 374), 1.5e-3);                      // W / W
  EXPECT_DOUBLE_EQ(learning_rate_at(c, 375), 1.5e-3);                      // 1 - 0 / 625
  EXPECT_DOUBLE_EQ(learning_rate_at(c, 499), 1.5e-3 * (1 - 124.0 / 625));  // 1.2024e-3
  EXPECT_DOUBLE_EQ(learning_rate_at(c, 500), 1e-3 * (1 - 125.0 / 625));    // 8e-4: the drop
  // 1 - 624/625 cancels: ~1e-13 relative rounding.
  EXPECT_NEAR(learning_rate_at(c, 999), 1e-3 / 625, 1e-12 * 1e-3 / 625);  // 1.6e-6
  EXPECT_NEAR(learning_rate_at(c, 499), 1.2024e-3, 1e-15);
  EXPECT_NEAR(learning_rate_at(c, 500), 8e-4, 1e-15);
}

TEST(Schedule, WeightDecaySwitchesOffAtHalf) {
  const ScheduleConfig c = paper_schedule();
  EXPECT_EQ(weight_decay_at(c, 0), 0.1);
  EXPECT_EQ(weight_decay_at(c, 499), 0.1);
  EXPECT_EQ(weight_decay_at(c, 500), 0.0);
  EXPECT_EQ(weight_decay_at(c, 999), 0.0);
}

TEST(Schedule, OneStageKeepsOneDecayAndConstantWeightDecay) {
  ScheduleConfig c = paper_schedule();
  c.two_stage_lr = false;
  EXPECT_DOUBLE_EQ(learning_rate_at(c, 500), 1.5e-3 * 0.8);  // no drop to second_lr
  EXPECT_NEAR(learning_rate_at(c, 999), 1.5e-3 / 625, 1e-12 * 1.5e-3 / 625);
  EXPECT_EQ(weight_decay_at(c, 999), 0.1);
}

TEST(Schedule, ActivationSchemeSwitchesForTheLastFivePercent) {
  ScheduleConfig c = paper_schedule();  // final a4.8, stage2_fraction 0.05: the last 50 steps
  EXPECT_EQ(activation_scheme_at(c, 0), ActivationScheme::b158);
  EXPECT_EQ(activation_scheme_at(c, 949), ActivationScheme::b158);
  EXPECT_EQ(activation_scheme_at(c, 950), ActivationScheme::a48);
  EXPECT_EQ(activation_scheme_at(c, 999), ActivationScheme::a48);
  for (ActivationScheme s :
       {ActivationScheme::a48_fp4, ActivationScheme::int4_all, ActivationScheme::fp4_all}) {
    c.final_scheme = s;
    EXPECT_EQ(activation_scheme_at(c, 949), ActivationScheme::b158);
    EXPECT_EQ(activation_scheme_at(c, 950), s);
  }
  // fp and b1.58 train in one stage.
  for (ActivationScheme s : {ActivationScheme::fp, ActivationScheme::b158}) {
    c.final_scheme = s;
    EXPECT_EQ(activation_scheme_at(c, 0), s);
    EXPECT_EQ(activation_scheme_at(c, 999), s);
  }
  // T = 20: round(0.05 * 20) = 1 step of stage 2.
  ScheduleConfig small;
  small.total_steps = 20;
  small.warmup_steps = 2;
  EXPECT_EQ(activation_scheme_at(small, 18), ActivationScheme::b158);
  EXPECT_EQ(activation_scheme_at(small, 19), ActivationScheme::a48);
}

TEST(Schedule, RejectsStepsOutsideTheRun) {
  const ScheduleConfig c = paper_schedule();
  EXPECT_THROW(learning_rate_at(c, -1), Error);
  EXPECT_THROW(learning_rate_at(c, 1000), Error);
  EXPECT_THROW(weight_decay_at(c, 1000), Error);
  ScheduleConfig short_run;
  short_run.total_steps = 100;  // shorter than the 375 warm-up steps
  EXPECT_THROW(learning_rate_at(short_run, 0), Error);
  ScheduleConfig bad_fraction = paper_schedule();
  bad_fraction.stage2_fraction = 1.5;
  EXPECT_THROW(activation_scheme_at(bad_fraction, 0), Error);
}

}  // namespace
}  // namespace a48
