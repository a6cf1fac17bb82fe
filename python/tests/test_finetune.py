"""samples/digits/finetune.py: the digits model compressed at --budget 0.25 and fine-tuned
for one epoch through dlor.torch wins back at least half of the test accuracy the
compression lost (in the committed run: 0.9630 -> 0.9704 of the dense 0.9722).

Run by ctest with Debian's /usr/bin/python3 (PyTorch 1.13); exits 77 (skipped) when
that Python has no torch.
"""
import os
import re
import subprocess
import sys

try:
    import torch  # noqa: F401
except ImportError:
    print(f"SKIP: {sys.executable} has no torch (apt-get install python3-torch)")
    sys.exit(77)

SRC = os.environ.get("DLOR_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(SRC, "tests"))
from dlor_testlib import check, finish  # noqa: E402

p = subprocess.run([sys.executable, os.path.join(SRC, "samples", "digits", "finetune.py")],
                   capture_output=True, text=True, timeout=300)
print(p.stdout, end="")
check(p.returncode == 0, f"finetune.py failed: {p.stderr.strip()}")
m = re.search(r"^RESULT dense (\S+) compressed (\S+) finetuned (\S+) recovered (\S+)$", p.stdout, re.M)
if check(m is not None, "finetune.py printed its RESULT line"):
    dense, comp, ft, recovered = map(float, m.groups())
    check(abs(dense - 525 / 540) < 1e-6, f"dense accuracy {dense} is the sample's 525/540")
    check(comp < dense, f"compression lost accuracy ({comp} < {dense}), so there is something to recover")
    check(recovered >= 0.5 and ft > comp, f"fine-tuning recovered {recovered:.2f} of the loss (>= 0.5 wanted)")
d = re.search(r"PyTorch against dlor run on the test inputs: max relative difference (\S+)", p.stdout)
check(d is not None and float(d.group(1)) <= 1e-5, "the compressed PyTorch model matches dlor run within 1e-5")
finish()
