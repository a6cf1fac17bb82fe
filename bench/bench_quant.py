"""Batch-1 latency of quantized dense layers in dlor's runtime, against float32.

    python3 bench/bench_quant.py --dlor BIN --shim LIB [--work DIR] [--sizes 2048] [--budget S]
                                 [--markdown FILE] [--json FILE]

For each N: one dense N x N layer (Gaussian weights, no bias) converted with
--dtype f32, q8 and q4 (--tol 1e-9 keeps the layer dense), each timed at batch 1
on one thread through bench/rt_shim.c (the runtime's sources and flags),
alternating in one process (bench/timing.py's protocol), together with a plain
read of each file's bytes (the floor for a pass that reads every byte once).
Each quantized file is also timed opened with DLOR_RT_QUANT_ACTS (rows "q8 int",
"q4 int": the activations quantized to int8 per block of 32, integer dot
products), with the extra output error that brings against the float-activation
path of the same file.
Prints the medians and the ratios q8 / f32 and q4 / f32, and with --markdown
writes them as a table for BENCHMARKS.md (bench/harness.py, section 4). A
benchmark, not a test.
"""
import argparse
import ctypes
import json
import os
import struct
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import timing  # noqa: E402


QUANT_ACTS = 0x100  # dlor_runtime.h's DLOR_RT_QUANT_ACTS


def write_dense(path, n, seed):
    w = np.random.default_rng(seed).standard_normal((n, n)).astype("<f4")
    hdr = {"__metadata__": {"dlor.graph": "linear(0.weight)"},
           "0.weight": {"dtype": "F32", "shape": [n, n], "data_offsets": [0, w.nbytes]}}
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + w.tobytes())


def measure_size(a, rt, n):
    src = os.path.join(a.work, "quant-dense-%d.safetensors" % n)
    write_dense(src, n, n)
    files = {}
    for dt in ("f32", "q8", "q4"):
        files[dt] = os.path.join(a.work, "quant-dense-%d-%s.dlor" % (n, dt))
        subprocess.run([a.dlor, "convert", src, "-o", files[dt], "--tol", "1e-9", "--dtype", dt], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    x = timing.inputs(n, 1)
    cands, ys = {}, {}
    for dt, f in files.items():
        cands[dt] = rt.model(f, x, 1)
        if dt != "f32":
            cands[dt + " int"] = rt.model(f, x, 1, flags=QUANT_ACTS)
        h = rt.lib.shim_open(f.encode(), 1, ctypes.create_string_buffer(256), 256)
        cands["read " + dt] = (lambda h=h: rt.lib.shim_read(h))
    res = timing.measure(cands, budget_s=a.budget)
    for dt in cands:
        if not dt.startswith("read"):
            ys[dt] = cands[dt].y.copy()
    size = {dt: os.path.getsize(f) for dt, f in files.items()}
    return res, size, ys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dlor", required=True)
    ap.add_argument("--shim", required=True)
    ap.add_argument("--work", default="/tmp/dlor-bench-quant")
    ap.add_argument("--sizes", type=int, nargs="+", default=[2048])
    ap.add_argument("--budget", type=float, default=20.0)
    ap.add_argument("--markdown")
    ap.add_argument("--json")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    rt = timing.Runtime(a.shim)
    rt.lib.shim_read.restype = ctypes.c_ulonglong
    rt.lib.shim_read.argtypes = [ctypes.c_void_p]
    rows = []
    for n in a.sizes:
        res, size, ys = measure_size(a, rt, n)
        ms = {k: res[k]["ms"] for k in res if not k.startswith("_")}
        for dt in ("q8", "q4", "q8 int", "q4 int"):
            st = dt.split()[0]
            err = float(np.abs(ys[dt] - ys["f32"]).max() / np.abs(ys["f32"]).max())
            extra = float(np.abs(ys[dt] - ys[st]).max() / np.abs(ys[st]).max())
            row = dict(n=n, dt=dt, storage=st, quant_acts=dt != st, ms=ms[dt], f32=ms["f32"], ratio=ms[dt] / ms["f32"],
                       read=ms["read " + st], floor=ms["read " + st] / ms["f32"], read_f32=ms["read f32"],
                       bytes=size[st] / size["f32"], err=err, err_acts=extra, stop=res["_stop"],
                       samples=res["_samples"])
            rows.append(row)
            print("N = %d %s: %.3f ms, f32 dense %.3f ms: ratio %.3f (bytes %.3f); plain read of the %s file "
                  "%.3f ms = %.3f x f32 dense (read of the f32 file %.3f ms); output max rel. diff to f32 %.2g%s "
                  "[%s, %d samples]" % (n, dt, row["ms"], row["f32"], row["ratio"], row["bytes"], st, row["read"],
                                       row["floor"], row["read_f32"], err,
                                       ", to the float activations of the %s file %.2g" % (st, extra)
                                       if dt != st else "", row["stop"], row["samples"]), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f)
    if a.markdown:
        lines = ["| N | dtype | activations | bits/weight | ms | f32 dense ms | ratio to f32 | file bytes ratio | "
                 "plain read of the file, ms | read / f32 dense | extra output error of int8 activations |",
                 "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            lines.append("| %d | %s | %s | %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %s |" % (
                r["n"], r["storage"], "int8 (quantized)" if r["quant_acts"] else "float",
                "8.5" if r["storage"] == "q8" else "4.5", r["ms"], r["f32"], r["ratio"], r["bytes"], r["read"],
                r["floor"], "%.2g" % r["err_acts"] if r["quant_acts"] else "-"))
        with open(a.markdown, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
