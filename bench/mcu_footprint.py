#!/usr/bin/env python3
"""Code size of dlor's runtime on Cortex-M (arm-none-eabi-gcc -Os, the flags of
samples/embedded/CMakeLists.txt), with and without the runtime's messages
(DLOR_RT_NO_MESSAGES), in two configurations, as a Markdown table:

  - full: the runtime as it is by default, every graph, dtype and pass;
  - minimal: built with samples/embedded's DLOR_MCU_MINIMAL_DEFS
    (DLOR_RT_MLP_ONLY, DLOR_RT_SMALL_CRC, DLOR_RT_ACTS=0x2: chains of relu
    layers stored in float32 or f16; formats/dlor_rt_features.h), the
    configuration the size targets (16 KB without messages, 24 KB with them)
    apply to;

and for each:

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

--functions N also lists the N largest runtime functions (and constants)
each configuration links on the Cortex-M4F without messages.

    python3 bench/mcu_footprint.py [--dlor build/dlor] [--work build-mcu-footprint] [--functions N]
"""
import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "samples", "embedded"))
import mcu_run  # noqa: E402

TARGETS = {"": 24 * 1024, "_nomsg": 16 * 1024}  # minimal runtime's code, with / without messages
CONFIGS = (("", "full"), ("_mlp", "minimal"))
LEFT_OUT = ("graphs of the DAG section (transformers, norms, residual connections, several outputs), the "
            "double-precision pass, bf16, f64, q8 and q4 storage, every activation but relu")
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
    ap.add_argument("--functions", type=int, default=0, metavar="N")
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
    bdir, fail = mcu_run.build(work, [folder], minimal=[folder])
    if fail:
        print(fail, file=sys.stderr)
        return 1
    image = os.path.getsize(model)
    print("| board | runtime | messages | runtime objects | linked into the program | program without the model "
          "| of which C library + libgcc | RAM (.data + .bss) without scratch | target (linked runtime) |")
    print("|---|---|---|---|---|---|---|---|---|")
    notes, tops = [], []
    for board in mcu_run.BOARDS:
        for config, cname in CONFIGS:
          for msg, label in (("", "with"), ("_nomsg", "without")):
            variant = config + msg
            objs = runtime_objects(os.path.join(bdir, f"libdlor_runtime_{board}{variant}.a"))
            name = f"mcu_min_{board}{variant}"
            secs = map_sections(os.path.join(bdir, f"{name}.map"))
            flash = [s for s in secs if s[0].startswith((".text", ".rodata", ".data"))]
            linked = sum(n for _, n, f in flash if "libdlor_runtime" in f)
            libs = sum(n for _, n, f in flash if re.search(r"/lib(c|c_nano|gcc|m|nosys)\.a\(", f))
            program = sum(n for sec, n, f in flash if "dlor_model_image" not in sec and "dlor_inputs" not in sec)
            ram = sum(n for sec, n, f in secs if sec.startswith((".data", ".bss")) and "scratch" not in sec)
            target = TARGETS[msg]
            if config:
                met = f"<= {target // 1024} KB: " + ("met" if linked <= target else "missed")
            else:
                met = "none (everything included; the targets are the minimal runtime's)"
            print(f"| {board} | {cname} | {label} | {objs} B | {linked} B | {program} B | {libs} B | {ram} B "
                  f"| {met} |")
            if a.functions and board == mcu_run.BOARDS[0] and msg:
                funcs = sorted(((n, sec.split(".", 2)[-1]) for sec, n, f in flash if "libdlor_runtime" in f),
                               reverse=True)[:a.functions]
                tops.append(f"{cname} runtime, {board}, without messages: " +
                            ", ".join(f"{fn} {n}" for n, fn in funcs))
            nm = subprocess.run(["arm-none-eabi-nm", os.path.join(bdir, f"{name}.elf")], capture_output=True,
                                text=True).stdout
            bad = sorted({ln.split()[-1] for ln in nm.splitlines() if ln.strip() and FORBIDDEN.search(ln.split()[-1])})
            if bad:
                notes.append(f"{name} links {', '.join(bad)}")
    print(f"\nThe minimal runtime (samples/embedded: DLOR_RT_MLP_ONLY DLOR_RT_SMALL_CRC DLOR_RT_ACTS=0x2) runs "
          f"chains of dense and DLoR layers stored in float32 or f16, relu, softmax and branch groups, and "
          f"refuses at open (unsupported) a model needing what it leaves out: {LEFT_OUT}; it checks CRC-32 with "
          f"a 64-byte table instead of a 1 KB one. The full runtime, everything included, is the 'full' rows. "
          f"Model image {image} bytes (not counted above). "
          + ("; ".join(notes) if notes else "No printf family, double-precision arithmetic or libm linked."))
    for t in tops:
        print(f"\nLargest linked parts, {t}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
