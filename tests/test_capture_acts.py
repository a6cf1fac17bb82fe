"""python/dlor_capture_acts.py against dlor's own calibration: the Gram matrices the PyTorch
hooks capture, given to dlor convert --calib-acts, convert a model as --calib does on the same
inputs (where dlor runs the model itself), an independent cross-check of both.

- digits MLP (nn.Sequential, torch float32 forward) on x_train: the hooked Gram matrices equal
  numpy's X^T X of the layer inputs (computed here in float64 from the weights) within 1e-5;
  --tol 0.2 with --calib-acts picks the same ranks as with --calib, and the two files' outputs
  on x_test agree within 1e-5 of the largest output; the command line (a factory
  function, batches of 32) writes the same Gram matrices within 1e-6 (torch float32 rounds batches of 32 and 100 apart);
- bert-tiny (the sample's own PyTorch modules, padded batches of calib.npz with their attention
  masks): --tol 0.2 with --calib-acts picks the same ranks as --calib calib.npz, sentence
  embeddings on test.npz within 1e-5 of the largest, and its mean cosine to the dense embeddings
  within 1e-6 of the --calib one.
The rounding apart is torch's float32 forward against dlor's float64 one. The targets are --tol, as
--budget with --calib also weighs the layers by sensitivities measured by running the model, which
captured Gram matrices do not give.

Run by ctest with Debian's /usr/bin/python3 (torch, numpy); exits 77 (skipped) without torch.
"""
import json
import os
import subprocess
import sys

import numpy as np

try:
    import torch
    import torch.nn as nn
except ImportError:
    print(f"SKIP: {sys.executable} has no torch (apt-get install python3-torch)")
    sys.exit(77)

SRC = os.environ.get("DLOR_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SRC, "python"))
sys.path.insert(0, os.path.join(SRC, "tests"))
sys.path.insert(0, os.path.join(SRC, "samples", "bert-tiny"))
import dlor_capture_acts as cap  # noqa: E402
import dlor_pyreader  # noqa: E402
from dlor_testlib import check, finish, rel, run, run_npy, scratch  # noqa: E402

TMP, path, fresh = scratch("capture-acts")
torch.set_num_threads(1)
torch.manual_seed(0)


def load_safetensors(p):
    """The tensors of a float32 safetensors file (its header read here; no package needed)."""
    with open(p, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        head = json.loads(f.read(n))
        body = f.read()
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(body[a:b], dtype=np.float32).reshape(v["shape"]).copy())
    return out


def ranks(p):
    """Layer name -> rank of a converted file (layers kept dense are not listed)."""
    return {name: L["rank"] for name, L in dlor_pyreader.read(p)[2].items()}


def cosine_mean(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).mean())


# ---- digits: an MLP dlor runs itself ------------------------------------------------------------
d = os.path.join(SRC, "samples", "digits")
x_train, x_test = os.path.join(d, "x_train.npy"), os.path.join(d, "x_test.npy")
mlp = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))
mlp.load_state_dict(torch.load(os.path.join(d, "digits.pt")))
mlp.eval()
x = np.load(x_train)
acts = fresh("digits_acts.npz")
grams = cap.capture(mlp, (torch.from_numpy(x[i:i + 100]) for i in range(0, len(x), 100)), acts)
check(sorted(grams) == ["0.weight.gram", "2.weight.gram", "4.weight.gram"], f"one key per nn.Linear: {sorted(grams)}")
# numpy reference of every layer's inputs, float64 from the weights
sd = {k: v.numpy().astype(np.float64) for k, v in mlp.state_dict().items()}
h = x.astype(np.float64)
for i, name in enumerate(["0", "2", "4"]):
    ref = h.T @ h
    check(rel(grams[f"{name}.weight.gram"], ref) < 1e-5, f"digits {name}: Gram matrix {rel(grams[f'{name}.weight.gram'], ref)}")
    h = h @ sd[f"{name}.weight"].T + sd[f"{name}.bias"]
    if i < 2:
        h = np.maximum(h, 0)
src = os.path.join(d, "digits.safetensors")
outs = {}
for kind, flags in (("calib", ["--calib", x_train]), ("acts", ["--calib-acts", acts])):
    f = fresh(f"digits_{kind}.dlor")
    rc, so, se = run("convert", src, "--activation", "relu", "-o", f, "--tol", "0.2", *flags)
    check(rc == 0, f"digits --{kind}: {se}")
    outs[kind] = (ranks(f) if rc == 0 else None, run_npy(TMP, f, x_test)[0])
check(outs["acts"][0] == outs["calib"][0], f"digits: the same ranks {outs['acts'][0]} {outs['calib'][0]}")
y_c, y_a = outs["calib"][1], outs["acts"][1]
check(y_c is not None and y_a is not None and rel(y_a, y_c) < 1e-5,
      f"digits: outputs of --calib-acts and --calib agree: {rel(y_a, y_c) if y_a is not None and y_c is not None else None}")
print("digits --tol 0.2, --calib-acts vs --calib outputs, rel:", rel(y_a, y_c))
# the command line: a factory function in a module of its own
with open(path("digits_factory.py"), "w") as fh:
    fh.write("import torch, torch.nn as nn\n"
             "def build():\n"
             "    m = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))\n"
             f"    m.load_state_dict(torch.load({os.path.join(d, 'digits.pt')!r}))\n"
             "    return m\n")
cli_out = fresh("digits_cli.npz")
p = subprocess.run([sys.executable, os.path.join(SRC, "python", "dlor_capture_acts.py"), "digits_factory:build",
                    x_train, "-o", cli_out], cwd=TMP, capture_output=True, text=True)
check(p.returncode == 0 and "3 layers" in p.stdout, f"the command line: {p.stdout} {p.stderr}")
if p.returncode == 0:
    z = np.load(cli_out)
    check(sorted(z.files) == sorted(grams) and all(rel(z[k], grams[k]) < 1e-6 for k in grams),
          "the command line writes the same Gram matrices")

# ---- bert-tiny: the sample's PyTorch modules ----------------------------------------------------
import train as bert_train  # noqa: E402  (samples/bert-tiny/train.py: the modules, no training on import)

bd = os.path.join(SRC, "samples", "bert-tiny")
with open(os.path.join(bd, "config.json")) as f:
    cfg = json.load(f)
bert = bert_train.BertModel(cfg)
missing = bert.load_state_dict(load_safetensors(os.path.join(bd, "model.safetensors")), strict=False)
check(not missing.missing_keys, f"bert-tiny weights load: {missing}")
bert.eval()
calib = dict(np.load(os.path.join(bd, "calib.npz")))
n = len(calib["input_ids"])
batches = ({k: torch.from_numpy(v[i:i + 16]) for k, v in calib.items()} for i in range(0, n, 16))
bacts = fresh("bert_acts.npz")
bgrams = cap.capture(bert, batches, bacts)
check(len(bgrams) == 12, f"bert-tiny: 6 linear layers per block, 2 blocks: {len(bgrams)}")
test_ids = os.path.join(bd, "test.npz")
dense_emb = path("bert_dense_emb.npy")
rc, so, se = run("run", bd, "-i", test_ids, "-o", dense_emb, "--select", "sentence_embedding")
check(rc == 0, f"dense embeddings: {se}")
res = {}
for kind, flags in (("calib", ["--calib", os.path.join(bd, "calib.npz")]), ("acts", ["--calib-acts", bacts])):
    f = fresh(f"bert_{kind}.dlor")
    rc, so, se = run("convert", bd, "-o", f, "--tol", "0.2", *flags)
    check(rc == 0, f"bert-tiny --{kind}: {se}")
    e = path(f"bert_{kind}_emb.npy")
    rc2, so, se = run("run", f, "-i", test_ids, "-o", e, "--select", "sentence_embedding")
    res[kind] = (ranks(f), np.load(e) if rc2 == 0 else None)
check(res["acts"][0] == res["calib"][0], f"bert-tiny: the same ranks {res['acts'][0]} {res['calib'][0]}")
ea, ec = res["acts"][1], res["calib"][1]
ok = ea is not None and ec is not None
check(ok and rel(ea, ec) < 1e-5, f"bert-tiny: embeddings agree: {rel(ea, ec) if ok else None}")
if ok:
    dense = np.load(dense_emb)
    ca, cc = cosine_mean(ea, dense), cosine_mean(ec, dense)
    print(f"bert-tiny --tol 0.2: mean cosine --calib-acts {ca:.6f}, --calib {cc:.6f}; embeddings rel {rel(ea, ec):.2e}")
    check(abs(ca - cc) < 1e-6, f"bert-tiny: the same mean cosine {ca} {cc}")

finish()
