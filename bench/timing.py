"""Shared pieces of the benchmark harness: the timing protocol, a small
safetensors reader (NumPy only) and dlor's runtime through ctypes.

Imported by bench/time_frameworks.py, which runs both under the benchmark
environment's python3 (onnxruntime) and under Debian's /usr/bin/python3
(PyTorch); it only needs the standard library and NumPy (1.24 or 2.x).

The protocol follows `dlor bench`: every candidate is warmed up, then the
candidates are timed in turn (alternating, so drift of the machine touches all
of them alike; the order rotates every round), each sample being `reps`
back-to-back passes with reps chosen so that one sample takes at least 5 ms,
after as many untimed passes (the turn before pushed part of this candidate's
data out of the shared last-level cache, and the passes after that are slower
for several passes, not one: each candidate is timed in its steady state);
sampling stops when every median moved by less than 1% over the last 10
samples (after at least 21), or when the time budget is spent. The figure
reported is the median time of one pass. With more than one thread, each
candidate gets a block of samples per round, and a pause after candidates
that own a spinning thread pool (see measure()).
"""
import ctypes
import json
import os
import statistics
import struct
import time

import numpy as np

SAMPLE_S = 5e-3
MIN_SAMPLES = 21


def measure(cands, budget_s=3.0, min_samples=MIN_SAMPLES, max_samples=4000, block=1, cooldown=None):
    """cands: dict name -> callable doing one forward pass. Returns dict name ->
    {"ms": median ms per pass, "samples", "reps"} plus "_stop" ("stable" or
    "budget") and "_rounds".

    Each round times every candidate in turn (rotating the order): `reps`
    untimed passes, then `block` samples of `reps` passes. cooldown: dict name
    -> seconds to sleep after that candidate's samples, for candidates that own
    a thread pool whose idle threads spin for a while (OpenBLAS: ~2^28 cycles)
    and would otherwise take a core from the next candidate. The budget counts
    wall time, sleeps included; at least 5 rounds are run."""
    names = list(cands)
    cooldown = cooldown or {}
    reps = {}
    for n in names:
        f = cands[n]
        for _ in range(3):
            f()
        t0 = time.perf_counter()
        f()
        one = time.perf_counter() - t0
        r = 1
        while r < 1000000 and one * r < SAMPLE_S:
            r *= 2
        reps[n] = r
        time.sleep(cooldown.get(n, 0.0))
    samples = {n: [] for n in names}
    start = time.perf_counter()
    prev, prev_at = None, 0
    stop = "budget"
    rounds = 0
    while len(samples[names[0]]) < max_samples:
        k = rounds % len(names)
        for n in names[k:] + names[:k]:
            f, r = cands[n], reps[n]
            for _ in range(r):  # untimed: the previous candidate evicted part of this one's data
                f()
            for _ in range(block):
                t0 = time.perf_counter()
                for _ in range(r):
                    f()
                samples[n].append((time.perf_counter() - t0) / r)
            if cooldown.get(n):
                time.sleep(cooldown[n])
        rounds += 1
        got = len(samples[names[0]])
        if got >= min_samples and got - prev_at >= 10:
            med = {n: statistics.median(samples[n]) for n in names}
            if prev is not None and all(abs(med[n] - prev[n]) < 0.01 * med[n] for n in names):
                stop = "stable"
                break
            prev, prev_at = med, got
        if time.perf_counter() - start > budget_s and rounds >= 5:
            break
    out = {n: {"ms": 1e3 * statistics.median(samples[n]), "samples": len(samples[n]), "reps": reps[n]}
           for n in names}
    out["_stop"] = stop
    out["_rounds"] = rounds
    out["_samples"] = len(samples[names[0]])
    return out


_ST_DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64, "I32": np.int32}


def read_safetensors(path):
    """name -> NumPy array (a copy), for the dtypes the harness writes."""
    with open(path, "rb") as f:
        data = f.read()
    (hlen,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + hlen])
    base = 8 + hlen
    out = {}
    for name, d in header.items():
        if name == "__metadata__":
            continue
        b, e = d["data_offsets"]
        a = np.frombuffer(data[base + b:base + e], dtype=_ST_DTYPES[d["dtype"]])
        out[name] = a.reshape(d["shape"]).copy()
    return out


class Runtime:
    """dlor's runtime (bench/rt_shim.c compiled into a shared library)."""

    def __init__(self, lib_path):
        self.lib = ctypes.CDLL(os.path.abspath(lib_path))
        L = self.lib
        L.shim_open.restype = ctypes.c_void_p
        L.shim_open.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
        L.shim_forward.restype = ctypes.c_int
        L.shim_forward.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_int]
        L.shim_in_dim.restype = ctypes.c_ulonglong
        L.shim_in_dim.argtypes = [ctypes.c_void_p]
        L.shim_out_dim.restype = ctypes.c_ulonglong
        L.shim_out_dim.argtypes = [ctypes.c_void_p]
        if hasattr(L, "shim_run_ids"):  # absent from runtimes older than token-id models
            L.shim_run_ids.restype = ctypes.c_int
            L.shim_run_ids.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                       ctypes.c_size_t, ctypes.c_void_p, ctypes.c_int]
        L.shim_close.restype = None
        L.shim_close.argtypes = [ctypes.c_void_p]

    def model(self, path, x, threads):
        """A callable doing one forward pass of the .dlor file on x ([B, in]
        float32, C order) into its own output array (returned as .y)."""
        msg = ctypes.create_string_buffer(512)
        h = self.lib.shim_open(path.encode(), x.shape[0], msg, 512)
        if not h:
            raise RuntimeError(msg.value.decode())
        y = np.zeros((x.shape[0], int(self.lib.shim_out_dim(h))), dtype=np.float32)
        fwd = self.lib.shim_forward
        xp, yp, b = x.ctypes.data, y.ctypes.data, x.shape[0]

        def run():
            if fwd(h, xp, b, yp, threads) != 0:
                raise RuntimeError("%s: forward pass failed" % path)

        run.y = y
        run.keep = (x, self, h)
        return run


    def seq_model(self, path, ids, mask, threads):
        """A callable doing one forward pass of a .dlor model of token ids on
        ids (and mask, or None) [B, S] int64 into its own output array
        [B, S, F] (returned as .y)."""
        msg = ctypes.create_string_buffer(512)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        mask = None if mask is None else np.ascontiguousarray(mask, dtype=np.int64)
        h = self.lib.shim_open(path.encode(), ids.shape[0], msg, 512)
        if not h:
            raise RuntimeError(msg.value.decode())
        y = np.zeros((ids.shape[0], ids.shape[1], int(self.lib.shim_out_dim(h))), dtype=np.float32)
        run_ids = self.lib.shim_run_ids
        ip, mp, yp = ids.ctypes.data, (None if mask is None else mask.ctypes.data), y.ctypes.data
        b, s = ids.shape

        def run():
            if run_ids(h, ip, mp, b, s, yp, threads) != 0:
                raise RuntimeError("%s: forward pass failed" % path)

        run.y = y
        run.keep = (ids, mask, self, h)
        return run


def numpy_dense(weights, biases, x):
    """Dense forward pass with NumPy (its BLAS): relu between the layers,
    none after the last. Preallocated buffers; gemv at batch 1, gemm above."""
    B = x.shape[0]
    bufs = [np.zeros((B, w.shape[0]), dtype=np.float32) for w in weights]
    if B == 1:
        xv = x[0]
        vbufs = [b[0] for b in bufs]

        def run():
            h = xv
            for i, (w, bias) in enumerate(zip(weights, biases)):
                np.matmul(w, h, out=vbufs[i])
                np.add(vbufs[i], bias, out=vbufs[i])
                if i + 1 < len(weights):
                    np.maximum(vbufs[i], 0.0, out=vbufs[i])
                h = vbufs[i]
    else:
        wts = [w.T for w in weights]

        def run():
            h = x
            for i, (wt, bias) in enumerate(zip(wts, biases)):
                np.matmul(h, wt, out=bufs[i])
                np.add(bufs[i], bias, out=bufs[i])
                if i + 1 < len(weights):
                    np.maximum(bufs[i], 0.0, out=bufs[i])
                h = bufs[i]

    run.y = bufs[-1]
    return run


def inputs(n_in, batch, seed=12345):
    return np.random.default_rng(seed).standard_normal((batch, n_in)).astype(np.float32)


def rel_err(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))
