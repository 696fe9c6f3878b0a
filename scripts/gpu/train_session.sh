#!/usr/bin/env bash
# One device call for issue 3's results: the driver checks (resume, NCCL), the PyTorch baseline's
# throughput, then the training runs in $RUNS (see train_experiments.sh). Carry build/gpu-run
# (a48 + the shared libraries the device lacks) and data-cache/corpus.
set -uo pipefail
export A48_BIN=build/gpu-run/a48 A48_LIB_DIR=build/gpu-run
export LD_LIBRARY_PATH="$PWD/build/gpu-run:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
mkdir -p data-cache
$A48_BIN tokenize --no-progress -o data-cache/docs-train.tok data-cache/corpus/train.txt.xz 2>&1 | tail -1
$A48_BIN tokenize --no-progress -o data-cache/docs-valid.tok data-cache/corpus/valid.txt.xz 2>&1 | tail -1
if [ "${CHECKS:-1}" = 1 ]; then
  timeout 120 scripts/gpu/train_driver_checks.sh
  PYTHONUNBUFFERED=1 timeout 150 python3 tools/torch_train_bench.py --config configs/docs-25m.json \
    --scheme a4.8 --steps 20 --json "$OUT/torch_bench_a4.8.json" 2>&1 | grep -E "tokens/s|Error"
  # a48's own throughput on the same model, alone on the GPU, for the comparison.
  $A48_BIN train -c configs/docs-25m.json -o runs/speed --total-tokens 4000000 2>&1 |
    grep -E "^step" | tail -2 | tee "$OUT/a48_speed.txt"
fi
scripts/gpu/train_experiments.sh
status=$?
# At most 8 files come back: everything but the model goes into one tar.
(cd "$OUT" && tar -cf results.tar --exclude results.tar --exclude a48_model.tar ./* &&
  find . -mindepth 1 -not -name results.tar -not -name a48_model.tar -delete)
exit $status
