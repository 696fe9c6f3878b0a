#!/usr/bin/env bash
# One device call: the a48 CLI on CUDA (--device cuda) end to end: generate, perplexity and score
# agree with the CPU engine on the embedded default model, and `a48 bench` on the 2B4T shape beside
# the CPU-side numbers. Carry build/gpu-run (a48 + the shared libraries the device lacks).
set -uo pipefail
export LD_LIBRARY_PATH="$PWD/build/gpu-run:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
A48=build/gpu-run/a48
export A48_MODEL="$PWD/models/default"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/device.txt"
head -c 60000 README.md docs/ARCHITECTURE.md docs/FORMATS.md > "$OUT/text.txt"
for device in cpu cuda; do
  $A48 generate --device $device -p "The scheduler" -n 32 --temp 0 > "$OUT/generate_$device.txt" 2> "$OUT/generate_$device.err"
  $A48 perplexity --device $device -f "$OUT/text.txt" --max-tokens 4000 --json > "$OUT/ppl_$device.json" 2>/dev/null
  $A48 perplexity --device $device --head int8 -f "$OUT/text.txt" --max-tokens 4000 --json > "$OUT/ppl_${device}_int8.json" 2>/dev/null
done
cmp "$OUT/generate_cpu.txt" "$OUT/generate_cuda.txt" && echo "greedy generations identical" | tee "$OUT/compare.txt"
timeout 400 $A48 bench --device cuda --shape 2b4t -p 512 -n 128 -r 3 --head int8 --scheme a4.8,b1.58 \
  --json "$OUT/bench_cuda_2b4t.json" > "$OUT/bench_cuda_2b4t.md" 2> "$OUT/bench_cuda_2b4t.err"
cat "$OUT/bench_cuda_2b4t.md"
(cd "$OUT" && tar -cf results.tar --exclude results.tar ./* && find . -mindepth 1 -not -name results.tar -delete)
