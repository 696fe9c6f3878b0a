#include <gtest/gtest.h>

#include <algorithm>

#include "core/error.h"
#include "cpu/dispatch.h"

namespace a48 {
namespace {

using cpu::Isa;

TEST(CpuDispatch, ParsesIsaNames) {
  EXPECT_EQ(cpu::parse_isa("scalar"), Isa::scalar);
  EXPECT_EQ(cpu::parse_isa("avx2"), Isa::avx2);
  EXPECT_EQ(cpu::parse_isa("avx512"), Isa::avx512);
  EXPECT_THROW(cpu::parse_isa("AVX2"), Error);
  EXPECT_THROW(cpu::parse_isa("neon"), Error);
  EXPECT_THROW(cpu::parse_isa(""), Error);
}

TEST(CpuDispatch, SupportedIsasAreOrderedAndNamed) {
  const std::vector<Isa> isas = cpu::supported_isas();
  ASSERT_FALSE(isas.empty());
  EXPECT_EQ(isas.front(), Isa::scalar);  // the portable kernels always exist
  EXPECT_EQ(cpu::best_isa(), isas.back());
  for (std::size_t i = 1; i < isas.size(); ++i) EXPECT_LT(isas[i - 1], isas[i]);
  for (Isa isa : isas) {
    EXPECT_STREQ(cpu::kernels(isa).name, cpu::to_string(isa));
    EXPECT_NE(cpu::kernels(isa).rows, nullptr);
    EXPECT_NE(cpu::kernels(isa).cols, nullptr);
    EXPECT_NE(cpu::kernels(isa).stream, nullptr);
    EXPECT_NE(cpu::kernels(isa).nonzero, nullptr);
  }
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    const bool listed = std::find(isas.begin(), isas.end(), isa) != isas.end();
    EXPECT_EQ(cpu::isa_supported(isa), listed);
    if (!listed) {
      EXPECT_THROW(cpu::kernels(isa), Error);
    }
  }
}

TEST(CpuDispatch, A48IsaValues) {
  EXPECT_EQ(cpu::resolve_isa(nullptr), cpu::best_isa());
  EXPECT_EQ(cpu::resolve_isa(""), cpu::best_isa());
  EXPECT_EQ(cpu::resolve_isa("scalar"), Isa::scalar);
  EXPECT_THROW(cpu::resolve_isa("sse9"), Error);
  for (Isa isa : {Isa::avx2, Isa::avx512}) {
    if (cpu::isa_supported(isa)) {
      EXPECT_EQ(cpu::resolve_isa(cpu::to_string(isa)), isa);
    } else {
      EXPECT_THROW(cpu::resolve_isa(cpu::to_string(isa)), Error);  // forcing a missing ISA
    }
  }
  // The process-wide choice is one of the supported ones (A48_ISA may be set by whoever runs this).
  EXPECT_TRUE(cpu::isa_supported(cpu::active_isa()));
  EXPECT_EQ(&cpu::active_kernels(), &cpu::kernels(cpu::active_isa()));
}

}  // namespace
}  // namespace a48
