#include "ref/bitlinear.h"

#include "core/error.h"

namespace a48::ref {

namespace {

// |t*q| <= 128 per term; this many terms cannot overflow int32.
constexpr int64_t kMaxExactInputs = int64_t{1} << 24;

void check_weights(const LinearWeights& w) {
  check(w.n_out >= 0 && w.n_in >= 0 && w.n_in <= kMaxExactInputs,
        "bitlinear: weight shape [{}, {}] is invalid (n_in at most {})", w.n_out, w.n_in,
        kMaxExactInputs);
  check(static_cast<int64_t>(w.ternary.size()) == w.n_out * w.n_in,
        "bitlinear: ternary codes hold {} values, expected [{}, {}]", w.ternary.size(), w.n_out,
        w.n_in);
}

}  // namespace

int32_t bitlinear_dot(std::span<const int8_t> t_row, std::span<const int8_t> q) {
  check(t_row.size() == q.size(), "bitlinear: input has {} values, weight row {}", q.size(),
        t_row.size());
  check(static_cast<int64_t>(q.size()) <= kMaxExactInputs, "bitlinear: {} inputs overflow int32",
        q.size());
  int32_t sum = 0;
  for (std::size_t i = 0; i < q.size(); ++i) sum += int32_t{t_row[i]} * int32_t{q[i]};
  return sum;
}

float bitlinear_row(const LinearWeights& w, int64_t o, std::span<const int8_t> q, float step) {
  check_weights(w);
  check(o >= 0 && o < w.n_out, "bitlinear: row {} outside [0, {})", o, w.n_out);
  check(static_cast<int64_t>(q.size()) == w.n_in, "bitlinear: input has {} values, expected {}",
        q.size(), w.n_in);
  const std::span<const int8_t> t_row(w.ternary.data() + o * w.n_in,
                                      static_cast<std::size_t>(w.n_in));
  const int32_t sum = bitlinear_dot(t_row, q);
  return static_cast<float>(static_cast<double>(w.scale) * static_cast<double>(step) * sum);
}

void bitlinear(const LinearWeights& w, std::span<const int8_t> q, float step, std::span<float> y) {
  check(static_cast<int64_t>(y.size()) == w.n_out, "bitlinear: output has {} values, expected {}",
        y.size(), w.n_out);
  for (int64_t o = 0; o < w.n_out; ++o)
    y[static_cast<std::size_t>(o)] = bitlinear_row(w, o, q, step);
}

}  // namespace a48::ref
