#!/usr/bin/env python3
"""Training throughput of the same BitNet a4.8 model in PyTorch (eager and torch.compile), the
baseline that docs/RESULTS.md puts beside `a48 train`'s tokens/s on the same GPU.

The model mirrors a48's training forward: RMSNorm, RoPE (rotate-half), GQA causal attention with
the attention sub-norm, ReLU^2 GLU with the FFN sub-norm, tied LM head; BitLinear with absmean
ternary weights (eq. 2) and per-token activation fake quantization per scheme (INT4 absmean into
QKV and gate/up, top-K 50% + INT8 absmax into o_proj, INT8 into down for a4.8; INT8 everywhere for
b1.58), all with the straight-through estimator; AdamW (0.9, 0.95). Random token batches: this
measures speed, not learning.

  python3 tools/torch_train_bench.py --config configs/docs-25m.json --scheme a4.8 --steps 30
"""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F


def ste(x, q):
    return x + (q - x).detach()


def quant_int8_absmax(x):
    s = 127.0 / x.abs().amax(dim=-1, keepdim=True).clamp(min=1e-5)
    return ste(x, (x * s).round().clamp(-128, 127) / s)


def quant_int4_absmean(x):
    s = math.sqrt(7) / x.abs().mean(dim=-1, keepdim=True).clamp(min=1e-5)
    return ste(x, (x * s).round().clamp(-8, 7) / s)


def topk_half(x):
    k = x.shape[-1] // 2
    idx = x.abs().topk(k, dim=-1).indices
    mask = torch.zeros_like(x).scatter_(-1, idx, 1.0)
    return ste(x, x * mask)


def ternary(w):
    s = 1.0 / w.abs().mean().clamp(min=1e-5)
    return ste(w, (w * s).round().clamp(-1, 1) / s)


class BitLinear(torch.nn.Linear):
    def __init__(self, n_in, n_out, act):
        super().__init__(n_in, n_out, bias=False)
        torch.nn.init.normal_(self.weight, std=0.02)
        self.act = act

    def forward(self, x):
        return F.linear(self.act(x), ternary(self.weight))


def rope(x, cos, sin):
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


class Block(torch.nn.Module):
    def __init__(self, c, acts):
        super().__init__()
        d, f = c["hidden_size"], c["intermediate_size"]
        self.h, self.hkv = c["num_attention_heads"], c["num_key_value_heads"]
        self.hd = d // self.h
        eps = c.get("rms_norm_eps", 1e-5)
        self.attn_norm = torch.nn.RMSNorm(d, eps=eps)
        self.q = BitLinear(d, self.h * self.hd, acts["qkv"])
        self.k = BitLinear(d, self.hkv * self.hd, acts["qkv"])
        self.v = BitLinear(d, self.hkv * self.hd, acts["qkv"])
        self.attn_sub_norm = torch.nn.RMSNorm(self.h * self.hd, eps=eps)
        self.o = BitLinear(self.h * self.hd, d, acts["out"])
        self.ffn_norm = torch.nn.RMSNorm(d, eps=eps)
        self.gate = BitLinear(d, f, acts["gate_up"])
        self.up = BitLinear(d, f, acts["gate_up"])
        self.ffn_sub_norm = torch.nn.RMSNorm(f, eps=eps)
        self.down = BitLinear(f, d, acts["down"])

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        h = self.attn_norm(x)
        q = self.q(h).view(b, t, self.h, self.hd).transpose(1, 2)
        k = self.k(h).view(b, t, self.hkv, self.hd).transpose(1, 2)
        v = self.v(h).view(b, t, self.hkv, self.hd).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        x = x + self.o(self.attn_sub_norm(a.transpose(1, 2).reshape(b, t, -1)))
        h = self.ffn_norm(x)
        g = F.relu(self.gate(h)).square() * self.up(h)
        return x + self.down(self.ffn_sub_norm(g))


class Model(torch.nn.Module):
    def __init__(self, c, scheme):
        super().__init__()
        identity = lambda x: x
        if scheme == "a4.8":
            acts = {"qkv": quant_int4_absmean, "gate_up": quant_int4_absmean,
                    "out": lambda x: quant_int8_absmax(topk_half(x)), "down": quant_int8_absmax}
        elif scheme == "b1.58":
            acts = {k: quant_int8_absmax for k in ("qkv", "gate_up", "out", "down")}
        else:
            acts = {k: identity for k in ("qkv", "gate_up", "out", "down")}
        self.embed = torch.nn.Embedding(c["vocab_size"], c["hidden_size"])
        torch.nn.init.normal_(self.embed.weight, std=0.02)
        self.blocks = torch.nn.ModuleList(Block(c, acts) for _ in range(c["num_hidden_layers"]))
        self.norm = torch.nn.RMSNorm(c["hidden_size"], eps=c.get("rms_norm_eps", 1e-5))
        hd = c["hidden_size"] // c["num_attention_heads"]
        inv = 1.0 / (c.get("rope_theta", 10000.0) ** (torch.arange(0, hd, 2).float() / hd))
        self.register_buffer("inv_freq", inv, persistent=False)
        if scheme == "fp":  # full precision: plain linears
            for blk in self.blocks:
                for name in ("q", "k", "v", "o", "gate", "up", "down"):
                    getattr(blk, name).forward = (lambda m: lambda x: F.linear(x, m.weight))(getattr(blk, name))

    def forward(self, tokens, targets):
        t = tokens.shape[1]
        freqs = torch.outer(torch.arange(t, device=tokens.device).float(), self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        x = self.embed(tokens)
        for blk in self.blocks:
            x = blk(x, cos, sin)
        logits = F.linear(self.norm(x), self.embed.weight)
        return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1))


def bench(model, opt, c, batch, seq, steps, warmup, dtype):
    dev = "cuda"
    tokens = torch.randint(0, c["vocab_size"], (steps + warmup, batch, seq + 1), device=dev)
    for i in range(steps + warmup):
        if i == warmup:
            torch.cuda.synchronize()
            start = time.perf_counter()
        with torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
            loss = model(tokens[i, :, :-1], tokens[i, :, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    return steps * batch * seq / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="configs/docs-25m.json")
    ap.add_argument("--scheme", default="a4.8")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--json", help="write results here")
    args = ap.parse_args()
    cfg = json.load(open(args.config))
    c, batch, seq = cfg["model"], cfg["micro_batch"], cfg["seq_len"]
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    dtype = getattr(torch, args.dtype)
    results = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name(), "scheme": args.scheme,
               "batch": batch, "seq_len": seq, "dtype": args.dtype}
    for mode in ("eager", "compile"):
        torch.manual_seed(0)
        model = Model(c, args.scheme).cuda()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1,
                                fused=True)
        run = torch.compile(model) if mode == "compile" else model
        results[f"{mode}_tokens_per_s"] = bench(run, opt, c, batch, seq, args.steps, args.warmup, dtype)
        print(f"{mode}: {results[f'{mode}_tokens_per_s']:.0f} tokens/s", flush=True)
    if args.json:
        json.dump(results, open(args.json, "w"), indent=2)


if __name__ == "__main__":
    main()
