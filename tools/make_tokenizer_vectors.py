#!/usr/bin/env python3
"""Make the tokenizer test vectors in tests/tokenizer/data with HF `tokenizers` (the reference).

For each tokenizer it encodes the strings of tests/tokenizer/data/strings.txt (one JSON string
literal per line) twice: with special tokens parsed (a48 parse_special=true) and with them treated
as text (HF `encode_special_tokens = True`, a48 parse_special=false), without bos/eos
(add_special_tokens=False), and writes <name>.expected.json.

Tokenizers:
  gpt2         built from ../shared/data/tokenizers/gpt2.encoder.json + gpt2.vocab.bpe, checked
               against llama.cpp's ggml-vocab-gpt-2 vectors, saved as data/gpt2.tokenizer.json.
  llama3       built from the LLaMA-3 tiktoken ranks file the way transformers' TikTokenConverter
               does (merges = every split of a token into two tokens, ordered by the token's rank),
               with the 256 LLaMA-3 special tokens; checked against llama.cpp's 46 llama-bpe
               vectors. Not saved (9 MB): a48 reads the tiktoken file itself.
  llama3_style a small vocabulary (1,000) trained on tinyshakespeare with LLaMA-3's pre-tokenizer
               layout (Split(Regex) + ByteLevel(use_regex=false), ignore_merges) and LLaMA-3's
               first special tokens, saved as data/llama3_style.tokenizer.json: it tests a48's
               tokenizer.json path for the LLaMA-3 layout without a 9 MB file.
  a48_8k       models/tokenizer/tokenizer.json (tools/train_tokenizer.py), a48's default.

    pip install tokenizers && python3 tools/make_tokenizer_vectors.py
"""
import base64
import hashlib
import json
import pathlib
import sys

import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

REPO = pathlib.Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
DATA = REPO / "tests" / "tokenizer" / "data"

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def llama3_special_tokens() -> list[str]:
    # As Meta's tokenizer.py (and microsoft/BitNet gpu/tokenizer.py): 10 named, then reserved 5..250.
    named = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
             "<|reserved_special_token_1|>", "<|reserved_special_token_2|>",
             "<|reserved_special_token_3|>", "<|start_header_id|>", "<|end_header_id|>",
             "<|reserved_special_token_4|>", "<|eot_id|>"]
    return named + [f"<|reserved_special_token_{i}|>" for i in range(5, 251)]


def bytes_to_unicode() -> dict[int, str]:
    # GPT-2's byte -> printable character map (the ByteLevel alphabet).
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def read_ggml_vectors(stem: str) -> list[tuple[str, list[int]]]:
    inp = (SHARED / "tokenizers" / f"{stem}.inp").read_text(encoding="utf-8")
    out = (SHARED / "tokenizers" / f"{stem}.out").read_text(encoding="utf-8")
    texts = inp.split("\n__ggml_vocab_test__\n")[:-1]
    ids = [[int(x) for x in line.split()] for line in out.split("\n")[: len(texts)]]
    assert len(texts) == len(ids), (len(texts), len(ids))
    return list(zip(texts, ids))


def check_ggml(tok: Tokenizer, stem: str) -> None:
    cases = read_ggml_vectors(stem)
    for text, want in cases:
        got = tok.encode(text, add_special_tokens=False).ids
        if got != want:
            sys.exit(f"{stem}: {text!r}: HF gives {got}, llama.cpp expects {want}")
    print(f"{stem}: {len(cases)} llama.cpp vectors agree")


def build_gpt2() -> Tokenizer:
    d = SHARED / "tokenizers"
    vocab = json.loads((d / "gpt2.encoder.json").read_text(encoding="utf-8"))
    lines = (d / "gpt2.vocab.bpe").read_text(encoding="utf-8").split("\n")
    merges = [tuple(line.split(" ")) for line in lines[1:] if line]  # line 0: "#version: 0.2"
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
    assert tok.token_to_id("<|endoftext|>") == 50256
    return tok


def build_llama3() -> Tokenizer:
    ranks: dict[bytes, int] = {}
    for line in (SHARED / "tokenizers" / "llama3.tiktoken.tokenizer.model").read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    byte_char = bytes_to_unicode()

    def text(b: bytes) -> str:
        return "".join(byte_char[x] for x in b)

    vocab = {text(b): r for b, r in ranks.items()}
    merges = []
    for token, rank in ranks.items():
        local = [(token[:i], token[i:], rank) for i in range(1, len(token))
                 if token[:i] in ranks and token[i:] in ranks]
        local.sort(key=lambda m: (ranks[m[0]], ranks[m[1]]))
        merges.extend(local)
    merges.sort(key=lambda m: m[2])
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[(text(a), text(b)) for a, b, _ in merges],
                               ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False)
                            for s in llama3_special_tokens()])
    assert tok.token_to_id("<|begin_of_text|>") == 128000
    assert tok.token_to_id("<|reserved_special_token_250|>") == 128255
    return tok


def build_llama3_style() -> Tokenizer:
    text = (SHARED / "small-corpora" / "tinyshakespeare.txt").read_text(encoding="utf-8")
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                "<|end_header_id|>", "<|eot_id|>"]
    trainer = trainers.BpeTrainer(vocab_size=1000, min_frequency=2, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(paragraphs, trainer=trainer, length=len(paragraphs))
    # A non-special added token: matched in the text whatever parse_special says.
    tok.add_tokens([AddedToken("ROMEO:", special=False, normalized=True)])
    return tok


def read_strings() -> list[str]:
    lines = (DATA / "strings.txt").read_text(encoding="utf-8").split("\n")
    return [json.loads(line) for line in lines if line and not line.startswith("#")]


def write_expected(name: str, tok: Tokenizer, source: str, strings: list[str]) -> None:
    cases = []
    for s in strings:
        tok.encode_special_tokens = False
        ids = tok.encode(s, add_special_tokens=False).ids
        tok.encode_special_tokens = True
        ids_plain = tok.encode(s, add_special_tokens=False).ids
        tok.encode_special_tokens = False
        cases.append({"text": s, "ids": ids, "ids_plain": ids_plain,
                      "decoded": tok.decode(ids, skip_special_tokens=False)})
    doc = {"tokenizer": name, "source": source, "tokenizers_version": tokenizers.__version__,
           "vocab_size": tok.get_vocab_size(), "cases": cases}
    path = DATA / f"{name}.expected.json"
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=None) + "\n", encoding="utf-8")
    print(f"wrote {path} ({path.stat().st_size} bytes, {len(cases)} cases)")


def save(tok: Tokenizer, path: pathlib.Path) -> None:
    tok.save(str(path), pretty=False)
    data = path.read_bytes()
    print(f"wrote {path} ({len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()})")


def main() -> int:
    strings = read_strings()
    gpt2 = build_gpt2()
    check_ggml(gpt2, "ggml-vocab-gpt-2.gguf")
    save(gpt2, DATA / "gpt2.tokenizer.json")
    write_expected("gpt2", gpt2, "gpt2.tokenizer.json", strings)

    llama3 = build_llama3()
    check_ggml(llama3, "ggml-vocab-llama-bpe.gguf")
    write_expected("llama3", llama3, "shared/data/tokenizers/llama3.tiktoken.tokenizer.model",
                   strings)

    style = build_llama3_style()
    save(style, DATA / "llama3_style.tokenizer.json")
    write_expected("llama3_style", style, "llama3_style.tokenizer.json", strings)

    a48 = Tokenizer.from_file(str(REPO / "models" / "tokenizer" / "tokenizer.json"))
    write_expected("a48_8k", a48, "models/tokenizer/tokenizer.json", strings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
