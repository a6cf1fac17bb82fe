"""How close convert's plan comes to what a conversion takes: a mid-size model of transformer
shapes (4 blocks, hidden 512, MLP 2048, seeded Gaussian weights; 13.1 M parameters, 52 MB) is
converted with several options, and the transformer samples bert-tiny and llama-tiny (where the
process's fixed costs and the graph's non-linear work weigh most) with a budget, the exact mul form
and the calibrated allocations; for each, the plan's estimated time and peak memory (from
'convert --dry-run') are printed next to the measured wall time and peak RSS of the conversion
(/usr/bin/time's maximum resident set size: a child forked straight from this script would count
the script's own pages, which Linux keeps in ru_maxrss across exec) and their ratios. The plan
aims at a factor of 2 either way. Not a test: the numbers depend on the machine and its load.

    python3 bench/plan_check.py [--dlor build/dlor] [--hidden 512] [--blocks 4] [--json FILE]"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
from safetensors.numpy import save_file

SAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "samples")
UNITS = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9}


def to_bytes(s):
    n, u = s.split()
    return float(n) * UNITS[u]


def to_secs(s):
    n, u = s.split()
    return float(n) * {"s": 1, "min": 60, "h": 3600}[u]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dlor", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "dlor"))
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--json", default=None, help="write every row here")
    a = ap.parse_args()
    h, inter = a.hidden, 4 * a.hidden
    rng = np.random.default_rng(0)
    t = {"embed.weight": rng.standard_normal((1000, h)).astype(np.float32)}
    for b in range(a.blocks):
        for n in ("q", "k", "v", "o"):
            t[f"blocks.{b}.{n}.weight"] = (rng.standard_normal((h, h)) / np.sqrt(h)).astype(np.float32)
        t[f"blocks.{b}.up.weight"] = (rng.standard_normal((inter, h)) / np.sqrt(h)).astype(np.float32)
        t[f"blocks.{b}.down.weight"] = (rng.standard_normal((h, inter)) / np.sqrt(inter)).astype(np.float32)
        t[f"blocks.{b}.norm.weight"] = np.ones(h, np.float32)
    d = tempfile.mkdtemp(prefix="dlor-plan-")
    src = os.path.join(d, "model.safetensors")
    save_file(t, src)
    params = int(sum(x.size for x in t.values()))
    rows = []
    print(f"model: {a.blocks} blocks, hidden {h}, {params / 1e6:.1f} M parameters, "
          f"{os.path.getsize(src) / 1e6:.1f} MB; OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    print(f"{'options':<44} {'est time':>9} {'time':>8} {'ratio':>6}   {'est peak':>9} {'peak RSS':>9} {'ratio':>6}"
          f"   {'est out':>9} {'out':>9}")
    runs = [(src, opts, " ".join(opts)) for opts in (
        ["--method", "add"], ["--method", "mul"], ["--rank", "64", "--method", "lowrank"], ["--budget", "0.5"],
        ["--tol", "0.5"])]
    for sample in ("bert-tiny", "llama-tiny"):  # the transformer samples, where fixed costs weigh most
        folder = os.path.join(SAMPLES, sample)
        calib = os.path.join(folder, "calib.npz")
        for opts in (["--budget", "0.5"], ["--method", "mul"], ["--budget", "0.5", "--calib", calib],
                     ["--budget-bits", "4.5", "--calib", calib]):
            runs.append((folder, opts, sample + " " + " ".join(o if o != calib else "calib.npz" for o in opts)))
    for src_i, opts, label in runs:
        p = subprocess.run([a.dlor, "convert", src_i, "--dry-run", *opts], capture_output=True, text=True)
        tot = [ln for ln in p.stdout.splitlines() if ln.startswith("total:")]
        if p.returncode != 0 or not tot:
            print(label, "dry run failed:", p.stderr.strip())
            continue
        line = tot[0]
        est_out = to_bytes(line.split("output ")[1].split(" (")[0])
        est_peak = to_bytes(line.split("peak memory ")[1].split(",")[0])
        est_time = to_secs(line.split(", time ")[1].split(" (")[0])
        out = os.path.join(d, "out.dlor")
        if os.path.exists(out):
            os.remove(out)
        t0 = time.monotonic()
        rss = os.path.join(d, "rss.txt")
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss, a.dlor, "convert", src_i, "-o", out, *opts],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        secs = time.monotonic() - t0
        if proc.returncode != 0:
            print(label, "failed:", proc.stderr.decode().strip())
            continue
        with open(rss) as f:
            peak = int(f.read().split()[-1]) * 1024
        size = os.path.getsize(out)
        print(f"{label:<44} {est_time:>8.2f}s {secs:>7.2f}s {est_time / secs:>6.2f}   {est_peak / 1e6:>7.0f}MB "
              f"{peak / 1e6:>7.0f}MB {est_peak / peak:>6.2f}   {est_out / 1e6:>7.1f}MB {size / 1e6:>7.1f}MB")
        m = re.search(r"rates x([0-9.]+)", line)
        rows.append({"options": label, "plan_secs": est_time, "secs": secs, "plan_peak_bytes": est_peak,
                     "peak_bytes": peak, "plan_out_bytes": est_out, "out_bytes": size,
                     "factor": float(m.group(1)) if m else 1.0})
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"params": params, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
