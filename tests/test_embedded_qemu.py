"""dlor's runtime on microcontrollers, emulated: the digits model in several
forms (exact mul, add, compressed to f16 and to q8 factors, kept dense in q4,
the dense source) and a model that
runs every activation, a branch group and softmax (factors in bf16 and in f64)
are exported with 'dlor export-c', built with arm-none-eabi-gcc (-Wall -Wextra
-Werror) into bare-metal programs for QEMU's mps2-an386 (Cortex-M4F, hard
float) and mps2-an385 (Cortex-M3, float in software), and run under
qemu-system-arm with semihosting (samples/embedded/). Every output must have the
bits 'dlor run' gives on the host, on both boards. On the device, a copy of the
image with one byte of a tensor flipped opens without checksums and is refused
with them, and a scratch buffer one byte short is refused (with and without the
runtime's messages). The smallest program links no printf family, no
double-precision arithmetic and no libm, with or without messages, and exits
with the class the host predicts. The same for the minimal runtime
(samples/embedded's DLOR_MCU_MINIMAL_DEFS: chains of relu layers in float32 or
f16): the digits model compressed to f16, exact mul and dense give the bits of
'dlor run' on both boards, and models needing parts it leaves out (bf16 factors
and other activations; q8 factors) are refused at open with code 3 (unsupported).
Skipped (77) without the tools."""
import os
import re
import subprocess
import sys

import numpy as np
from safetensors.numpy import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dlor_testlib import DLOR, SRC, check, finish, scratch_dir  # noqa: E402

sys.path.insert(0, os.path.join(SRC, "samples", "embedded"))
import mcu_run  # noqa: E402

CMAKE = os.environ.get("DLOR_CMAKE", "cmake")
why = mcu_run.missing_tools(CMAKE)
if why:
    print(f"SKIP: {why}: {mcu_run.TOOLS_HINT}")
    sys.exit(77)

TMP = scratch_dir("embedded_qemu")
DIGITS = os.path.join(SRC, "samples", "digits")
ROWS = 8
x = np.load(os.path.join(DIGITS, "x_test.npy")).astype(np.float32)[:ROWS]
xin = os.path.join(TMP, "x.npy")
np.save(xin, x)

# every activation, a branch group and softmax, with pre-activations spread wide
# (tens) so that each function's tails and middle are both reached
rng = np.random.default_rng(11)
w = {}
dims = [64, 40, 40, 40, 40, 40, 40, 40, 40, 10]
for i in range(len(dims) - 1):
    w[f"l{i}"] = (rng.standard_normal((dims[i + 1], dims[i])) * 6 / np.sqrt(dims[i])).astype(np.float32)
    w[f"b{i}"] = rng.standard_normal(dims[i + 1]).astype(np.float32)
acts_src = os.path.join(TMP, "acts.safetensors")
save_file(w, acts_src, metadata={"dlor.graph": "linear(l0,b0); tanh; linear(l1,b1); sigmoid; linear(l2,b2); softplus; "
                                               "linear(l3,b3); gelu; linear(l4,b4); gelu_tanh; linear(l5,b5); silu; "
                                               "branch(0.75); linear(l6,b6); leaky_relu(0.1); branch(-0.5); linear(l7); "
                                               "merge(b7); relu; linear(l8,b8); softmax"})

forms = {
    "mul": [os.path.join(DIGITS, "digits.safetensors"), "--activation", "relu"],
    "add": [os.path.join(DIGITS, "digits.safetensors"), "--activation", "relu", "--method", "add"],
    "f16": [os.path.join(DIGITS, "digits.safetensors"), "--activation", "relu", "--budget", "0.5", "--dtype", "f16"],
    "dense": [os.path.join(DIGITS, "digits.safetensors"), "--activation", "relu", "--exclude", "*"],
    "q8": [os.path.join(DIGITS, "digits.safetensors"), "--activation", "relu", "--budget", "0.5", "--dtype", "q8"],
    "q4": [os.path.join(DIGITS, "digits.safetensors"), "--activation", "relu", "--tol", "1e-9", "--dtype", "q4"],
    "acts_bf16": [acts_src, "--rank", "8", "--dtype", "bf16"],
    "acts_f64": [acts_src, "--method", "add", "--rank", "6", "--dtype", "f64", "--layout", "rows"],
}
folders, refs = [], {}
for name, args in forms.items():
    model = os.path.join(TMP, f"{name}.dlor")
    r = subprocess.run([DLOR, "convert", args[0], "-o", model, *args[1:]], capture_output=True, text=True)
    check(r.returncode == 0, f"{name}: convert: {r.stderr}")
    ref = os.path.join(TMP, f"{name}-ref.npy")
    r = subprocess.run([DLOR, "run", model, "-i", xin, "-o", ref], capture_output=True, text=True)
    check(r.returncode == 0, f"{name}: dlor run: {r.stderr}")
    folder = os.path.join(TMP, "models", name)
    r = mcu_run.export(DLOR, model, folder, xin, f"0:{ROWS}")
    check(r.returncode == 0, f"{name}: export: {r.stderr}")
    if os.path.exists(ref):
        refs[name] = np.load(ref)
    folders.append(folder)

# the minimal runtime: the first folder also makes its mcu_min programs
MINIMAL_RUN, MINIMAL_REFUSED = ["f16", "mul", "dense"], ["acts_bf16", "q8"]
minimal = [os.path.join(TMP, "models", n) for n in MINIMAL_RUN + MINIMAL_REFUSED]
bdir, fail = mcu_run.build(TMP, folders, cmake=CMAKE, minimal=minimal)
check(fail is None, f"cross build (-Wall -Wextra -Werror, both boards):\n{(fail or '')[-4000:]}")
if fail:
    finish()

expected_scratch = {}
for folder in folders:
    name = os.path.basename(folder)
    m = re.search(r"SCRATCH_BYTES (\d+)u", open(os.path.join(folder, "model.h")).read())
    expected_scratch[name] = int(m.group(1))
    for board in mcu_run.BOARDS:
        for variant in ("", "_nomsg"):
            elf = os.path.join(bdir, f"{name}_{board}{variant}.elf")
            if variant and not os.path.exists(elf):
                continue  # built for the first model only
            what = f"{name} on {board}{' without messages' if variant else ''}"
            rc, text = mcu_run.run(elf, board, timeout=120)
            out = mcu_run.parse(text)
            check(rc == 0 and out["ok"], f"{what}: exit {rc}: {text[-1500:]}")
            y = np.array(out["y"], dtype=np.uint32)
            ref = refs.get(name)
            if ref is not None and check(y.shape == ref.shape, f"{what}: outputs {y.shape} vs {ref.shape}"):
                same = y == ref.view(np.uint32)
                diff = np.abs(y.view(np.float32) - ref).max()
                check(same.all(), f"{what}: {np.count_nonzero(~same)} of {same.size} outputs differ from 'dlor run' "
                                  f"(largest difference {diff:.3g})")
            checks = "\n".join(out["checks"])
            n = expected_scratch[name]
            check("check crc-off: opened" in checks, f"{what}: corrupt copy without checksums: {checks}")
            if variant:
                check("check crc: refused (code 2): error 02" in checks and
                      "check scratch: refused (code 9): error 09" in checks, f"{what}: refusals: {checks}")
            else:
                check(re.search(r"check crc: refused \(code 2\): tensor '[^']+': CRC-32 mismatch", checks),
                      f"{what}: corrupt copy with checksums: {checks}")
                check(f"check scratch: refused (code 9): scratch of {n - 1} bytes is too small: batch 1 needs {n}"
                      in checks, f"{what}: short scratch: {checks}")

for name in MINIMAL_RUN + MINIMAL_REFUSED:
    for board in mcu_run.BOARDS:
        what = f"{name} on {board}, minimal runtime"
        rc, text = mcu_run.run(os.path.join(bdir, f"{name}_{board}_mlp.elf"), board, timeout=120)
        out = mcu_run.parse(text)
        if name in MINIMAL_REFUSED:
            check(rc == 1 and re.search(r"^open: refused \(code 3\): .*left out of this build of the runtime "
                                        r"\(DLOR_RT_(ACTS|NO_BF16|NO_QUANT)\)", text, re.M),
                  f"{what}: not refused as unsupported: exit {rc}: {text[-800:]}")
            continue
        check(rc == 0 and out["ok"], f"{what}: exit {rc}: {text[-1500:]}")
        y = np.array(out["y"], dtype=np.uint32)
        ref = refs.get(name)
        if ref is not None and check(y.shape == ref.shape, f"{what}: outputs {y.shape} vs {ref.shape}"):
            same = y == ref.view(np.uint32)
            check(same.all(), f"{what}: {np.count_nonzero(~same)} of {same.size} outputs differ from 'dlor run'")
        checks = "\n".join(out["checks"])
        check(re.search(r"check crc: refused \(code 2\): tensor '[^']+': CRC-32 mismatch", checks),
              f"{what}: corrupt copy with checksums (the 64-byte CRC table): {checks}")

# the smallest program: what it links, and that it runs. Forbidden: the printf
# family, double-precision helpers (__aeabi_dadd, __aeabi_f2d, __adddf3,
# __fixdfsi, ...), libm's functions, an allocator.
FORBIDDEN = re.compile(r"printf|^__aeabi_d|^__aeabi_\w+2d$|^__\w*df|^(exp|tanh|erfc?|log1p|log|pow|sqrt)f?$|"
                       r"^_?(malloc|free|realloc|_malloc_r)$")
for board in mcu_run.BOARDS:
    for variant in ("", "_nomsg", "_mlp", "_mlp_nomsg"):
        first = MINIMAL_RUN[0] if "mlp" in variant else os.path.basename(folders[0])
        elf = os.path.join(bdir, f"mcu_min_{board}{variant}.elf")
        nm = subprocess.run(["arm-none-eabi-nm", elf], capture_output=True, text=True).stdout
        names = [line.split()[-1] for line in nm.splitlines() if line.strip()]
        bad = sorted(n for n in names if FORBIDDEN.search(n))
        check(not bad, f"mcu_min_{board}{variant} links {bad}")
        rc, text = mcu_run.run(elf, board, timeout=60)
        want = int(np.argmax(refs[first][0])) if first in refs else None
        check(rc == want, f"mcu_min_{board}{variant}: exit {rc} (the class), host says {want}: {text}")
finish()
