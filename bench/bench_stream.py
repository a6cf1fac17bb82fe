"""Peak memory of a streamed conversion: the plan's prediction ('convert --dry-run', the formula in
README.md, "The plan") next to the measured peak RSS (/usr/bin/time's maximum resident set size)
and the wall time, for

  - 8 float32 layers of 2048 x 2048 (134 MB) at --method lowrank --rank 64, --jobs 1 and 2;
  - a synthetic float32 checkpoint of transformer shapes (hidden 2048, MLP 8192, seeded Gaussian
    weights; 10 blocks by default, 2.0 GB) at --method lowrank --rank 64, --jobs 1 and 2.

The checkpoint is written tensor by tensor (the safetensors layout by hand), so this script never
holds more than one layer either. Not a test: the numbers depend on the machine and its load.

    python3 bench/bench_stream.py [--dlor build/dlor] [--blocks 10] [--tmp DIR] [--skip-big] [--json FILE]

--json writes the rows (model, jobs, source, plan and peak bytes, seconds) for bench/harness.py."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

UNITS = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9}


def write_safetensors(path, shapes, seed):
    """Seeded Gaussian float32 tensors (entries / sqrt(columns)), written one at a time."""
    header, off = {}, 0
    for name, shape in shapes:
        n = int(np.prod(shape)) * 4
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for _, shape in shapes:
            w = rng.standard_normal(shape, dtype=np.float32)
            w /= np.float32(np.sqrt(shape[1]))
            f.write(w.tobytes())
            del w


def plan_peak(dlor, src, opts):
    p = subprocess.run([dlor, "convert", src, "--dry-run", *opts], capture_output=True, text=True)
    tot = [ln for ln in p.stdout.splitlines() if ln.startswith("total:")]
    if p.returncode != 0 or not tot:
        raise SystemExit(f"dry run failed: {p.stderr.strip()}")
    num, unit = tot[0].split("peak memory ")[1].split(",")[0].split()
    return float(num) * UNITS[unit]


def measure(dlor, src, out, opts, tmp):
    if os.path.exists(out):
        os.remove(out)
    rss = os.path.join(tmp, "rss.txt")
    t0 = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss, dlor, "convert", src, "-o", out, *opts],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    secs = time.monotonic() - t0
    if p.returncode != 0:
        raise SystemExit(f"convert {' '.join(opts)} failed: {p.stderr.strip()}")
    with open(rss) as f:
        return int(f.read().split()[-1]) * 1024, secs


def row(label, dlor, src, opts, tmp, rows):
    est = plan_peak(dlor, src, opts)
    peak, secs = measure(dlor, src, os.path.join(tmp, "out.dlor"), opts, tmp)
    size = os.path.getsize(src)
    print(f"{label:<26} {' '.join(opts):<36} {size / 1e6:>8.0f} {est / 1e6:>8.0f} {peak / 1e6:>8.0f} "
          f"{peak / est:>6.2f} {peak / size:>7.2f} {secs:>7.1f}", flush=True)
    rows.append({"model": label, "options": " ".join(opts), "jobs": int(opts[opts.index("--jobs") + 1]),
                 "source_bytes": size, "plan_bytes": est, "peak_bytes": peak, "seconds": secs})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dlor", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "dlor"))
    ap.add_argument("--blocks", type=int, default=10)
    ap.add_argument("--tmp", default=None)
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    rows = []
    if not os.path.exists("/usr/bin/time"):
        raise SystemExit("needs /usr/bin/time (GNU time) for the peak RSS")
    tmp = tempfile.mkdtemp(prefix="dlor-stream-", dir=a.tmp)
    try:
        print(f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
        print(f"{'model':<26} {'options':<36} {'src MB':>8} {'plan MB':>8} {'peak MB':>8} {'ratio':>6} "
              f"{'peak/src':>7} {'time s':>7}")
        small = os.path.join(tmp, "layers8.safetensors")
        write_safetensors(small, [(f"l{i}.weight", (2048, 2048)) for i in range(8)], 0)
        for j in ("1", "2"):
            row("8 x 2048^2", a.dlor, small, ["--method", "lowrank", "--rank", "64", "--jobs", j], tmp, rows)
        os.remove(small)
        if not a.skip_big:
            h, inter = 2048, 8192
            shapes = []
            for b in range(a.blocks):
                for n in ("q", "k", "v", "o"):
                    shapes.append((f"blocks.{b}.attn.{n}.weight", (h, h)))
                shapes.append((f"blocks.{b}.mlp.up.weight", (inter, h)))
                shapes.append((f"blocks.{b}.mlp.down.weight", (h, inter)))
            big = os.path.join(tmp, "checkpoint.safetensors")
            write_safetensors(big, shapes, 1)
            label = f"{a.blocks} blocks, {os.path.getsize(big) / 1e9:.1f} GB"
            for j in ("1", "2"):
                row(label, a.dlor, big, ["--method", "lowrank", "--rank", "64", "--jobs", j], tmp, rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
