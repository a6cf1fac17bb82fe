"""The trained transformer samples (samples/bert-tiny, llama-tiny, llama-tiny-tied) run by dlor
through graphs of values written by hand (sample_graphs.py) in the 'dlor.graph' text form, with
the tensors' Hugging Face names, against the samples' committed reference outputs (numpy float64,
rounded to float32).

For each sample: a copy of model.safetensors with the graph in its metadata is run by `dlor run`
directly (dense weights) and converted to .dlor (exact DLoR layers, `--method add`), on test.npz
and long.npz (S = 128, the whole position table), in float32 (relative error <= 1e-5) and in
double (<= 1e-6: the references are float32 roundings); a team of 2 threads gives the bits of
one; BERT's mean-pooled, L2-normalised sentence embeddings of calib.npz match
calib_embeddings.npy. The tied decoder uses its embedding table as its head, so one tensor is
both a table and a linear weight."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dlor_testlib import SRC, check, finish, rel, run, run_npy, scratch_dir  # noqa: E402
from sample_graphs import sample_with_graph  # noqa: E402

TMP = scratch_dir("graph_samples")


def dlor_run(model, inputs, *flags):
    return run_npy(TMP, model, inputs, *flags)


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
    src, c, out = sample_with_graph(name, TMP)
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
