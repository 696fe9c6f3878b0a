#!/usr/bin/env bash
# On the device: end-to-end checks of `a48 train` (carry data-cache/corpus).
#  1. resume: a run killed with SIGKILL mid-way and resumed from its last checkpoint gives the same
#     per-step losses as an uninterrupted run (bit-identical);
#  2. data parallel: 2 processes sharing the GPU (NCCL, ZeRO-1) with half the micro-batch each
#     follow the 1-process loss curve at the same global batch (tolerance in the report).
# Uses $A48_BIN (default build/gpu/bin/a48, built by the caller) and writes its report to $OUT.
set -uo pipefail
a48=${A48_BIN:-build/gpu/bin/a48}
export LD_LIBRARY_PATH="${A48_LIB_DIR:+$PWD/$A48_LIB_DIR:}/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
mkdir -p data-cache checks
[ -f data-cache/docs-valid.tok ] || $a48 tokenize --no-progress -o data-cache/docs-valid.tok data-cache/corpus/valid.txt.xz
python3 - <<'PY'
import json
c = json.load(open("configs/docs-25m.json"))
m = c["model"]
m.update(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
         intermediate_size=352, max_position_embeddings=128)
c.update(train_shard="data-cache/docs-valid.tok", valid_shard="data-cache/docs-valid.tok",
         seq_len=128, micro_batch=8, total_tokens=128 * 8 * 80, warmup_steps=10,
         eval_every=40, eval_tokens=4096, checkpoint_every=10, keep_last=3, log_every=1)
json.dump(c, open("checks/tiny.json", "w"), indent=1)
c2 = dict(c, micro_batch=4)
json.dump(c2, open("checks/tiny-half.json", "w"), indent=1)
PY
$a48 train -c checks/tiny.json -o checks/full 2>checks/full.log || { tail checks/full.log; exit 1; }
# Killed mid-run (after at least one checkpoint), then resumed.
$a48 train -c checks/tiny.json -o checks/killed 2>checks/killed.log &
pid=$!
for i in $(seq 1 600); do
  n=$(ls checks/killed/checkpoints 2>/dev/null | grep -c safetensors)
  [ "$n" -ge 2 ] && break
  sleep 0.05
done
kill -9 $pid; wait $pid 2>/dev/null
echo "killed after $(wc -l < checks/killed/metrics.jsonl) metric lines"
$a48 train -c checks/tiny.json -o checks/killed --resume 2>checks/resumed.log || { tail checks/resumed.log; exit 1; }
# 2 ranks, each half the micro-batch: same global batch as checks/full. NCCL refuses two ranks
# of one communicator on the same GPU ("invalid usage"), so this needs 2 GPUs.
n_gpus=$(nvidia-smi -L | wc -l)
if [ "$n_gpus" -ge 2 ]; then
  NCCL_NVLS_ENABLE=0 $a48 train -c checks/tiny-half.json -o checks/dp2 --gpus 2 2>checks/dp2.log ||
    tail -20 checks/dp2.log
else
  echo "data-parallel check skipped: $n_gpus GPU(s) visible, NCCL needs one GPU per rank"
fi
python3 - <<'PY' | tee "$OUT/train_driver_checks.txt"
import json
def losses(path):
    return {r["step"]: r["loss"] for r in map(json.loads, open(path)) if "loss" in r}
import os
full, resumed = (losses(f"checks/{n}/metrics.jsonl") for n in ("full", "killed"))
same = all(full[s] == resumed.get(s) for s in full)
print(f"resume after SIGKILL: {len(resumed)} steps, bit-identical losses to the uninterrupted run: {same}")
if not same:
    bad = [s for s in full if full[s] != resumed.get(s)][:5]
    print("  first differing steps:", [(s, full[s], resumed.get(s)) for s in bad])
if os.path.exists("checks/dp2/metrics.jsonl"):
  dp2 = losses("checks/dp2/metrics.jsonl")
  diff = max(abs(full[s] - dp2[s]) / abs(full[s]) for s in full)
  print(f"2 processes (NCCL, ZeRO-1) vs 1 at global batch {8*128} tokens: {len(dp2)} steps, "
      f"max relative loss difference {diff:.2e}; final {full[max(full)]:.4f} vs {dp2[max(dp2)]:.4f}")
PY
cp checks/*.log "$OUT/" 2>/dev/null; true
