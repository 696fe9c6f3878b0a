#!/usr/bin/env bash
# Device job: the CUDA inference tests (a48_test_cuda), then `a48 bench --device cuda` on the 2B4T
# shape with the persistent decode kernel off and on (A48_CUDA_FUSED=0/1) in the same run.
# Carry RUN_DIR (default build/gpu-run): a48 and a48_test_cuda built here (CUDA 13.0, sm_90a) and
# the shared libraries the device lacks (see infer_cli_checks.sh).
set -uo pipefail
cd "$(dirname "$0")/../.."
: "${OUT:?OUT must name the folder whose files come back}"
exec > >(tee -a "$OUT/decode_compare.log") 2>&1
run_dir=${RUN_DIR:-build/gpu-run}
export LD_LIBRARY_PATH="$PWD/$run_dir:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
status=0
if [ "${TESTS:-1}" = 1 ]; then
  filter=${FILTER:-'CudaTernaryPack*:CudaBitlinear*:CudaRowQuant*:CudaAttention.Prefill*:Schemes/CudaEngineVsReference*:CudaEngine.*:-CudaBitlinearMmaBench*'}
  timeout 300 "$run_dir/a48_test_cuda" --gtest_color=no --gtest_filter="$filter" >"$OUT/tests.log" 2>&1 || status=1
  grep -E -A8 ": Failure" "$OUT/tests.log" | head -60
  grep -E "^\[  (PASSED|FAILED|SKIPPED) |^\[  FAILED|worst|int8 head" "$OUT/tests.log"
fi
if [ "${SANITIZE:-0}" = 1 ]; then
  timeout 200 compute-sanitizer --tool memcheck --error-exitcode 9 "$run_dir/a48_test_cuda" --gtest_color=no \
    --gtest_filter='CudaEngine.Persistent*' >"$OUT/memcheck.log" 2>&1
  echo "memcheck exit $?"; grep -E "ERROR SUMMARY" "$OUT/memcheck.log"
  timeout 200 compute-sanitizer --tool racecheck --error-exitcode 9 "$run_dir/a48_test_cuda" --gtest_color=no \
    --gtest_filter='CudaEngine.Persistent*' >"$OUT/racecheck.log" 2>&1
  echo "racecheck exit $?"; grep -E "RACECHECK SUMMARY|ERROR SUMMARY" "$OUT/racecheck.log"
fi
if [ "${BENCH:-1}" = 1 ]; then
  # before: kernel by kernel, dp4a prefill; after: the persistent decode kernel and mma prefill.
  for fused in 0 1; do
    echo "=== A48_CUDA_FUSED=$fused A48_CUDA_MMA=$fused"
    A48_CUDA_PHASE_TIMES=1 A48_CUDA_MMA=$fused A48_CUDA_FUSED=$fused timeout 240 "$run_dir/a48" bench --device cuda --shape "${SHAPE:-2b4t}" -p "${PP:-512}" \
      -n 128 -r 3 --head int8 --scheme a4.8,b1.58 ${BENCH_ARGS:-} --json "$OUT/bench_fused$fused.json" \
      2>"$OUT/bench_fused$fused.err" | tee "$OUT/bench_fused$fused.md" || status=1
    tail -3 "$OUT/bench_fused$fused.err"
  done
fi
if [ "${MMA_BENCH:-0}" = 1 ]; then
  A48_CUDA_INFER_BENCH=1 timeout 300 "$run_dir/a48_test_cuda" --gtest_color=no --gtest_filter='CudaBitlinearMmaBench*' \
    >"$OUT/mma_bench.log" 2>&1 || status=1
  grep -vE "^\[ *(RUN|OK) *\]|^Note|^$" "$OUT/mma_bench.log" | tail -40
fi
exit $status
