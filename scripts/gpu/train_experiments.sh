#!/usr/bin/env bash
# On the device (carry data-cache/corpus: the docs corpus .xz files): builds a48 with CUDA,
# tokenizes the corpus, trains the runs named in $RUNS concurrently on the one GPU (each
# "name:config:scheme"), exports each final model, and leaves metrics and models in $OUT.
#   RUNS="fp:configs/docs-25m-fp.json:fp b158:configs/docs-25m.json:b1.58 a48:configs/docs-25m.json:a4.8"
#   TOKENS=... overrides total_tokens for every run.
# The device image lacks a48's build dependencies (pcre2): pass a binary built here with the same
# CUDA and the folder of the libraries it needs (A48_BIN=build/gpu-run/a48 A48_LIB_DIR=build/gpu-run),
# else it builds from source.
set -euo pipefail
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
a48=${A48_BIN:-}
if [ -z "$a48" ]; then
  cmake -S . -B build/gpu -G Ninja -DA48_CUDA=ON -DA48_BUILD_TESTS=OFF -DA48_BUILD_BENCH=OFF >/dev/null
  ninja -C build/gpu a48 >/dev/null
  a48=build/gpu/bin/a48
fi
export LD_LIBRARY_PATH="${A48_LIB_DIR:+$PWD/$A48_LIB_DIR:}/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
mkdir -p data-cache
[ -f data-cache/docs-train.tok ] || $a48 tokenize --no-progress -o data-cache/docs-train.tok data-cache/corpus/train.txt.xz
[ -f data-cache/docs-valid.tok ] || $a48 tokenize --no-progress -o data-cache/docs-valid.tok data-cache/corpus/valid.txt.xz

pids=()
for run in $RUNS; do
  IFS=: read -r name config scheme <<<"$run"
  extra=()
  [ -n "${TOKENS:-}" ] && extra+=(--total-tokens "$TOKENS")
  $a48 train -c "$config" -o "runs/$name" --scheme "$scheme" "${extra[@]}" >"runs-$name.log" 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done

mkdir -p "$OUT/runs"
for run in $RUNS; do
  IFS=: read -r name config scheme <<<"$run"
  cp "runs-$name.log" "$OUT/runs/$name.log" || true
  cp "runs/$name/metrics.jsonl" "$OUT/runs/$name.metrics.jsonl" || true
  ckpt=$(ls runs/$name/checkpoints/*.safetensors 2>/dev/null | tail -1)
  if [ -n "$ckpt" ]; then
    $a48 export -c "$ckpt" -o "export/$name" --tokenizer models/tokenizer/tokenizer.json || true
  fi
  tail -3 "runs-$name.log"
done
# The model to ship (the a4.8 run when present) travels back packed, with its tokenizer.
if [ -d export/a48 ]; then tar -C export -cf "$OUT/a48_model.tar" a48; fi
exit $status
