#!/usr/bin/env bash
# One device call: the table of issue 5, decode tokens/s at batch 1, 8, 64 and prefill tokens/s at
# 512 and 2048 tokens for the 2B4T shape and the 7B shape of Table 6 (random ternary weights), for
# a4.8 and b1.58 (`a48 bench --device cuda`, int8 head) beside the bf16 baseline measured in the
# same run (a48_bench_cuda_bf16: cuBLAS GEMMs of the linear layers and the head only, which
# flatters bf16). Writes JSON + markdown per program and shape and the merged table
# (tools/bench/merge_cuda_bench.py) in table.md, all tarred into results.tar (a call brings back
# at most 8 files).
#
# Host side first (a Release build with CUDA; build/gpu-run holds the binaries and the shared
# libraries the device lacks):
#   cmake --preset cuda -B build/helper-bench-cuda && ninja -C build/helper-bench-cuda -j2 a48 a48_bench_cuda_bf16
#   mkdir -p build/gpu-run && cp build/helper-bench-cuda/bin/a48 build/helper-bench-cuda/bin/a48_bench_cuda_bf16 \
#     /lib/x86_64-linux-gnu/{libfmt.so.9,libcrypto.so.3,libssl.so.3,libcpp-httplib.so.0.11,libbrotlicommon.so.1,libbrotlidec.so.1,libbrotlienc.so.1,liblzma.so.5,libpcre2-8.so.0} \
#     build/gpu-run/
# then run `scripts/gpu/infer_bench_matrix.sh` on the device carrying build/gpu-run, and on the
# host: tar -xf <files_at>/results.tar -C <dir> && python3 tools/bench/merge_cuda_bench.py <dir>.
#
# Time: every step has a `timeout`, together 520 s at most (the per-call limit is 600 s). The 7B
# model's ~6.5 G ternary codes are drawn on one core (~10-20 s) and packed once per scheme.
set -uo pipefail
RUN_DIR=${RUN_DIR:-build/gpu-run}
export LD_LIBRARY_PATH="$PWD/$RUN_DIR:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
A48=$RUN_DIR/a48
BF16=$RUN_DIR/a48_bench_cuda_bf16
BATCHES=${BATCHES:-1,8,64}
PROMPTS=${PROMPTS:-512,2048}
N_GEN=${N_GEN:-64}
REPS=${REPS:-3}
SHAPES=${SHAPES:-2b4t 7b}
T0=$SECONDS
log() { echo "[$((SECONDS - T0)) s] $*" | tee -a "$OUT/log.txt"; }

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$OUT/log.txt"
nproc >> "$OUT/log.txt"
for shape in $SHAPES; do
  log "bf16 baseline $shape"
  timeout 45 "$BF16" --shape "$shape" -b "$BATCHES" -p "$PROMPTS" --json "$OUT/bf16_$shape.json" \
    > "$OUT/bf16_$shape.md" 2> "$OUT/bf16_$shape.err"
  log "bf16 baseline $shape: exit $?"
done
for shape in $SHAPES; do
  case $shape in 7b) limit=280 ;; *) limit=150 ;; esac
  log "a48 bench $shape (timeout $limit s)"
  timeout "$limit" "$A48" bench --device cuda --shape "$shape" --scheme a4.8,b1.58 --head int8 \
    -b "$BATCHES" -n "$N_GEN" -p "$PROMPTS" -r "$REPS" --json "$OUT/a48_$shape.json" \
    > "$OUT/a48_$shape.md" 2> "$OUT/a48_$shape.err"
  log "a48 bench $shape: exit $? (124: timed out; the rows printed so far are in a48_$shape.md)"
done
if command -v python3 > /dev/null; then
  python3 tools/bench/merge_cuda_bench.py "$OUT"/*.json > "$OUT/table.md" 2>> "$OUT/log.txt"
  cat "$OUT/table.md"
fi
cat "$OUT"/bf16_*.md "$OUT"/a48_*.md "$OUT/log.txt"
(cd "$OUT" && tar -cf results.tar --exclude results.tar ./* && find . -mindepth 1 -not -name results.tar -delete)
