"""The README's MPI recipe for --shard / merge, run as written with Open MPI's
mpirun on two local ranks: the two lines are read from README.md (the indented
'mpirun' line and the 'dlor merge' line after it), with the rank count, the model,
the output folder and the dlor binary put in; the merged file must have the bytes
of a one-process conversion with the same options, and every part must name its
own shard. Skipped (77) without mpirun (Debian: openmpi-bin, installed by
scripts/setup.sh when run as root)."""
import os
import re
import shlex
import shutil
import subprocess
import sys

import numpy as np
from safetensors.numpy import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dlor_pyreader  # noqa: E402
from dlor_testlib import DLOR, SRC, check, finish, run, scratch_dir  # noqa: E402

MPIRUN = shutil.which("mpirun")
if not MPIRUN:
    print("SKIP: mpirun not found (Debian: apt-get install openmpi-bin)")
    sys.exit(77)

RANKS = 2
TMP = scratch_dir("shard_mpi")
os.environ["OPENBLAS_NUM_THREADS"] = "1"
env = dict(os.environ)
if os.geteuid() == 0:  # Open MPI refuses root unless told twice
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")

# The recipe as the README gives it.
lines = open(os.path.join(SRC, "README.md"), encoding="utf-8").read().splitlines()
at = [i for i, s in enumerate(lines) if s.startswith("    mpirun ")]
check(len(at) == 1, f"README.md has one indented mpirun line ({len(at)})")
if not at:
    sys.exit(finish())
launch = lines[at[0]].strip()
merge = next((s.strip() for s in lines[at[0] + 1:at[0] + 4] if s.strip().startswith("dlor merge ")), None)
check(merge is not None, "README.md: a 'dlor merge' line follows the mpirun line")
m = re.match(r"mpirun -np (\d+) sh -c '(.*)'$", launch)
check(m is not None, f"the mpirun line has the form mpirun -np N sh -c '...': {launch}")
if not m or merge is None:
    sys.exit(finish())
n_readme, per_rank = m.group(1), m.group(2)
check(f"--shard $OMPI_COMM_WORLD_RANK/{n_readme}" in per_rank, "each rank converts shard RANK/N")

# A model of eight layers in a chain (seeded), so that each rank has several.
rng = np.random.default_rng(11)
dims = [64, 96, 80, 96, 64, 72, 48, 40, 10]
tensors = {}
for i in range(len(dims) - 1):
    tensors[f"{i}.weight"] = (rng.standard_normal((dims[i + 1], dims[i])) / np.sqrt(dims[i])).astype(np.float32)
    tensors[f"{i}.bias"] = (0.1 * rng.standard_normal(dims[i + 1])).astype(np.float32)
save_file(tensors, os.path.join(TMP, "model.safetensors"))
os.makedirs(os.path.join(TMP, "parts"), exist_ok=True)
for f in os.listdir(os.path.join(TMP, "parts")):
    os.remove(os.path.join(TMP, "parts", f))

dlor = shlex.quote(os.path.abspath(DLOR))
cmd = per_rank.replace(f"/{n_readme}", f"/{RANKS}")
cmd = re.sub(r"^dlor ", dlor + " ", cmd)
mpi = [MPIRUN, "--oversubscribe", "-np", str(RANKS), "sh", "-c", cmd]
p = subprocess.run(mpi, cwd=TMP, env=env, capture_output=True, text=True, timeout=600)
check(p.returncode == 0, f"mpirun: exit {p.returncode}: {p.stderr.strip()[-400:]}")
parts = sorted(os.listdir(os.path.join(TMP, "parts")))
check(parts == [f"{r}.dlor" for r in range(RANKS)], f"one part per rank: {parts}")
for r in range(RANKS):
    if f"{r}.dlor" in parts:
        meta, _, _ = dlor_pyreader.read(os.path.join(TMP, "parts", f"{r}.dlor"))
        check(meta.get("dlor.shard") == f"{r}/{RANKS}", f"part {r} names its shard: {meta.get('dlor.shard')}")

merge_args = shlex.split(merge)[2:]
q = subprocess.run(["sh", "-c", " ".join([dlor, "merge"] + merge_args)], cwd=TMP, env=env, capture_output=True,
                   text=True, timeout=300)
check(q.returncode == 0, f"dlor merge: exit {q.returncode}: {q.stderr.strip()}")

# The same options in one process.
opts = shlex.split(cmd.split("--shard", 1)[1])[1:]
rc, _, se = run("convert", os.path.join(TMP, "model.safetensors"), "-o", os.path.join(TMP, "single.dlor"), *opts)
check(rc == 0, f"one-process convert: {se}")
merged, single = os.path.join(TMP, "model.dlor"), os.path.join(TMP, "single.dlor")
if os.path.exists(merged) and os.path.exists(single):
    a, b = open(merged, "rb").read(), open(single, "rb").read()
    check(a == b, f"merged ({len(a)} bytes) and one-process ({len(b)} bytes) files are the same bytes")
    _, _, layers = dlor_pyreader.read(merged)
    check(len(layers) == len(dims) - 1, f"every layer converted once ({len(layers)})")
sys.exit(finish())
