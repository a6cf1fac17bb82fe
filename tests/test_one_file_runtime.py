"""The one-file runtime (amalgamation/dlor_runtime.c and dlor_runtime.h, written by
scripts/amalgamate_runtime.py from the dlor_runtime target's sources):

- the two files include C standard headers only (no LAPACK, BLAS or zlib header) and call no
  allocator; compiled, the object references no allocator, printf, BLAS, LAPACK or zlib symbol,
  and defines exactly the functions its header declares (all defined by libdlor_runtime.a too):
  everything else is static; with DLOR_RT_STATIC it defines none;
- a program of run_image.c and the two files alone, built with cc -std=c99 -Wall -Wextra -Werror
  -pedantic -O2 (and the sanitizers in a sanitizer build), gives the bits of `dlor run` on
  digits models of every layer form and dtype (batches of 64 and 7), and on bert-tiny's and
  llama-tiny's graphs of values converted to exact DLoR layers (test.npz: BERT's last hidden
  state and its pooled sentence embedding, the decoder's logits);
- two copies compiled with DLOR_RT_STATIC (rt_copy.c) link into one program and give those bits
  too, while two copies without it do not link;
- the minimal runtime (formats/dlor_rt_features.h: DLOR_RT_MLP_ONLY, DLOR_RT_SMALL_CRC and relu
  alone, as samples/embedded builds it), from the one file and from the sources, with and without
  messages: the digits models it keeps (float32 and f16; dense, mul, add) give the bits of `dlor run`
  and open with checksums; those it leaves out (bf16 and f64 factors, q8, another activation, a
  graph in the DAG section) are refused at open with the message naming the switch, exit 1."""
import os
import re
import shlex
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dlor_testlib import DLOR, SRC, check, finish, run, scratch_dir  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402
from sample_graphs import sample_with_graph  # noqa: E402

ONE = os.environ["DLOR_ONE_FILE_DIR"]
CC = os.environ.get("DLOR_CC", "cc")
ARCHIVE = os.environ["DLOR_RUNTIME_ARCHIVE"]
SAN = shlex.split(os.environ.get("DLOR_CC_SANITIZE", ""))
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]
TOOLS = os.path.join(SRC, "tests", "tools")
TMP = scratch_dir("one_file")
C_HEADERS = {"assert.h", "complex.h", "ctype.h", "errno.h", "fenv.h", "float.h", "inttypes.h", "iso646.h",
             "limits.h", "locale.h", "math.h", "setjmp.h", "signal.h", "stdarg.h", "stdbool.h", "stddef.h",
             "stdint.h", "stdio.h", "stdlib.h", "string.h", "tgmath.h", "time.h", "wchar.h", "wctype.h"}
ALLOCATORS = {"malloc", "calloc", "realloc", "free", "aligned_alloc", "posix_memalign", "memalign", "valloc",
              "strdup", "strndup"}


def cc(*args):
    p = subprocess.run([CC, *args], capture_output=True, text=True)
    return p.returncode, p.stderr


def code_of(text):
    """C text without comments and string literals."""
    return re.sub(r'/\*.*?\*/|//[^\n]*|"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'', " ", text, flags=re.S)


def nm(obj, *flags):
    p = subprocess.run(["nm", *flags, obj], capture_output=True, text=True)
    return p.stdout.splitlines() if p.returncode == 0 else None


# ---- what the two files hold -----------------------------------------------------------
for name in ("dlor_runtime.c", "dlor_runtime.h"):
    with open(os.path.join(ONE, name), encoding="utf-8") as f:
        text = f.read()
    includes = re.findall(r'^[ \t]*#[ \t]*include[ \t]*[<"]([^>"]+)[>"]', text, re.M)
    foreign = [h for h in includes if h not in C_HEADERS and h != "dlor_runtime.h"]
    check(not foreign, f"{name} includes {foreign}")
    check(not [h for h in includes if re.search(r"lapack|blas|zlib", h, re.I)], f"{name}: {includes}")
    calls = sorted(set(re.findall(r"\b(%s)\s*\(" % "|".join(ALLOCATORS), code_of(text))))
    check(not calls, f"{name} calls {calls}")
    check(name == "dlor_runtime.h" or '#include "dlor_runtime.h"' in text, f"{name} includes no dlor_runtime.h")

# ---- its symbols ---------------------------------------------------------------------------
obj = os.path.join(TMP, "dlor_runtime.o")
rc, err = cc(*STRICT, "-c", os.path.join(ONE, "dlor_runtime.c"), "-o", obj)
check(rc == 0, f"cc {' '.join(STRICT)} -c dlor_runtime.c: {err}")
lib = nm(ARCHIVE, "-g", "--defined-only")
mine = nm(obj, "-g", "--defined-only") if rc == 0 else None
pp = subprocess.run([CC, "-std=c99", "-E", "-P", os.path.join(ONE, "dlor_runtime.h")], capture_output=True,
                    text=True)
# the functions the header declares, read from its preprocessed text (less its static inline ones)
public = set(re.findall(r"\b(dlor_\w+)\s*\(", pp.stdout)) - set(
    re.findall(r"\bstatic\s+inline\s+[\w\s*]*?\b(dlor_\w+)\s*\(", pp.stdout)) if pp.returncode == 0 else set()
if check(lib is not None and mine is not None and public, "nm or cc -E failed"):
    lib_public = {ln.split()[-1] for ln in lib if len(ln.split()) == 3} & public
    defined = {ln.split()[-1] for ln in mine if len(ln.split()) == 3}
    check(len(public) >= 30 and lib_public == public,
          f"the header declares {sorted(public - lib_public)}, which libdlor_runtime.a does not define")
    check(defined == public, f"the one file defines {sorted(defined - public)} beyond the runtime's public "
          f"functions and lacks {sorted(public - defined)}")
    undefined = {ln.split()[-1] for ln in nm(obj, "-u") or []}
    bad = {s for s in undefined if s in ALLOCATORS or "printf" in s
           or re.match(r"LAPACKE_|cblas_|[sd]gemm|inflate|deflate|adler32|compress|uncompress|crc32$", s)}
    check(not bad, f"the one file references {sorted(bad)}")
for flags, want in ((["-DDLOR_RT_NO_MESSAGES"], None), (["-DDLOR_RT_STATIC"], set())):
    o = os.path.join(TMP, "variant.o")
    rc, err = cc(*STRICT, *flags, "-c", os.path.join(ONE, "dlor_runtime.c"), "-o", o)
    if check(rc == 0, f"dlor_runtime.c {flags}: {err}") and want is not None:
        got = {ln.split()[-1] for ln in nm(o, "-g", "--defined-only") or [""] if len(ln.split()) == 3}
        check(got == want, f"dlor_runtime.c {flags} defines {sorted(got)}")

# ---- a program of run_image.c and the two files ------------------------------------------
prog = os.path.join(TMP, "run_one_file")
rc, err = cc(*STRICT, *SAN, "-I", ONE, os.path.join(TOOLS, "run_image.c"), os.path.join(ONE, "dlor_runtime.c"),
             "-lm", "-o", prog)
if not check(rc == 0, f"cc run_image.c dlor_runtime.c: {err}"):
    finish()


def dlor_run(model, inputs, *flags):
    out = os.path.join(TMP, "ref.npy")
    if os.path.exists(out):
        os.remove(out)
    rc, _, err = run("run", model, "-i", inputs, "-o", out, *flags)
    return np.load(out) if check(rc == 0, f"dlor run {model}: {err}") else None


def same_bits(y, ref, what):
    ok = y is not None and ref is not None and y.shape == ref.shape
    return check(ok and np.array_equal(y.view(np.uint32), ref.view(np.uint32)),
                 f"{what}: not the bits of dlor run" + ("" if ok else " (no output or another shape)"))


digits = os.path.join(SRC, "samples", "digits")
x = np.load(os.path.join(digits, "x_test.npy")).astype("<f4")
forms = [("dense", ["--exclude", "*"]), ("mul", ["--rank", "16"]), ("mul-f16", ["--rank", "8", "--dtype", "f16"]),
         ("add-rows", ["--method", "add", "--layout", "rows"]),
         ("lowrank-bf16", ["--method", "lowrank", "--rank", "5", "--dtype", "bf16"]),
         ("mul-f64", ["--rank", "3", "--dtype", "f64"])]
mul_model = mul_ref = None
models = {}
forms += [("q8", ["--budget", "0.5", "--dtype", "q8"])]
for name, flags in forms:
    model = os.path.join(TMP, f"digits-{name}.dlor")
    rc, _, err = run("convert", os.path.join(digits, "digits.safetensors"), "-o", model, "--activation", "relu",
                     *flags)
    if not check(rc == 0, f"convert {name}: {err}"):
        continue
    ref = dlor_run(model, os.path.join(digits, "x_test.npy"))
    models[name] = (model, ref)
    for batch in ("64", "7"):
        p = subprocess.run([prog, model, batch], input=x.tobytes(), capture_output=True)
        y = np.frombuffer(p.stdout, "<f4").reshape(-1, 10) if p.returncode == 0 else None
        same_bits(y, ref, f"digits {name} batch {batch} ({p.stderr.decode().strip()})")
    if name == "mul":
        mul_model, mul_ref = model, ref

# ---- graphs of values: bert-tiny (three inputs, two outputs) and llama-tiny ----------------
for sample in ("bert-tiny", "llama-tiny"):
    src, config, first = sample_with_graph(sample, TMP)
    model = os.path.join(TMP, sample + ".dlor")
    rc, _, err = run("convert", src, "-o", model, "--method", "add")
    if not check(rc == 0, f"convert {sample}: {err}"):
        continue
    inputs = os.path.join(SRC, "samples", sample, "test.npz")
    data = np.load(inputs)
    ids = data["input_ids"]
    stdin = b"".join(data[k].astype("<i8").tobytes() for k in ("input_ids", "attention_mask", "token_type_ids")
                     if k in data)
    for output in [first] + (["sentence_embedding"] if config["model_type"] == "bert" else []):
        ref = dlor_run(model, inputs, "--select", output)
        p = subprocess.run([prog, model, str(ids.shape[0]), str(ids.shape[1]), output], input=stdin,
                           capture_output=True)
        y = np.frombuffer(p.stdout, "<f4").reshape(ref.shape) if p.returncode == 0 and ref is not None and \
            len(p.stdout) == ref.nbytes else None
        same_bits(y, ref, f"{sample} {output} ({p.stderr.decode().strip()})")

# ---- the minimal runtime ------------------------------------------------------------------
MINIMAL = ["-DDLOR_RT_MLP_ONLY", "-DDLOR_RT_SMALL_CRC", "-DDLOR_RT_ACTS=0x2"]
RT_SOURCES = [os.path.join(SRC, f) for f in ("formats/crc32.c", "formats/dlor_image.c", "formats/dlor_image_graph.c",
                                             "lib/runtime/runtime.c")]
RT_INCLUDES = [f"-I{os.path.join(SRC, d)}" for d in ("include", "formats", "lib/runtime")]
tanh_src = os.path.join(TMP, "tanh.safetensors")
rng = np.random.default_rng(5)
save_file({"a": rng.standard_normal((16, 64)).astype(np.float32), "b": rng.standard_normal((10, 16)).astype(np.float32)},
          tanh_src, metadata={"dlor.graph": "linear(a); tanh; linear(b)"})
resid_src = os.path.join(TMP, "resid.safetensors")
save_file({"a": rng.standard_normal((16, 64)).astype(np.float32), "b": rng.standard_normal((16, 16)).astype(np.float32),
           "c": rng.standard_normal((10, 16)).astype(np.float32)},
          resid_src, metadata={"dlor.graph": "input(x, features, 64); %h = linear(a); relu; linear(b); add(%h); linear(c); output(y)"})
left_out = {}
for name, src, switch in (("tanh", tanh_src, "DLOR_RT_ACTS"), ("resid", resid_src, "DLOR_RT_NO_DAG")):
    model = os.path.join(TMP, name + ".dlor")
    rc, _, err = run("convert", src, "-o", model, "--exclude", "*")
    if check(rc == 0, f"convert {name}: {err}"):
        left_out[name] = (model, switch)
for name, switch in (("lowrank-bf16", "DLOR_RT_NO_BF16"), ("mul-f64", "DLOR_RT_NO_F64"), ("q8", "DLOR_RT_NO_QUANT")):
    if name in models:
        left_out[name] = (models[name][0], switch)
for origin, srcs, incs in (("one file", [os.path.join(ONE, "dlor_runtime.c")], ["-I", ONE]),
                           ("sources", RT_SOURCES, RT_INCLUDES)):
    for msgs in ([], ["-DDLOR_RT_NO_MESSAGES"]):
        what = f"minimal runtime ({origin}{', no messages' if msgs else ''})"
        prog_min = os.path.join(TMP, "run_minimal")
        rc, err = cc(*STRICT, *SAN, *MINIMAL, *msgs, *incs, os.path.join(TOOLS, "run_image_crc.c"), *srcs, "-lm",
                     "-o", prog_min)
        if not check(rc == 0, f"{what}: cc: {err}"):
            continue
        for name in ("dense", "mul", "mul-f16", "add-rows"):
            if name not in models:
                continue
            p = subprocess.run([prog_min, models[name][0], "7"], input=x.tobytes(), capture_output=True)
            y = np.frombuffer(p.stdout, "<f4").reshape(-1, 10) if p.returncode == 0 else None
            same_bits(y, models[name][1], f"{what}: digits {name} ({p.stderr.decode().strip()})")
        for name, (model, switch) in left_out.items():
            p = subprocess.run([prog_min, model, "1"], input=x[:1].tobytes(), capture_output=True, text=False)
            msg = p.stderr.decode().strip()
            want = "error 03" if msgs else f"left out of this build of the runtime ({switch})"
            check(p.returncode == 1 and want in msg and p.stdout == b"",
                  f"{what}: {name} not refused as unsupported: exit {p.returncode}: {msg}")

# ---- two copies in one program -------------------------------------------------------------
objs = []
for copy in ("copy_a", "copy_b"):
    o = os.path.join(TMP, copy + ".o")
    rc, err = cc(*STRICT, *SAN, "-I", ONE, f"-DCOPY={copy}", "-c", os.path.join(TOOLS, "rt_copy.c"), "-o", o)
    check(rc == 0, f"rt_copy.c as {copy}: {err}")
    objs.append(o)
two = os.path.join(TMP, "rt_two_copies")
rc, err = cc(*STRICT, *SAN, os.path.join(TOOLS, "rt_two_copies.c"), *objs, "-lm", "-o", two)
if check(rc == 0, f"two copies with DLOR_RT_STATIC do not link: {err}") and mul_model:
    p = subprocess.run([two, mul_model, "64", "10"], input=x.tobytes(), capture_output=True)
    y = np.frombuffer(p.stdout, "<f4").reshape(-1, 10) if p.returncode == 0 else None
    same_bits(y, mul_ref, f"two copies ({p.stderr.decode().strip()})")
# ... which without DLOR_RT_STATIC clash (the test above could not fail otherwise)
p = subprocess.run(["ld", "-r", obj, obj, "-o", os.path.join(TMP, "clash.o")], capture_output=True, text=True)
check(p.returncode != 0 and "multiple definition" in p.stderr, f"two copies without DLOR_RT_STATIC linked: {p.stderr}")
finish()
