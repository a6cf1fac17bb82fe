"""Two builds of dlor's runtime timed against each other in one process.

    python3 bench/ab_runtime.py (--old-src DIR | --old-rev REV) --new-src DIR [--dlor BIN]
                                [--work DIR] [--sizes 1024 2048] [--budget S] [--quick]
                                [--markdown FILE] [--json FILE]

Compiles bench/rt_shim.c with each source tree's runtime (the flags of
bench/run.sh: -O3 -ffp-contract=off), converts the benchmark suite's MLPs
(bench/make_models.py: 3 layers of N x N, relu; dense, exact mul and add,
compressed to 10% and 25% of the parameters) with --dlor (a binary whose
files both runtimes read), and times every model with both shared libraries
loaded at once, alternating (bench/timing.py's protocol), at batch 1 and 64
with one thread and at batch 1 with two. Prints the medians and the ratio
new/old for each, and checks that both give the same bits. For a change to
the runtime that must not cost speed; not part of the tests. --old-rev takes
the old tree from the repository's history (git archive) instead of a folder;
--markdown and --json write the table for bench/harness.py.
"""
import json
import argparse
import ctypes
import os
import subprocess
import sys
import tarfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_models  # noqa: E402
import timing  # noqa: E402


def shim(src, out, cc="cc"):
    files = ["bench/rt_shim.c", "formats/crc32.c", "formats/dlor_image.c", "lib/runtime/runtime.c",
             "lib/runtime/pool.c"]
    if os.path.exists(os.path.join(src, "formats/dlor_image_graph.c")):
        files.insert(3, "formats/dlor_image_graph.c")
    cmd = [cc, "-std=c99", "-O3", "-DNDEBUG", "-ffp-contract=off", "-fPIC", "-shared", "-fvisibility=hidden",
           "-I" + os.path.join(src, "include"), "-I" + os.path.join(src, "formats"), "-I" + os.path.join(src, "lib/runtime")]
    cmd += [os.path.join(src, f) for f in files] + ["-lm", "-lpthread", "-o", out]
    subprocess.run(cmd, check=True)
    return out


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--old-src")
    ap.add_argument("--old-rev", help="a commit of this repository whose runtime is the old one")
    ap.add_argument("--markdown")
    ap.add_argument("--json")
    ap.add_argument("--new-src", required=True)
    ap.add_argument("--dlor", default=None, help="the dlor binary that converts the models (default: new-src/build)")
    ap.add_argument("--work", default="build-bench/ab")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    ap.add_argument("--budget", type=float, default=4.0)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args(argv)
    if a.quick:
        a.sizes, a.budget = [128], 0.3
    os.makedirs(a.work, exist_ok=True)
    if (a.old_src is None) == (a.old_rev is None):
        ap.error("give one of --old-src and --old-rev")
    if a.old_rev:
        a.old_src = old_tree(a.old_rev, a.new_src, a.work)
    dlor = a.dlor or os.path.join(a.new_src, "build", "dlor")
    libs = {"old": shim(a.old_src, os.path.join(a.work, "librt_old.so")),
            "new": shim(a.new_src, os.path.join(a.work, "librt_new.so"))}
    rts = {k: timing.Runtime(v) for k, v in libs.items()}
    print(f"{'model':>14} {'N':>5} {'batch':>5} {'thr':>3} {'old ms':>9} {'new ms':>9} {'new/old':>8}  bits")
    ratios, rows = [], []
    for n in a.sizes:
        prefix = os.path.join(a.work, f"mlp{n}")
        if not os.path.exists(prefix + ".safetensors"):  # models of an earlier run are kept
            make_models.make_mlp(prefix, n, layers=3, seed=n, onnx_too=False, check=False)
        variants = [("dense", ["--include", "nothing"]), ("mul", []), ("add", ["--method", "add"]),
                    ("p0.1", ["--method", "lowrank", "--rank", str(max(1, round(0.1 * n / 2)))]),
                    ("p0.25", ["--method", "lowrank", "--rank", str(max(1, round(0.25 * n / 2)))])]
        for name, extra in variants:
            model = f"{prefix}-{name}.dlor"
            if not os.path.exists(model):
                subprocess.run([dlor, "convert", prefix + ".safetensors", "-o", model, "--activation", "relu"] + extra,
                               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for batch, threads in ((1, 1), (64, 1), (1, 2)):
                x = timing.inputs(n, batch)
                runs = {k: rt.model(model, x, threads) for k, rt in rts.items()}
                runs["old"]()
                runs["new"]()
                same = np.array_equal(runs["old"].y.view(np.uint32), runs["new"].y.view(np.uint32))
                res = timing.measure(runs, budget_s=a.budget)
                r = res["new"]["ms"] / res["old"]["ms"]
                ratios.append(r)
                rows.append({"model": name, "n": n, "batch": batch, "threads": threads, "old_ms": res["old"]["ms"],
                             "new_ms": res["new"]["ms"], "ratio": r, "same_bits": bool(same)})
                print(f"{name:>14} {n:>5} {batch:>5} {threads:>3} {res['old']['ms']:9.4f} {res['new']['ms']:9.4f}"
                      f" {r:8.3f}  {'same' if same else 'DIFFER'}", flush=True)
    print(f"ratio new/old: median {np.median(ratios):.3f}, min {min(ratios):.3f}, max {max(ratios):.3f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"old": a.old_rev or a.old_src, "rows": rows}, f, indent=1)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(markdown(rows))


def old_tree(rev, repo, work):
    """The files of commit rev of the repository at repo, unpacked into work/old-src."""
    dest = os.path.join(work, "old-src")
    tar = os.path.join(work, "old-src.tar")
    with open(tar, "wb") as f:
        subprocess.run(["git", "-C", repo, "archive", "--format=tar", rev], check=True, stdout=f)
    if os.path.isdir(dest):
        subprocess.run(["rm", "-rf", dest], check=True)
    with tarfile.open(tar) as t:
        t.extractall(dest)
    return dest


def markdown(rows):
    """The rows as a table, then the median ratio per batch size."""
    L = ["| model | N | batch | threads | old ms | new ms | new / old | same bits |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        L.append(f"| {r['model']} | {r['n']} | {r['batch']} | {r['threads']} | {r['old_ms']:.4f} | {r['new_ms']:.4f} "
                 f"| {r['ratio']:.3f} | {'yes' if r['same_bits'] else 'NO'} |")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    main(sys.argv[1:])
