"""The transformer samples (samples/bert-tiny, llama-tiny, llama-tiny-tied) are complete Hugging
Face folders whose committed reference outputs the numpy reference (transformer_ref.py)
reproduces, and whose ONNX graphs onnxruntime runs to the same outputs.

Checks, per sample: config fields; tensor names, shapes, dtypes and the {"format": "pt"}
metadata of model.safetensors; the input sets are what the `tokenizers` package makes of
texts.json with tokenizer.json (right padding to the set's length); the float64 reference
recomputed from the committed weights matches the committed .npy outputs (relative 1e-6: they
are its float32 rounding), the float32 reference and onnxruntime match it within 1e-5; the
ONNX graph's inputs, outputs and dynamic axes; and properties that need no other
implementation: padding does not change the outputs at valid positions, the decoder is
causal and its RoPE attention depends only on relative positions, the tied head is the
embedding, and the trained decoder completes an arithmetic prompt of test.npz.
"""
import json
import os
import sys

import numpy as np
import onnx
import onnx.numpy_helper
import onnxruntime as ort
from safetensors import safe_open
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import transformer_ref as ref  # noqa: E402
from dlor_testlib import SRC, check, finish  # noqa: E402

SAMPLES = ("bert-tiny", "llama-tiny", "llama-tiny-tied")
SET_LENGTHS = {"calib": 32, "test": 32, "long": 128}
MAX_FOLDER_BYTES = 2 * 1024 * 1024


def expected_tensors(c):
    """Hugging Face tensor names and shapes for config c."""
    H, I, V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    if c["model_type"] == "bert":
        t = {"embeddings.word_embeddings.weight": [V, H],
             "embeddings.position_embeddings.weight": [c["max_position_embeddings"], H],
             "embeddings.token_type_embeddings.weight": [c["type_vocab_size"], H],
             "embeddings.LayerNorm.weight": [H], "embeddings.LayerNorm.bias": [H]}
        for i in range(c["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            for n in ("attention.self.query", "attention.self.key", "attention.self.value",
                      "attention.output.dense"):
                t[p + n + ".weight"], t[p + n + ".bias"] = [H, H], [H]
            for n in ("attention.output.LayerNorm", "output.LayerNorm"):
                t[p + n + ".weight"], t[p + n + ".bias"] = [H], [H]
            t[p + "intermediate.dense.weight"], t[p + "intermediate.dense.bias"] = [I, H], [I]
            t[p + "output.dense.weight"], t[p + "output.dense.bias"] = [H, I], [H]
        return t
    nh, nkv, d = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
    t = {"model.embed_tokens.weight": [V, H], "model.norm.weight": [H]}
    if not c["tie_word_embeddings"]:
        t["lm_head.weight"] = [V, H]
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        t.update({p + "self_attn.q_proj.weight": [nh * d, H],
                  p + "self_attn.k_proj.weight": [nkv * d, H],
                  p + "self_attn.v_proj.weight": [nkv * d, H],
                  p + "self_attn.o_proj.weight": [H, nh * d],
                  p + "mlp.gate_proj.weight": [I, H], p + "mlp.up_proj.weight": [I, H],
                  p + "mlp.down_proj.weight": [H, I],
                  p + "input_layernorm.weight": [H], p + "post_attention_layernorm.weight": [H]})
    return t


def check_files(name, d, c):
    size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    check(size < MAX_FOLDER_BYTES, f"{name}: {size} bytes, over 2 MB")
    bert = c["model_type"] == "bert"
    check(c["model_type"] == ("bert" if bert else "llama"), f"{name}: model_type")
    if bert:
        check(c["hidden_act"] == "gelu" and c["type_vocab_size"] == 2, f"{name}: config")
    else:
        check(c["hidden_act"] == "silu" and c["rope_scaling"] is None
              and c["num_key_value_heads"] < c["num_attention_heads"]
              and c["tie_word_embeddings"] == name.endswith("-tied"), f"{name}: config")
    check(c["max_position_embeddings"] == 128, f"{name}: max_position_embeddings")
    path = os.path.join(d, "model.safetensors")
    with safe_open(path, "np") as f:
        check(f.metadata() == {"format": "pt"}, f"{name}: safetensors metadata {f.metadata()}")
        got = {k: list(f.get_slice(k).get_shape()) for k in f.keys()}
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
    want = expected_tensors(c)
    diff = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
    check(not diff, f"{name}: names or shapes differ from the Hugging Face layout: {diff[:6]}")
    check(dtypes == {"F32"}, f"{name}: dtypes {dtypes}")


def check_inputs(name, d, c, batches):
    """The .npz sets are the tokenizer's output on texts.json."""
    bert = c["model_type"] == "bert"
    texts = json.load(open(os.path.join(d, "texts.json")))
    tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    check(tok.get_vocab_size() == c["vocab_size"], f"{name}: tokenizer vocabulary size")
    if bert:
        vocab = open(os.path.join(d, "vocab.txt")).read().split("\n")[:-1]
        check(vocab == sorted(tok.get_vocab(), key=tok.get_vocab().get), f"{name}: vocab.txt")
    pad = c["pad_token_id"]
    keys = {"input_ids", "attention_mask"} | ({"token_type_ids"} if bert else set())
    for s, length in SET_LENGTHS.items():
        b = batches[s]
        ok = set(b) == keys and all(v.dtype == np.int64 and v.shape == b["input_ids"].shape
                                    for v in b.values())
        if not check(ok and b["input_ids"].shape[1] == length, f"{name}/{s}.npz: arrays"):
            continue
        m = b["attention_mask"]
        lens = m.sum(1)
        check(np.array_equal(m, np.arange(length)[None] < lens[:, None]),
              f"{name}/{s}: not right-padded")
        check(lens.max() == length and lens.min() < length, f"{name}/{s}: lengths {lens}")
        check(s != "calib" or len(lens) >= 100, f"{name}/calib: {len(lens)} rows")
        tok.enable_padding(length=length, pad_id=pad, pad_token=tok.id_to_token(pad))
        enc = tok.encode_batch([tuple(t) if len(t) == 2 else t[0] for t in texts[s]] if bert
                               else texts[s])
        same = (np.array_equal(b["input_ids"], [e.ids for e in enc])
                and np.array_equal(m, [e.attention_mask for e in enc])
                and (not bert or np.array_equal(b["token_type_ids"], [e.type_ids for e in enc])))
        check(same, f"{name}/{s}: the arrays are not what tokenizer.json makes of texts.json")
    if bert:
        check(any(1 in t for t in batches["test"]["token_type_ids"]), f"{name}: no pair in test")


def check_onnx(name, d, c, model, batches, refs):
    path = os.path.join(d, "model.onnx")
    m = onnx.load(path)
    onnx.checker.check_model(m)
    check(max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")) == 17,
          f"{name}: opset")
    want = ["input_ids", "attention_mask"] + (["token_type_ids"] if c["model_type"] == "bert" else [])
    check([i.name for i in m.graph.input] == want, f"{name}: ONNX inputs")
    out = "last_hidden_state" if c["model_type"] == "bert" else "logits"
    check([o.name for o in m.graph.output] == [out], f"{name}: ONNX outputs")
    for v in list(m.graph.input) + list(m.graph.output):
        dims = v.type.tensor_type.shape.dim
        check(all(dims[k].dim_param for k in (0, 1)), f"{name}: {v.name} axes 0, 1 not dynamic")
    for i in m.graph.input:
        check(i.type.tensor_type.elem_type == onnx.TensorProto.INT64, f"{name}: {i.name} int64")
    if c.get("tie_word_embeddings"):
        # the exporter folds the head's transpose into a copy of the embedding
        emb_t = model.weights["model.embed_tokens.weight"].T
        heads = [onnx.numpy_helper.to_array(i) for i in m.graph.initializer
                 if list(i.dims) == list(emb_t.shape)]
        check(any(np.array_equal(h, emb_t) for h in heads), f"{name}: ONNX head is not the embedding")
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for s, y64 in refs.items():
        y = sess.run(None, {k: batches[s][k] for k in want})[0]
        e = ref.max_rel_error(y, y64)
        check(y.shape == y64.shape and e <= 1e-5, f"{name}/{s}: onnxruntime vs numpy {e:.3g}")


def check_properties(name, c, model, batches, refs):
    """What must hold whatever implementation made the files."""
    b = batches["test"]
    bert = c["model_type"] == "bert"
    lens = b["attention_mask"].sum(1)
    # a padded row gives, at its valid positions, what the same row alone and unpadded gives
    worst = 0.0
    for r in np.nonzero(lens < b["input_ids"].shape[1])[0][:4]:
        n = lens[r]
        kw = {"token_type_ids": b["token_type_ids"][r:r + 1, :n]} if bert else {}
        y = model(b["input_ids"][r:r + 1, :n], b["attention_mask"][r:r + 1, :n], **kw)
        worst = max(worst, ref.max_rel_error(y[0], refs["test"][r, :n]))
    check(worst <= 1e-12, f"{name}: padding changes valid outputs by {worst:.3g}")
    if bert:
        # mean pooling and L2 normalisation, against a plain per-row loop
        h, m = refs["calib"], batches["calib"]["attention_mask"]
        loop = np.stack([h[i, m[i] == 1].mean(0) for i in range(len(h))])
        loop /= np.linalg.norm(loop, axis=1, keepdims=True)
        e = ref.l2_normalize(ref.mean_pool(h, m))
        check(np.abs(e - loop).max() <= 1e-12, f"{name}: mean_pool/l2_normalize")
        return
    ids, mask = b["input_ids"], b["attention_mask"]
    # causal: changing the last valid token changes no logit before it
    r = int(np.argmax(lens))
    ids2 = ids.copy()
    ids2[r, lens[r] - 1] = (ids2[r, lens[r] - 1] + 7) % c["vocab_size"]
    y2 = model(ids2, mask)
    check(np.abs(y2[r, :lens[r] - 1] - refs["test"][r, :lens[r] - 1]).max() <= 1e-12
          and np.abs(y2[r, lens[r] - 1] - refs["test"][r, lens[r] - 1]).max() > 1e-3,
          f"{name}: not causal")
    # RoPE: shifting every position by the same amount changes no attention score
    shifted = model(ids, mask, position_ids=np.arange(ids.shape[1])[None] + 37)
    e = ref.max_rel_error(shifted, refs["test"])
    check(e <= 1e-10, f"{name}: shifted positions change the logits by {e:.3g}")
    unshifted_rope = model(ids, mask, position_ids=np.zeros_like(ids))
    check(ref.max_rel_error(unshifted_rope, refs["test"]) > 1e-3, f"{name}: RoPE has no effect")
    if c["tie_word_embeddings"]:
        h = model(ids, mask, return_hidden=True)
        e = ref.max_rel_error(h @ model.weights["model.embed_tokens.weight"].T, refs["test"])
        check(e <= 1e-12, f"{name}: tied head is not the embedding ({e:.3g})")
    # the trained decoder completes "Seven plus five is" (test row 3) with "twelve", and its
    # two likeliest answers to the color question of row 4 are the two colors it names
    vocab = Tokenizer.from_file(os.path.join(SRC, "samples", name, "tokenizer.json")).get_vocab()
    top = [np.argsort(-refs["test"][r, lens[r] - 1]) for r in (3, 4)]
    check(top[0][0] == vocab["twelve"], f"{name}: test row 3 predicts id {top[0][0]}, not twelve")
    check(set(top[1][:2]) == {vocab["blue"], vocab["green"]},
          f"{name}: test row 4 predicts ids {top[1][:2]}, not blue and green")


for name in SAMPLES:
    d = os.path.join(SRC, "samples", name)
    c = json.load(open(os.path.join(d, "config.json")))
    check_files(name, d, c)
    model = ref.load(d)
    batches = {s: dict(np.load(os.path.join(d, f"{s}.npz"))) for s in SET_LENGTHS}
    check_inputs(name, d, c, batches)
    bert = c["model_type"] == "bert"
    refs = {}
    for s in SET_LENGTHS:
        kw = {"token_type_ids": batches[s]["token_type_ids"]} if bert else {}
        refs[s] = model(batches[s]["input_ids"], batches[s]["attention_mask"], **kw)
        y32 = model(batches[s]["input_ids"], batches[s]["attention_mask"], dtype=np.float32, **kw)
        e = ref.max_rel_error(y32, refs[s])
        check(y32.dtype == np.float32 and e <= 1e-5, f"{name}/{s}: numpy float32 vs float64 {e:.3g}")
        out = "last_hidden_state" if bert else "logits"
        committed = os.path.join(d, f"{s}_{out}.npy")
        if s != "calib":
            y = np.load(committed)
            e = ref.max_rel_error(y, refs[s]) if y.shape == refs[s].shape else np.inf
            check(y.dtype == np.float32 and y.shape == refs[s].shape and e <= 1e-6,
                  f"{name}: {s}_{out}.npy vs numpy {e:.3g}")
    if bert:
        emb = np.load(os.path.join(d, "calib_embeddings.npy"))
        want = ref.l2_normalize(ref.mean_pool(refs["calib"], batches["calib"]["attention_mask"]))
        e = np.abs(emb - want).max() if emb.shape == want.shape else np.inf
        check(emb.dtype == np.float32 and e <= 1e-6, f"{name}: calib_embeddings.npy vs numpy {e:.3g}")
    check_onnx(name, d, c, model, batches, refs)
    check_properties(name, c, model, batches, refs)
finish()
