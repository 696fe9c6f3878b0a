#!/usr/bin/env bash
# Device-machine job (torch + transformers there, no network): runs tools/make_hf_golden.py and
# returns the golden folder as $OUT/golden.tar, with the log, summary.json and the HF sources the
# data came from (hf_sources.txt). Unpack here with:
#   tar -C tests/golden -xf <files_at>/golden.tar
set -uo pipefail
cd "$(dirname "$0")/../.."
: "${OUT:?OUT must name the folder whose files come back}"
export PYTHONUNBUFFERED=1
work=$(mktemp -d)
python3 -m pip list 2>/dev/null | grep -i -E '^(torch|transformers|safetensors|numpy|accelerate) ' || true
python3 tools/make_hf_golden.py --out "$work/bitnet_tiny" --sources-out "$OUT" 2>&1 | tee "$OUT/hf_golden.log"
rc=${PIPESTATUS[0]}
if [ -d "$work/bitnet_tiny" ]; then
  tar -C "$work" -cf "$OUT/golden.tar" bitnet_tiny
  du -ab "$work/bitnet_tiny"
fi
exit "$rc"
