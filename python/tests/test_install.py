"""`pip install ./python` works: the package is built and installed with pip (from a
copy of python/, so the source tree stays clean) into a target folder, and imported
from there by this Python and, with dlor.torch, by Debian's /usr/bin/python3 when it
has torch; `import dlor` alone never imports torch; the versions agree.

Run by ctest with the pip Python (tests/requirements.txt pins the setuptools it builds with).
"""
import os
import re
import shutil
import subprocess
import sys

SRC = os.environ.get("DLOR_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(SRC, "tests"))
from dlor_testlib import DLOR, check, finish, run, scratch_dir  # noqa: E402

TMP = scratch_dir("python-install")
copy, target = os.path.join(TMP, "src"), os.path.join(TMP, "site")
for d in (copy, target):
    shutil.rmtree(d, ignore_errors=True)
shutil.copytree(os.path.join(SRC, "python"), copy, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
# --no-build-isolation: build with this Python's setuptools instead of fetching one
p = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "--no-build-isolation", "--target", target, copy], capture_output=True, text=True)
check(p.returncode == 0, f"pip install failed: {p.stderr.strip()}")
for f in ("dlor/__init__.py", "dlor/torch.py", "dlor/graph.py", "dlor/py.typed"):
    check(os.path.exists(os.path.join(target, f)), f"installed {f}")
metas = [os.path.join(target, d, "METADATA") for d in os.listdir(target) if d.endswith(".dist-info")]
meta = metas[0] if len(metas) == 1 else ""
check(os.path.exists(meta) and "# dlor for Python" in open(meta).read() and "Requires-Dist: numpy" in open(meta).read(),
      "the package's metadata carries its README and its numpy dependency")

model = os.path.join(TMP, "m.dlor")
if os.path.exists(model):
    os.remove(model)
rc, so, se = run("convert", os.path.join(SRC, "samples/digits/digits.safetensors"), "-o", model, "--budget", "0.5",
                 "--activation", "relu")
check(rc == 0, f"convert: {se}")
probe = f"""
import sys, importlib.metadata, numpy as np, dlor
assert dlor.__file__.startswith({target!r}), dlor.__file__
assert "torch" not in sys.modules, "import dlor imported torch"
m = dlor.load({model!r})
x = np.load({os.path.join(SRC, "samples/digits/x_test.npy")!r})
y = m.forward(x)
r = dlor.run(m, x)
assert np.abs(y - r).max() <= 1e-5 * np.abs(r).max()
print("version", dlor.__version__, importlib.metadata.version("dlor"))
"""
env = dict(os.environ, PYTHONPATH=target, DLOR_BIN=os.path.abspath(DLOR))
p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=TMP, env=env)
check(p.returncode == 0, f"the installed package: {p.stderr.strip()}")
v = re.search(r"version (\S+) (\S+)", p.stdout)
cmake = re.search(r"project\(dlor VERSION (\S+)", open(os.path.join(SRC, "CMakeLists.txt")).read())
check(v is not None and cmake is not None and v.group(1) == v.group(2) == cmake.group(1),
      f"versions: package {v and v.groups()}, CMake {cmake and cmake.group(1)}")

debian = "/usr/bin/python3"
if os.path.exists(debian) and subprocess.run([debian, "-c", "import torch"], capture_output=True).returncode == 0:
    probe = f"""
import dlor, dlor.torch, torch, numpy as np
assert dlor.torch.__file__.startswith({target!r}), dlor.torch.__file__
net = dlor.torch.load({model!r})
x = torch.from_numpy(np.load({os.path.join(SRC, "samples/digits/x_test.npy")!r}))
y = net(x).detach().numpy()
r = dlor.load({model!r}).forward(x.numpy())
assert np.abs(y - r).max() <= 1e-5 * np.abs(r).max()
"""
    p = subprocess.run([debian, "-c", probe], capture_output=True, text=True, cwd=TMP, env=env)
    check(p.returncode == 0, f"the installed package with Debian's PyTorch: {p.stderr.strip()}")
else:
    print(f"note: {debian} has no torch; the installed dlor.torch was not imported")
finish()
