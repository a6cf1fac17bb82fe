#!/usr/bin/env python3
"""test_interop_onnx - models built with the onnx package are read by
dlor_dump_onnx (tensors, recovered graph, why). Checks:

  * every tensor dlor reports equals numpy_helper.to_array of the initializer
    exactly (or its documented normalisation: transposed, alpha/beta folded);
  * the forward pass computed in numpy from the graph and tensors dlor
    reported matches onnxruntime's output (rtol 1e-5; f16 models 1e-2);
  * external data inside the model's folder is read; '../x', an absolute
    path and a symbolic link are refused;
  * an unsupported op (Conv) leaves the graph empty with 'why' naming it.

Environment: DLOR_DUMP_ONNX (the dump tool), DLOR_TEST_TMP (scratch folder).
Prints "N passed, N failed" and exits non-zero on any failure."""
import math
import os
import shutil
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dlor_testlib import DTYPE_NAMES, check, dump_objects, summary  # noqa: E402

DUMP = os.environ.get("DLOR_DUMP_ONNX")
TMP = os.path.abspath(os.path.join(os.environ.get("DLOR_TEST_TMP") or "/tmp", "interop_onnx"))
RNG = np.random.default_rng(1234)
ort.set_default_logger_severity(3)  # unused initializers are expected here





def dump(path):
    """(exit code, {name: (dtype, shape, values)}, [ops], why, stderr)."""
    rc, objs, err = dump_objects(DUMP, path)
    tensors, ops, why = {}, [], None
    for obj in objs:
        if "op" in obj:
            ops.append(obj)
        elif "why" in obj:
            why = obj["why"]
        else:
            tensors[obj["name"]] = (obj["dtype"], obj["shape"], obj["values"])
    return rc, tensors, ops, why, err


def dtype_name(a):
    if a.dtype.name == "bfloat16":
        return "bf16"
    return DTYPE_NAMES[a.dtype]


def same_values(expected, got):
    """Exact: floats bit for bit as doubles (NaN matches NaN), ints as ints."""
    exp = expected.reshape(-1)
    if len(exp) != len(got):
        return "length %d != %d" % (len(got), len(exp))
    isfloat = exp.dtype.kind == "f" or exp.dtype.name == "bfloat16"
    for i, (e, g) in enumerate(zip(exp, got)):
        if isfloat:
            e, g = float(e), float(g)
            ok = (math.isnan(e) and math.isnan(g)) or (e == g and math.copysign(1, e) == math.copysign(1, g))
        else:
            ok = int(e) == g
        if not ok:
            return "value %d: %r != %r" % (i, g, e)
    return None


def check_tensor(label, tensors, name, expected):
    if not check(name in tensors, "%s: tensor %s missing (have %s)" % (label, name, list(tensors))):
        return
    dt, shape, values = tensors[name]
    check(dt == dtype_name(expected), "%s: %s dtype %s, want %s" % (label, name, dt, dtype_name(expected)))
    check(list(shape) == list(expected.shape), "%s: %s shape %s, want %s" % (label, name, shape, expected.shape))
    bad = same_values(expected, values)
    check(bad is None, "%s: %s %s" % (label, name, bad))


def erf(x):
    return np.vectorize(math.erf)(x)


def act(name, x, param):
    if name == "relu":
        return np.maximum(x, 0)
    if name == "leaky_relu":
        return np.where(x >= 0, x, param * x)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if name == "tanh":
        return np.tanh(x)
    if name == "softplus":
        return np.logaddexp(0, x)
    if name == "gelu":
        return 0.5 * x * (1 + erf(x / math.sqrt(2)))
    if name == "gelu_tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    if name == "silu":
        return x / (1 + np.exp(-x))
    raise ValueError(name)


def forward(ops, tensors, x):
    """The model as dlor reports it, in float64 numpy."""
    x = x.astype(np.float64).reshape(x.shape[0], -1)
    for op in ops:
        if op["op"] == "linear":
            _, shape, w = tensors[op["weight"]]
            w = np.array(w, dtype=np.float64).reshape(shape)
            x = x @ w.T
            if op["bias"] is not None:
                x = x + np.array(tensors[op["bias"]][2], dtype=np.float64)
        elif op["op"] == "act":
            x = act(op["act"], x, op["param"])
        else:
            e = np.exp(x - x.max(axis=1, keepdims=True))
            x = e / e.sum(axis=1, keepdims=True)
    return x


def save(name, model, folder=None, **kw):
    folder = folder or TMP
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name + ".onnx")
    onnx.checker.check_model(model)
    onnx.save_model(model, path, **kw)
    return path


def mk_model(nodes, inits, in_shape, out_name="y", opset=17, in_type=TensorProto.FLOAT):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", in_type, ["N"] + list(in_shape[1:]))],
        [helper.make_tensor_value_info(out_name, in_type, ["N", "M"])], initializer=inits)
    # IR 10: what onnxruntime 1.23 accepts (onnx 1.19 writes 12 by default)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)


def run_case(label, model, in_shape, expect_ops, normalised=None, rtol=1e-5, in_dtype=np.float32):
    """Saves, dumps, checks tensors against to_array (or normalised[name]),
    the op kinds against expect_ops, and the forward pass against ORT."""
    path = save(label, model)
    rc, tensors, ops, why, err = dump(path)
    if not check(rc == 0, "%s: dump failed: %s" % (label, err)):
        return
    normalised = normalised or {}
    for init in model.graph.initializer:
        exp = normalised.get(init.name)
        check_tensor(label, tensors, init.name, exp if exp is not None else numpy_helper.to_array(init))
    kinds = [o["act"] if o["op"] == "act" else o["op"] for o in ops]
    check(kinds == expect_ops, "%s: ops %s, want %s (why: %s)" % (label, kinds, expect_ops, why))
    check(why == "", "%s: why '%s' on success" % (label, why))
    if kinds != expect_ops:
        return
    x = RNG.standard_normal((5,) + tuple(in_shape[1:])).astype(in_dtype)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    ref = sess.run(None, {"x": x})[0].astype(np.float64).reshape(5, -1)
    got = forward(ops, tensors, x)
    ok = got.shape == ref.shape and np.allclose(got, ref, rtol=rtol, atol=rtol * 1e-1)
    check(ok, "%s: forward pass differs from onnxruntime: max abs err %s" %
          (label, np.max(np.abs(got - ref)) if got.shape == ref.shape else (got.shape, ref.shape)))


def arr(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def init(name, a, raw=True):
    if raw:
        return numpy_helper.from_array(a, name)
    return helper.make_tensor(name, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape, a.reshape(-1).tolist())


def fold(a, scale):
    """alpha * W as dlor folds it: in double, rounded to f32."""
    return (np.float64(np.float32(scale)) * a.astype(np.float64)).astype(np.float32)


# ---- the cases ------------------------------------------------------------------

def test_gemm():
    w1, b1, w2, b2 = arr(8, 4), arr(8), arr(3, 8), arr(3)
    nodes = [helper.make_node("Gemm", ["x", "W1", "b1"], ["h"], transB=1, name="fc1"),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "W2", "b2"], ["z"], transB=1, name="fc2"),
             helper.make_node("Softmax", ["z"], ["y"], axis=-1)]
    run_case("gemm_transB1", mk_model(nodes, [init("W1", w1), init("b1", b1), init("W2", w2),
                                              init("b2", b2)], (1, 4)),
             (1, 4), ["linear", "relu", "linear", "softmax"])
    # transB = 0 with alpha/beta != 1; float_data encoding; a [1, N] and a scalar C
    B1, C1, B2, C2 = arr(4, 6), arr(1, 6), arr(6, 3), arr(1)
    nodes = [helper.make_node("Gemm", ["x", "B1", "C1"], ["h"], alpha=0.7, beta=1.3),
             helper.make_node("Tanh", ["h"], ["t"]),
             helper.make_node("Gemm", ["t", "B2", "C2"], ["y"], alpha=2.5, beta=-0.25, transB=0)]
    run_case("gemm_transB0_alpha_beta",
             mk_model(nodes, [init("B1", B1, raw=False), init("C1", C1), init("B2", B2), init("C2", C2, raw=False)],
                      (1, 4)),
             (1, 4), ["linear", "tanh", "linear"],
             normalised={"B1": fold(B1.T, 0.7), "C1": fold(C1.reshape(-1), 1.3), "B2": fold(B2.T, 2.5),
                         "C2": fold(np.repeat(C2, 3), -0.25)})
    # transB = 0, alpha 1: a plain transpose keeps the dtype (f64 model)
    B, C = arr(4, 5, dtype=np.float64), arr(5, dtype=np.float64)
    nodes = [helper.make_node("Gemm", ["x", "B", "C"], ["y"])]
    run_case("gemm_f64", mk_model(nodes, [init("B", B), init("C", C)], (1, 4), in_type=TensorProto.DOUBLE),
             (1, 4), ["linear"], normalised={"B": np.ascontiguousarray(B.T)}, in_dtype=np.float64)


def test_matmul_add():
    w1, b1, w2, b2 = arr(4, 7), arr(7), arr(7, 2), arr(1, 2)
    nodes = [helper.make_node("MatMul", ["x", "W1"], ["m1"]),
             helper.make_node("Add", ["m1", "b1"], ["a1"]),
             helper.make_node("Sigmoid", ["a1"], ["s"]),
             helper.make_node("MatMul", ["s", "W2"], ["m2"]),
             helper.make_node("Add", ["b2", "m2"], ["a2"]),
             helper.make_node("Softplus", ["a2"], ["y"])]
    run_case("matmul_add", mk_model(nodes, [init("W1", w1), init("b1", b1), init("W2", w2, raw=False),
                                            init("b2", b2)], (1, 4)),
             (1, 4), ["linear", "sigmoid", "linear", "softplus"],
             normalised={"W1": np.ascontiguousarray(w1.T), "W2": np.ascontiguousarray(w2.T),
                         "b2": b2.reshape(-1)})


def test_activations():
    cases = [("Relu", {}, "relu", 17), ("LeakyRelu", {"alpha": 0.1}, "leaky_relu", 17),
             ("LeakyRelu", {}, "leaky_relu", 17), ("Sigmoid", {}, "sigmoid", 17), ("Tanh", {}, "tanh", 17),
             ("Softplus", {}, "softplus", 17), ("Gelu", {}, "gelu", 20),
             ("Gelu", {"approximate": "tanh"}, "gelu_tanh", 20)]
    for op, attrs, name, opset in cases:
        w1, b1, w2 = arr(6, 3), arr(6), arr(2, 6)
        nodes = [helper.make_node("Gemm", ["x", "W1", "b1"], ["h"], transB=1),
                 helper.make_node(op, ["h"], ["a"], **attrs),
                 helper.make_node("Gemm", ["a", "W2"], ["y"], transB=1)]
        label = "act_%s_%s" % (name, "_".join("%s%s" % kv for kv in attrs.items()) or "default")
        run_case(label, mk_model(nodes, [init("W1", w1), init("b1", b1), init("W2", w2)], (1, 3), opset=opset),
                 (1, 3), ["linear", name, "linear"])
    # SiLU as x * Sigmoid(x)
    w1, w2 = arr(6, 3), arr(2, 6)
    nodes = [helper.make_node("Gemm", ["x", "W1"], ["h"], transB=1),
             helper.make_node("Sigmoid", ["h"], ["s"]),
             helper.make_node("Mul", ["s", "h"], ["a"]),
             helper.make_node("Gemm", ["a", "W2"], ["y"], transB=1)]
    run_case("act_silu_pattern", mk_model(nodes, [init("W1", w1), init("W2", w2)], (1, 3)),
             (1, 3), ["linear", "silu", "linear"])


def gelu_nodes(x, out, swap, prefix):
    """The older exporters' GELU, constants from Constant nodes."""
    c = lambda n, v: helper.make_node("Constant", [], [prefix + n],
                                      value=numpy_helper.from_array(np.array(v, dtype=np.float32)))
    p = lambda n: prefix + n
    return [c("sqrt2", 1.4142135381698608), c("one", 1.0), c("half", 0.5),
            helper.make_node("Div", [x, p("sqrt2")], [p("d")]),
            helper.make_node("Erf", [p("d")], [p("e")]),
            helper.make_node("Add", [p("one"), p("e")] if swap else [p("e"), p("one")], [p("a")]),
            helper.make_node("Mul", [p("a"), x] if swap else [x, p("a")], [p("m")]),
            helper.make_node("Mul", [p("half"), p("m")] if swap else [p("m"), p("half")], [out])]


def test_gelu_pattern():
    w1, b1, w2, b2, w3 = arr(8, 5), arr(8), arr(6, 8), arr(6), arr(3, 6)
    nodes = [helper.make_node("Gemm", ["x", "W1", "b1"], ["h1"], transB=1)] + gelu_nodes("h1", "g1", False, "p_") + \
            [helper.make_node("Gemm", ["g1", "W2", "b2"], ["h2"], transB=1)] + gelu_nodes("h2", "g2", True, "q_") + \
            [helper.make_node("Gemm", ["g2", "W3"], ["y"], transB=1)]
    run_case("gelu_pattern", mk_model(nodes, [init(n, a) for n, a in
                                              [("W1", w1), ("b1", b1), ("W2", w2), ("b2", b2), ("W3", w3)]],
                                      (1, 5), opset=13),
             (1, 5), ["linear", "gelu", "linear", "gelu", "linear"])


def test_noops():
    w1, b1, w2 = arr(6, 8), arr(6), arr(3, 6)
    shape = numpy_helper.from_array(np.array([-1, 6], dtype=np.int64))
    nodes = [helper.make_node("Flatten", ["x"], ["f"], axis=1),
             helper.make_node("Gemm", ["f", "W1", "b1"], ["h"], transB=1),
             helper.make_node("Constant", [], ["shape"], value=shape),
             helper.make_node("Reshape", ["h", "shape"], ["h2"]),
             helper.make_node("Identity", ["h2"], ["h3"]),
             helper.make_node("Reshape", ["h3", "shape0"], ["h4"]),
             helper.make_node("Relu", ["h4"], ["r"]),
             helper.make_node("Gemm", ["r", "W2"], ["y"], transB=1)]
    inits = [init("W1", w1), init("b1", b1), init("W2", w2),
             numpy_helper.from_array(np.array([0, 6], dtype=np.int64), "shape0")]
    run_case("flatten_reshape_identity", mk_model(nodes, inits, (1, 2, 4)), (1, 2, 4), ["linear", "relu", "linear"])


def test_dtypes():
    """f16 weights (raw and int32_data) and every other initializer dtype."""
    w1, b1, w2 = arr(5, 4, dtype=np.float16), arr(5, dtype=np.float16), arr(2, 5, dtype=np.float16)
    nodes = [helper.make_node("Gemm", ["x", "W1", "b1"], ["h"], transB=1),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("MatMul", ["r", "W2t"], ["y"])]
    extra = [init("i8", np.array([-128, 0, 127], dtype=np.int8)),
             init("i8t", np.array([-128, 0, 127], dtype=np.int8), raw=False),
             init("u8", np.array([0, 255], dtype=np.uint8), raw=False),
             init("i16", np.array([-32768, 32767], dtype=np.int16), raw=False),
             init("u16", np.array([0, 65535], dtype=np.uint16), raw=False),
             init("i32", np.array([-2 ** 31, 2 ** 31 - 1], dtype=np.int32), raw=False),
             init("i64", np.array([-2 ** 63, 2 ** 63 - 1, 5], dtype=np.int64), raw=False),
             init("u32", np.array([0, 2 ** 32 - 1], dtype=np.uint32), raw=False),
             init("u64", np.array([0, 2 ** 64 - 1], dtype=np.uint64), raw=False),
             init("u64r", np.array([0, 2 ** 64 - 1], dtype=np.uint64)),
             init("bool", np.array([True, False, True])), init("boolt", np.array([True, False]), raw=False),
             init("f64", np.array([1 / 3, -0.0, 1e-310]), raw=False),
             init("f32", np.array([np.nan, np.inf, -0.0], dtype=np.float32), raw=False),
             init("scalar", np.array(2.5, dtype=np.float32)),
             init("empty", np.zeros((0, 3), dtype=np.float32)),
             helper.make_tensor("bf16", TensorProto.BFLOAT16, [3], [1.0, -2.5, 3.0e38])]
    inits = [init("W1", w1), init("b1", b1, raw=False), init("W2t", np.ascontiguousarray(w2.T), raw=False)] + extra
    model = mk_model(nodes, inits, (1, 4), in_type=TensorProto.FLOAT16)
    run_case("f16_and_dtypes", model, (1, 4), ["linear", "relu", "linear"],
             normalised={"W2t": w2}, rtol=1e-2, in_dtype=np.float16)


def test_external():
    folder = os.path.join(TMP, "ext")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    w1, b1, w2 = arr(16, 4), arr(16), arr(3, 16)
    nodes = [helper.make_node("Gemm", ["x", "W1", "b1"], ["h"], transB=1),
             helper.make_node("Tanh", ["h"], ["t"]),
             helper.make_node("Gemm", ["t", "W2"], ["y"], transB=1)]
    model = mk_model(nodes, [init("W1", w1), init("b1", b1), init("W2", w2)], (1, 4))
    path = save("ext", model, folder, save_as_external_data=True, all_tensors_to_one_file=True,
                location="weights.bin", size_threshold=0)
    check(os.path.getsize(path) < 400 and os.path.exists(os.path.join(folder, "weights.bin")),
          "external: data not written externally")
    rc, tensors, ops, why, err = dump(path)
    if check(rc == 0, "external: %s" % err):
        for name, a in (("W1", w1), ("b1", b1), ("W2", w2)):
            check_tensor("external", tensors, name, a)
        x = arr(4, 4)
        ref = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        check(np.allclose(forward(ops, tensors, x), ref, rtol=1e-5, atol=1e-6), "external: forward pass")

    def refused(label, location, phrase, setup=None):
        sub = os.path.join(folder, label)
        os.makedirs(sub, exist_ok=True)
        m = onnx.load(path, load_external_data=False)
        for t in m.graph.initializer:
            for e in t.external_data:
                if e.key == "location":
                    e.value = location
        if setup:
            setup(sub)
        p = os.path.join(sub, "model.onnx")
        onnx.save_model(m, p)
        rc, _, _, _, err = dump(p)
        check(rc != 0 and phrase in err and p in err, "%s: want refusal with '%s', got rc %d: %s" %
              (label, phrase, rc, err.strip()))

    # ../weights.bin exists (it is the file above), yet it is outside the folder
    refused("dotdot", "../weights.bin", "contains '..'")
    refused("absolute", os.path.join(folder, "weights.bin"), "absolute path")
    refused("symlink", "link.bin",
            "symbolic link", lambda d: os.path.lexists(os.path.join(d, "link.bin")) or
            os.symlink(os.path.join(folder, "weights.bin"), os.path.join(d, "link.bin")))

    def hardlink(d):
        dst = os.path.join(d, "hard.bin")
        if not os.path.exists(dst):
            os.link(os.path.join(folder, "weights.bin"), dst)
    refused("hardlink", "hard.bin", "hard links", hardlink)


def test_unsupported():
    w, b, w2 = arr(4, 1, 3, 3), arr(4), arr(2, 4)
    nodes = [helper.make_node("Conv", ["x", "W", "b"], ["c"], name="Conv_3"),
             helper.make_node("Flatten", ["c"], ["f"]),
             helper.make_node("Gemm", ["f", "W2"], ["y"], transB=1)]
    model = mk_model(nodes, [init("W", w), init("b", b), init("W2", w2)], (1, 1, 3, 3))
    rc, tensors, ops, why, err = dump(save("conv", model))
    if check(rc == 0, "conv: %s" % err):
        for name, a in (("W", w), ("b", b), ("W2", w2)):
            check_tensor("conv", tensors, name, a)
        check(ops == [], "conv: graph not empty: %s" % ops)
        check(why == "node 'Conv_3': operator Conv is not supported", "conv: why '%s'" % why)


def main():
    if not DUMP:
        print("DLOR_DUMP_ONNX is not set", file=sys.stderr)
        return 2
    for t in (test_gemm, test_matmul_add, test_activations, test_gelu_pattern, test_noops, test_dtypes,
              test_external, test_unsupported):
        try:
            t()
        except Exception as e:  # a crash in one case must not hide the others
            check(False, "%s raised %r" % (t.__name__, e))
    return summary()


if __name__ == "__main__":
    sys.exit(main())
