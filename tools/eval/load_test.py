#!/usr/bin/env python3
"""Load test for `a48 serve`: concurrent streaming clients on loopback, bounded in request count
and wall time, reporting throughput and latency percentiles per concurrency level.

    python3 tools/eval/load_test.py                          # starts the default model's server
    python3 tools/eval/load_test.py --url http://127.0.0.1:8080 --clients 1,4,8

Each request streams a completion of --max-tokens tokens (ignore_eos, so every one has the same
length) after a prompt cut from ../shared/data/small-corpora; latency is the whole request, TTFT
the time to the first streamed token.
"""
import argparse
import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from a48_server import REPO, A48Server  # noqa: E402

CORPUS = REPO.parent / "shared" / "data" / "small-corpora" / "frankenstein.txt"


def prompts(n: int, chars: int):
    text = CORPUS.read_text(encoding="utf-8", errors="replace") if CORPUS.exists() else "The scheduler " * 2000
    step = max(1, (len(text) - chars) // max(n, 1))
    return [text[i * step:i * step + chars] for i in range(n)]


def one_request(host, port, prompt, max_tokens, timeout):
    """(latency_s, ttft_s, generated_tokens, ok)"""
    body = json.dumps({"prompt": prompt, "max_tokens": max_tokens, "temperature": 0.8, "seed": 1,
                       "ignore_eos": True, "stream": True,
                       "stream_options": {"include_usage": True}})
    start = time.perf_counter()
    ttft = None
    tokens = 0
    try:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        if response.status != 200:
            response.read()
            return time.perf_counter() - start, None, 0, False
        for raw in response:
            line = raw.decode("utf-8", "replace").strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            elif ttft is None and any(c.get("text") for c in chunk.get("choices", [])):
                ttft = time.perf_counter() - start
        conn.close()
    except OSError:
        return time.perf_counter() - start, ttft, tokens, False
    return time.perf_counter() - start, ttft, tokens, True


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def run_level(host, port, clients, requests, max_tokens, prompt_list, time_limit):
    lock = threading.Lock()
    next_index = [0]
    results = []
    deadline = time.perf_counter() + time_limit

    def worker():
        while True:
            with lock:
                if next_index[0] >= requests or time.perf_counter() > deadline:
                    return
                i = next_index[0]
                next_index[0] += 1
            result = one_request(host, port, prompt_list[i % len(prompt_list)], max_tokens, time_limit)
            with lock:
                results.append(result)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    ok = [r for r in results if r[3]]
    latencies = [r[0] for r in ok]
    ttfts = [r[1] for r in ok if r[1] is not None]
    tokens = sum(r[2] for r in ok)
    return {"clients": clients, "requests": len(results), "failed": len(results) - len(ok),
            "wall_s": wall, "req_per_s": len(ok) / wall, "tokens_per_s": tokens / wall,
            "p50_s": percentile(latencies, 50), "p99_s": percentile(latencies, 99),
            "ttft_p50_s": percentile(ttfts, 50), "ttft_p99_s": percentile(ttfts, 99)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running server (loopback only); default: start one")
    parser.add_argument("--a48", help="a48 binary when starting a server")
    parser.add_argument("--serve-args", default="--device cpu", help="flags for the started server")
    parser.add_argument("--clients", default="1,4,8,16", help="concurrency levels")
    parser.add_argument("--requests", type=int, default=32, help="requests per level (max 1000)")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--prompt-chars", type=int, default=400)
    parser.add_argument("--time-limit", type=float, default=120, help="seconds per level (max 600)")
    args = parser.parse_args()
    args.requests = min(args.requests, 1000)
    args.time_limit = min(args.time_limit, 600)
    levels = [int(c) for c in args.clients.split(",")]
    if max(levels) > 64:
        parser.error("at most 64 clients")
    prompt_list = prompts(max(args.requests, 1), args.prompt_chars)

    def run_all(url):
        parsed = urllib.parse.urlparse(url)
        if parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
            sys.exit("load_test.py only targets loopback servers")
        one_request(parsed.hostname, parsed.port, prompt_list[0], 4, 60)  # warm-up
        return [run_level(parsed.hostname, parsed.port, c, args.requests, args.max_tokens,
                          prompt_list, args.time_limit) for c in levels]

    if args.url:
        rows = run_all(args.url)
        metrics = None
    else:
        with A48Server(args.a48, args.serve_args.split()) as server:
            print("serve:", " ".join(server.command), flush=True)
            rows = run_all(server.url)
            metrics = server.metrics()
        if server.exit_code != 0:
            print(f"a48 serve exited with {server.exit_code}", file=sys.stderr)
            return 1
    print(f"\n{args.max_tokens} generated tokens per request, prompts of {args.prompt_chars} characters\n")
    print("| clients | requests | failed | wall s | req/s | gen tokens/s | p50 latency s | p99 latency s |"
          " p50 TTFT s | p99 TTFT s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['clients']} | {r['requests']} | {r['failed']} | {r['wall_s']:.1f} | {r['req_per_s']:.2f} |"
              f" {r['tokens_per_s']:.0f} | {r['p50_s']:.2f} | {r['p99_s']:.2f} | {r['ttft_p50_s']:.2f} |"
              f" {r['ttft_p99_s']:.2f} |")
    if metrics:
        calls = metrics.get("a48_forward_calls_total", 0)
        print(f"\nserver: {calls:.0f} forward calls, {metrics.get('a48_forward_sequences_total', 0) / max(calls, 1):.2f}"
              f" sequences and {metrics.get('a48_forward_tokens_total', 0) / max(calls, 1):.1f} tokens per call")
    return 1 if any(r["failed"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
