#!/usr/bin/env python3
"""Runs .dlor models on emulated microcontrollers: exports each model as a C
header (dlor export-c), writes the inputs beside it (inputs_h.py), builds the
bare-metal program mcu_main.c for QEMU's Cortex-M boards with arm-none-eabi-gcc
(CMakeLists.txt and arm-none-eabi.cmake here), runs it under qemu-system-arm
with semihosting and prints what it printed.

    python3 samples/embedded/mcu_run.py MODEL.dlor... [--inputs X.npy] [--rows 0:8]
            [--board mps2-an386] [--board mps2-an385] [--work DIR] [--icount SHIFT] [--dlor PATH]

mps2-an386 is a Cortex-M4F (single-precision FPU, hard-float ABI), mps2-an385 a
Cortex-M3 (no FPU: float arithmetic in software). --icount SHIFT runs QEMU with
'-icount shift=SHIFT' and converts the timer ticks into instructions per
inference (bench/mcu_icount.py tabulates them). tests/test_embedded_qemu.py and
bench/mcu_icount.py use the functions here.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BOARDS = ("mps2-an386", "mps2-an385")
TOOLS_HINT = ("install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm "
              "(scripts/setup.sh does as root with DLOR_WITH_PYTHON=1)")


def missing_tools(cmake="cmake"):
    """None when the cross compiler, its C library, QEMU and CMake are there; else what is missing."""
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm", cmake):
        if not shutil.which(tool):
            return f"{tool} not found"
    p = subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m3", "-mthumb", "-x", "c", "-c", "-", "-o", os.devnull],
                       input="#include <string.h>\n", capture_output=True, text=True)
    if p.returncode != 0:
        return "arm-none-eabi-gcc has no C library (string.h)"
    return None


def export(dlor, model, folder, inputs, rows="0:8"):
    """model.h (dlor export-c) and inputs.h in folder; returns export-c's result."""
    os.makedirs(folder, exist_ok=True)
    r = subprocess.run([dlor, "export-c", model, "-o", os.path.join(folder, "model.h")], capture_output=True,
                       text=True)
    if r.returncode == 0:
        q = subprocess.run([sys.executable, os.path.join(HERE, "inputs_h.py"), inputs, "-o",
                            os.path.join(folder, "inputs.h"), "--rows", rows], capture_output=True, text=True)
        if q.returncode != 0:
            return q
    return r


def build(work, folders, boards=BOARDS, cmake="cmake", jobs=2, werror=True, minimal=()):
    """Configures and builds the project for every folder and board in work/build,
    and for the folders in minimal also against the minimal runtime (NAME_BOARD_mlp.elf);
    returns (build folder, the failed step's output or None)."""
    bdir = os.path.join(work, "build")
    shutil.rmtree(bdir, ignore_errors=True)
    cfg = [cmake, "-S", HERE, "-B", bdir, "-DCMAKE_TOOLCHAIN_FILE=" + os.path.join(HERE, "arm-none-eabi.cmake"),
           "-DDLOR_MCU_MODELS=" + ";".join(folders), "-DDLOR_MCU_BOARDS=" + ";".join(boards),
           "-DDLOR_MCU_WERROR=" + ("ON" if werror else "OFF"), "-DDLOR_MCU_MINIMAL_MODELS=" + ";".join(minimal)]
    for step in (cfg, [cmake, "--build", bdir, "-j", str(jobs)]):
        p = subprocess.run(step, capture_output=True, text=True)
        if p.returncode != 0:
            return bdir, p.stdout + p.stderr
    return bdir, None


def run(elf, board, icount=None, timeout=300):
    """Runs a program under QEMU: (exit status, what it printed)."""
    cmd = ["qemu-system-arm", "-M", board, "-nographic", "-monitor", "none", "-serial", "none",
           "-semihosting-config", "enable=on,target=native", "-kernel", elf]
    if icount is not None:
        cmd += ["-icount", f"shift={icount}"]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout} s"
    return p.returncode, p.stdout + p.stderr


def parse(text):
    """mcu_main's lines: outputs as float32 bit patterns (one list per input),
    ticks per input, the calibration pairs (instructions, ticks), the stack
    used, check lines, and whether it ended with 'ok'."""
    out = {"y": [], "ticks": [], "cal": [], "checks": [], "ok": False}
    for line in text.splitlines():
        f = line.split()
        if f[:1] == ["y"]:
            out["y"].append([int(v, 16) for v in f[2:]])
        elif f[:1] == ["ticks"]:
            out["ticks"].append(int(f[2]))
        elif f[:1] == ["cal"]:
            out["cal"].append((int(f[1]), int(f[2])))
        elif f[:1] == ["stack"]:
            out["stack"] = int(f[1])
        elif f[:1] == ["check"]:
            out["checks"].append(line)
        elif line == "ok":
            out["ok"] = True
    return out


def instructions(parsed):
    """Instructions per input from the ticks (under -icount): the two timed loops
    fix the ticks per instruction, the empty one the cost of reading the timer."""
    (_, t0), (n1, t1), (n2, t2) = parsed["cal"]
    per = (t2 - t1) / (n2 - n1)
    return [(t - t0) / per for t in parsed["ticks"]], per


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--inputs", default=os.path.join(HERE, "..", "digits", "x_test.npy"))
    ap.add_argument("--rows", default="0:8")
    ap.add_argument("--board", action="append", choices=BOARDS)
    ap.add_argument("--work", default="build-mcu")
    ap.add_argument("--icount", type=int)
    ap.add_argument("--dlor", default=shutil.which("dlor") or "build/dlor")
    a = ap.parse_args()
    why = missing_tools()
    if why:
        print(f"mcu_run.py: {why}: {TOOLS_HINT}", file=sys.stderr)
        return 1
    folders = []
    for m in a.models:
        name = re.sub(r"\W", "_", os.path.splitext(os.path.basename(m))[0])
        folder = os.path.join(os.path.abspath(a.work), "models", name)
        r = export(a.dlor, m, folder, a.inputs, a.rows)
        if r.returncode != 0:
            print(f"mcu_run.py: {m}: {r.stderr.strip()}", file=sys.stderr)
            return 1
        folders.append(folder)
    boards = a.board or list(BOARDS)
    bdir, fail = build(os.path.abspath(a.work), folders, boards)
    if fail:
        print(fail, file=sys.stderr)
        return 1
    status = 0
    for folder in folders:
        for board in boards:
            name = os.path.basename(folder)
            rc, text = run(os.path.join(bdir, f"{name}_{board}.elf"), board, a.icount)
            print(f"== {name} on {board}: exit {rc}")
            print(text, end="")
            if a.icount is not None and rc == 0:
                n, per = instructions(parse(text))
                print(f"instructions per inference: {', '.join(f'{v:.0f}' for v in n)} ({per:.4f} ticks each)")
            status |= rc != 0
    return status


if __name__ == "__main__":
    sys.exit(main())
