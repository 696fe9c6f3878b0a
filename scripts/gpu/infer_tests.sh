#!/usr/bin/env bash
# Device job for the CUDA inference backend (src/cuda/infer): the inference tests of a48_test_cuda,
# then compute-sanitizer memcheck and racecheck over them, then (BENCH=1) the benchmark mode.
# RUN_DIR names the carried folder (default build/infer-run).
# Carry build/infer-run (or RUN_DIR=build/gpu-run): a48_test_cuda built here (CUDA 13.0, sm_90a) and the shared libraries
# the device lacks (libfmt.so.9, libcrypto.so.3):
#   mkdir -p build/infer-run && cp build/cuda-infer/tests/a48_test_cuda build/infer-run/ && cp <libs> build/infer-run/
set -uo pipefail
cd "$(dirname "$0")/../.."
: "${OUT:?OUT must name the folder whose files come back}"
exec > >(tee -a "$OUT/infer_tests.log") 2>&1
run_dir=${RUN_DIR:-build/infer-run}  # the carried folder
export LD_LIBRARY_PATH="$PWD/$run_dir:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
bin=$run_dir/a48_test_cuda
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
if ldd "$bin" | grep "not found"; then exit 1; fi
filter='CudaTernaryPack*:CudaBitlinear*:CudaRowQuant*:CudaAttention.Prefill*:Schemes/CudaEngineVsReference*:CudaEngine.*'
status=0
if [ "${TESTS:-1}" = 1 ]; then
  echo "=== tests"
  timeout 200 "$bin" --gtest_color=no --gtest_filter="$filter" >"$OUT/tests.log" 2>&1 || status=1
  grep -E -A8 ": Failure" "$OUT/tests.log" | head -80
  grep -E "^\[  (PASSED|FAILED|SKIPPED) |^\[ +OK|^row_quant|^attention|worst|int8 head" "$OUT/tests.log"
fi
if [ "${SANITIZE:-1}" = 1 ]; then
  echo "=== compute-sanitizer memcheck"
  timeout 240 compute-sanitizer --tool memcheck --error-exitcode 9 "$bin" --gtest_color=no \
    --gtest_filter="$filter" >"$OUT/memcheck.log" 2>&1
  echo "memcheck exit $?"
  grep -E "ERROR SUMMARY|Invalid|PASSED|FAILED" "$OUT/memcheck.log" | head -20
  echo "=== compute-sanitizer racecheck"
  timeout 200 compute-sanitizer --tool racecheck --error-exitcode 9 "$bin" --gtest_color=no \
    --gtest_filter='CudaBitlinear*:CudaRowQuant*:CudaAttention.Prefill*:CudaEngine.RejectsBadCalls*:CudaEngine.Persistent*' >"$OUT/racecheck.log" 2>&1
  echo "racecheck exit $?"
  grep -E "RACECHECK SUMMARY|ERROR SUMMARY|hazard|PASSED|FAILED" "$OUT/racecheck.log" | head -20
fi
if [ "${BENCH:-0}" = 1 ]; then
  echo "=== benchmark"
  A48_CUDA_INFER_BENCH=1 timeout 300 "$bin" --gtest_color=no --gtest_filter='CudaInferBench*' >"$OUT/bench.log" 2>&1 || status=1
  grep -vE "^\[ *(RUN|OK) *\]|^Note|^$" "$OUT/bench.log"
fi
exit $status
