#!/usr/bin/env python3
"""Side-by-side table of the CUDA inference benchmarks: a48 against its bf16 baseline.

Reads the JSON files that `a48 bench --json` (records with shape, scheme, kind "pp"/"tg",
n_tokens, batch, tokens_per_second) and `a48_bench_cuda_bf16 --json` (the same keys, scheme
"bf16") write, e.g. the files of one scripts/gpu/infer_bench_matrix.sh run, and prints a markdown
table: one row per shape x scheme (x head precision), one column per decode batch and prefill
length, tokens/s with the ratio to the bf16 baseline of the same shape and column:

    python3 tools/bench/merge_cuda_bench.py results/*.json
    python3 tools/bench/merge_cuda_bench.py results/          # every *.json in the folder

The bf16 baseline times the linear layers and the head only (no attention, norms or embedding),
so the ratios understate a48 against a complete bf16 engine. Standard library only.
"""
import argparse
import json
import pathlib
import sys


def read_records(paths: list[str]) -> list[dict]:
    records = []
    for name in paths:
        path = pathlib.Path(name)
        if not path.exists():
            raise SystemExit(f"merge_cuda_bench: {name} does not exist")
        files = sorted(path.glob("*.json")) if path.is_dir() else [path]
        for f in files:
            data = json.loads(f.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                data = [data]
            for rec in data:
                if isinstance(rec, dict) and "tokens_per_second" in rec and "kind" in rec:
                    rec = dict(rec)
                    rec["_file"] = str(f)
                    records.append(rec)
    return records


def column_of(rec: dict) -> tuple:
    """("tg", batch) for decode, ("pp", prompt length) for prefill."""
    if rec["kind"] == "tg":
        return ("tg", int(rec.get("batch", 1)))
    return ("pp", int(rec["n_tokens"]))


def column_title(column: tuple) -> str:
    kind, n = column
    return f"decode b{n} tok/s" if kind == "tg" else f"prefill {n} tok/s"


def row_of(rec: dict) -> tuple:
    shape = rec.get("shape") or rec.get("model", "?")
    scheme = rec["scheme"]
    if scheme == "bf16":
        return (shape, "bf16", "")
    details = []
    if rec.get("attention_bits"):
        details.append(f"attention {rec['attention_bits']}")
    if rec.get("head"):
        details.append(f"head {rec['head']}")
    label = scheme + (f" ({', '.join(details)})" if details else "")
    return (shape, scheme, label)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="+", help="JSON files or folders of them")
    args = parser.parse_args()
    records = read_records(args.inputs)
    if not records:
        print("no benchmark records found in " + " ".join(args.inputs), file=sys.stderr)
        return 1

    cells: dict[tuple, dict[tuple, dict]] = {}
    for rec in records:
        row, column = row_of(rec), column_of(rec)
        previous = cells.setdefault(row, {}).get(column)
        if previous is not None:
            print(f"note: {row[0]} {row[2] or row[1]} {column_title(column)}: "
                  f"{rec['_file']} replaces {previous['_file']}", file=sys.stderr)
        cells[row][column] = rec

    columns = sorted({c for row in cells.values() for c in row},
                     key=lambda c: (0 if c[0] == "tg" else 1, c[1]))
    shapes = sorted({row[0] for row in cells})
    # bf16 last within a shape, schemes in a fixed order otherwise.
    order = {"a4.8": 0, "b1.58": 1, "fp": 2, "bf16": 9}
    rows = sorted(cells, key=lambda r: (shapes.index(r[0]), order.get(r[1], 5), r[2]))

    print("| shape | scheme | " + " | ".join(column_title(c) for c in columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for row in rows:
        baseline = cells.get((row[0], "bf16", ""), {})
        out = []
        for column in columns:
            rec = cells[row].get(column)
            if rec is None:
                out.append("-")
                continue
            tps = float(rec["tokens_per_second"])
            text = f"{tps:,.0f}"
            base = baseline.get(column)
            if row[1] != "bf16" and base is not None and float(base["tokens_per_second"]) > 0:
                text += f" ({tps / float(base['tokens_per_second']):.2f}x)"
            out.append(text)
        label = row[2] or row[1]
        if row[1] == "bf16":
            label = "bf16 baseline (linear layers + head only)"
        print(f"| {row[0]} | {label} | " + " | ".join(out) + " |")
    devices = sorted({r["device"] for r in records if r.get("device")})
    if devices:
        print("\nbf16 device: " + "; ".join(devices))
    print("(x): tokens/s against the bf16 baseline of the same shape and column, measured in the same run; "
          "the baseline counts cuBLAS GEMMs of the linear layers and the head only, which flatters bf16.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
