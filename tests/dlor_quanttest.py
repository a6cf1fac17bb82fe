"""What the tests of quantized storage share (test_quant, test_qlr, test_quant_acts): the numpy
quantizer written from DLOR_FORMAT.md 6.1, apart from the C code, and the steps of a model's
round trip through the dlor command bound to a test's scratch folder."""
import numpy as np

from dlor_spec_cases import safetensors_bytes
from dlor_testlib import check, run

QMAX = {"q8": 127, "q4": 7}


def quantize(w, dt):
    """6.1 in numpy: per row, blocks of 32 columns (the last one zero-padded), scale = the f16 of
    the f32 of absmax / qmax, values = round-half-even(w / scale) clamped to +-qmax. Returns the
    dequantized matrix (float64) and the stored bytes."""
    w = np.asarray(w, np.float64)
    R, C = w.shape
    B = -(-C // 32)
    p = np.zeros((R, 32 * B))
    p[:, :C] = w
    blk = p.reshape(R, B, 32)
    a = np.abs(blk).max(axis=2)
    s16 = (a / QMAX[dt]).astype(np.float32).astype(np.float16)
    s = s16.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(s[:, :, None] > 0, np.rint(blk / s[:, :, None]), 0)
    q = np.clip(q, -QMAX[dt], QMAX[dt]).astype(np.int64)
    deq = (q * s[:, :, None]).reshape(R, 32 * B)[:, :C]
    if dt == "q8":
        vals = (q & 0xFF).astype(np.uint8).tobytes()
    else:
        n = q & 15
        vals = (n[:, :, :16] | (n[:, :, 16:] << 4)).astype(np.uint8).tobytes()
    return deq, vals + s16.astype("<f2").tobytes()


def rel_fro(a, b):
    """Relative Frobenius (2-norm) error of a against b."""
    return np.linalg.norm(a - b) / np.linalg.norm(b)


# the ways of running a model that must agree: batches of one, threads, the float64 pass
RUNS = ((), ("--batch", "1"), ("--threads", "2"), ("--dtype", "f64"))


def check_runs(run_model, model, x, ref, tag, runs=RUNS, tol=1e-5):
    """Runs model on x (run_model of model_steps) with each tuple of 'dlor run' arguments in runs:
    every output within tol of the numpy reference ref, relative to its largest magnitude."""
    for args in runs:
        y = run_model(model, x, *args)
        if y is not None:
            e = np.abs(y - ref).max() / np.abs(ref).max()
            check(e <= tol, f"{tag} run {args}: relative error {e:.3g} to numpy")


def model_steps(fresh, path):
    """st_file(name, tensors, graph=None), convert(src, out, *args) and run_model(model, x, *args)
    writing into the scratch folder of fresh/path (dlor_testlib.scratch)."""
    def st_file(name, tensors, graph=None):
        p = fresh(name)
        with open(p, "wb") as f:
            f.write(safetensors_bytes([(n, "F32", list(a.shape), np.asarray(a, "<f4").tobytes())
                                       for n, a in tensors], {"dlor.graph": graph} if graph else None))
        return p

    def convert(src, out, *args):
        rc, so, se = run("convert", src, "-o", fresh(out), *args)
        check(rc == 0, f"convert {out} {args}: {se}")
        return path(out)

    def run_model(model, x, *args):
        xin, yout = fresh("x.npy"), fresh("y.npy")
        np.save(xin, x)
        rc, so, se = run("run", model, "-i", xin, "-o", yout, *args)
        check(rc == 0, f"run {model} {args}: {se}")
        return np.load(yout) if rc == 0 else None

    return st_file, convert, run_model
