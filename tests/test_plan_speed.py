"""The plan's rates scaled to the machine as it runs, and one BLAS thread per conversion task.

- a plan of a second or more at the reference rates times a small SVD (plan_speed.c) and scales
  every estimate by its time over the reference machine's: the total line names the factor, which
  lies in [0.25, 50]; DLOR_TEST_PLAN_SPEED=F stands in for it, and the total and every layer's time
  scale with F (F = 1 and F = 3: a ratio of 3 within the printed two digits' rounding); a plan
  shorter than a second is not probed and names no factor;
- without OPENBLAS_NUM_THREADS (nor GOTO_NUM_THREADS, OMP_NUM_THREADS) a conversion's tasks run one
  BLAS thread each, so --jobs 1 and --jobs 2 write the same bytes (with OPENBLAS_NUM_THREADS=2, the
  user's choice, the threads are shared among the jobs and the bits of a 1024 x 1024 fit can move:
  printed, not asserted).
"""
import os
import re
import subprocess

import numpy as np
from safetensors.numpy import save_file

from dlor_testlib import DLOR, check, finish, scratch, to_secs

TMP, path, fresh = scratch("plan-speed")
for var in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS", "DLOR_TEST_PLAN_SPEED"):
    os.environ.pop(var, None)


def run_env(env, *args):
    p = subprocess.run([DLOR, *args], capture_output=True, text=True, env={**os.environ, **env})
    return p.returncode, p.stdout, p.stderr


def plan(env, src, *args):
    """(total seconds, per-layer seconds, the total line) of convert --dry-run."""
    rc, so, se = run_env(env, "convert", src, "--dry-run", *args)
    tot = [ln for ln in so.splitlines() if ln.startswith("total:")]
    check(rc == 0 and len(tot) == 1, f"dry run of {src} {args}: {rc} {se}")
    if rc != 0 or not tot:
        return 0, [], ""
    layers = [to_secs(" ".join(ln.split()[-2:])) for ln in so.splitlines() if " lowrank " in ln or " add " in ln]
    return to_secs(tot[0].split(", time ")[1].split(" (")[0]), layers, tot[0]


rng = np.random.default_rng(5)
big = path("big.safetensors")  # 3 x 1024^2 --method add: about 1.3 s at the reference rates
save_file({f"{i}.weight": (rng.standard_normal((1024, 1024)) / 32).astype(np.float32) for i in range(3)}, big)
small = path("small.safetensors")  # one 128^2 layer: far below a second
save_file({"0.weight": rng.standard_normal((128, 128)).astype(np.float32)}, small)

t1, l1, line1 = plan({"DLOR_TEST_PLAN_SPEED": "1"}, big, "--method", "add")
t3, l3, line3 = plan({"DLOR_TEST_PLAN_SPEED": "3"}, big, "--method", "add")
print(f"plan at x1: {t1} s {l1}; at x3: {t3} s {l3}")
check(t1 >= 1.0, f"the plan of 3 x 1024^2 add is a second or more at the reference rates: {t1}")
check(abs(t3 / t1 - 3) < 0.2 if t1 else False, f"the total scales with the factor: {t3} / {t1}")
check(len(l1) == 3 and len(l3) == 3 and all(abs(b / a - 3) < 0.3 for a, b in zip(l1, l3)),
      f"every layer's time scales with the factor: {l1} {l3}")
check("rates x3.00" in line3 and "rates x" not in line1, f"the total line names the factor: {line1} / {line3}")

t, _, line = plan({}, big, "--method", "add")
m = re.search(r"rates x([0-9.]+) on this machine now", line)
print(f"probed: {line}")
check(m is not None and 0.25 <= float(m.group(1)) <= 50, f"a probed plan names its factor, in [0.25, 50]: {line}")
check(m is not None and abs(t - t1 * float(m.group(1))) <= 0.06 * t + 0.1,
      f"the probed total is the reference total times the factor: {t} vs {t1} x {m.group(1) if m else '?'}")
_, _, line = plan({}, small, "--method", "add")
check("rates x" not in line, f"a plan under a second is not probed: {line}")

# one BLAS thread per task unless the user chose a count
two = path("two.safetensors")
save_file({f"{i}.weight": (rng.standard_normal((1024, 1024)) / 32).astype(np.float32) for i in range(2)}, two)


def convert_bytes(env, jobs):
    out = path(f"two_j{jobs}.dlor")
    rc, _, se = run_env(env, "convert", two, "--rank", "96", "--method", "lowrank", "--jobs", str(jobs), "-o", out)
    check(rc == 0, f"convert --jobs {jobs}: {se}")
    with open(out, "rb") as f:
        return f.read() if rc == 0 else b""


a, b = convert_bytes({}, 1), convert_bytes({}, 2)
check(a and a == b, "without OPENBLAS_NUM_THREADS, --jobs 1 and --jobs 2 write the same bytes")
a2, b2 = convert_bytes({"OPENBLAS_NUM_THREADS": "2"}, 1), convert_bytes({"OPENBLAS_NUM_THREADS": "2"}, 2)
print(f"with OPENBLAS_NUM_THREADS=2: --jobs 1 and 2 write {'the same' if a2 == b2 else 'different'} bytes")
finish()
