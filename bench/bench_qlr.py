"""Accuracy per byte of a quantized base with a low-rank correction (convert --method qlr), against
plain q4 and q8 and against DLoR (beta*I + P Q^T) at about the same bytes.

    python3 bench/bench_qlr.py --dlor BIN [--work DIR] [--n 1024] [--json FILE]

1. One heavy-tailed layer: W is N x N with Student-t entries (3 degrees of freedom, the tails of
   trained transformer weights). Calibration inputs X (4096 rows) and held-out inputs (2048 rows)
   are drawn from one distribution: Gaussian with 8 directions (a random orthonormal basis) of
   standard deviation 30 and the rest 1, the shape of LLM activations, where a few channels carry
   most of the energy. The same layer is also measured with isotropic inputs (all directions 1),
   where the calibration has nothing to exploit. Each form's file is converted by the dlor command
   and read back with numpy; errors are relative Frobenius norms: weight space ||W_hat - W|| / ||W||
   and data space ||X_t (W_hat - W)^T|| / ||X_t W^T|| on the held-out inputs X_t. Bits per weight
   count every byte of the layer's tensors (values, scales, factors).
2. End to end on the samples (digits MLP, bert-tiny, llama-tiny): q4 storage of every converted
   layer, qlr (q4 base plus a rank-r f16 correction fitted on the sample's calibration inputs), and
   DLoR with f16 factors at the budget whose bytes match the qlr file's layers, each held against
   the float model by 'dlor verify --inputs' on the sample's held-out inputs; and at q4's bytes,
   convert --budget-bits 4.5 (each layer's form chosen by the allocation) and DLoR in f16.

Prints the figures; a benchmark, not a test (tests/test_qlr.py asserts the 20% data-space gain).
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
import dlor_pyreader  # noqa: E402
from dlor_spec_cases import safetensors_bytes  # noqa: E402


def sh(*args):
    r = subprocess.run(list(args), capture_output=True, text=True)
    if r.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(args)}: exit {r.returncode}: {r.stderr}")
    return r


def layer_of(path, name):
    """(the layer's matrix in float64, bytes of its tensors) read back from a .dlor file."""
    _, tensors, layers = dlor_pyreader.read(path)
    recs = {t["name"]: len(t["raw"]) for t in dlor_pyreader._load(path)[1]}
    if name in layers:
        nb = sum(v for k, v in recs.items() if k.startswith(name + ".dlor."))
        return dlor_pyreader.rebuild(layers[name]), nb
    return tensors[name].astype(np.float64), recs[name]


def one_layer(a, n, aniso):
    rng = np.random.default_rng(7)
    W = (0.02 * rng.standard_t(3, size=(n, n))).astype(np.float32)
    src = os.path.join(a.work, "t.safetensors")
    with open(src, "wb") as f:
        f.write(safetensors_bytes([("0.weight", "F32", [n, n], W.astype("<f4").tobytes())],
                                  {"dlor.graph": "linear(0.weight)"}))
    s = np.ones(n)
    if aniso:
        s[:8] = 30.0
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    X = (rng.standard_normal((4096, n)) * s) @ Q.T
    Xt = (rng.standard_normal((2048, n)) * s) @ Q.T
    calib = os.path.join(a.work, "calib.npy")
    np.save(calib, X.astype(np.float32))
    k5 = n // 64                      # rank of a 0.5-bit f16 correction: k (2n) 16 bits = 0.5 n^2
    k_lr = (5 * n * n) // (16 * 2 * n)  # rank of DLoR in f16 at 5 bits per weight
    forms = [
        ("q4", ["--tol", "1e-9", "--dtype", "q4"]),
        ("q8", ["--tol", "1e-9", "--dtype", "q8"]),
        (f"q4 + rank {k5} f16, weight-space fit", ["--method", "qlr", "--rank", str(k5)]),
        (f"q4 + rank {k5} f16, --calib", ["--method", "qlr", "--rank", str(k5), "--calib", calib]),
        (f"q4 + rank {2 * k5} f16, --calib", ["--method", "qlr", "--rank", str(2 * k5), "--calib", calib]),
        (f"DLoR rank {k_lr} f16, --calib", ["--method", "lowrank", "--rank", str(k_lr), "--dtype", "f16",
                                            "--calib", calib]),
    ]
    W64 = W.astype(np.float64)
    ref = np.linalg.norm(Xt @ W64.T)
    rows = []
    print(f"\nStudent-t (df 3) {n} x {n} layer, {'anisotropic' if aniso else 'isotropic'} inputs "
          f"({'8 directions of std 30, the rest 1' if aniso else 'all directions std 1'}):")
    print(f"  {'form':40s} {'bits/weight':>11s} {'weight err':>11s} {'data err':>9s}")
    for label, args in forms:
        out = os.path.join(a.work, "f.dlor")
        r = sh(a.dlor, "convert", src, "-o", out, *args)
        if r.returncode != 0:
            raise SystemExit(f"convert {label}: {r.stderr}")
        Wh, nb = layer_of(out, "0.weight")
        bits = 8 * nb / (n * n)
        ew = np.linalg.norm(Wh - W64) / np.linalg.norm(W64)
        ed = np.linalg.norm(Xt @ (Wh - W64).T) / ref
        rows.append(dict(form=label, bits=bits, weight_err=ew, data_err=ed))
        print(f"  {label:40s} {bits:11.2f} {ew:11.4f} {ed:9.4f}")
    q4 = rows[0]["data_err"]
    best = rows[3]["data_err"]
    print(f"  q4 + correction with --calib at {rows[3]['bits']:.2f} bits: data error {best / q4:.3f} x plain q4's "
          f"({100 * (1 - best / q4):.0f}% lower) at {rows[3]['bits'] / rows[0]['bits']:.3f} x its bytes")
    return rows


def end_to_end(a):
    S = os.path.join(ROOT, "samples")
    cases = [
        ("digits MLP", os.path.join(S, "digits", "digits.safetensors"), ["--activation", "relu"],
         os.path.join(S, "digits", "x_train.npy"), ["--inputs", os.path.join(S, "digits", "x_test.npy"),
                                                    "--labels", os.path.join(S, "digits", "y_test.npy")], 2),
        ("bert-tiny", os.path.join(S, "bert-tiny"), [], os.path.join(S, "bert-tiny", "calib.npz"),
         ["--inputs", os.path.join(S, "bert-tiny", "test.npz")], 4),
        ("llama-tiny", os.path.join(S, "llama-tiny"), [], os.path.join(S, "llama-tiny", "calib.npz"),
         ["--inputs", os.path.join(S, "llama-tiny", "test.npz")], 4),
    ]
    out_rows = []
    for name, src, extra, calib, vargs, rank in cases:
        print(f"\n{name} (layers converted by dlor's default selection), held-out inputs:")
        print(f"  {'form':36s} {'layer bytes':>11s} {'x dense':>8s} {'mean cos':>9s} {'min cos':>9s} "
              f"{'max rel':>8s} {'other':>s}")

        def measure(label, args):
            out = os.path.join(a.work, "e.dlor")
            js = os.path.join(a.work, "e.json")
            r = sh(a.dlor, "convert", src, "-o", out, *extra, *args)
            if r.returncode != 0:
                print(f"  {label:36s} convert failed: {r.stderr.strip()}")
                return None
            sh(a.dlor, "verify", src, out, *vargs, "--json", js)
            v = json.load(open(js))
            e = v.get("end_to_end", {})
            cos_m = e.get("mean_cosine", e.get("cosine_mean"))
            cos_n = e.get("min_cosine", e.get("cosine_min"))
            other = {k: e[k] for k in ("accuracy_dlor", "argmax_agreement", "next_token_agreement", "kl_mean")
                     if k in e}
            row = dict(model=name, form=label, bytes=v["bytes_dlor_total"], dense=v["bytes_dense_total"],
                       mean_cos=cos_m, min_cos=cos_n, max_rel=e.get("max_rel_error"), **other)
            print(f"  {label:36s} {row['bytes']:11d} {row['bytes'] / row['dense']:8.3f} {cos_m:9.5f} {cos_n:9.5f} "
                  f"{row['max_rel'] or float('nan'):8.4f} " + " ".join(f"{k}={v:.4g}" for k, v in other.items()))
            out_rows.append(row)
            return row

        q4 = measure("q4", ["--tol", "1e-9", "--dtype", "q4"])
        measure("auto --budget-bits 4.5 (--calib)", ["--budget-bits", "4.5", "--calib", calib])
        if q4:
            measure("DLoR f16 at q4's bytes (--calib)", ["--method", "auto", "--budget",
                                                         f"{min(1.0, q4['bytes'] / (2.0 * q4['dense'] / 4.0)):.4f}",
                                                         "--dtype", "f16", "--calib", calib])
        q = measure(f"q4 + rank {rank} f16 (--calib)", ["--method", "qlr", "--rank", str(rank), "--calib", calib])
        measure(f"q4 + rank {rank} f16 (weight space)", ["--method", "qlr", "--rank", str(rank)])
        if q:
            # DLoR in f16 at the same bytes: 2 bytes per stored number
            budget = min(1.0, q["bytes"] / (2.0 * q["dense"] / 4.0))
            measure(f"DLoR f16 --budget {budget:.3f} (--calib)", ["--method", "auto", "--budget", f"{budget:.4f}",
                                                                 "--dtype", "f16", "--calib", calib])
    return out_rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dlor", required=True)
    ap.add_argument("--work", default="/tmp/dlor-bench-qlr")
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--json")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    res = {"layer_anisotropic": one_layer(a, a.n, True), "layer_isotropic": one_layer(a, a.n, False),
           "end_to_end": end_to_end(a)}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
