// The embedded default model (models/default, trained by a48) through every CPU head precision
// against the reference engine: perplexity of real text (this repository's own docs), the check
// that matters to a user, and the cost of the smaller heads.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "engine/make_engine.h"
#include "format/model_files.h"
#include "model/token_logprobs.h"
#include "tokenizer/tokenizer.h"

namespace a48 {
namespace {

constexpr int64_t kTokens = 160;

double perplexity(Engine& engine, std::span<const int32_t> tokens) {
  const std::vector<TokenLogprob> scores = score_tokens(engine, tokens, 64);
  double nll = 0;
  for (const TokenLogprob& s : scores) nll -= s.logprob;
  return std::exp(nll / static_cast<double>(scores.size()));
}

TEST(TrainedModel, CpuEnginePerplexityMatchesTheReference) {
  const std::string dir = std::string(A48_SOURCE_DIR) + "/models/default";
  auto model = std::make_shared<const Model>(load_model(dir));
  const Tokenizer tokenizer = Tokenizer::from_hf_json(std::string(A48_SOURCE_DIR) +
                                                   "/models/tokenizer/tokenizer.json");
  std::ifstream file(std::string(A48_SOURCE_DIR) + "/docs/ARCHITECTURE.md");
  std::stringstream text;
  text << file.rdbuf();
  std::vector<int32_t> tokens = tokenizer.encode(text.str());
  ASSERT_GT(static_cast<int64_t>(tokens.size()), kTokens);
  tokens.resize(kTokens);

  const double reference = perplexity(*make_engine(model, {EngineBackend::reference}), tokens);
  const double f32 = perplexity(*make_engine(model, {EngineBackend::cpu, 2}), tokens);
  const double f16 =
      perplexity(*make_engine(model, {EngineBackend::cpu, 2, HeadPrecision::f16}), tokens);
  const double int8 =
      perplexity(*make_engine(model, {EngineBackend::cpu, 2, HeadPrecision::int8}), tokens);
  RecordProperty("ppl_reference", std::to_string(reference));
  std::printf("perplexity over %lld tokens: reference %.4f, cpu f32 %.4f, f16 %.4f, int8 %.4f\n",
              static_cast<long long>(kTokens), reference, f32, f16, int8);
  EXPECT_NEAR(f32, reference, 0.002 * reference);
  EXPECT_NEAR(f16, reference, 0.005 * reference);
  EXPECT_NEAR(int8, reference, 0.02 * reference);
}

}  // namespace
}  // namespace a48
