"""The trained transformer samples (samples/bert-tiny, llama-tiny, llama-tiny-tied) run by dlor
through graphs of values written here by hand in the 'dlor.graph' text form, with the tensors'
Hugging Face names, against the samples' committed reference outputs (numpy float64, rounded to
float32).

For each sample: a copy of model.safetensors with the graph in its metadata is run by `dlor run`
directly (dense weights) and converted to .dlor (exact DLoR layers, `--method add`), on test.npz
and long.npz (S = 128, the whole position table), in float32 (relative error <= 1e-5) and in
double (<= 1e-6: the references are float32 roundings); a team of 2 threads gives the bits of
one; BERT's mean-pooled, L2-normalised sentence embeddings of calib.npz match
calib_embeddings.npy. The tied decoder uses its embedding table as its head, so one tensor is
both a table and a linear weight."""
import json
import os
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dlor_testlib import SRC, check, finish, run, scratch_dir  # noqa: E402

TMP = scratch_dir("graph_samples")


def rel(a, b):
    return float(np.abs(np.asarray(a, np.float64) - b).max() / max(np.abs(b).max(), 1e-300))


def bert_graph(c):
    eps = c["layer_norm_eps"]
    g = ["input(input_ids, ids)", "input(attention_mask, mask)", "input(token_type_ids, type_ids)",
         "%w = embed(%input_ids, embeddings.word_embeddings.weight)",
         "%p = pos_embed(%input_ids, embeddings.position_embeddings.weight)",
         "%t = embed(%token_type_ids, embeddings.token_type_embeddings.weight)", "add(%w, %p)", "add(%t)",
         f"%x0 = layernorm(embeddings.LayerNorm.weight, embeddings.LayerNorm.bias, eps={eps!r})"]
    for i in range(c["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        a = p + "attention."
        x = f"%x{i}"
        g += [f"%q{i} = linear({x}, {a}self.query.weight, {a}self.query.bias)",
              f"%k{i} = linear({x}, {a}self.key.weight, {a}self.key.bias)",
              f"%v{i} = linear({x}, {a}self.value.weight, {a}self.value.bias)",
              f"attention(%q{i}, %k{i}, %v{i}, %attention_mask, heads={c['num_attention_heads']})",
              f"linear({a}output.dense.weight, {a}output.dense.bias)", f"add({x})",
              f"%h{i} = layernorm({a}output.LayerNorm.weight, {a}output.LayerNorm.bias, eps={eps!r})",
              f"linear({p}intermediate.dense.weight, {p}intermediate.dense.bias)", "gelu",
              f"linear({p}output.dense.weight, {p}output.dense.bias)", f"add(%h{i})",
              f"%x{i + 1} = layernorm({p}output.LayerNorm.weight, {p}output.LayerNorm.bias, eps={eps!r})"]
    g += ["output(last_hidden_state)", "pool(%attention_mask, mean)", "l2norm(eps=1e-12)",
          "output(sentence_embedding)"]
    return "; ".join(g)


def llama_graph(c, tied):
    eps, heads, kv = c["rms_norm_eps"], c["num_attention_heads"], c["num_key_value_heads"]
    g = ["input(input_ids, ids)", "input(attention_mask, mask)", "%x0 = embed(%input_ids, model.embed_tokens.weight)"]
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        a, m = p + "self_attn.", p + "mlp."
        g += [f"%n{i} = rmsnorm(%x{i}, {p}input_layernorm.weight, eps={eps!r})",
              f"%q{i} = linear({a}q_proj.weight)", f"%k{i} = linear(%n{i}, {a}k_proj.weight)",
              f"%v{i} = linear(%n{i}, {a}v_proj.weight)",
              f"attention(%q{i}, %k{i}, %v{i}, %attention_mask, heads={heads}, kv_heads={kv}, causal, "
              f"rope_theta={c['rope_theta']!r})", f"linear({a}o_proj.weight)", f"%h{i} = add(%x{i})",
              f"%m{i} = rmsnorm({p}post_attention_layernorm.weight, eps={eps!r})",
              f"linear({m}gate_proj.weight)", f"%g{i} = silu", f"%u{i} = linear(%m{i}, {m}up_proj.weight)",
              f"mul(%g{i}, %u{i})", f"linear({m}down_proj.weight)", f"%x{i + 1} = add(%h{i})"]
    head = "model.embed_tokens.weight" if tied else "lm_head.weight"
    g += [f"rmsnorm(model.norm.weight, eps={eps!r})", f"linear({head})", "output(logits)"]
    return "; ".join(g)


def dlor_run(model, inputs, *flags):
    out = os.path.join(TMP, "y.npy")
    if os.path.exists(out):
        os.remove(out)
    rc, _, err = run("run", model, "-i", inputs, "-o", out, *flags)
    return (np.load(out), err) if rc == 0 else (None, err)


def against(model, inputs, ref, what, *flags):
    y32, err = dlor_run(model, inputs, *flags)
    if check(y32 is not None, f"{what}: dlor run: {err}"):
        check(y32.dtype == np.float32 and y32.shape == ref.shape, f"{what}: output {y32.dtype} {y32.shape}")
        e = rel(y32, ref)
        check(e <= 1e-5, f"{what}: float32 relative error {e:.3g} > 1e-5")
    y64, err = dlor_run(model, inputs, "--dtype", "f64", *flags)
    if check(y64 is not None, f"{what}: dlor run --dtype f64: {err}"):
        e = rel(y64, ref)
        check(e <= 1e-6, f"{what}: double relative error {e:.3g} > 1e-6")
    return y32


def sample(name):
    folder = os.path.join(SRC, "samples", name)
    with open(os.path.join(folder, "config.json")) as f:
        c = json.load(f)
    if c["model_type"] == "bert":
        graph, out = bert_graph(c), "last_hidden_state"
    else:
        graph, out = llama_graph(c, c.get("tie_word_embeddings", False)), "logits"
    src = os.path.join(TMP, name + ".safetensors")
    save_file(load_file(os.path.join(folder, "model.safetensors")), src, metadata={"dlor.graph": graph})
    dl = os.path.join(TMP, name + ".dlor")
    rc, _, err = run("convert", src, "-o", dl, "--method", "add")
    check(rc == 0, f"{name}: convert: {err}")
    for model, form in ((src, "safetensors"), (dl, "dlor add")):
        for s in ("test", "long"):
            inputs = os.path.join(folder, s + ".npz")
            ref = np.load(os.path.join(folder, f"{s}_{out}.npy")).astype(np.float64)
            what = f"{name} {form} {s}"
            y = against(model, inputs, ref, what, "--select", out)
            yt, err = dlor_run(model, inputs, "--select", out, "--threads", "2")
            check(y is not None and yt is not None and np.array_equal(y.view(np.uint32), yt.view(np.uint32)),
                  f"{what}: 2 threads are not the bits of one: {err}")
        if c["model_type"] == "bert":
            ref = np.load(os.path.join(folder, "calib_embeddings.npy")).astype(np.float64)
            against(model, os.path.join(folder, "calib.npz"), ref, f"{name} {form} calib embeddings",
                    "--select", "sentence_embedding")


for name in ("bert-tiny", "llama-tiny", "llama-tiny-tied"):
    sample(name)
finish()
