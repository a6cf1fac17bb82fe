"""The plan's time rates against conversions: for each of seven layer shapes, four seeded Gaussian
layers (entries / sqrt(columns)) are converted in each form (mul, add, lowrank at ranks 64 and 200,
--budget 0.5, --tol 0.5), one job; the plan's estimate at the reference rates
(DLOR_TEST_PLAN_SPEED=1), the factor the plan scales them by on this machine now (its probe:
lib/convert/plan_speed.c), and the measured wall time of the conversion are printed with
measured / (estimate x factor). The rates in lib/convert/plan.c were set from this table on the
idle reference machine (where the factor is about 1). Not a test: the numbers depend on the
machine and its load.

    python3 bench/plan_rates.py [--dlor build/dlor] [--forms mul,add,...] [--work DIR]"""
import argparse
import os
import re
import subprocess
import tempfile
import time

import numpy as np
from safetensors.numpy import save_file

from plan_check import to_secs

SHAPES = [(384, 384), (512, 512), (1024, 1024), (2048, 512), (512, 2048), (1536, 384), (1024, 256)]
FORMS = {"mul": ["--method", "mul"], "add": ["--method", "add"], "rank64": ["--rank", "64", "--method", "lowrank"],
         "rank200": ["--rank", "200", "--method", "lowrank"], "budget0.5": ["--budget", "0.5"],
         "tol0.5": ["--tol", "0.5"]}


def dry_run(dlor, src, opts, env):
    """(total seconds, the factor named, or 1) of convert --dry-run; None when nothing converts."""
    p = subprocess.run([dlor, "convert", src, "--dry-run", *opts], capture_output=True, text=True,
                       env={**os.environ, **env})
    tot = [ln for ln in p.stdout.splitlines() if ln.startswith("total:")]
    if p.returncode != 0 or not tot or tot[0].startswith("total: 0 layers"):
        return None
    m = re.search(r"rates x([0-9.]+)", tot[0])
    return to_secs(tot[0].split(", time ")[1].split(" (")[0]), float(m.group(1)) if m else 1.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dlor", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "dlor"))
    ap.add_argument("--forms", default=",".join(FORMS))
    ap.add_argument("--work", default=None)
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="dlor-rates-")
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(1)
    env = {k: v for k, v in os.environ.items() if k != "DLOR_TEST_PLAN_SPEED"}
    os.environ.clear()
    os.environ.update(env)
    print(f"{'shape':<10} {'form':<10} {'plan x1':>8} {'factor':>7} {'measured':>9} {'measured/plan':>14}")
    ratios = []
    for m, n in SHAPES:
        src = os.path.join(work, f"l{m}x{n}.safetensors")
        save_file({f"{i}.weight": (rng.standard_normal((m, n)) / np.sqrt(n)).astype(np.float32) for i in range(4)},
                  src)
        for form in a.forms.split(","):
            opts = FORMS[form]
            ref = dry_run(a.dlor, src, opts, {"DLOR_TEST_PLAN_SPEED": "1"})
            shape = f"{m}x{n}"
            if ref is None:
                print(f"{shape:<10} {form:<10} (nothing converts)")
                continue
            scaled = dry_run(a.dlor, src, opts, {})
            factor = scaled[1] if scaled else 1.0
            out = os.path.join(work, "out.dlor")
            t0 = time.monotonic()
            subprocess.run([a.dlor, "convert", src, "-o", out, *opts], check=True, capture_output=True)
            secs = time.monotonic() - t0
            r = secs / (ref[0] * factor)
            ratios.append(r)
            print(f"{shape:<10} {form:<10} {ref[0]:>7.2f}s {factor:>7.2f} {secs:>8.2f}s {r:>14.2f}", flush=True)
    if ratios:
        print(f"measured / plan: {min(ratios):.2f} to {max(ratios):.2f}, median {float(np.median(ratios)):.2f}")


if __name__ == "__main__":
    main()
