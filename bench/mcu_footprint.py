#!/usr/bin/env python3
"""Code size of dlor's runtime on Cortex-M (arm-none-eabi-gcc -Os, the flags of
samples/embedded/CMakeLists.txt), with and without the runtime's messages
(DLOR_RT_NO_MESSAGES), as a Markdown table:

  - runtime objects: arm-none-eabi-size of crc32.c, dlor_image.c and runtime.c
    compiled for the board (text + read-only data: everything they hold,
    the double-precision pass included);
  - linked: the part of them the smallest program (samples/embedded/mcu_min.c:
    open with checksums, one inference) keeps after --gc-sections, from the
    linker's map;
  - program: that program's code and constants without the model image and the
    input, and what the C library and libgcc add to it (memcpy, 64-bit division,
    float arithmetic in software on the Cortex-M3).

Also lists any printf-family, double-precision or libm symbol the program links
(there should be none). The model is the digits classifier compressed to f16
(the code linked does not depend on the model: every activation and dtype
conversion is reachable from dlor_model_forward).

    python3 bench/mcu_footprint.py [--dlor build/dlor] [--work build-mcu-footprint]
"""
import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "samples", "embedded"))
import mcu_run  # noqa: E402

TARGETS = {"": 24 * 1024, "_nomsg": 16 * 1024}  # runtime code, with / without messages
FORBIDDEN = re.compile(r"printf|^__aeabi_d|^__aeabi_\w+2d$|^__\w*df|^(exp|tanh|erfc?|log1p|log|pow|sqrt)f?$|"
                       r"^_?(malloc|free|realloc|_malloc_r)$")


def runtime_objects(archive):
    p = subprocess.run(["arm-none-eabi-size", "-t", archive], capture_output=True, text=True, check=True)
    total = p.stdout.strip().splitlines()[-1].split()
    return int(total[0])


def map_sections(path):
    """(section, size, input file) of every input section placed in the output."""
    text = open(path).read()
    text = text[text.index("Linker script and memory map"):]
    pat = re.compile(r"^ (\.[^\s*]+)\s*\n?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+)$", re.M)
    return [(m.group(1), int(m.group(3), 16), m.group(4)) for m in pat.finditer(text)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dlor", default=os.path.join(ROOT, "build", "dlor"))
    ap.add_argument("--work", default=os.path.join(ROOT, "build-mcu-footprint"))
    a = ap.parse_args()
    why = mcu_run.missing_tools()
    if why:
        print(f"mcu_footprint.py: {why}: {mcu_run.TOOLS_HINT}", file=sys.stderr)
        return 1
    work = os.path.abspath(a.work)
    os.makedirs(work, exist_ok=True)
    digits = os.path.join(ROOT, "samples", "digits")
    model = os.path.join(work, "digits-f16.dlor")
    subprocess.run([a.dlor, "convert", os.path.join(digits, "digits.safetensors"), "-o", model, "--activation",
                    "relu", "--budget", "0.5", "--dtype", "f16"], check=True, capture_output=True)
    folder = os.path.join(work, "models", "digits_f16")
    r = mcu_run.export(a.dlor, model, folder, os.path.join(digits, "x_test.npy"), "0:1")
    if r.returncode != 0:
        print(r.stderr, file=sys.stderr)
        return 1
    bdir, fail = mcu_run.build(work, [folder])
    if fail:
        print(fail, file=sys.stderr)
        return 1
    image = os.path.getsize(model)
    print("| board | messages | runtime objects | linked into the program | program without the model "
          "| of which C library + libgcc | RAM (.data + .bss) without scratch | target (runtime) |")
    print("|---|---|---|---|---|---|---|---|")
    notes = []
    for board in mcu_run.BOARDS:
        for variant, label in (("", "with"), ("_nomsg", "without")):
            objs = runtime_objects(os.path.join(bdir, f"libdlor_runtime_{board}{variant}.a"))
            name = f"mcu_min_{board}{variant}"
            secs = map_sections(os.path.join(bdir, f"{name}.map"))
            flash = [s for s in secs if s[0].startswith((".text", ".rodata", ".data"))]
            linked = sum(n for _, n, f in flash if "libdlor_runtime" in f)
            libs = sum(n for _, n, f in flash if re.search(r"/lib(c|c_nano|gcc|m|nosys)\.a\(", f))
            program = sum(n for sec, n, f in flash if "dlor_model_image" not in sec and "dlor_inputs" not in sec)
            ram = sum(n for sec, n, f in secs if sec.startswith((".data", ".bss")) and "scratch" not in sec)
            target = TARGETS[variant]
            met = "met" if linked <= target and objs <= target else \
                  ("met by the linked part" if linked <= target else "missed")
            print(f"| {board} | {label} | {objs} B | {linked} B | {program} B | {libs} B | {ram} B "
                  f"| <= {target // 1024} KB: {met} |")
            nm = subprocess.run(["arm-none-eabi-nm", os.path.join(bdir, f"{name}.elf")], capture_output=True,
                                text=True).stdout
            bad = sorted({ln.split()[-1] for ln in nm.splitlines() if ln.strip() and FORBIDDEN.search(ln.split()[-1])})
            if bad:
                notes.append(f"{name} links {', '.join(bad)}")
    print(f"\nModel image {image} bytes (not counted above). "
          + ("; ".join(notes) if notes else "No printf family, double-precision arithmetic or libm linked."))
    return 0


if __name__ == "__main__":
    sys.exit(main())
