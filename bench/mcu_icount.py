#!/usr/bin/env python3
"""Work per inference on the emulated boards, as a Markdown table: for the digits
classifier in several forms, its multiply-accumulates (dlor export-c's count)
against the instructions one inference executes on the Cortex-M4F (mps2-an386)
and the Cortex-M3 (mps2-an385), the stack it used and the scratch it needs.

QEMU is not cycle-accurate, so this counts instructions, not cycles: run with
'-icount shift=7', QEMU advances virtual time by 2^7 ns per instruction, and
samples/embedded/mcu_main.c reads a CMSDK timer (25 MHz of virtual time)
around each inference; two loops of known length (2000 and 22000 instructions)
fix the ticks per instruction and the cost of reading the timer. Every input
runs the same instructions for these models (no data-dependent branches but the
activations'), so the table gives the mean over the inputs with the spread.

    python3 bench/mcu_icount.py [--dlor build/dlor] [--work build-mcu-icount] [--shift 7]
"""
import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "samples", "embedded"))
import mcu_run  # noqa: E402

DIGITS = os.path.join(ROOT, "samples", "digits")
FORMS = [("dense (source, f32)", "dense", ["--exclude", "*"]),
         ("mul, exact (f32)", "mul", []),
         ("add, exact (f32)", "add", ["--method", "add"]),
         ("mul, rank 16 (f32)", "mul16", ["--rank", "16"]),
         ("budget 0.5 (f16)", "f16", ["--budget", "0.5", "--dtype", "f16"]),
         ("budget 0.25 (f16)", "f16q", ["--budget", "0.25", "--dtype", "f16"])]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dlor", default=os.path.join(ROOT, "build", "dlor"))
    ap.add_argument("--work", default=os.path.join(ROOT, "build-mcu-icount"))
    ap.add_argument("--shift", type=int, default=7)
    a = ap.parse_args()
    why = mcu_run.missing_tools()
    if why:
        print(f"mcu_icount.py: {why}: {mcu_run.TOOLS_HINT}", file=sys.stderr)
        return 1
    work = os.path.abspath(a.work)
    os.makedirs(work, exist_ok=True)
    folders = []
    for _, name, args in FORMS:
        model = os.path.join(work, f"{name}.dlor")
        subprocess.run([a.dlor, "convert", os.path.join(DIGITS, "digits.safetensors"), "-o", model, "--activation",
                        "relu", *args], check=True, capture_output=True)
        folder = os.path.join(work, "models", name)
        r = mcu_run.export(a.dlor, model, folder, os.path.join(DIGITS, "x_test.npy"), "0:8")
        if r.returncode != 0:
            print(r.stderr, file=sys.stderr)
            return 1
        folders.append(folder)
    bdir, fail = mcu_run.build(work, folders)
    if fail:
        print(fail, file=sys.stderr)
        return 1
    print(f"Instructions counted by QEMU {subprocess.run(['qemu-system-arm', '--version'], capture_output=True, text=True).stdout.split(chr(10))[0]}"
          f" with -icount shift={a.shift} (virtual time, read by the board's timer; not cycles).\n")
    print("| model | flash (image) | scratch | MACs | board | instructions per inference | instructions per MAC "
          "| stack |")
    print("|---|---|---|---|---|---|---|---|")
    for (label, name, _), folder in zip(FORMS, folders):
        hdr = open(os.path.join(folder, "model.h")).read()
        macs = int(re.search(r"_MACS (\d+)u", hdr).group(1))
        size = int(re.search(r"_SIZE (\d+)u", hdr).group(1))
        scratch = int(re.search(r"_SCRATCH_BYTES (\d+)u", hdr).group(1))
        for board in mcu_run.BOARDS:
            rc, text = mcu_run.run(os.path.join(bdir, f"{name}_{board}.elf"), board, icount=a.shift)
            out = mcu_run.parse(text)
            if rc != 0 or not out["ticks"]:
                print(f"| {label} | {board} | failed: exit {rc} |")
                continue
            n, per = mcu_run.instructions(out)
            mean = sum(n) / len(n)
            spread = f" ({min(n):.0f}-{max(n):.0f})" if max(n) - min(n) > 0.5 else ""
            stack = out.get("stack")
            print(f"| {label} | {size} B | {scratch} B | {macs} | {board} | {mean:.0f}{spread} | {mean / macs:.2f} "
                  f"| {stack if stack is not None else '?'} B |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
