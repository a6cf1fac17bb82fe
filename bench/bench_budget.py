"""`dlor convert --budget` on an encoder-shaped model against NumPy's full SVDs of its layers.

    python3 bench_budget.py DLOR WORKDIR [--blocks B] [--d D] [--budget F] [--reps R] [--methods M,...]

Writes WORKDIR/encoder.safetensors: B blocks of a small transformer encoder's linear layers
(query, key, value, attention output: D x D; intermediate: 4D x D; output: D x 4D; float32;
36 layers of 384 x 384, 1536 x 384 and 384 x 1536 by default), each W = Q1 diag(s) Q2^T with
Haar-random orthogonal Q1, Q2 (seeded) and the slowly decaying spectrum of trained layers,
s_i = (1 + i / 8)^-0.8 scaled so that ||W||_F^2 = K (K = min(m, n)). Then times, best of R
runs each, in one process (so the figures are same-run ratios):
  numpy      numpy.linalg.svd(W, full_matrices=True) of every layer (float64), summed;
  METHOD     `DLOR convert encoder.safetensors -o OUT --method METHOD --budget F` (wall clock of
             the whole command: reading, curves, allocation, fits, writing);
and prints, per method, the seconds and the ratio to numpy's, then one line
`budget seconds: numpy S METHOD S ...` for scripts. OpenBLAS threads as the caller set them.
Not a test.
"""
import argparse
import os
import subprocess
import sys
import time

import numpy as np


def spectrum(k):
    s = (1.0 + np.arange(k) / 8.0) ** -0.8
    return s * np.sqrt(k / np.sum(s * s))


def orth(rng, n):
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def layer(rng, m, n):
    k = min(m, n)
    q1, q2 = orth(rng, m)[:, :k], orth(rng, n)[:, :k]
    return ((q1 * spectrum(k)) @ q2.T).astype(np.float32)


def make_model(path, blocks, d, seed=11):
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    t = {}
    for b in range(blocks):
        p = "encoder.layer.%d." % b
        for name in ["attention.self.query", "attention.self.key", "attention.self.value",
                     "attention.output.dense"]:
            t[p + name + ".weight"] = layer(rng, d, d)
        t[p + "intermediate.dense.weight"] = layer(rng, 4 * d, d)
        t[p + "output.dense.weight"] = layer(rng, d, 4 * d)
    save_file(t, path)
    return [v.astype(np.float64) for v in t.values()]


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("dlor")
    ap.add_argument("work")
    ap.add_argument("--blocks", type=int, default=6)
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--budget", type=float, default=0.5)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--methods", default="lowrank,svd")
    a = ap.parse_args(argv)
    os.makedirs(a.work, exist_ok=True)
    src = os.path.join(a.work, "encoder.safetensors")
    ws = make_model(src, a.blocks, a.d)
    np.linalg.svd(np.eye(64) + 1e-3 * np.arange(64 * 64).reshape(64, 64))  # library start-up
    best = {}
    for _ in range(a.reps):
        t0 = time.perf_counter()
        for w in ws:
            np.linalg.svd(w, full_matrices=True)
        best["numpy"] = min(best.get("numpy", float("inf")), time.perf_counter() - t0)
        for m in a.methods.split(","):
            out = os.path.join(a.work, "encoder_%s.dlor" % m)
            cmd = [a.dlor, "convert", src, "-o", out, "--method", m, "--budget", str(a.budget)]
            t0 = time.perf_counter()
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            dt = time.perf_counter() - t0
            if p.returncode != 0:
                sys.stderr.write(p.stdout + p.stderr)
                raise SystemExit("bench_budget: %s failed (exit %d)" % (" ".join(cmd), p.returncode))
            best[m] = min(best.get(m, float("inf")), dt)
    shapes = sorted({w.shape for w in ws})
    print("%d layers (%s), budget %g, best of %d" % (len(ws), ", ".join("%dx%d" % s for s in shapes),
                                                     a.budget, a.reps))
    print("numpy full SVDs          %8.3f s" % best["numpy"])
    for m in a.methods.split(","):
        print("convert --method %-8s %8.3f s   %.2f x numpy" % (m, best[m], best[m] / best["numpy"]))
    print("budget seconds: " + " ".join("%s %.4f" % (k, v) for k, v in best.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
