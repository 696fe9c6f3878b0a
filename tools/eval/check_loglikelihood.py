#!/usr/bin/env python3
"""Checks that lm-evaluation-harness's log-likelihoods through `a48 serve` equal `a48 score`'s.

For a few (context, continuation) items of LAMBADA and ARC-Easy, runs the harness's own
local-completions model (the code path `lm_eval --model local-completions` takes) against the
server, then scores the same token ids with `a48 score --ids` and compares the continuation's
summed log-probability and greedy flag. Exits non-zero on any mismatch.

    python3 tools/eval/check_loglikelihood.py --items 8
"""
import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from a48_server import REPO, A48Server, default_binary, hf_tokenizer_dir  # noqa: E402
from eval_data import CACHE, SHARED_EVAL  # noqa: E402


def items(n: int):
    out = []
    with open(SHARED_EVAL / "llmfoundry.lambada_openai.jsonl") as f:
        for line, _ in zip(f, range(n)):
            doc = json.loads(line)
            out.append((doc["context"], " " + doc["continuation"]))
    with open(SHARED_EVAL / "llmfoundry.arc_easy.jsonl") as f:
        for line, _ in zip(f, range(n)):
            doc = json.loads(line)
            out.append((doc["query"] + "\nAnswer:", " " + doc["choices"][doc["gold"]]))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--a48", help="a48 binary (default: build/release/bin/a48)")
    parser.add_argument("-m", "--model", help="model directory (default: the embedded default model)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--items", type=int, default=5, help="items per data set")
    args = parser.parse_args()

    from lm_eval.api.instance import Instance
    from lm_eval.models.openai_completions import LocalCompletionsAPI

    binary = Path(args.a48) if args.a48 else default_binary()
    model_dir = Path(args.model) if args.model else REPO / "models" / "default"
    tokenizer_dir = hf_tokenizer_dir(model_dir, CACHE / "hf-tokenizer")
    context = json.loads((model_dir / "config.json").read_text())["max_position_embeddings"]
    model_flags = ["--device", args.device] + (["-m", str(model_dir)] if args.model else [])
    pairs = items(args.items)

    with A48Server(binary, model_flags) as server:
        lm = LocalCompletionsAPI(model="a48", base_url=server.url + "/v1/completions",
                                 tokenizer_backend="huggingface", tokenizer=str(tokenizer_dir),
                                 tokenized_requests=True, max_length=context, num_concurrent=2)
        requests = [Instance(request_type="loglikelihood", doc={}, arguments=pair, idx=0) for pair in pairs]
        harness = lm.loglikelihood(requests)

    worst = 0.0
    failures = 0
    print("| item | tokens | harness logprob | a48 score logprob | greedy (harness/score) |")
    print("|---|---|---|---|---|")
    for i, ((ctx, cont), (logprob, is_greedy)) in enumerate(zip(pairs, harness)):
        ctx_ids, cont_ids = lm._encode_pair(ctx, cont)
        ids = (ctx_ids + cont_ids)[-lm.max_length:]  # as the harness truncates
        scored = subprocess.run([str(binary), "score", *model_flags, "--ids", ",".join(map(str, ids))],
                                check=True, capture_output=True, text=True)
        tokens = json.loads(scored.stdout)["tokens"]
        tail = tokens[len(ids) - len(cont_ids):]
        score_logprob = sum(t["logprob"] for t in tail)
        score_greedy = all(t["greedy"] for t in tail)
        diff = abs(score_logprob - logprob)
        worst = max(worst, diff)
        ok = diff <= 1e-9 * max(1.0, abs(logprob)) and score_greedy == is_greedy
        failures += not ok
        print(f"| {i} | {len(ids)} | {logprob:.10f} | {score_logprob:.10f} | {is_greedy}/{score_greedy}"
              f"{'' if ok else '  MISMATCH'} |")
    print(f"\n{len(pairs)} items, largest |harness - score| = {worst:.3g}, mismatches: {failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
