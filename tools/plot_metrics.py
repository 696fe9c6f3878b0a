#!/usr/bin/env python3
"""Plot training curves from a48 metrics files (JSON Lines written by `a48 train`).

Each record is one JSON object with an integer "step"; training records carry "loss" (and "lr",
"tokens_per_s"), evaluation records "val_loss" / "val_ppl"; both carry "tokens" and "scheme".
The plot shows train loss (solid) and validation loss (dashed, dots) against tokens seen, one
colour per run, and a dotted vertical line where a run's activation scheme changes (the two-stage
recipe of BitNet a4.8, §2.2: W1.58A8 first, then 4-bit activations for the last tokens).

Several runs in one plot, e.g. the fp / b1.58 / a4.8 comparison:

    python3 tools/plot_metrics.py runs/fp/metrics.jsonl=fp runs/b158/metrics.jsonl=b1.58 \
        runs/a48/metrics.jsonl=a4.8 -o loss.png --smooth 20

Needs matplotlib (tools/requirements.txt).
"""
import argparse
import json
import math
import pathlib
import sys


def read_records(path: pathlib.Path) -> list[dict]:
    """The records of a metrics file; a torn last line (a crash mid-write) is skipped."""
    records = []
    lines = path.read_text(encoding="utf-8").split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            if number == len(lines):  # no newline after it: the write never finished
                break
            sys.exit(f"{path}:{number}: not valid JSON: {error}")
        if not isinstance(record, dict) or not isinstance(record.get("step"), int):
            sys.exit(f"{path}:{number}: a record must be an object with an integer \"step\"")
        records.append(record)
    return records


def x_of(record: dict) -> float:
    return record.get("tokens", record["step"])


def finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def moving_average(values: list[float], window: int) -> list[float]:
    if window <= 1:
        return values
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def scheme_switches(records: list[dict]) -> list[tuple[float, str, str]]:
    """(tokens, old scheme, new scheme) wherever the scheme differs from the previous record's."""
    switches, previous = [], None
    for record in sorted(records, key=lambda r: (r["step"], x_of(r))):
        scheme = record.get("scheme")
        if scheme is None:
            continue
        if previous is not None and scheme != previous:
            switches.append((x_of(record), previous, scheme))
        previous = scheme
    return switches


def parse_run(argument: str) -> tuple[pathlib.Path, str]:
    path, _, label = argument.partition("=")
    path = pathlib.Path(path)
    if not label:
        label = path.parent.name if path.stem == "metrics" and path.parent.name else path.stem
    return path, label


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="metrics.jsonl files, each optionally =LABEL")
    parser.add_argument("-o", "--out", default="loss.png", help="output PNG (default loss.png)")
    parser.add_argument("--smooth", type=int, default=1,
                        help="moving average over this many train records (default 1: none)")
    parser.add_argument("--title", default="Training and validation loss")
    parser.add_argument("--ymax", type=float, help="upper limit of the loss axis")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 5.5), dpi=120)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, argument in enumerate(args.runs):
        path, label = parse_run(argument)
        if not path.is_file():
            sys.exit(f"{path}: no such file")
        records = read_records(path)
        colour = colours[index % len(colours)]
        train = [(x_of(r), r["loss"]) for r in records if finite(r.get("loss"))]
        valid = [(x_of(r), r["val_loss"]) for r in records if finite(r.get("val_loss"))]
        train.sort()
        valid.sort()
        summary = [f"{label}: {len(train)} train, {len(valid)} validation records"]
        if train:
            xs, ys = zip(*train)
            axes.plot(xs, moving_average(list(ys), args.smooth), color=colour, linewidth=1.2,
                      label=f"{label} train")
            summary.append(f"last train loss {ys[-1]:.4f}")
        if valid:
            xs, ys = zip(*valid)
            axes.plot(xs, ys, color=colour, linestyle="--", marker="o", markersize=3,
                      label=f"{label} valid")
            summary.append(f"last valid loss {ys[-1]:.4f} (best {min(ys):.4f})")
        for tokens, old, new in scheme_switches(records):
            axes.axvline(tokens, color=colour, linestyle=":", linewidth=1)
            axes.annotate(f"{label}: {old} → {new}", xy=(tokens, 1),
                          xycoords=("data", "axes fraction"), xytext=(-3, -12 - 12 * index),
                          textcoords="offset points", color=colour, fontsize=8, ha="right")
            summary.append(f"{old} -> {new} at {tokens:,} tokens")
        print("; ".join(summary))

    axes.set_xlabel("tokens")
    axes.set_ylabel("loss (nats/token)")
    axes.set_title(args.title)
    if args.ymax is not None:
        axes.set_ylim(top=args.ymax)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
