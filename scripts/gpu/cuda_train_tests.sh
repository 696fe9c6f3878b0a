#!/usr/bin/env bash
# Device-machine job for the CUDA trainer: the gpu-labelled tests (a48_test_cuda), the
# 25M-parameter throughput measurement, then compute-sanitizer (memcheck over every test,
# racecheck over the kernels with shared memory). Logs go to $OUT.
#
# Builds a48_test_cuda with CMake when the machine has a48's build dependencies (fmt,
# nlohmann-json, CLI11, pcre2, GoogleTest). Where it has not, pass a binary built elsewhere with
# the same CUDA (13.0, sm_90a) and the folder of the libraries it lacks, carried in build/:
#   A48_TEST_BIN=build/h-cuda/tests/a48_test_cuda A48_LIB_DIR=build/gpu-libs scripts/gpu/cuda_train_tests.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
: "${OUT:?OUT must name the folder whose files come back}"
exec > >(tee -a "$OUT/cuda_train_tests.log") 2>&1

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
nvcc --version | tail -1
cmake --version | head -1

bin=${A48_TEST_BIN:-}
if [ -z "$bin" ]; then
  if timeout 400 cmake -S . -B build/gpu -G Ninja -DA48_CUDA=ON -DA48_BUILD_BENCH=OFF >"$OUT/build.log" 2>&1 &&
    timeout 400 ninja -C build/gpu a48_test_cuda >>"$OUT/build.log" 2>&1; then
    bin=build/gpu/tests/a48_test_cuda
  else
    echo "build failed:"; grep -E "Could NOT|error|Error" "$OUT/build.log" | head -20; exit 1
  fi
fi
export LD_LIBRARY_PATH="${A48_LIB_DIR:+$PWD/$A48_LIB_DIR:}/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
if ldd "$bin" | grep "not found"; then exit 1; fi

status=0
echo "=== tests"
timeout 300 "$bin" --gtest_color=no >"$OUT/tests.log" 2>&1 || status=1
grep -E -A8 ": Failure" "$OUT/tests.log" | head -120
grep -E "^\[  (PASSED|FAILED|SKIPPED) |^\[ +OK|loss gpu|rel. error" "$OUT/tests.log"

echo "=== throughput"
A48_CUDA_THROUGHPUT=1 timeout 200 "$bin" --gtest_color=no --gtest_filter='*Throughput*' \
  >"$OUT/throughput.log" 2>&1 || status=1
grep -vE "^\[ *(RUN|OK) *\]|^Note|^$" "$OUT/throughput.log"

echo "=== compute-sanitizer memcheck"
timeout 300 compute-sanitizer --tool memcheck --leak-check full --error-exitcode 9 "$bin" \
  --gtest_color=no --gtest_filter='-*Throughput*' >"$OUT/memcheck.log" 2>&1
echo "memcheck exit $?"
grep -E "ERROR SUMMARY|LEAK SUMMARY|Invalid|PASSED|FAILED" "$OUT/memcheck.log" | head -20

echo "=== compute-sanitizer racecheck"
timeout 200 compute-sanitizer --tool racecheck --error-exitcode 9 "$bin" --gtest_color=no \
  --gtest_filter='CudaFakeQuant*:CudaTernary*:CudaRmsnorm*:CudaAttention*:CudaCrossEntropy*:CudaGlu*:CudaOptimizer*' \
  >"$OUT/racecheck.log" 2>&1
echo "racecheck exit $?"
grep -E "RACECHECK SUMMARY|ERROR SUMMARY|hazard|PASSED|FAILED" "$OUT/racecheck.log" | head -20

echo "=== compute-sanitizer initcheck (whole-trainer tests)"
timeout 200 compute-sanitizer --tool initcheck --error-exitcode 9 "$bin" --gtest_color=no \
  --gtest_filter='CudaTrainer.*' >"$OUT/initcheck.log" 2>&1
echo "initcheck exit $?"
grep -E "ERROR SUMMARY|Uninitialized|PASSED|FAILED" "$OUT/initcheck.log" | head -20

if [ "${A48_PROFILE:-0}" = 1 ]; then
  # Per-kernel device time of the first training step of the throughput test (ncu serializes
  # the kernels; one metric, one pass each).
  echo "=== ncu: kernel times of one a4.8 step"
  A48_CUDA_THROUGHPUT=1 timeout 300 ncu --metrics gpu__time_duration.sum --clock-control none \
    --launch-count "${A48_PROFILE_LAUNCHES:-900}" --print-summary per-kernel "$bin" \
    --gtest_filter='*Throughput*' >"$OUT/ncu.log" 2>&1
  echo "ncu exit $?"
fi
exit $status
