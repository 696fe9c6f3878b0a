"""Local evaluation data for the harness tasks in tools/eval/tasks: the llm-foundry JSONL files of
../shared/data/eval are read as they are; HellaSwag's llama.cpp text format (context line, gold
index, four endings) becomes JSONL {query, choices, gold} under data-cache/eval/."""
import bz2
import json
from pathlib import Path

from a48_server import REPO

SHARED_EVAL = REPO.parent / "shared" / "data" / "eval"
CACHE = REPO / "data-cache" / "eval"


def prepare_hellaswag() -> Path:
    out = CACHE / "hellaswag.jsonl"
    if out.exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    with bz2.open(SHARED_EVAL / "hellaswag_val_full.txt.bz2", "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    items = []
    for i in range(0, len(lines) - 5, 6):
        items.append({"query": lines[i], "gold": int(lines[i + 1]), "choices": lines[i + 2:i + 6]})
    tmp = out.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for item in items:
            f.write(json.dumps(item, ensure_ascii=False) + "\n")
    tmp.rename(out)
    return out
