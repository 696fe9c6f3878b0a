#!/usr/bin/env python3
"""Golden BitNet b1.58 logits from HF transformers' own BitNet implementation.

Makes a tiny random BitNet model in HF layout, runs HF's `BitNetForCausalLM` on it and saves the
logits, so that a48's `b1.58` forward can be checked against HF from committed data
(tests/model/test_hf_golden.cpp). It also settles the scale convention of the packed ternary layout
(docs/FORMATS.md, "Scale convention") by packing the same bf16 master twice and checking which
`weight_scale` makes each of HF's two offline classes reproduce the online-ternarised master:

  master/                bf16 latent weights; quantization_config = autobitlinear + online
                         (the layout of microsoft/bitnet-b1.58-2B-4T-bf16). HF's AutoBitLinear
                         ternarises each weight on every forward (WeightQuant, eq. 2) and quantizes
                         activations per token to int8 (ActQuant, eq. 3): what a48's `b1.58` does.
  packed/                the same master packed: U8 [out/4, in] + weight_scale F32 [1] holding
                         1/mean|W|; quantization_config = bitlinear + offline (HF `BitLinear`, which
                         divides by weight_scale).
  packed_autobitlinear/  the same codes + weight_scale BF16 [1] holding mean|W|;
                         quantization_config = autobitlinear + offline (HF `AutoBitLinear`, which
                         multiplies by weight_scale). BF16, as a bf16 checkpoint stores it: the
                         scale is rounded to 8 bits, which the tests must allow for.
  logits_<variant>.json  tokens and fp32 logits of every position, for two sequences.
  hf_intermediates_online.safetensors
                         F32 [tokens, width] outputs of every HF module of the online run (and the
                         inputs of the two sub-norms), the two sequences' rows concatenated, to find
                         where a divergence starts.
  summary.json           versions, the cross-checks below and the measured differences.

Run on a machine with torch + transformers (the repo's scripts/gpu/hf_golden.sh does):
  python3 tools/make_hf_golden.py --out tests/golden/bitnet_tiny [--sources-out DIR]
Everything is computed on the CPU in fp32 with eager ops (deterministic, no TF32); a CUDA run of the
online model is compared with it when a GPU is present.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import traceback
from pathlib import Path

# HF decorates unpack_weights, activation_quant, WeightQuant and ActQuant with @torch.compile.
# Compiled kernels may fuse `x * s` differently; eager ops are the definition we compare against
# (and need no compiler). Must be set before torch is imported.
os.environ.setdefault("TORCH_COMPILE_DISABLE", "1")

import numpy as np  # noqa: E402

SEED = 20241107  # arXiv date of the BitNet a4.8 paper
CONFIG = {
    "architectures": ["BitNetForCausalLM"],
    "model_type": "bitnet",
    "vocab_size": 97,  # awkward on purpose: catches stride bugs in the output projection
    "hidden_size": 64,
    "intermediate_size": 160,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,  # head_dim 16
    "num_key_value_heads": 2,  # GQA, 2 query heads per kv head
    "hidden_act": "relu2",
    "max_position_embeddings": 64,
    "rms_norm_eps": 1e-5,
    # Not BitNetConfig's default (500000), so a loader that ignores the field shows up in the
    # inv_freq check below.
    "rope_theta": 10000.0,
    # transformers 5.x reads RoPE from rope_parameters (4.x ignores it); both say the same.
    "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0},
    "tie_word_embeddings": True,
    "attention_bias": False,
    "attention_dropout": 0.0,
    "initializer_range": 0.02,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "pad_token_id": None,
    "use_cache": True,
    "torch_dtype": "bfloat16",
}
SEQUENCE_LENGTHS = (11, 7)
PROJECTIONS = (
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
)
QUANT_ONLINE = {"quant_method": "bitnet", "linear_class": "autobitlinear", "quantization_mode": "online"}
QUANT_BITLINEAR = {"quant_method": "bitnet", "linear_class": "bitlinear", "quantization_mode": "offline"}
QUANT_AUTO_OFFLINE = {"quant_method": "bitnet", "linear_class": "autobitlinear", "quantization_mode": "offline"}


def log(*args):
    print(*args, flush=True)


# ---------------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------------


def projection_shapes(cfg):
    d, f = cfg["hidden_size"], cfg["intermediate_size"]
    hd = d // cfg["num_attention_heads"]
    q, kv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    return {
        "self_attn.q_proj": (q, d),
        "self_attn.k_proj": (kv, d),
        "self_attn.v_proj": (kv, d),
        "self_attn.o_proj": (d, q),
        "mlp.gate_proj": (f, d),
        "mlp.up_proj": (f, d),
        "mlp.down_proj": (d, f),
    }


def make_master(cfg, rng):
    """fp32 numpy arrays of the master weights (rounded to bf16 later)."""
    d, f, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    t = {}
    # Embeddings ~ N(0, 1): the residual stream starts at unit scale, as in trained models.
    t["model.embed_tokens.weight"] = rng.standard_normal((v, d))
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        for name, shape in projection_shapes(cfg).items():
            t[p + name + ".weight"] = 0.02 * rng.standard_normal(shape)
        # Norm gains near 1 with +-20% noise, so that a norm applied with the wrong gain (or none)
        # changes the logits.
        t[p + "input_layernorm.weight"] = 1.0 + 0.2 * rng.standard_normal(d)
        t[p + "self_attn.attn_sub_norm.weight"] = 1.0 + 0.2 * rng.standard_normal(d)
        t[p + "post_attention_layernorm.weight"] = 1.0 + 0.2 * rng.standard_normal(d)
        t[p + "mlp.ffn_sub_norm.weight"] = 1.0 + 0.2 * rng.standard_normal(f)
    t["model.norm.weight"] = 1.0 + 0.2 * rng.standard_normal(d)
    return {k: np.asarray(a, dtype=np.float32) for k, a in t.items()}


def ternarize(w):
    """HF WeightQuant (online AutoBitLinear) in numpy fp32: s = 1/max(mean|W|, 1e-5),
    t = clamp(round(W*s), -1, 1). Returns (codes int8, s, mean)."""
    w = np.asarray(w, dtype=np.float32)
    mean = np.float32(np.abs(w).astype(np.float64).mean())  # torch's fp32 mean is close; checked below
    s = np.float32(1.0) / np.maximum(mean, np.float32(1e-5))
    codes = np.clip(np.rint(w * s), -1, 1).astype(np.int8)
    return codes, s, mean


def pack_hf(codes):
    """HF pack_weights: byte (j, i) holds t[k*(n_out/4) + j, i] + 1 in bits 2k..2k+1."""
    n_out, n_in = codes.shape
    assert n_out % 4 == 0, n_out
    rows = n_out // 4
    fields = (codes.astype(np.int16) + 1).astype(np.uint8)
    packed = np.zeros((rows, n_in), dtype=np.uint8)
    for k in range(4):
        packed |= fields[k * rows:(k + 1) * rows] << np.uint8(2 * k)
    return packed


def unpack_hf(packed):
    rows, n_in = packed.shape
    codes = np.zeros((rows * 4, n_in), dtype=np.int8)
    for k in range(4):
        codes[k * rows:(k + 1) * rows] = ((packed >> np.uint8(2 * k)) & np.uint8(3)).astype(np.int8) - 1
    return codes


# ---------------------------------------------------------------------------------------------
# HF runs
# ---------------------------------------------------------------------------------------------


def versions():
    import torch
    import transformers
    import safetensors

    out = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "safetensors": getattr(safetensors, "__version__", "?"),
        "numpy": np.__version__,
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch_compile_disabled": os.environ.get("TORCH_COMPILE_DISABLE"),
    }
    try:
        import accelerate

        out["accelerate"] = accelerate.__version__
    except Exception:  # noqa: BLE001 - only informative
        out["accelerate"] = None
    return out


def load_hf(model_dir):
    """from_pretrained in fp32 with eager attention; returns (model, loading_info)."""
    import torch
    from transformers import AutoModelForCausalLM

    kwargs = dict(attn_implementation="eager", output_loading_info=True)
    try:
        model, info = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, **kwargs)
    except TypeError:  # transformers 4.x spells it torch_dtype
        model, info = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32, **kwargs)
    model.eval()
    info = {k: sorted(str(x) for x in v) if isinstance(v, (list, set, tuple)) else str(v) for k, v in info.items()}
    return model, info


def check_loading_info(info, what):
    bad = {k: v for k, v in info.items() if k in ("missing_keys", "unexpected_keys", "mismatched_keys") and v}
    # A tied lm_head may be listed as missing by some versions; it is the embedding.
    if "missing_keys" in bad:
        bad["missing_keys"] = [k for k in bad["missing_keys"] if k != "lm_head.weight"]
        if not bad["missing_keys"]:
            del bad["missing_keys"]
    if bad:
        raise RuntimeError(f"{what}: HF loading reported {bad}")


def projection_modules(model, cfg):
    for layer in range(cfg["num_hidden_layers"]):
        for name in PROJECTIONS:
            yield f"model.layers.{layer}.{name}", model.get_submodule(f"model.layers.{layer}.{name}")


def describe_classes(model, cfg):
    return sorted({type(m).__module__ + "." + type(m).__name__ for _, m in projection_modules(model, cfg)})


def check_rope(model, cfg):
    """The inv_freq HF actually uses, against 1/theta^(2i/hd) for the config's theta."""
    import torch

    rotary = model.model.rotary_emb
    hd = cfg["hidden_size"] // cfg["num_attention_heads"]
    expected = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    got = rotary.inv_freq.detach().float().cpu()
    err = float((got - expected).abs().max())
    if err > 1e-6 * float(expected.abs().max()):
        raise RuntimeError(f"HF rotary inv_freq differs from theta={cfg['rope_theta']}: max err {err}")
    return err


def run_logits(model, sequences, device="cpu"):
    """Per sequence (batch 1, no padding): fp32 logits [T, V] and HF hidden_states."""
    import torch

    model.to(device)
    logits, hidden = [], []
    with torch.no_grad():
        for tokens in sequences:
            ids = torch.tensor([tokens], dtype=torch.long, device=device)
            out = model(input_ids=ids, output_hidden_states=True, use_cache=False)
            logits.append(out.logits[0].float().cpu().numpy())
            hidden.append([h[0].float().cpu().numpy() for h in (out.hidden_states or ())])
    model.to("cpu")
    return logits, hidden


class Recorder:
    """Forward hooks that keep each module's output (and the sub-norms' inputs), per sequence."""

    def __init__(self, model, cfg):
        self.rows = {}
        self.handles = []
        names = ["model.embed_tokens", "model.norm"]
        for layer in range(cfg["num_hidden_layers"]):
            p = f"model.layers.{layer}."
            names += [p[:-1], p + "input_layernorm", p + "self_attn.attn_sub_norm",
                      p + "post_attention_layernorm", p + "mlp.ffn_sub_norm"]
            names += [p + n for n in PROJECTIONS]
        for name in names:
            module = model.get_submodule(name)
            self.handles.append(module.register_forward_hook(self._hook(name)))

    def _hook(self, name):
        def hook(module, inputs, output):
            out = output[0] if isinstance(output, tuple) else output
            self.rows.setdefault(name + ".out", []).append(out[0].detach().float().cpu().numpy())
            if name.endswith("sub_norm"):
                self.rows.setdefault(name + ".in", []).append(inputs[0][0].detach().float().cpu().numpy())

        return hook

    def remove(self):
        for h in self.handles:
            h.remove()

    def tensors(self):
        return {k.removeprefix("model."): np.ascontiguousarray(np.concatenate(v, axis=0)) for k, v in self.rows.items()}


def rel_diff(a, b):
    a = np.concatenate([x.ravel() for x in a])
    b = np.concatenate([x.ravel() for x in b])
    return float(np.abs(a - b).max() / np.abs(a).max()), float(np.abs(a - b).max())


def load_plain(master_dir):
    """The master as a plain (unquantized) BitNetForCausalLM in fp32: the quantization_config is
    dropped, so every projection stays an nn.Linear holding the bf16 latent weights."""
    import torch
    from transformers import AutoModelForCausalLM

    tmp = Path(tempfile.mkdtemp(prefix="a48_plain_"))
    try:
        shutil.copy(Path(master_dir) / "model.safetensors", tmp / "model.safetensors")
        (tmp / "config.json").write_text(json.dumps(dict(CONFIG), indent=2))
        try:
            model = AutoModelForCausalLM.from_pretrained(tmp, dtype=torch.float32, attn_implementation="eager")
        except TypeError:
            model = AutoModelForCausalLM.from_pretrained(tmp, torch_dtype=torch.float32,
                                                         attn_implementation="eager")
        model.eval()
        return model
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def manual_online(master_dir, cfg):
    """Cross-check of the online run built by hand from HF's own pieces: the plain model with every
    projection's forward replaced by HF's WeightQuant + ActQuant, which is what
    AutoBitLinear(online_quant=True).forward computes. Independent of the quantizer's module
    replacement and loading."""
    import torch.nn.functional as F
    from transformers.integrations.bitnet import ActQuant, WeightQuant

    model = load_plain(master_dir)
    for _, m in projection_modules(model, cfg):
        def forward(x, m=m):
            return F.linear(ActQuant.apply(x), WeightQuant.apply(m.weight), m.bias)

        m.forward = forward
    return model


def manual_bitlinear(master_dir, cfg, packed_tensors):
    """Cross-check of the packed run: the plain model with each projection replaced by HF's
    BitLinear, filled by hand from the packed file (independent of the quantizer's loader)."""
    import torch
    from transformers.integrations.bitnet import BitLinear

    model = load_plain(master_dir)
    for name, m in list(projection_modules(model, cfg)):
        bl = BitLinear(m.in_features, m.out_features, bias=False, device="cpu", dtype=torch.float32)
        with torch.no_grad():
            bl.weight.copy_(torch.from_numpy(packed_tensors[name + ".weight"]))
            bl.weight_scale.copy_(torch.from_numpy(packed_tensors[name + ".weight_scale"]).float())
        parent_name, child = name.rsplit(".", 1)
        setattr(model.get_submodule(parent_name), child, bl)
    return model


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


def save_dir(path, tensors_torch, quant):
    from safetensors.torch import save_file

    path.mkdir(parents=True, exist_ok=True)
    cfg = dict(CONFIG)
    cfg["quantization_config"] = dict(quant)
    (path / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    save_file({k: v.contiguous() for k, v in sorted(tensors_torch.items())}, str(path / "model.safetensors"),
              metadata={"format": "pt"})


def f32_list(a):
    # Shortest decimal that round-trips to the same float32.
    return [float(repr(np.float32(x)).removeprefix("np.float32(").removesuffix(")")) for x in np.ravel(a)]


def save_logits(path, variant, model_dir, sequences, logits, meta):
    doc = {
        "description": f"HF transformers BitNetForCausalLM logits, fp32 on CPU, eager ops; weights "
                       f"{model_dir}/ loaded as {variant}. Made by tools/make_hf_golden.py.",
        "model_dir": model_dir,
        "variant": variant,
        "versions": meta,
        "vocab_size": CONFIG["vocab_size"],
        "sequences": [
            {"tokens": [int(t) for t in tokens], "logits": [f32_list(row) for row in lg]}
            for tokens, lg in zip(sequences, logits)
        ],
    }
    path.write_text(json.dumps(doc, separators=(",", ":")) + "\n")


def dump_sources(out_dir):
    """The HF code this golden data comes from, for the record (not committed)."""
    import inspect
    import importlib

    out_dir.mkdir(parents=True, exist_ok=True)
    chunks = []
    for mod in ("transformers.integrations.bitnet", "transformers.quantizers.quantizer_bitnet",
                "transformers.models.bitnet.modeling_bitnet", "transformers.models.bitnet.configuration_bitnet"):
        try:
            m = importlib.import_module(mod)
            chunks.append(f"##### {mod} ({inspect.getsourcefile(m)})\n{inspect.getsource(m)}")
        except Exception as e:  # noqa: BLE001
            chunks.append(f"##### {mod}: {e!r}")
    try:
        from transformers.utils.quantization_config import BitNetQuantConfig

        chunks.append("##### BitNetQuantConfig\n" + inspect.getsource(BitNetQuantConfig))
    except Exception as e:  # noqa: BLE001
        chunks.append(f"##### BitNetQuantConfig: {e!r}")
    (out_dir / "hf_sources.txt").write_text("\n\n".join(chunks))


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path, help="golden folder (tests/golden/bitnet_tiny)")
    ap.add_argument("--sources-out", type=Path, help="also write the HF sources used here")
    args = ap.parse_args()

    import torch
    from safetensors.torch import load_file

    torch.set_num_threads(1)  # one summation order, run to run
    meta = versions()
    log("versions:", json.dumps(meta))
    if args.sources_out:
        dump_sources(args.sources_out)

    cfg = CONFIG
    rng = np.random.default_rng(SEED)
    master = make_master(cfg, rng)
    sequences = [rng.integers(0, cfg["vocab_size"], size=n).tolist() for n in SEQUENCE_LENGTHS]
    log("sequences:", sequences)

    # bf16 master; everything after this reads the bf16-rounded values.
    master_bf16 = {k: torch.from_numpy(v).to(torch.bfloat16) for k, v in master.items()}
    out = args.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    save_dir(out / "master", master_bf16, QUANT_ONLINE)

    from transformers.integrations import bitnet as hf_bitnet

    packed, packed_auto = {}, {}
    scales, pack_checks = {}, {}
    for k, v in master_bf16.items():
        name = k.removesuffix(".weight")
        if not any(name.endswith(p) for p in PROJECTIONS):
            packed[k] = v
            packed_auto[k] = v
            continue
        w = v.float()
        # HF WeightQuant, in torch: the codes must be exactly the ones the online class computes.
        s_t = 1.0 / w.abs().mean().clamp(min=1e-5)
        codes_t = (w * s_t).round().clamp(-1, 1).to(torch.int8)
        codes, s, mean = ternarize(w.numpy())
        if not np.array_equal(codes, codes_t.numpy()):
            raise RuntimeError(f"{k}: numpy ternarisation differs from torch")
        p = pack_hf(codes)
        if not np.array_equal(unpack_hf(p), codes):
            raise RuntimeError(f"{k}: unpack(pack(t)) != t")
        try:  # our layout against HF's own pack_weights / unpack_weights
            p_hf = hf_bitnet.pack_weights(codes_t.clone().to(torch.float32)).numpy()
            up = hf_bitnet.unpack_weights(torch.from_numpy(p), dtype=torch.float32).numpy()
            pack_checks[k] = {"pack_equal": bool(np.array_equal(p, p_hf)),
                              "unpack_equal": bool(np.array_equal(up.astype(np.int8), codes))}
        except Exception:  # noqa: BLE001 - reported in the summary
            pack_checks[k] = traceback.format_exc()
        mean_t = float(w.abs().mean())
        scales[name] = {"inv_mean_f32": float(s_t), "mean_f32": mean_t,
                        "mean_bf16": float(torch.tensor([mean_t]).to(torch.bfloat16).float())}
        packed[k] = torch.from_numpy(p)
        packed[name + ".weight_scale"] = s_t.reshape(1).to(torch.float32)  # 1/mean|W| for BitLinear
        packed_auto[k] = torch.from_numpy(p)
        packed_auto[name + ".weight_scale"] = torch.tensor([mean_t]).to(torch.bfloat16)  # mean|W|
    save_dir(out / "packed", packed, QUANT_BITLINEAR)
    save_dir(out / "packed_autobitlinear", packed_auto, QUANT_AUTO_OFFLINE)
    packed_np = {k: v.numpy() if v.dtype != torch.bfloat16 else v.float().numpy() for k, v in load_file(str(out / "packed" / "model.safetensors")).items()}

    summary = {"versions": meta, "config": cfg, "seed": SEED, "sequences": sequences,
               "weight_scales": scales, "hf_pack_checks": pack_checks, "runs": {}, "comparisons": {}, "errors": {}}
    results = {}  # label -> (logits, hidden, intermediates)

    def attempt(label, fn):
        try:
            r = fn()
            log(f"[ok] {label}")
            results[label] = r
            return r
        except Exception:  # noqa: BLE001 - every variant is reported, none stops the others
            tb = traceback.format_exc()
            log(f"[FAILED] {label}\n{tb}")
            summary["errors"][label] = tb
            return None

    def evaluate(label, model, record=False, cuda=False, expect_class=None, file_tensors=None, info=None):
        classes = describe_classes(model, cfg)
        if expect_class and not all(c.endswith("." + expect_class) for c in classes):
            raise RuntimeError(f"{label}: projections are {classes}, expected {expect_class}")
        rope_err = check_rope(model, cfg)
        # The buffers HF ended up with, against the file: a scale left at its init value of 1, or
        # packed bytes that were not unpacked, would otherwise pass unnoticed.
        for name, m in projection_modules(model, cfg) if file_tensors else ():
            if name + ".weight_scale" in file_tensors:
                got = m.weight_scale.detach().float().cpu().reshape(-1)
                want = file_tensors[name + ".weight_scale"].float().reshape(-1)
                if not torch.equal(got, want):
                    raise RuntimeError(f"{label}: {name}.weight_scale is {got.tolist()}, file has {want.tolist()}")
            wt = m.weight.detach().cpu()
            fw = file_tensors[name + ".weight"]
            if fw.dtype == torch.uint8:
                if wt.dtype == torch.uint8:
                    same = torch.equal(wt, fw)
                else:  # AutoBitLinear offline unpacks on load
                    same = wt.shape == (fw.shape[0] * 4, fw.shape[1]) and np.array_equal(
                        wt.float().numpy(), unpack_hf(fw.numpy()).astype(np.float32))
                if not same:
                    raise RuntimeError(f"{label}: {name}.weight ({wt.dtype}, {tuple(wt.shape)}) differs from the file")
            elif not torch.equal(wt.float(), fw.float()):
                raise RuntimeError(f"{label}: {name}.weight differs from the file")
        rec = Recorder(model, cfg) if record else None
        logits, hidden = run_logits(model, sequences)
        inter = rec.tensors() if rec else None
        if rec:
            rec.remove()
        run = {"classes": classes, "rope_inv_freq_err": rope_err, "hf_hidden_states": len(hidden[0]),
               "param_dtypes": sorted({str(p.dtype) for p in model.parameters()}
                                      | {str(b.dtype) for b in model.buffers()})}
        if info is not None:
            run["loading_info"] = info
        if cuda and torch.cuda.is_available():
            try:
                torch.backends.cuda.matmul.allow_tf32 = False
                torch.backends.cudnn.allow_tf32 = False
                try:
                    torch.backends.cuda.matmul.fp32_precision = "ieee"
                except Exception:  # noqa: BLE001 - older torch
                    pass
                cuda_logits, _ = run_logits(model, sequences, device="cuda")
                run["cuda_vs_cpu"] = rel_diff(logits, cuda_logits)
            except Exception:  # noqa: BLE001
                run["cuda_vs_cpu"] = traceback.format_exc()
        summary["runs"][label] = run
        log(f"{label}: {json.dumps({k: v for k, v in run.items() if k != 'loading_info'})}")
        return logits, hidden, inter

    def run_variant(label, model_dir, **kw):
        model, info = load_hf(model_dir)
        check_loading_info(info, label)
        file_tensors = load_file(str(Path(model_dir) / "model.safetensors"))
        return evaluate(label, model, file_tensors=file_tensors, info=info, **kw)

    attempt("online", lambda: run_variant("online", out / "master", record=True, cuda=True,
                                          expect_class="AutoBitLinear"))
    attempt("packed", lambda: run_variant("packed", out / "packed", cuda=True, expect_class="BitLinear"))
    attempt("packed_autobitlinear", lambda: run_variant("packed_autobitlinear", out / "packed_autobitlinear",
                                                        expect_class="AutoBitLinear"))
    # Cross-checks built by hand from HF's pieces, independent of the quantizer's loading path.
    attempt("manual_online", lambda: evaluate("manual_online", manual_online(out / "master", cfg),
                                              record="online" not in results))
    attempt("manual_bitlinear", lambda: evaluate("manual_bitlinear", manual_bitlinear(out / "master", cfg, packed_np),
                                                 expect_class="BitLinear"))

    # Convention probes (temporary folders): the same codes with each scale under each class.
    def probe(label, scale_of, quant, dtype):
        tmp = Path(tempfile.mkdtemp(prefix="a48_probe_"))
        try:
            t = dict(packed)
            for name in scales:
                t[name + ".weight_scale"] = torch.tensor([scale_of(scales[name])], dtype=torch.float32).to(dtype)
            save_dir(tmp, t, quant)
            return run_variant(label, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    probes = {
        "probe_autobitlinear_mean_f32": (lambda s: s["mean_f32"], QUANT_AUTO_OFFLINE, torch.float32),
        "probe_autobitlinear_inv_mean_f32": (lambda s: s["inv_mean_f32"], QUANT_AUTO_OFFLINE, torch.float32),
        "probe_bitlinear_mean_f32": (lambda s: s["mean_f32"], QUANT_BITLINEAR, torch.float32),
        "probe_bitlinear_inv_mean_bf16": (lambda s: s["inv_mean_f32"], QUANT_BITLINEAR, torch.bfloat16),
    }
    for label, (fn, quant, dtype) in probes.items():
        attempt(label, lambda fn=fn, quant=quant, dtype=dtype, label=label: probe(label, fn, quant, dtype))

    # The golden files: HF's own loading path, or (if that failed in this transformers version)
    # the hand-built model from HF's own modules, which the summary then says.
    sources = {}
    online = "online" if "online" in results else ("manual_online" if "manual_online" in results else None)
    packed_src = "packed" if "packed" in results else ("manual_bitlinear" if "manual_bitlinear" in results else None)
    if online:
        sources["logits_online.json"] = online
        save_logits(out / "logits_online.json", f"{online}: autobitlinear online (weights ternarised on the fly)",
                    "master", sequences, results[online][0], meta)
        from safetensors.numpy import save_file as save_np

        inter = dict(results[online][2] or {})
        for i, h in enumerate(zip(*results[online][1])):
            inter[f"hf_hidden_states.{i}"] = np.ascontiguousarray(np.concatenate(h, axis=0))
        inter["logits"] = np.ascontiguousarray(np.concatenate(results[online][0], axis=0))
        save_np({k: v.astype(np.float32) for k, v in sorted(inter.items())},
                str(out / "hf_intermediates_online.safetensors"),
                metadata={"sequence_lengths": json.dumps(list(SEQUENCE_LENGTHS)), "variant": online,
                          "made_by": "tools/make_hf_golden.py"})
    if packed_src:
        sources["logits_packed.json"] = packed_src
        save_logits(out / "logits_packed.json", f"{packed_src}: bitlinear offline (weight_scale = 1/mean|W|, divided)",
                    "packed", sequences, results[packed_src][0], meta)
    if "packed_autobitlinear" in results:
        sources["logits_packed_autobitlinear.json"] = "packed_autobitlinear"
        save_logits(out / "logits_packed_autobitlinear.json",
                    "packed_autobitlinear: autobitlinear offline (weight_scale = mean|W| in bf16, multiplied)",
                    "packed_autobitlinear", sequences, results["packed_autobitlinear"][0], meta)
    summary["golden_sources"] = sources

    if online:
        ref = results[online][0]
        for label, r in results.items():
            if label != online:
                rel, ab = rel_diff(ref, r[0])
                summary["comparisons"][f"{online}_vs_{label}"] = {"max_abs_diff_over_max_abs_logit": rel,
                                                                  "max_abs_diff": ab}
                log(f"{online} vs {label}: max|diff|/max|logit| = {rel:.3e} (max|diff| {ab:.3e})")
        summary["max_abs_logit_online"] = float(max(np.abs(x).max() for x in ref))
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if args.sources_out:
        shutil.copy(out / "summary.json", args.sources_out / "summary.json")
    missing = [f for f in ("logits_online.json", "logits_packed.json", "logits_packed_autobitlinear.json")
               if f not in sources]
    if missing:
        log(f"NOT WRITTEN: {missing}")
        return 1
    return 0

if __name__ == "__main__":
    sys.exit(main())
