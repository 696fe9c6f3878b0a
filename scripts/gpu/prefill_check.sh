#!/usr/bin/env bash
# Device job: the attention and engine tests (the tiled prefill attention among them), then
# `a48 bench` prefill at 512 and 2048 tokens for the 2B4T and 7B shapes. Carry build/gpu-run
# (see decode_compare.sh).
set -uo pipefail
cd "$(dirname "$0")/../.."
: "${OUT:?OUT must name the folder whose files come back}"
exec > >(tee -a "$OUT/prefill_check.log") 2>&1
run_dir=${RUN_DIR:-build/gpu-run}
export LD_LIBRARY_PATH="$PWD/$run_dir:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
status=0
timeout 200 "$run_dir/a48_test_cuda" --gtest_color=no \
  --gtest_filter='CudaAttention.Prefill*:Schemes/CudaEngineVsReference*:CudaEngine.*' >"$OUT/tests.log" 2>&1 || status=1
grep -E -A8 ": Failure" "$OUT/tests.log" | head -40
grep -E "^\[  (PASSED|FAILED) |^\[  FAILED|worst|attention .*tiled" "$OUT/tests.log"
for shape in 2b4t 7b; do
  timeout 200 "$run_dir/a48" bench --device cuda --shape $shape -p 512,2048 -n 0 -r 2 --head int8 \
    --scheme a4.8,b1.58 --json "$OUT/prefill_$shape.json" 2>/dev/null | tee "$OUT/prefill_$shape.md" || status=1
done
exit $status
