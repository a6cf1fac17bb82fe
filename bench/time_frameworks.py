"""Times one framework's dense model against NumPy's BLAS and dlor's runtime,
all in this one process, alternating (bench/timing.py's protocol).

    python3 time_frameworks.py --framework ort|torch --threads T --plan PLAN.json --out OUT.json

Run by bench/harness.py: onnxruntime under the benchmark environment's python3,
PyTorch under Debian's /usr/bin/python3 (python3-torch). The parent sets
OPENBLAS_NUM_THREADS / OMP_NUM_THREADS to T before this process starts, so
NumPy's BLAS uses T threads; onnxruntime gets intra_op_num_threads = T and
PyTorch torch.set_num_threads(T). dlor's runtime runs on a team of T workers
(every layer's rows split among them, as `dlor bench` does), at batch 1 too.

PLAN.json: {"runtime": LIB.so, "runtime_blas": LIB.so or null, "budget": S,
"cases": [{"n", "batch", "safetensors", "onnx", "layers", "dlor": {name: path},
"dlor_blas": {name: path}, "dlor_blas_1": {name: path}}]}. dlor_blas_1 models run
through the BLAS runtime with one worker (OpenBLAS threading inside sgemm instead).
"""
import argparse
import json
import os
import platform
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import timing  # noqa: E402


def load_weights(path, layers):
    t = timing.read_safetensors(path)
    ws = [np.ascontiguousarray(t["%d.weight" % (2 * i)], dtype=np.float32) for i in range(layers)]
    bs = [np.ascontiguousarray(t["%d.bias" % (2 * i)], dtype=np.float32) for i in range(layers)]
    return ws, bs


def ort_model(case, x, threads):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(case["onnx"], so, providers=["CPUExecutionProvider"])
    in_name = sess.get_inputs()[0].name
    out_name = sess.get_outputs()[0].name
    y = np.zeros((x.shape[0], case["n_out"]), dtype=np.float32)
    io = sess.io_binding()
    io.bind_cpu_input(in_name, x)
    io.bind_ortvalue_output(out_name, ort.OrtValue.ortvalue_from_numpy(y))
    run_io = sess.run_with_iobinding

    def run():
        run_io(io)

    run.y = y
    run.keep = (sess, io)
    # the plain API must agree with the bound one
    run.check = sess.run([out_name], {in_name: x})[0]
    return run


def torch_model(ws, bs, x, threads):
    import torch

    torch.set_num_threads(threads)
    mods = []
    for i, (w, b) in enumerate(zip(ws, bs)):
        lin = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w))
            lin.bias.copy_(torch.from_numpy(b))
        mods.append(lin)
        if i + 1 < len(ws):
            mods.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*mods).eval()
    xt = torch.from_numpy(x)
    holder = {}

    def run():
        with torch.no_grad():
            holder["y"] = model(xt)

    run()
    run.holder = holder
    run.keep = (model, xt)
    return run


def versions(framework):
    v = {"python": platform.python_version(), "executable": sys.executable, "numpy": np.__version__}
    try:
        cfg = np.show_config(mode="dicts")  # NumPy >= 2
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        v["numpy_blas"] = "%s %s" % (blas.get("name", "?"), blas.get("version", "?"))
    except TypeError:
        lib = os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
        v["numpy_blas"] = "system libblas.so.3 -> %s" % lib
    if framework == "ort":
        import onnxruntime as ort

        v["onnxruntime"] = ort.__version__
    else:
        import torch

        v["torch"] = torch.__version__
        v["torch_threads"] = torch.get_num_threads()
        try:
            cfg = torch.__config__.show()
            v["torch_blas"] = ", ".join(m for m in re.findall(r"(?:BLAS_INFO|LAPACK_INFO)=[^,\s]+", cfg))
        except Exception:  # noqa: BLE001
            pass
    return v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--framework", choices=["ort", "torch"], required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--plan", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    plan = json.load(open(a.plan))
    T = a.threads
    rt = timing.Runtime(plan["runtime"])
    rtb = timing.Runtime(plan["runtime_blas"]) if plan.get("runtime_blas") else None
    results = []
    for case in plan["cases"]:
        ws, bs = load_weights(case["safetensors"], case["layers"])
        case["n_out"] = ws[-1].shape[0]
        x = timing.inputs(ws[0].shape[1], case["batch"])
        ref = x
        for i, (w, b) in enumerate(zip(ws, bs)):  # float64 reference
            ref = ref.astype(np.float64) @ w.T.astype(np.float64) + b
            if i + 1 < len(ws):
                ref = np.maximum(ref, 0.0)
        cands, outs = {}, {}
        np_run = timing.numpy_dense(ws, bs, x)
        if a.framework == "ort":
            fw = ort_model(case, x, T)
            cands["onnxruntime"] = fw
        else:
            fw = torch_model(ws, bs, x, T)
            cands["pytorch"] = fw
        cands["numpy"] = np_run
        for name, path in case["dlor"].items():
            cands["dlor:" + name] = rt.model(path, x, T)
        if rtb is not None:
            for name, path in case.get("dlor_blas", {}).items():
                cands["dlor-blas:" + name] = rtb.model(path, x, T)
            for name, path in case.get("dlor_blas_1", {}).items():
                cands["dlor-blas/1:" + name] = rtb.model(path, x, 1)
        for c in cands.values():  # one pass each for the output checks
            c()
        for n, c in cands.items():
            y = c.holder["y"].numpy() if hasattr(c, "holder") else c.y
            outs[n] = timing.rel_err(y, ref)
        if a.framework == "ort":
            outs["onnxruntime(plain run)"] = timing.rel_err(fw.check, ref)
        if T > 1:  # thread pools: blocks of 3 samples, and a pause after each pool's turn
            pools = [n for n in cands if not n.startswith("dlor:")]
            res = timing.measure(cands, budget_s=2 * plan["budget"], block=3,
                                 cooldown={n: plan.get("cooldown", 0.15) for n in pools})
        else:
            res = timing.measure(cands, budget_s=plan["budget"])
        results.append({"n": case["n"], "batch": case["batch"], "threads": T, "times": res,
                        "rel_err_vs_f64": outs})
        print("%s T=%d N=%d B=%d: %s" % (a.framework, T, case["n"], case["batch"],
                                         ", ".join("%s %.4g ms" % (k, v["ms"]) for k, v in res.items()
                                                   if not k.startswith("_"))), flush=True)
    json.dump({"framework": a.framework, "threads": T, "versions": versions(a.framework), "results": results},
              open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
