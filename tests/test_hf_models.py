"""Hugging Face folders (config.json + model.safetensors) whose graph dlor builds itself, from
config.json and the tensors' names, for model_type bert and llama.

For each transformer sample (bert-tiny, llama-tiny, llama-tiny-tied): `dlor run` on the folder
(dense weights) and on model.safetensors (config.json beside it) gives, on test.npz and long.npz,
the committed numpy references within relative 1e-5, and the bits of the graph written by hand
in sample_graphs.py; `dlor convert FOLDER --method mul` and `--method add` then `dlor run` on the
.dlor stay within 1e-5 of the references; BERT's second output is the mean-pooled, L2-normalised
sentence embedding of calib_embeddings.npy; the .dlor records where its graph came from. The
encoder with a task model's 'bert.' prefix (and a head of its own), and with LayerNorm gamma/beta
names, gives the same bits.

Bad input (each: exit 1, one line naming the file and field or tensor, no output written): a
config.json whose hidden_size, vocab_size, intermediate_size or num_key_value_heads disagrees
with the tensors; a missing tensor; a layer past num_hidden_layers; num_attention_heads not
dividing hidden_size; a missing field; a field of the wrong type; malformed JSON; a folder
without weights. Another model_type converts the tensors only, with a note on stderr naming the
type, and the .dlor then refuses to run; so does a plain safetensors file without config.json.
At run time: ids outside the vocabulary, a sequence longer than the position table, a mask of
another shape, float ids, token type ids outside their table."""
import json
import os
import shutil
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dlor_testlib import SRC, check, finish, rel, run, run_npy, scratch_dir, without_growth_notes  # noqa: E402
from sample_graphs import sample_with_graph  # noqa: E402

TMP = scratch_dir("hf_models")


def dlor_run(model, inputs, *flags):
    return run_npy(TMP, model, inputs, *flags)


def sample(name):
    folder = os.path.join(SRC, "samples", name)
    c = json.load(open(os.path.join(folder, "config.json")))
    out = "last_hidden_state" if c["model_type"] == "bert" else "logits"
    by_hand, _, _ = sample_with_graph(name, TMP)
    models = {"folder": folder, "model.safetensors": os.path.join(folder, "model.safetensors")}
    for method in ("mul", "add"):
        dl = os.path.join(TMP, f"{name}-{method}.dlor")
        rc, _, err = run("convert", folder, "-o", dl, "--method", method)
        check(rc == 0 and without_growth_notes(err) == "", f"{name}: convert --method {method}: rc {rc}: {err}")
        models[f"dlor {method}"] = dl
        rc, info, err = run("info", dl, "--json")
        meta = json.loads(info).get("metadata", {}) if rc == 0 else {}
        check(meta.get("dlor.graph_source") == "config.json", f"{name}: graph source {meta.get('dlor.graph_source')}")
    for s in ("test", "long"):
        inputs = os.path.join(folder, s + ".npz")
        ref = np.load(os.path.join(folder, f"{s}_{out}.npy")).astype(np.float64)
        hand, err = dlor_run(by_hand, inputs)
        for form, model in models.items():
            y, err = dlor_run(model, inputs)
            what = f"{name} {form} {s}"
            if not check(y is not None, f"{what}: dlor run: {err}"):
                continue
            e = rel(y, ref)
            check(y.dtype == np.float32 and y.shape == ref.shape and e <= 1e-5,
                  f"{what}: {y.dtype} {y.shape}, relative error {e:.3g} > 1e-5")
            if not form.startswith("dlor"):
                check(hand is not None and np.array_equal(y.view(np.uint32), hand.view(np.uint32)),
                      f"{what}: not the bits of the graph written by hand")
    if c["model_type"] == "bert":
        ref = np.load(os.path.join(folder, "calib_embeddings.npy")).astype(np.float64)
        for form in ("folder", "dlor mul"):
            y, err = dlor_run(models[form], os.path.join(folder, "calib.npz"), "--select", "sentence_embedding")
            e = rel(y, ref) if y is not None and y.shape == ref.shape else np.inf
            check(e <= 1e-5, f"{name} {form}: sentence embeddings relative error {e:.3g}: {err}")


for name in ("bert-tiny", "llama-tiny", "llama-tiny-tied"):
    sample(name)


# ---- other layouts of the same encoder: a task model's 'bert.' prefix with a head of its own, old
# checkpoints' LayerNorm gamma/beta; both give the bits of the sample folder
bert_dir = os.path.join(SRC, "samples", "bert-tiny")
want, _ = dlor_run(bert_dir, os.path.join(bert_dir, "test.npz"))
for tag, rename_fn in (("prefixed", lambda k: "bert." + k),
                       ("gamma", lambda k: k.replace("LayerNorm.weight", "LayerNorm.gamma")
                        .replace("LayerNorm.bias", "LayerNorm.beta"))):
    d = os.path.join(TMP, tag)
    os.makedirs(d, exist_ok=True)
    shutil.copy(os.path.join(bert_dir, "config.json"), d)
    t = {rename_fn(k): v for k, v in load_file(os.path.join(bert_dir, "model.safetensors")).items()}
    if tag == "prefixed":
        t["classifier.weight"] = np.ones((2, 64), np.float32)
        t["classifier.bias"] = np.zeros(2, np.float32)
    save_file(t, os.path.join(d, "model.safetensors"))
    y, err = dlor_run(d, os.path.join(bert_dir, "test.npz"))
    check(y is not None and want is not None and np.array_equal(y, want), f"bert {tag}: {err}")


# ---- bad folders -----------------------------------------------------------------------------
def make_folder(tag, base, config=None, drop=(), rename=None, raw_config=None):
    """A copy of samples/BASE in TMP/TAG with config.json changed by 'config' (a dict update),
    tensors 'drop'ped, a tensor renamed (old, new), or config.json's text replaced."""
    src = os.path.join(SRC, "samples", base)
    d = os.path.join(TMP, tag)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    c = json.load(open(os.path.join(src, "config.json")))
    c.update(config or {})
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write(raw_config if raw_config is not None else json.dumps(c, indent=2))
    t = load_file(os.path.join(src, "model.safetensors"))
    for k in drop:
        del t[k]
    if rename:
        t[rename[1]] = t.pop(rename[0])
    save_file(t, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    return d


def refused(what, folder, *words):
    out = os.path.join(TMP, "bad.dlor")
    if os.path.exists(out):
        os.remove(out)
    rc, _, err = run("convert", folder, "-o", out, "--method", "mul")
    lines = err.strip().split("\n")
    check(rc == 1 and len(lines) == 1 and all(w in err for w in words) and not os.path.exists(out),
          f"{what}: rc {rc}, want 1 and one line naming {words}: {err!r}")
    rc, _, err2 = run("run", folder, "-i", os.path.join(SRC, "samples", "bert-tiny", "test.npz"), "-o",
                      os.path.join(TMP, "bad.npy"))
    check(rc == 1 and err2.count("\n") == 1 and all(w in err2 for w in words), f"{what}: run: {rc} {err2!r}")


refused("bert hidden_size", make_folder("hidden", "bert-tiny", {"hidden_size": 72}), "hidden_size",
        "embeddings.word_embeddings.weight", "[207, 64]", "[207, 72]")
refused("bert vocab_size", make_folder("vocab", "bert-tiny", {"vocab_size": 300}), "vocab_size", "[300, 64]")
refused("bert intermediate_size", make_folder("inter", "bert-tiny", {"intermediate_size": 128}),
        "intermediate_size", "encoder.layer.0.intermediate.dense.weight")
refused("bert missing tensor", make_folder("missing", "bert-tiny", drop=["encoder.layer.1.attention.self.key.bias"]),
        "'encoder.layer.1.attention.self.key.bias'")
refused("bert more layers", make_folder("layers", "bert-tiny", {"num_hidden_layers": 3}),
        "'encoder.layer.2.attention.self.query.weight'", "num_hidden_layers")
refused("bert fewer layers", make_folder("fewer", "bert-tiny", {"num_hidden_layers": 1}),
        "encoder.layer.1.", "num_hidden_layers 1")
refused("bert heads", make_folder("heads", "bert-tiny", {"num_attention_heads": 5}), "num_attention_heads 5",
        "hidden_size 64")
refused("bert no hidden_size", make_folder("nohidden", "bert-tiny", raw_config=json.dumps(
    {k: v for k, v in json.load(open(os.path.join(SRC, "samples/bert-tiny/config.json"))).items()
     if k != "hidden_size"})), "config.json", "no hidden_size")
refused("bert string field", make_folder("strfield", "bert-tiny", {"hidden_size": "64"}), "hidden_size",
        "integer", '"64"')
refused("bert float field", make_folder("floatfield", "bert-tiny", {"num_hidden_layers": 2.5}),
        "num_hidden_layers", "2.5")
refused("bert eps", make_folder("eps", "bert-tiny", {"layer_norm_eps": "small"}), "layer_norm_eps")
refused("malformed JSON", make_folder("malformed", "bert-tiny", raw_config='{"model_type": "bert", "hidden_size": 64,'),
        "config.json", "invalid JSON at byte")
refused("not an object", make_folder("array", "bert-tiny", raw_config='["bert"]'), "config.json", "object")
refused("duplicate field", make_folder("dup", "bert-tiny", raw_config='{"model_type": "bert", "hidden_size": 64, '
                                                                      '"hidden_size": 72}'), "hidden_size", "twice")
refused("llama kv heads", make_folder("kv", "llama-tiny", {"num_key_value_heads": 4}), "num_key_value_heads",
        "model.layers.0.self_attn.k_proj.weight", "[32, 64]", "[64, 64]")
refused("llama kv heads divide", make_folder("kv3", "llama-tiny", {"num_key_value_heads": 3}),
        "num_key_value_heads 3", "num_attention_heads 4")
refused("llama no heads", make_folder("noheads", "llama-tiny", {"num_attention_heads": 0}), "num_attention_heads is 0")
refused("llama untied without head", make_folder("nohead", "llama-tiny", drop=["lm_head.weight"]),
        "'lm_head.weight'", "tie_word_embeddings false")
refused("llama hidden_size", make_folder("lhidden", "llama-tiny", {"hidden_size": 32, "head_dim": 8}),
        "model.embed_tokens.weight", "hidden_size")
empty = os.path.join(TMP, "empty_folder")
os.makedirs(empty, exist_ok=True)
refused("folder without weights", empty, "empty_folder", "model.safetensors")

# a tied model whose config says untied, and the reverse, run to other outputs than the reference:
# the tied sample with tie_word_embeddings false has no lm_head (refused above for llama-tiny); the
# untied sample with tie_word_embeddings true uses the embedding as its head
tied = make_folder("wrongtie", "llama-tiny", {"tie_word_embeddings": True})
y, err = dlor_run(tied, os.path.join(SRC, "samples", "llama-tiny", "test.npz"))
ref = np.load(os.path.join(SRC, "samples", "llama-tiny", "test_logits.npy")).astype(np.float64)
check(y is not None and rel(y, ref) > 1e-2, f"tie_word_embeddings true on an untied model changes nothing: {err}")

# ---- another model type: tensors only, with a note ------------------------------------------
gpt = make_folder("gpt2", "bert-tiny", {"model_type": "gpt2"})
out = os.path.join(TMP, "gpt2.dlor")
rc, _, err = run("convert", gpt, "-o", out, "--method", "mul")
err = without_growth_notes(err)
check(rc == 0 and "'gpt2'" in err and "no graph" in err and "dlor run" in err and err.count("\n") == 1,
      f"gpt2: convert: rc {rc}: {err!r}")
rc, _, err = run("run", out, "-i", os.path.join(SRC, "samples", "bert-tiny", "test.npz"), "-o",
                 os.path.join(TMP, "gpt2.npy"))
check(rc != 0 and "graph" in err, f"gpt2: run on the tensors-only .dlor: rc {rc}: {err!r}")
rc, _, err = run("run", gpt, "-i", os.path.join(SRC, "samples", "bert-tiny", "test.npz"), "-o",
                 os.path.join(TMP, "gpt2.npy"))
check(rc == 1 and "'gpt2'" in err, f"gpt2: run on the folder: rc {rc}: {err!r}")
# a model_type with a line break: the note stays one line
odd = make_folder("odd_type", "bert-tiny", {"model_type": "x\ny"})
rc, _, err = run("convert", odd, "-o", os.path.join(TMP, "odd.dlor"), "--method", "mul")
err = without_growth_notes(err)
check(rc == 0 and "'x?y'" in err and err.count("\n") == 1, f"model_type with a line break: rc {rc}: {err!r}")
# a rope_scaling dlor does not run: no graph, and why
scaled = make_folder("scaled", "llama-tiny", {"rope_scaling": {"type": "linear", "factor": 2.0}})
rc, _, err = run("convert", scaled, "-o", os.path.join(TMP, "scaled.dlor"))
check(rc == 0 and "rope_scaling" in err, f"rope_scaling: rc {rc}: {err!r}")
# a safetensors file alone (no config.json): the note says it stores tensors only
alone = os.path.join(TMP, "alone.safetensors")
shutil.copy(os.path.join(SRC, "samples", "bert-tiny", "model.safetensors"), alone)
rc, _, err = run("convert", alone, "-o", os.path.join(TMP, "alone.dlor"))
check(rc == 0 and "no graph" in err and "tensors only" in err, f"plain safetensors: rc {rc}: {err!r}")
# a 'dlor.graph' written by hand takes precedence over config.json beside it
hand_dir = os.path.join(TMP, "by_hand")
os.makedirs(hand_dir, exist_ok=True)
shutil.copy(by_hand := sample_with_graph("llama-tiny", TMP)[0], os.path.join(hand_dir, "model.safetensors"))
with open(os.path.join(hand_dir, "config.json"), "w") as f:
    json.dump({"model_type": "bert"}, f)  # would be refused if it were read
y, err = dlor_run(hand_dir, os.path.join(SRC, "samples", "llama-tiny", "test.npz"))
check(y is not None and rel(y, ref) <= 1e-5, f"dlor.graph beside config.json: {err}")

# ---- run time: inputs the model cannot take --------------------------------------------------
bert = os.path.join(SRC, "samples", "bert-tiny")
b = dict(np.load(os.path.join(bert, "test.npz")))


def bad_input(what, arrays, *words, npy=False):
    p = os.path.join(TMP, "bad_input.npy" if npy else "bad_input.npz")
    if npy:
        np.save(p, arrays)
    else:
        np.savez(p, **arrays)
    out = os.path.join(TMP, "bad_out.npy")
    if os.path.exists(out):
        os.remove(out)
    rc, _, err = run("run", bert, "-i", p, "-o", out)
    check(rc == 1 and err.count("\n") == 1 and all(w in err for w in words) and not os.path.exists(out),
          f"{what}: rc {rc}: {err!r}")


ids = b["input_ids"].copy()
ids[1, 3] = 207
bad_input("id outside the vocabulary", {"input_ids": ids, "attention_mask": b["attention_mask"]},
          "input_ids[1, 3] = 207", "207 rows")
bad_input("too long", {"input_ids": np.ones((2, 129), np.int64)}, "129 tokens", "128 positions")
bad_input("mask shape", {"input_ids": b["input_ids"], "attention_mask": b["attention_mask"][:, :5]},
          "attention_mask", "[16, 5]", "[16, 32]")
bad_input("float ids (npz)", {"input_ids": b["input_ids"].astype(np.float32)}, "input_ids", "f32")
bad_input("float ids (npy)", b["input_ids"].astype(np.float32), "input_ids", "f32", npy=True)
tt = b["token_type_ids"].copy()
tt[0, 0] = 2
bad_input("token type outside its table", {"input_ids": b["input_ids"], "token_type_ids": tt},
          "token_type_ids[0, 0] = 2")
mask = b["attention_mask"].copy()
mask[0, 0] = 2
bad_input("mask not 0 or 1", {"input_ids": b["input_ids"], "attention_mask": mask}, "attention_mask[0, 0] = 2")
finish()
