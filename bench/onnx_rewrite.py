"""The dense ONNX model against its --emit-onnx rewrite, both in onnxruntime, in one process.

    python3 bench/onnx_rewrite.py [--dlor PATH] [--work DIR] [--n 1024 2048] [--layers 3]
                                  [--budget 0.25] [--batch 1] [--threads 1] [--quick]

For each N: a seeded MLP of L linear N x N layers with relu between them (make_models.py:
Gemm nodes), converted with `dlor convert --budget P --emit-onnx`, so each layer becomes
beta*I + P Q^T (two MatMuls, a Mul and an Add) storing P times the dense parameters. Both
models run in onnxruntime (CPU provider, intra_op_num_threads = T) on the same seeded
batch, timed alternately by bench/timing.py's protocol, and the script prints per N the
two medians, their ratio (dense / rewritten: above 1 means the rewrite is faster), the
parameter ratio, the file sizes and the largest difference between the rewrite's outputs
and `dlor run`'s (relative to the largest output). It writes nothing itself: bench/harness.py
runs it and puts the table in BENCHMARKS.md (section 6). Needs numpy, safetensors, onnx and
onnxruntime.
"""
import argparse
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_models  # noqa: E402
import timing  # noqa: E402


def session(path, threads):
    import onnxruntime as ort

    opt = ort.SessionOptions()
    opt.intra_op_num_threads = threads
    opt.inter_op_num_threads = 1
    return ort.InferenceSession(path, opt, providers=["CPUExecutionProvider"])


def initializer_params(path):
    import onnx

    return sum(int(np.prod(t.dims)) for t in onnx.load(path).graph.initializer)


def case(dlor, work, n, layers, budget, batch, threads, budget_s):
    prefix = os.path.join(work, f"mlp{n}")
    make_models.make_mlp(prefix, n, layers=layers, check=False)
    dense, dl, rw = prefix + ".onnx", prefix + ".dlor", prefix + ".dlor.onnx"
    for p in (dl, rw):
        if os.path.exists(p):
            os.remove(p)
    r = subprocess.run([dlor, "convert", dense, "-o", dl, "--budget", str(budget), "--emit-onnx", rw],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise SystemExit(f"dlor convert {dense}: {r.stderr.strip()}")
    x = timing.inputs(n, batch)
    xi, yo = os.path.join(work, "x.npy"), os.path.join(work, "y.npy")
    np.save(xi, x)
    r = subprocess.run([dlor, "run", dl, "-i", xi, "-o", yo], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise SystemExit(f"dlor run {dl}: {r.stderr.strip()}")
    sd, sr = session(dense, threads), session(rw, threads)
    y_rw = sr.run(None, {"x": x})[0]
    err = timing.rel_err(y_rw, np.load(yo))
    feeds = {"x": x}
    res = timing.measure({"dense": lambda: sd.run(None, feeds), "rewritten": lambda: sr.run(None, feeds)},
                         budget_s=budget_s)
    pd, pr = initializer_params(dense), initializer_params(rw)
    return {"n": n, "dense_ms": res["dense"]["ms"], "rw_ms": res["rewritten"]["ms"],
            "ratio": res["dense"]["ms"] / res["rewritten"]["ms"], "params": pr / pd,
            "bytes_dense": os.path.getsize(dense), "bytes_rw": os.path.getsize(rw), "err": err,
            "stop": res["_stop"], "samples": res["_samples"]}


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    root = os.path.dirname(HERE)
    ap.add_argument("--dlor", default=os.environ.get("DLOR_BIN", os.path.join(root, "build", "dlor")))
    ap.add_argument("--work", default=os.path.join(root, "build", "bench-onnx-rewrite"))
    ap.add_argument("--n", type=int, nargs="+", default=[1024, 2048])
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--budget", type=float, default=0.25)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--time", type=float, default=6.0, help="time budget per N in seconds")
    ap.add_argument("--quick", action="store_true", help="N = 256 and a short budget, to check that it works")
    a = ap.parse_args(argv)
    if a.quick:
        a.n, a.time = [256], 1.0
    os.makedirs(a.work, exist_ok=True)
    print(f"onnxruntime: dense ONNX MLP ({a.layers} layers N x N, relu) against its --emit-onnx rewrite at "
          f"--budget {a.budget}, batch {a.batch}, {a.threads} thread(s), medians of alternating samples")
    print(f"{'N':>6} {'dense ms':>10} {'rewrite ms':>11} {'dense/rewrite':>14} {'params':>7} "
          f"{'MB dense':>9} {'MB rewrite':>11} {'vs dlor run':>12}  stop")
    for n in a.n:
        r = case(a.dlor, a.work, n, a.layers, a.budget, a.batch, a.threads, a.time)
        print(f"{r['n']:>6} {r['dense_ms']:>10.4f} {r['rw_ms']:>11.4f} {r['ratio']:>13.2f}x {r['params']:>7.3f} "
              f"{r['bytes_dense'] / 1e6:>9.2f} {r['bytes_rw'] / 1e6:>11.2f} {r['err']:>12.2e}  "
              f"{r['stop']} ({r['samples']} samples)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
