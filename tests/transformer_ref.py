"""Reference forward passes of Hugging Face BERT encoders and LLaMA decoders in plain numpy.

Written from the published formulas (see the notes in each function), apart from the PyTorch
modules that trained the samples, so that it can check them, onnxruntime and dlor. Reads a
Hugging Face folder: config.json and model.safetensors (or the shards that
model.safetensors.index.json lists).

    model = transformer_ref.load("samples/bert-tiny")
    h = model(input_ids, attention_mask, token_type_ids)        # [N, S, H], float64
    e = l2_normalize(mean_pool(h, attention_mask))              # sentence embeddings [N, H]
    logits = transformer_ref.load("samples/llama-tiny")(input_ids, attention_mask)  # [N, S, V]

`dtype=np.float64` (the default) computes everything in double precision: the reference
values. `dtype=np.float32` computes in single precision throughout (matrix products, norms,
softmax), as a float32 runtime does; elementwise functions without a float32 numpy form (erf)
and the RoPE cos/sin are evaluated in float64 and rounded once to float32.

Inputs are integer arrays [N, S] as a Hugging Face tokenizer returns them. Positions are
0..S-1 in every row (transformers' default when no position_ids are given), so rows should be
right-padded. attention_mask 0 marks padding: those keys get no attention weight. Outputs are
computed at every position, padded ones included (a padded query attends to the valid keys;
in the decoder, to the valid keys at or before it). A query with no key it may see (only
possible with left padding in the decoder) attends uniformly to all keys, as transformers'
eager attention does with its large negative mask.

Run as a script, it prints the output of a folder's model on the arrays of an .npz file:
    python3 tests/transformer_ref.py samples/llama-tiny samples/llama-tiny/test.npz [-o out.npy]
"""
import argparse
import json
import math
import os

import numpy as np

_erf = np.frompyfunc(math.erf, 1, 1)


# ---- building blocks -------------------------------------------------------------------------

def linear(x, w, b=None):
    """x [..., in] times w [out, in] transposed (PyTorch's Linear layout), plus b [out]."""
    y = x @ w.T
    return y if b is None else y + b


def layer_norm(x, w, b, eps):
    """(x - mean) / sqrt(var + eps) * w + b over the last axis; var is the biased variance."""
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(axis=-1, keepdims=True)
    return xc / np.sqrt(var + x.dtype.type(eps)) * w + b


def rms_norm(x, w, eps):
    """x / sqrt(mean(x^2) + eps) * w over the last axis (LLaMA's RMSNorm)."""
    ms = (x * x).mean(axis=-1, keepdims=True)
    return x / np.sqrt(ms + x.dtype.type(eps)) * w


def gelu(x):
    """The exact GELU, x * Phi(x) = x/2 * (1 + erf(x / sqrt 2)) (config hidden_act "gelu")."""
    e = _erf(x.astype(np.float64) / math.sqrt(2.0)).astype(np.float64).astype(x.dtype)
    return x * x.dtype.type(0.5) * (x.dtype.type(1.0) + e)


def silu(x):
    """x * sigmoid(x), written as x / (1 + exp(-x))."""
    with np.errstate(over="ignore"):  # exp(-x) = inf for very negative x gives x / inf = -0
        return x / (x.dtype.type(1.0) + np.exp(-x))


def softmax(x, axis=-1):
    m = x.max(axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / e.sum(axis=axis, keepdims=True)


def rope_tables(positions, head_dim, theta, dtype):
    """cos, sin [..., S, head_dim] for integer positions [..., S] in the "rotate half" layout:
    inv_freq_j = theta^(-2j/d) for j < d/2, angle = pos * inv_freq, and the d/2 angles
    repeated as [angles, angles]. In float32 the inverse frequencies and the angles are
    float32 numbers, as transformers computes them."""
    j = np.arange(0, head_dim, 2, dtype=np.float64)
    inv = 1.0 / theta ** (j / head_dim)
    if dtype == np.float32:
        ang = (np.asarray(positions).astype(np.float32)[..., None]
               * inv.astype(np.float32)).astype(np.float64)
    else:
        ang = np.asarray(positions).astype(np.float64)[..., None] * inv
    ang = np.concatenate([ang, ang], axis=-1)
    return np.cos(ang).astype(dtype), np.sin(ang).astype(dtype)


def apply_rope(x, cos, sin):
    """x * cos + rotate_half(x) * sin, rotate_half([a, b]) = [-b, a] (halves of the last axis)."""
    h = x.shape[-1] // 2
    rot = np.concatenate([-x[..., h:], x[..., :h]], axis=-1)
    return x * cos + rot * sin


def attention(q, k, v, allowed):
    """Scaled dot-product attention. q [N, nh, S, d]; k, v [N, nkv, S, d] with nh a multiple
    of nkv (grouped-query attention: query head h uses kv head h // (nh / nkv)); allowed
    [N, 1 or nh, S, S] boolean, True where query i may attend to key j. Returns [N, nh, S, d]."""
    nh, nkv, d = q.shape[1], k.shape[1], q.shape[-1]
    if nh != nkv:
        k = np.repeat(k, nh // nkv, axis=1)
        v = np.repeat(v, nh // nkv, axis=1)
    scores = (q @ np.swapaxes(k, -1, -2)) / q.dtype.type(math.sqrt(d))
    scores = np.where(allowed, scores, np.finfo(q.dtype).min)
    return softmax(scores, axis=-1) @ v


def _split_heads(x, heads):
    n, s, hd = x.shape
    return x.reshape(n, s, heads, hd // heads).transpose(0, 2, 1, 3)


def _merge_heads(x):
    n, heads, s, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(n, s, heads * d)


def mean_pool(hidden, attention_mask):
    """Mean of hidden [N, S, H] over the positions where attention_mask is 1 (sentence-
    transformers' mean pooling; a row with no valid position divides by 1e-9 and gives 0)."""
    m = np.asarray(attention_mask).astype(hidden.dtype)[..., None]
    return (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), hidden.dtype.type(1e-9))


def l2_normalize(x, eps=1e-12):
    """x / max(||x||_2, eps) over the last axis (torch.nn.functional.normalize)."""
    n = np.sqrt((x * x).sum(axis=-1, keepdims=True))
    return x / np.maximum(n, x.dtype.type(eps))


def max_rel_error(a, ref):
    """max |a - ref| / max |ref|, computed in float64."""
    a, ref = np.asarray(a, np.float64), np.asarray(ref, np.float64)
    return float(np.abs(a - ref).max() / np.abs(ref).max())


# ---- whole models ------------------------------------------------------------------------

def _inputs(input_ids, attention_mask):
    ids = np.asarray(input_ids).astype(np.int64)
    if ids.ndim != 2:
        raise ValueError(f"input_ids must be [N, S], got shape {ids.shape}")
    mask = np.ones_like(ids) if attention_mask is None else np.asarray(attention_mask)
    if mask.shape != ids.shape:
        raise ValueError(f"attention_mask shape {mask.shape} differs from input_ids {ids.shape}")
    return ids, mask != 0


def bert_forward(config, w, input_ids, attention_mask=None, token_type_ids=None,
                 dtype=np.float64):
    """BertModel's last_hidden_state [N, S, H] (post-norm encoder):
    x = LN(word[ids] + pos[0..S-1] + type[tt]); per layer x = LN(x + O(attn(x))),
    x = LN(x + W2 gelu(W1 x)). `w` maps Hugging Face tensor names (optionally prefixed
    "bert.") to arrays."""
    p = "bert." if "bert.embeddings.word_embeddings.weight" in w else ""

    def t(name):
        return np.asarray(w[p + name]).astype(dtype)
    ids, valid = _inputs(input_ids, attention_mask)
    n, s = ids.shape
    if s > config["max_position_embeddings"]:
        raise ValueError(f"sequence length {s} > max_position_embeddings")
    types = np.zeros_like(ids) if token_type_ids is None else np.asarray(token_type_ids)
    if config.get("hidden_act", "gelu") != "gelu":
        raise ValueError(f"hidden_act {config.get('hidden_act')!r}: only the erf 'gelu' here")
    eps, heads = config["layer_norm_eps"], config["num_attention_heads"]
    x = (t("embeddings.word_embeddings.weight")[ids]
         + t("embeddings.position_embeddings.weight")[np.arange(s)][None]
         + t("embeddings.token_type_embeddings.weight")[types])
    x = layer_norm(x, t("embeddings.LayerNorm.weight"), t("embeddings.LayerNorm.bias"), eps)
    allowed = valid[:, None, None, :]  # [N, 1, 1, S]: padded keys are never attended
    for i in range(config["num_hidden_layers"]):
        L = f"encoder.layer.{i}."

        def lin(name, h):
            return linear(h, t(L + name + ".weight"), t(L + name + ".bias"))
        q = _split_heads(lin("attention.self.query", x), heads)
        k = _split_heads(lin("attention.self.key", x), heads)
        v = _split_heads(lin("attention.self.value", x), heads)
        a = lin("attention.output.dense", _merge_heads(attention(q, k, v, allowed)))
        x = layer_norm(x + a, t(L + "attention.output.LayerNorm.weight"),
                       t(L + "attention.output.LayerNorm.bias"), eps)
        m = lin("output.dense", gelu(lin("intermediate.dense", x)))
        x = layer_norm(x + m, t(L + "output.LayerNorm.weight"), t(L + "output.LayerNorm.bias"),
                       eps)
    return x


def llama_forward(config, w, input_ids, attention_mask=None, dtype=np.float64,
                  position_ids=None, return_hidden=False):
    """LlamaForCausalLM's logits [N, S, V] (pre-norm decoder): x = embed[ids]; per layer
    h = x + o_proj(attn(RMSNorm(x))), x = h + down(silu(gate(n)) * up(n)) with n = RMSNorm(h);
    logits = head(RMSNorm(x)), the head being lm_head.weight or, with tie_word_embeddings,
    the embedding. Causal attention with RoPE on q and k, grouped-query when
    num_key_value_heads < num_attention_heads. return_hidden=True returns the final normed
    hidden state [N, S, H] instead of the logits."""
    def t(name):
        return np.asarray(w[name]).astype(dtype)
    ids, valid = _inputs(input_ids, attention_mask)
    n, s = ids.shape
    if config.get("hidden_act", "silu") != "silu":
        raise ValueError(f"hidden_act {config.get('hidden_act')!r}: only 'silu' here")
    if config.get("rope_scaling"):
        raise ValueError("rope_scaling is not supported here")
    nh = config["num_attention_heads"]
    nkv = config.get("num_key_value_heads") or nh
    d = config.get("head_dim") or config["hidden_size"] // nh
    eps = config["rms_norm_eps"]
    pos = np.broadcast_to(np.arange(s), (n, s)) if position_ids is None else np.asarray(position_ids)
    cos, sin = rope_tables(pos, d, config.get("rope_theta", 10000.0), dtype)
    cos, sin = cos[:, None], sin[:, None]  # [N, 1, S, d]: the same for every head
    causal = np.tril(np.ones((s, s), dtype=bool))
    allowed = causal[None, None] & valid[:, None, None, :]  # [N, 1, S, S]
    x = t("model.embed_tokens.weight")[ids]
    for i in range(config["num_hidden_layers"]):
        L = f"model.layers.{i}."
        h = rms_norm(x, t(L + "input_layernorm.weight"), eps)
        q = apply_rope(_split_heads(linear(h, t(L + "self_attn.q_proj.weight")), nh), cos, sin)
        k = apply_rope(_split_heads(linear(h, t(L + "self_attn.k_proj.weight")), nkv), cos, sin)
        v = _split_heads(linear(h, t(L + "self_attn.v_proj.weight")), nkv)
        x = x + linear(_merge_heads(attention(q, k, v, allowed)), t(L + "self_attn.o_proj.weight"))
        h = rms_norm(x, t(L + "post_attention_layernorm.weight"), eps)
        g = silu(linear(h, t(L + "mlp.gate_proj.weight"))) * linear(h, t(L + "mlp.up_proj.weight"))
        x = x + linear(g, t(L + "mlp.down_proj.weight"))
    x = rms_norm(x, t("model.norm.weight"), eps)
    if return_hidden:
        return x
    head = "model.embed_tokens.weight" if config.get("tie_word_embeddings") else "lm_head.weight"
    return linear(x, t(head))


# ---- loading ---------------------------------------------------------------------------------

def load_weights(folder):
    """Every tensor of model.safetensors (or of the shards model.safetensors.index.json
    names), by name."""
    from safetensors.numpy import load_file
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
    else:
        shards = ["model.safetensors"]
    w = {}
    for shard in shards:
        w.update(load_file(os.path.join(folder, shard)))
    return w


class Model:
    """A loaded folder; call it like the Hugging Face model's forward."""

    def __init__(self, config, weights):
        self.config, self.weights = config, weights
        self.kind = config.get("model_type")
        if self.kind not in ("bert", "llama"):
            raise ValueError(f"model_type {self.kind!r}: expected 'bert' or 'llama'")

    def __call__(self, input_ids, attention_mask=None, token_type_ids=None, dtype=np.float64,
                 **kw):
        if self.kind == "bert":
            return bert_forward(self.config, self.weights, input_ids, attention_mask,
                                token_type_ids, dtype)
        if token_type_ids is not None:
            raise ValueError("a llama model takes no token_type_ids")
        return llama_forward(self.config, self.weights, input_ids, attention_mask, dtype, **kw)


def load(folder):
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    return Model(config, load_weights(folder))


def main():
    ap = argparse.ArgumentParser(description="numpy reference forward of a Hugging Face folder")
    ap.add_argument("folder")
    ap.add_argument("inputs", help=".npz with input_ids, attention_mask (and token_type_ids)")
    ap.add_argument("-o", "--output", help="write the output here (.npy)")
    ap.add_argument("--dtype", choices=("f32", "f64"), default="f64")
    a = ap.parse_args()
    model = load(a.folder)
    x = np.load(a.inputs)
    kw = {"token_type_ids": x["token_type_ids"]} if model.kind == "bert" and "token_type_ids" in x else {}
    y = model(x["input_ids"], x.get("attention_mask"),
              dtype=np.float32 if a.dtype == "f32" else np.float64, **kw)
    print(f"{model.kind}: output {list(y.shape)} {y.dtype}, max |y| {np.abs(y).max():.6g}")
    if a.output:
        np.save(a.output, y)


if __name__ == "__main__":
    main()
