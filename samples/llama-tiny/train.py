#!/usr/bin/env python3
"""Train llama-tiny: a 2-layer LLaMA-style decoder (Hugging Face `LlamaForCausalLM` layout:
RMSNorm, RoPE, grouped-query attention, SiLU-gated MLP) as a next-token language model on the
synthetic text of ../tinytext.py, and write it as a Hugging Face folder.

Run with Debian's python (torch 1.13 + numpy from apt, no pip packages):
    /usr/bin/python3 samples/llama-tiny/train.py [--tied] [--scratch DIR]
Writes into samples/llama-tiny/ (with --tied: samples/llama-tiny-tied/, the same model with
the output head tied to the token embeddings): config.json, model.safetensors, tokenizer.json,
tokenizer_config.json, model.onnx, texts.json and the input sets calib.npz, test.npz,
long.npz; and into DIR (default /tmp/dlor-<folder name>) torch's outputs on those sets in
float32 and float64 (torch_outputs.npz), which ../make_transformer_refs.py compares with the
numpy reference and onnxruntime. Deterministic: fixed seeds, one thread.
"""
import argparse
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import tinytext as tt  # noqa: E402
from hf_files import export_onnx, pad_batch, save_model, write_json  # noqa: E402

SEED = 0
STEPS = 2500
BATCH = 32
LR = 2e-3
WARMUP = 100

VOCAB = tt.vocabulary(tt.LLAMA_SPECIALS)
IDX = {w: i for i, w in enumerate(VOCAB)}
UNK, BOS, EOS, PAD = (IDX[w] for w in tt.LLAMA_SPECIALS)


def make_config(tied):
    return {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": BOS,
        "eos_token_id": EOS,
        "head_dim": 16,
        "hidden_act": "silu",
        "hidden_size": 64,
        "initializer_range": 0.02,
        "intermediate_size": 192,
        "max_position_embeddings": 128,
        "mlp_bias": False,
        "model_type": "llama",
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "num_key_value_heads": 2,
        "pad_token_id": PAD,
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-06,
        "rope_scaling": None,
        "rope_theta": 10000.0,
        "tie_word_embeddings": tied,
        "torch_dtype": "float32",
        "use_cache": True,
        "vocab_size": len(VOCAB),
    }


# ---- the model, module for module as Hugging Face's LlamaForCausalLM names its parameters ---

class LlamaRMSNorm(nn.Module):
    def __init__(self, h, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(h))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rope_tables(s, d, theta, dtype):
    """cos, sin [S, d] for positions 0..S-1: angle pos * theta^(-2j/d) for j < d/2, the
    d/2 angles repeated twice ("rotate half" layout). In float32 the inverse frequencies and
    the products are rounded to float32 as transformers computes them."""
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.int64).to(dtype) / d))
    ang = torch.arange(s).to(dtype)[:, None] * inv[None, :]
    emb = torch.cat([ang, ang], dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    h = x.size(-1) // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


class LlamaAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        h, self.d = c["hidden_size"], c["head_dim"]
        self.nh, self.nkv = c["num_attention_heads"], c["num_key_value_heads"]
        self.theta = c["rope_theta"]
        self.q_proj = nn.Linear(h, self.nh * self.d, bias=False)
        self.k_proj = nn.Linear(h, self.nkv * self.d, bias=False)
        self.v_proj = nn.Linear(h, self.nkv * self.d, bias=False)
        self.o_proj = nn.Linear(self.nh * self.d, h, bias=False)

    def forward(self, x, mask_bias):
        n, s = x.size(0), x.size(1)
        q = self.q_proj(x).view(n, s, self.nh, self.d).transpose(1, 2)
        k = self.k_proj(x).view(n, s, self.nkv, self.d).transpose(1, 2)
        v = self.v_proj(x).view(n, s, self.nkv, self.d).transpose(1, 2)
        cos, sin = rope_tables(s, self.d, self.theta, x.dtype)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        # grouped-query attention: kv head j serves query heads j*rep .. j*rep + rep - 1
        rep = self.nh // self.nkv
        k = k[:, :, None].expand(n, self.nkv, rep, s, self.d).reshape(n, self.nh, s, self.d)
        v = v[:, :, None].expand(n, self.nkv, rep, s, self.d).reshape(n, self.nh, s, self.d)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.d) + mask_bias
        ctx = torch.softmax(scores, dim=-1) @ v
        return self.o_proj(ctx.transpose(1, 2).reshape(n, s, self.nh * self.d))


class LlamaMLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        h, i = c["hidden_size"], c["intermediate_size"]
        self.gate_proj = nn.Linear(h, i, bias=False)
        self.up_proj = nn.Linear(h, i, bias=False)
        self.down_proj = nn.Linear(i, h, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaDecoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self_attn = LlamaAttention(c)
        self.mlp = LlamaMLP(c)
        self.input_layernorm = LlamaRMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.post_attention_layernorm = LlamaRMSNorm(c["hidden_size"], c["rms_norm_eps"])

    def forward(self, x, mask_bias):
        h = x + self.self_attn(self.input_layernorm(x), mask_bias)
        return h + self.mlp(self.post_attention_layernorm(h))


class LlamaModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"],
                                         padding_idx=c["pad_token_id"])
        self.layers = nn.ModuleList(LlamaDecoderLayer(c) for _ in range(c["num_hidden_layers"]))
        self.norm = LlamaRMSNorm(c["hidden_size"], c["rms_norm_eps"])

    def forward(self, input_ids, attention_mask):
        dtype = self.embed_tokens.weight.dtype
        s = input_ids.size(1)
        pos = torch.arange(s, device=input_ids.device)
        # a query sees the keys at or before it that are not padding; the others get the most
        # negative finite value added to their scores (transformers' eager attention)
        allowed = ((pos[None, :] <= pos[:, None])[None, None]
                   & (attention_mask[:, None, None, :] != 0))
        mask_bias = torch.where(allowed, torch.zeros((), dtype=dtype),
                                torch.full((), torch.finfo(dtype).min, dtype=dtype))
        x = self.embed_tokens(input_ids)
        for layer in self.layers:
            x = layer(x, mask_bias)
        return self.norm(x)


class LlamaForCausalLM(nn.Module):
    """Inputs input_ids, attention_mask [N, S]; output logits [N, S, V]."""

    def __init__(self, c):
        super().__init__()
        self.model = LlamaModel(c)
        self.tied = c["tie_word_embeddings"]
        if not self.tied:
            self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)

    def forward(self, input_ids, attention_mask):
        x = self.model(input_ids, attention_mask)
        if self.tied:
            return x @ self.model.embed_tokens.weight.t()
        return self.lm_head(x)


def init_weights(module, std):
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=std)
        if isinstance(m, nn.Embedding) and m.padding_idx is not None:
            nn.init.zeros_(m.weight[m.padding_idx])


# ---- data ----------------------------------------------------------------------------------

def tokenize(text):
    return [BOS] + tt.encode(text, IDX, "<unk>")


def training_batch(rng, max_tokens, n):
    """n documents <s> text </s> of at most max_tokens tokens; inputs and next-token
    targets (-100 where there is none)."""
    rows = [tokenize(tt.text_of_length(rng, 1, max_tokens - 2)) + [EOS] for _ in range(n)]
    b = pad_batch([(r, [0] * len(r)) for r in rows], max(map(len, rows)), PAD)
    ids, attn = b["input_ids"], b["attention_mask"]
    targets = np.full_like(ids, -100)
    targets[:, :-1] = np.where(attn[:, 1:] == 1, ids[:, 1:], -100)
    return ids[:, :-1], attn[:, :-1], targets[:, :-1]


def lm_eval(model, batches):
    model.eval()
    tot, hit, n = 0.0, 0, 0
    with torch.no_grad():
        for ids, attn, targets in batches:
            logits = model(torch.from_numpy(ids), torch.from_numpy(attn))
            t = torch.from_numpy(targets)
            sel = t != -100
            tot += F.cross_entropy(logits[sel], t[sel], reduction="sum").item()
            hit += (logits[sel].argmax(-1) == t[sel]).sum().item()
            n += sel.sum().item()
    model.train()
    return tot / n, hit / n, n


def probe(model, prompts_answers):
    """Accuracy of the greedy next word after each prompt."""
    rows = [tokenize(p) for p, _ in prompts_answers]
    b = pad_batch([(r, [0] * len(r)) for r in rows], max(map(len, rows)), PAD)
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(b["input_ids"]), torch.from_numpy(b["attention_mask"]))
    model.train()
    return sum(int(logits[i, len(r) - 1].argmax()) == IDX[a]
               for i, (r, (_, a)) in enumerate(zip(rows, prompts_answers))) / len(rows)


def probes(rng):
    arith, color = [], []
    for _ in range(200):
        a, c = rng.randrange(11), rng.randrange(11)
        arith.append((f"{tt.NUMBERS[a]} plus {tt.NUMBERS[c]} is", tt.NUMBERS[a + c]))
        (o1, _), (o2, _) = rng.sample(tt.THINGS, 2)
        c1, c2 = rng.sample(tt.COLORS, 2)
        ask, ans = (o1, c1) if rng.random() < 0.5 else (o2, c2)
        color.append((f"The {o1} is {c1} and the {o2} is {c2}. What color is the {ask}?", ans))
    return arith, color


# ---- the committed input sets --------------------------------------------------------------

def input_sets(rng):
    """Texts of the calibration, test and long sets (<s> is prepended to each)."""
    calib = [tt.text_of_length(rng, 31, 31)]
    while len(calib) < 128:
        calib.append(tt.text_of_length(rng, 1, 31))
    test = [tt.text_of_length(rng, 31, 31),                   # fills S = 32 exactly
            "",                                               # <s> only
            "The Zebra sees a cat, and the DOG likes Kiwis!",  # unknown words, capitals, "!"
            "Seven plus five is",
            "The cup is blue and the hat is green. What color is the cup?"]
    while len(test) < 8:
        test.append(tt.text_of_length(rng, 1, 31))
    long = [tt.text_of_length(rng, 127, 127), tt.text_of_length(rng, 60, 75)]
    return {"calib": (calib, 32), "test": (test, 32), "long": (long, 128)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tied", action="store_true",
                    help="tie the output head to the token embeddings (writes llama-tiny-tied/)")
    ap.add_argument("--steps", type=int, default=STEPS, help="training steps (default %(default)s)")
    ap.add_argument("--scratch", help="folder for torch's outputs (not committed)")
    args = ap.parse_args()
    out_dir = HERE.parent / ("llama-tiny-tied" if args.tied else "llama-tiny")
    scratch = Path(args.scratch or f"/tmp/dlor-{out_dir.name}")
    out_dir.mkdir(exist_ok=True)
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)

    config = make_config(args.tied)
    model = LlamaForCausalLM(config)
    init_weights(model, config["initializer_range"])
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / WARMUP) * (
        0.1 + 0.45 * (1 + math.cos(math.pi * min(1.0, s / args.steps)))))
    rng = random.Random(SEED)
    erng = random.Random(SEED + 1)
    held = [training_batch(erng, 128 if j % 4 == 0 else 32, 32) for j in range(16)]
    arith, color = probes(random.Random(SEED + 2))

    t0, c0 = time.time(), time.process_time()
    for step in range(args.steps):
        ids, attn, targets = training_batch(rng, 128 if step % 8 == 0 else 32, BATCH)
        logits = model(torch.from_numpy(ids), torch.from_numpy(attn))
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)),
                               torch.from_numpy(targets).reshape(-1), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 400 == 0 or step == args.steps - 1:
            hl, ha, _ = lm_eval(model, held)
            print(f"step {step:5d}  train_loss {loss.item():.4f}  heldout_loss {hl:.4f}  "
                  f"heldout_acc {ha:.4f}  {time.time() - t0:.0f} s", flush=True)
    train_s, train_cpu = time.time() - t0, time.process_time() - c0
    hl, ha, hn = lm_eval(model, held)
    pa, pc = probe(model, arith), probe(model, color)
    print(f"FINAL heldout next-token loss {hl:.4f} (perplexity {math.exp(hl):.2f})  accuracy "
          f"{ha:.4f} ({hn} tokens)  arithmetic probe {pa:.3f}  color probe {pc:.3f}  "
          f"training {train_s:.0f} s ({train_cpu:.0f} s CPU)")

    model.eval()
    save_model(out_dir / "model.safetensors", model)
    write_json(out_dir / "config.json", config)
    tt.write_llama_tokenizer(out_dir, VOCAB, config["max_position_embeddings"])

    sets = input_sets(random.Random(SEED + 3))
    write_json(out_dir / "texts.json", {k: v[0] for k, v in sets.items()})
    names = ("input_ids", "attention_mask")
    batches = {}
    for name, (texts, length) in sets.items():
        b = pad_batch([(r, [0] * len(r)) for r in map(tokenize, texts)], length, PAD)
        batches[name] = {k: b[k] for k in names}
        np.savez_compressed(out_dir / f"{name}.npz", **batches[name])
    export_onnx(model, out_dir / "model.onnx", [batches["test"][k][:2, :9] for k in names],
                names, "logits")

    scratch.mkdir(parents=True, exist_ok=True)
    model64 = LlamaForCausalLM(config).double()
    model64.load_state_dict(model.state_dict())
    model64.eval()
    out = {}
    with torch.no_grad():
        for name, b in batches.items():
            t = [torch.from_numpy(b[k]) for k in names]
            out[f"{name}_f32"] = model(*t).numpy()
            out[f"{name}_f64"] = model64(*t).numpy()
    np.savez(scratch / "torch_outputs.npz", **out)
    print(f"wrote {out_dir} and {scratch / 'torch_outputs.npz'}")


if __name__ == "__main__":
    main()
