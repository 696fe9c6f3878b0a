#!/usr/bin/env bash
# Device job: where the persistent decode kernel (src/cuda/infer/decode_layers.cu) spends its time.
# `a48 bench` decode with the phase stamps (A48_CUDA_PHASE_TIMES=1), then Nsight Compute on one
# launch of the kernel: speed of light, occupancy, warp stall reasons and the source lines that
# stall most. Carry build/gpu-run (see decode_compare.sh).
set -uo pipefail
cd "$(dirname "$0")/../.."
: "${OUT:?OUT must name the folder whose files come back}"
exec > >(tee -a "$OUT/decode_profile.log") 2>&1
run_dir=${RUN_DIR:-build/gpu-run}
export LD_LIBRARY_PATH="$PWD/$run_dir:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
bench=("$run_dir/a48" bench --device cuda --shape 2b4t -p 0 -n 64 -r 2 --head int8 --scheme a4.8)
A48_CUDA_PHASE_TIMES=1 timeout 120 "${bench[@]}" 2>&1 | grep -E "tg64|persistent decode kernel, us"
ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
echo "ncu: $ncu"
timeout 300 "$ncu" --kernel-name regex:decode_layers --launch-skip 3 --launch-count 1 \
  --section SpeedOfLight --section Occupancy --section WarpStateStats --section SchedulerStats \
  --section LaunchStats --section MemoryWorkloadAnalysis --import-source no --print-details all \
  "${bench[@]}" >"$OUT/ncu.txt" 2>&1
echo "ncu exit $?"
grep -E "Duration|Registers|Shared Memory Config|Achieved Occupancy|Theoretical Occupancy|Block Limit|Stall|Warp Cycles|Issued|Memory Throughput|DRAM Throughput|L2 Hit|Waves|Grid Size|No Eligible|Eligible" "$OUT/ncu.txt" | head -60
