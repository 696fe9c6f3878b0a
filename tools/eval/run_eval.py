#!/usr/bin/env python3
"""Runs lm-evaluation-harness (`lm_eval --model local-completions`) against `a48 serve` on local
data only (tasks in tools/eval/tasks over ../shared/data/eval), and prints a markdown table.

    python3 tools/eval/run_eval.py --limit 200                      # the embedded default model
    python3 tools/eval/run_eval.py -m models/mine --device cpu --limit 500 --tasks a48_piqa

The harness tokenizes with the model's own tokenizer.json (through transformers) and sends token
ids, so its context/continuation split is exact. max_length is the model's context: the harness
(0.4.10+) keeps one position free for the token its `max_tokens: 1` loglikelihood requests make.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from a48_server import REPO, A48Server, hf_tokenizer_dir  # noqa: E402
from eval_data import CACHE, prepare_hellaswag  # noqa: E402

ALL_TASKS = ["a48_arc_easy", "a48_arc_challenge", "a48_hellaswag", "a48_piqa", "a48_winogrande",
             "a48_lambada_openai"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--a48", help="a48 binary (default: build/release/bin/a48)")
    parser.add_argument("-m", "--model", help="model directory (default: the embedded default model)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--tasks", default=",".join(ALL_TASKS))
    parser.add_argument("--limit", type=int, default=200, help="items per task (0: all)")
    parser.add_argument("--num-concurrent", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=4, help="prompts per HTTP request")
    parser.add_argument("--output", default=str(REPO / "out" / "eval"))
    args = parser.parse_args()

    model_dir = Path(args.model) if args.model else REPO / "models" / "default"
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    prepare_hellaswag()
    tokenizer_dir = hf_tokenizer_dir(model_dir, CACHE / "hf-tokenizer")
    context = json.loads((model_dir / "config.json").read_text())["max_position_embeddings"]

    serve_args = ["--device", args.device, "--threads", str(args.threads), "--model-name", "a48"]
    if args.model:
        serve_args += ["-m", str(model_dir)]
    with A48Server(args.a48, serve_args, log_path=out / "serve.log") as server:
        model_args = ",".join([
            "model=a48",
            f"base_url={server.url}/v1/completions",
            "tokenizer_backend=huggingface",
            f"tokenizer={tokenizer_dir}",
            "tokenized_requests=True",
            f"max_length={context}",
            f"num_concurrent={args.num_concurrent}",
            "max_retries=3",
            "timeout=600",
        ])
        command = [sys.executable, "-m", "lm_eval", "--model", "local-completions",
                   "--model_args", model_args, "--tasks", args.tasks,
                   "--include_path", str(REPO / "tools" / "eval" / "tasks"),
                   "--batch_size", str(args.batch_size), "--output_path", str(out / "results")]
        if args.limit:
            command += ["--limit", str(args.limit)]
        print("serve:", " ".join(server.command), flush=True)
        print("harness:", " ".join(command), flush=True)
        env = dict(os.environ, HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        start = time.time()
        result = subprocess.run(command, cwd=REPO, env=env)
        elapsed = time.time() - start
        metrics = server.metrics()
    print(f"a48 serve exited with {server.exit_code}")
    if result.returncode != 0:
        print(f"lm_eval failed with exit code {result.returncode}", file=sys.stderr)
        return result.returncode
    if server.exit_code != 0:
        return 1

    files = sorted((out / "results").rglob("results_*.json"), key=lambda p: p.stat().st_mtime)
    results = json.loads(files[-1].read_text())
    print(f"\nharness wall time {elapsed:.0f} s; server: {metrics.get('a48_prompt_tokens_total', 0):.0f} "
          f"prompt tokens, {metrics.get('a48_forward_calls_total', 0):.0f} forward calls, "
          f"{metrics.get('a48_forward_seconds_total', 0):.0f} s in forward\n")
    print("| task | items | metric | value | stderr |")
    print("|---|---|---|---|---|")
    for task in args.tasks.split(","):
        row = results["results"].get(task, {})
        n = results.get("n-samples", {}).get(task, {}).get("effective", "?")
        for key, value in row.items():
            if key.endswith(",none") and "stderr" not in key:
                name = key.split(",")[0]
                stderr = row.get(f"{name}_stderr,none", float("nan"))
                print(f"| {task.removeprefix('a48_')} | {n} | {name} | {value:.4f} | {stderr:.4f} |")
    (out / "summary.json").write_text(json.dumps({"results": results["results"], "wall_s": elapsed,
                                                  "server_metrics": metrics}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
