"""Shared scaffolding of dlor's Python tests: counting checks, running the
dlor command, scratch paths, and the closing 'N passed, N failed' line."""
import os
import subprocess
import sys

DLOR = os.environ.get("DLOR_BIN", "dlor")
SRC = os.environ.get("DLOR_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_counts = {"passed": 0, "failed": 0}


def check(cond, what):
    """Records one assertion; prints what failed."""
    if cond:
        _counts["passed"] += 1
    else:
        _counts["failed"] += 1
        print("FAIL:", what)


def run(*args):
    """Runs dlor with args: (exit code, stdout, stderr)."""
    p = subprocess.run([DLOR, *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def scratch_dir(name):
    d = os.path.join(os.environ.get("DLOR_TEST_TMP", "/tmp"), name)
    os.makedirs(d, exist_ok=True)
    return d


def finish():
    """Prints the summary line ctest logs show and exits non-zero on failure."""
    print(f"{_counts['passed']} passed, {_counts['failed']} failed")
    sys.exit(1 if _counts["failed"] else 0)
