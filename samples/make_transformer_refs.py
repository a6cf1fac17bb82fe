#!/usr/bin/env python3
"""Write the reference outputs of a transformer sample and compare the implementations.

Run with the pip Python (numpy, safetensors, onnxruntime) after the sample's train.py:
    python3 samples/make_transformer_refs.py samples/bert-tiny [--torch /tmp/dlor-bert-tiny/torch_outputs.npz]

For each input set (calib.npz, test.npz, long.npz) it computes the output of the numpy
reference (tests/transformer_ref.py) in float64 and float32, runs model.onnx in onnxruntime
and, given --torch, reads torch's float32 and float64 outputs. It prints the largest relative
error (max |a - b| / max |b|) of each against the float64 reference, and of onnxruntime against
torch's float32 output, and exits 1 if a float32 one exceeds 1e-5 or torch's float64 output
differs from the reference by more than 1e-10.

It writes, rounded to float32 from the float64 reference: for an encoder
test_last_hidden_state.npy and long_last_hidden_state.npy, and calib_embeddings.npy (mean
pooled over the mask, L2-normalised); for a decoder test_logits.npy and long_logits.npy.
"""
import argparse
import os
import sys

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import transformer_ref as ref  # noqa: E402

SETS = ("calib", "test", "long")
F32_TOL, F64_TOL = 1e-5, 1e-10


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--torch", help="torch_outputs.npz written by the sample's train.py")
    a = ap.parse_args()
    model = ref.load(a.folder)
    out_name = "last_hidden_state" if model.kind == "bert" else "logits"
    sess = ort.InferenceSession(os.path.join(a.folder, "model.onnx"),
                                providers=["CPUExecutionProvider"])
    feeds = [i.name for i in sess.get_inputs()]
    th = np.load(a.torch) if a.torch else None
    bad = 0
    print(f"{'set':6} {'shape':>14}  {'numpy f32':>10} {'onnxruntime':>11} {'torch f32':>10} "
          f"{'torch f64':>10} {'ort vs torch':>13}   (max rel error vs numpy f64; last: vs torch f32)")
    for name in SETS:
        x = dict(np.load(os.path.join(a.folder, f"{name}.npz")))
        kw = {"token_type_ids": x["token_type_ids"]} if model.kind == "bert" else {}
        y64 = model(x["input_ids"], x["attention_mask"], **kw)
        errs = {"numpy f32": ref.max_rel_error(
            model(x["input_ids"], x["attention_mask"], dtype=np.float32, **kw), y64)}
        y_ort = sess.run(None, {k: x[k] for k in feeds})[0]
        errs["onnxruntime"] = ref.max_rel_error(y_ort, y64)
        if th is not None:
            errs["torch f32"] = ref.max_rel_error(th[f"{name}_f32"], y64)
            errs["torch f64"] = ref.max_rel_error(th[f"{name}_f64"], y64)
            errs["ort vs torch"] = ref.max_rel_error(y_ort, th[f"{name}_f32"])
        print(f"{name:6} {str(list(y64.shape)):>14}  " + " ".join(
            f"{errs.get(k, float('nan')):>{w}.3g}" for k, w in
            (("numpy f32", 10), ("onnxruntime", 11), ("torch f32", 10), ("torch f64", 10),
             ("ort vs torch", 13))))
        for k, e in errs.items():
            if e > (F64_TOL if k == "torch f64" else F32_TOL):
                print(f"FAIL {name}: {k} differs from the float64 reference by {e:.3g}")
                bad += 1
        if name == "calib" and model.kind == "bert":
            emb = ref.l2_normalize(ref.mean_pool(y64, x["attention_mask"]))
            np.save(os.path.join(a.folder, "calib_embeddings.npy"), emb.astype(np.float32))
        elif name != "calib":
            np.save(os.path.join(a.folder, f"{name}_{out_name}.npy"), y64.astype(np.float32))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
