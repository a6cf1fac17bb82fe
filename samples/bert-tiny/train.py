#!/usr/bin/env python3
"""Train bert-tiny: a 2-layer BERT encoder (Hugging Face `BertModel` layout) with masked-LM on
the synthetic text of ../tinytext.py, and write it as a Hugging Face folder.

Run with Debian's python (torch 1.13 + numpy from apt, no pip packages):
    /usr/bin/python3 samples/bert-tiny/train.py [--scratch DIR]
Writes next to this script: config.json, model.safetensors, vocab.txt, tokenizer.json,
tokenizer_config.json, model.onnx, texts.json and the input sets calib.npz, test.npz,
long.npz; and into DIR (default /tmp/dlor-bert-tiny) torch's outputs on those sets in float32
and float64 (torch_outputs.npz), which ../make_transformer_refs.py compares with the numpy
reference and onnxruntime. Deterministic: fixed seeds, one thread.
"""
import argparse
import json
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
STEPS = 2000
BATCH = 32
LR = 2e-3
WARMUP = 100
MASK_P = 0.15

VOCAB = tt.vocabulary(tt.BERT_SPECIALS)
IDX = {w: i for i, w in enumerate(VOCAB)}
PAD, UNK, CLS, SEP, MASK = (IDX[w] for w in tt.BERT_SPECIALS)
N_SPECIAL = len(tt.BERT_SPECIALS)

CONFIG = {
    "architectures": ["BertModel"],
    "attention_probs_dropout_prob": 0.0,
    "classifier_dropout": None,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.0,
    "hidden_size": 64,
    "initializer_range": 0.02,
    "intermediate_size": 256,
    "layer_norm_eps": 1e-12,
    "max_position_embeddings": 128,
    "model_type": "bert",
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "pad_token_id": PAD,
    "position_embedding_type": "absolute",
    "torch_dtype": "float32",
    "type_vocab_size": 2,
    "use_cache": True,
    "vocab_size": len(VOCAB),
}


# ---- the model, module for module as Hugging Face's BertModel names its parameters ----------

class BertEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = c["hidden_size"]
        self.word_embeddings = nn.Embedding(c["vocab_size"], h, padding_idx=c["pad_token_id"])
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], h)
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], h)
        self.LayerNorm = nn.LayerNorm(h, eps=c["layer_norm_eps"])

    def forward(self, input_ids, token_type_ids):
        pos = torch.arange(input_ids.size(1), device=input_ids.device)
        x = (self.word_embeddings(input_ids) + self.position_embeddings(pos)[None]
             + self.token_type_embeddings(token_type_ids))
        return self.LayerNorm(x)


class BertSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.head_dim = h // self.heads
        self.query = nn.Linear(h, h)
        self.key = nn.Linear(h, h)
        self.value = nn.Linear(h, h)

    def forward(self, x, mask_bias):
        n, s = x.size(0), x.size(1)

        def split(t):  # [N, S, H] -> [N, heads, S, d]
            return t.view(n, s, self.heads, self.head_dim).transpose(1, 2)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim) + mask_bias
        ctx = torch.softmax(scores, dim=-1) @ v
        return ctx.transpose(1, 2).reshape(n, s, self.heads * self.head_dim)


class BertDenseLayerNorm(nn.Module):
    """BertSelfOutput and BertOutput: LayerNorm(dense(x) + residual)."""

    def __init__(self, c, n_in):
        super().__init__()
        self.dense = nn.Linear(n_in, c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, x, residual):
        return self.LayerNorm(self.dense(x) + residual)


class BertAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = BertSelfAttention(c)
        self.output = BertDenseLayerNorm(c, c["hidden_size"])

    def forward(self, x, mask_bias):
        return self.output(self.self(x, mask_bias), x)


class BertIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])

    def forward(self, x):
        return F.gelu(self.dense(x))  # "gelu": the exact erf form


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = BertDenseLayerNorm(c, c["intermediate_size"])

    def forward(self, x, mask_bias):
        a = self.attention(x, mask_bias)
        return self.output(self.intermediate(a), a)


class BertEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(c) for _ in range(c["num_hidden_layers"]))


class BertModel(nn.Module):
    """Inputs as a Hugging Face tokenizer gives them; output last_hidden_state [N, S, H]."""

    def __init__(self, c):
        super().__init__()
        self.embeddings = BertEmbeddings(c)
        self.encoder = BertEncoder(c)

    def forward(self, input_ids, attention_mask, token_type_ids):
        dtype = self.embeddings.word_embeddings.weight.dtype
        # padded keys get the most negative finite value added to their scores (as
        # transformers' eager attention does), so their softmax weight is exactly 0
        keep = attention_mask[:, None, None, :].to(dtype)
        mask_bias = (1.0 - keep) * torch.finfo(dtype).min
        x = self.embeddings(input_ids, token_type_ids)
        for layer in self.encoder.layer:
            x = layer(x, mask_bias)
        return x


class MaskedLMHead(nn.Module):
    """BertForMaskedLM's head (transform + decoder tied to the word embeddings); used for
    training only and not saved: the saved checkpoint is the bare BertModel, as
    sentence-transformers checkpoints are."""

    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.bias = nn.Parameter(torch.zeros(c["vocab_size"]))

    def forward(self, x, word_embeddings):
        return self.LayerNorm(F.gelu(self.dense(x))) @ word_embeddings.t() + self.bias


def init_weights(module, std):
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=std)
        if isinstance(m, nn.Embedding) and m.padding_idx is not None:
            nn.init.zeros_(m.weight[m.padding_idx])
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)
        if isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


# ---- data ----------------------------------------------------------------------------------

def encode(text):
    return tt.encode(text, IDX, "[UNK]")


def tokenize(texts):
    """texts: [a] or [a, b] -> (ids, type_ids) with [CLS] a [SEP] (b [SEP])."""
    ids = [CLS] + encode(texts[0]) + [SEP]
    types = [0] * len(ids)
    if len(texts) > 1:
        b = encode(texts[1]) + [SEP]
        ids += b
        types += [1] * len(b)
    return ids, types


def random_example(rng, max_tokens):
    """A single text (half the time) or a pair, at most max_tokens tokens with specials."""
    if rng.random() < 0.5:
        return [tt.text_of_length(rng, 1, max_tokens - 2)]
    total = tt.text_of_length(rng, 2, max_tokens - 3)
    parts = total.split(". ")
    if len(parts) < 2:
        return [total]
    k = 1 + rng.randrange(len(parts) - 1)
    return [". ".join(parts[:k]) + ".", ". ".join(parts[k:])]


def mask_tokens(ids, attn, nrng):
    """BERT's masking: 15 % of the real tokens (at least one per row) are targets; of those
    80 % become [MASK], 10 % a random word, 10 % stay."""
    ids = ids.copy()
    labels = np.full_like(ids, -100)
    for i in range(ids.shape[0]):
        cand = np.nonzero((attn[i] == 1) & (ids[i] >= N_SPECIAL))[0]
        k = max(1, int(round(MASK_P * len(cand))))
        pick = nrng.choice(cand, size=k, replace=False)
        labels[i, pick] = ids[i, pick]
        r = nrng.random(k)
        ids[i, pick[r < 0.8]] = MASK
        rnd = pick[(r >= 0.8) & (r < 0.9)]
        ids[i, rnd] = nrng.integers(N_SPECIAL, len(VOCAB), size=len(rnd))
    return ids, labels


def batch_of(examples):
    rows = [tokenize(e) for e in examples]
    b = pad_batch(rows, max(len(r[0]) for r in rows), PAD)
    return b["input_ids"], b["attention_mask"], b["token_type_ids"]


def mlm_eval(model, head, batches):
    model.eval()
    tot_loss, hit, n = 0.0, 0, 0
    with torch.no_grad():
        for ids, attn, types, labels in batches:
            x = model(torch.from_numpy(ids), torch.from_numpy(attn), torch.from_numpy(types))
            logits = head(x, model.embeddings.word_embeddings.weight)
            lab = torch.from_numpy(labels)
            sel = lab != -100
            tot_loss += F.cross_entropy(logits[sel], lab[sel], reduction="sum").item()
            hit += (logits[sel].argmax(-1) == lab[sel]).sum().item()
            n += sel.sum().item()
    model.train()
    return tot_loss / n, hit / n, n


def probe(model, head, texts_answers):
    """Accuracy of the top prediction at the single [MASK] of each text."""
    rows = []
    for t, _ in texts_answers:
        before, after = t.split("[MASK]")
        ids = [CLS] + encode(before) + [MASK] + encode(after) + [SEP]
        rows.append((ids, [0] * len(ids)))
    b = pad_batch(rows, max(len(r[0]) for r in rows), PAD)
    model.eval()
    with torch.no_grad():
        x = model(*(torch.from_numpy(b[k]) for k in ("input_ids", "attention_mask",
                                                     "token_type_ids")))
        logits = head(x, model.embeddings.word_embeddings.weight)
    model.train()
    hit = 0
    for i, (_, ans) in enumerate(texts_answers):
        pos = int(np.nonzero(b["input_ids"][i] == MASK)[0][0])
        hit += int(logits[i, pos].argmax()) == IDX[ans]
    return hit / len(texts_answers)


def probes(rng):
    arith = []
    for _ in range(200):
        a, c = rng.randrange(11), rng.randrange(11)
        arith.append((f"{tt.NUMBERS[a]} plus {tt.NUMBERS[c]} is [MASK].", tt.NUMBERS[a + c]))
    color = []
    for _ in range(200):
        (o1, _), (o2, _) = rng.sample(tt.THINGS, 2)
        c1, c2 = rng.sample(tt.COLORS, 2)
        ask, ans = (o1, c1) if rng.random() < 0.5 else (o2, c2)
        color.append((f"The {o1} is {c1} and the {o2} is {c2}. What color is the {ask}? "
                      "[MASK].", ans))
    return arith, color


# ---- training --------------------------------------------------------------------------

class Trainer:
    """The masked-LM recipe: a model of config c and its head, initialised; AdamW with a
    linear warmup over WARMUP steps, then a cosine from 1 down to 0.1 over schedule_steps."""

    def __init__(self, c, schedule_steps):
        self.model, self.head = BertModel(c), MaskedLMHead(c)
        init_weights(self.model, c["initializer_range"])
        init_weights(self.head, c["initializer_range"])
        self.params = list(self.model.parameters()) + list(self.head.parameters())
        self.opt = torch.optim.AdamW(self.params, lr=LR, weight_decay=0.01)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: min(1.0, (s + 1) / WARMUP) * (
            0.1 + 0.45 * (1 + math.cos(math.pi * min(1.0, s / schedule_steps)))))

    def step(self, examples, nrng):
        """One step on a batch of examples (random_example's), masked with nrng; the loss."""
        ids, attn, types = batch_of(examples)
        inp, labels = mask_tokens(ids, attn, nrng)
        x = self.model(torch.from_numpy(inp), torch.from_numpy(attn), torch.from_numpy(types))
        sel = torch.from_numpy(labels != -100)  # the head runs on the masked positions only
        logits = self.head(x[sel], self.model.embeddings.word_embeddings.weight)
        loss = F.cross_entropy(logits, torch.from_numpy(labels)[sel])
        self.opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        self.sched.step()
        return loss


# ---- the committed input sets --------------------------------------------------------------

def exact_pair(rng, n_words):
    """A pair of texts with exactly n_words words in all."""
    a = tt.text_of_length(rng, 4, 4 + rng.randrange(n_words // 2 - 4))
    return [a, tt.text_of_length(rng, n_words - len(tt.words(a)), n_words - len(tt.words(a)))]


def input_sets(rng):
    """Texts of the calibration, test and long sets (the order of rows is the order here)."""
    calib = [exact_pair(rng, 29), [tt.text_of_length(rng, 30, 30)]]
    while len(calib) < 128:
        calib.append(random_example(rng, 32))
    test = [
        [tt.text_of_length(rng, 30, 30)],                      # fills S = 32 exactly
        [""],                                                  # [CLS] [SEP] only
        ["The Zebra sees a cat, and the DOG likes Kiwis!"],    # unknown words, capitals, "!"
        ["Seven plus five is twelve."],
        ["The cup is blue and the hat is green.", "What color is the cup? Blue."],
        exact_pair(rng, 29),                                   # a pair that fills S = 32
    ]
    while len(test) < 16:
        test.append(random_example(rng, 32))
    long = [exact_pair(rng, 125), [tt.text_of_length(rng, 95, 100)],
            exact_pair(rng, 50), ["Snow is white."]]
    return {"calib": (calib, 32), "test": (test, 32), "long": (long, 128)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=STEPS, help="training steps (default %(default)s)")
    ap.add_argument("--scratch", default="/tmp/dlor-bert-tiny",
                    help="folder for torch's outputs (not committed)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)

    trainer = Trainer(CONFIG, STEPS)
    model, head = trainer.model, trainer.head
    rng, nrng = random.Random(SEED), np.random.default_rng(SEED)

    erng, enrng = random.Random(SEED + 1), np.random.default_rng(SEED + 1)
    held = []
    for j in range(16):
        ids, attn, types = batch_of([random_example(erng, 128 if j % 4 == 0 else 32)
                                     for _ in range(32)])
        inp, labels = mask_tokens(ids, attn, enrng)
        held.append((inp, attn, types, labels))
    arith, color = probes(random.Random(SEED + 2))

    t0, c0 = time.time(), time.process_time()
    for step in range(args.steps):
        max_tokens = 128 if step % 8 == 0 else 32
        loss = trainer.step([random_example(rng, max_tokens) for _ in range(BATCH)], nrng)
        if step % 400 == 0 or step == args.steps - 1:
            hl, ha, _ = mlm_eval(model, head, held)
            print(f"step {step:5d}  train_loss {loss.item():.4f}  heldout_loss {hl:.4f}  "
                  f"heldout_acc {ha:.4f}  {time.time() - t0:.0f} s", flush=True)
    train_s, train_cpu = time.time() - t0, time.process_time() - c0
    hl, ha, hn = mlm_eval(model, head, held)
    pa, pc = probe(model, head, arith), probe(model, head, color)
    print(f"FINAL heldout masked-LM loss {hl:.4f}  accuracy {ha:.4f} ({hn} masked tokens)  "
          f"arithmetic probe {pa:.3f}  color probe {pc:.3f}  "
          f"training {train_s:.0f} s ({train_cpu:.0f} s CPU)")

    model.eval()
    save_model(HERE / "model.safetensors", model)
    write_json(HERE / "config.json", CONFIG)
    tt.write_bert_tokenizer(HERE, VOCAB, CONFIG["max_position_embeddings"])

    sets = input_sets(random.Random(SEED + 3))
    write_json(HERE / "texts.json", {k: v[0] for k, v in sets.items()})
    batches = {}
    for name, (texts, length) in sets.items():
        batches[name] = pad_batch([tokenize(t) for t in texts], length, PAD)
        np.savez_compressed(HERE / f"{name}.npz", **batches[name])
    names = ("input_ids", "attention_mask", "token_type_ids")
    export_onnx(model, HERE / "model.onnx", [batches["test"][k][:2, :9] for k in names],
                names, "last_hidden_state")

    scratch = Path(args.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    model64 = BertModel(CONFIG).double()
    model64.load_state_dict(model.state_dict())
    model64.eval()
    out = {}
    with torch.no_grad():
        for name, b in batches.items():
            t = [torch.from_numpy(b[k]) for k in names]
            out[f"{name}_f32"] = model(*t).numpy()
            out[f"{name}_f64"] = model64(*t).numpy()
    np.savez(scratch / "torch_outputs.npz", **out)
    print(f"wrote {HERE} and {scratch / 'torch_outputs.npz'}")


if __name__ == "__main__":
    main()
