#!/usr/bin/env python3
"""Train a48's default byte-level BPE vocabulary (8,192 tokens) with HF `tokenizers`.

Sized for small models: the embedding and LM head stay small next to the ternary layers.
GPT-2 style: ByteLevel pre-tokenizer with the GPT-2 regex, no normalizer, ByteLevel decoder, all
256 byte symbols in the initial alphabet (so every input encodes), and one special token
`<|endoftext|>` (the document separator, id 0), which a48 uses as both bos and eos.

Input: ../shared/data/docs-corpus/train.txt.xz (documents separated by lines `<|endoftext|>`).
Output: models/tokenizer/tokenizer.json. Deterministic: fixed settings and input order; the sha256
of the output is printed so that a re-run can be compared.

    pip install tokenizers && python3 tools/train_tokenizer.py
"""
import argparse
import hashlib
import lzma
import pathlib
import sys

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

REPO = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "data" / "docs-corpus" / "train.txt.xz"
DEFAULT_OUTPUT = REPO / "models" / "tokenizer" / "tokenizer.json"
SEPARATOR = "<|endoftext|>"
VOCAB_SIZE = 8192


def read_documents(path: pathlib.Path) -> list[str]:
    opener = lzma.open if path.suffix == ".xz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as f:
        text = f.read()
    documents, current = [], []
    for line in text.split("\n"):
        if line == SEPARATOR:
            documents.append("\n".join(current))
            current = []
        else:
            current.append(line)
    if current:
        documents.append("\n".join(current))
    return [d for d in documents if d.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=pathlib.Path, default=DEFAULT_CORPUS)
    parser.add_argument("--output", type=pathlib.Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()

    documents = read_documents(args.corpus)
    print(f"{len(documents)} documents, {sum(len(d) for d in documents)} characters", file=sys.stderr)

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=[SEPARATOR],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(documents, trainer=trainer, length=len(documents))
    assert tokenizer.token_to_id(SEPARATOR) == 0
    assert tokenizer.get_vocab_size() == VOCAB_SIZE, tokenizer.get_vocab_size()

    args.output.parent.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(args.output), pretty=False)
    data = args.output.read_bytes()
    print(f"wrote {args.output} ({len(data)} bytes)")
    print(f"sha256 {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
