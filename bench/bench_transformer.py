"""Latency of a BERT-style encoder in dlor's runtime against onnxruntime and PyTorch.

    python3 bench/bench_transformer.py --dlor BIN --shim LIB [--work DIR] [--threads 1,2]
                                       [--budget S] [--torch-python /usr/bin/python3] [--quick]
                                       [--markdown FILE] [--json FILE]

One seeded, untrained encoder in the Hugging Face BertModel layout (hidden 256, 4 layers,
4 heads, intermediate 1024, vocabulary 2000, 128 positions; --quick: hidden 64, 2 layers),
built with Debian's PyTorch (the module classes of samples/bert-tiny/train.py), saved as a
folder (config.json + model.safetensors) and exported to ONNX (opset 17). dlor converts the
folder twice: dense (--method auto --tol 1e-9: no smaller form meets that, so every layer
stays dense) and compressed (--method lowrank --rank R over the 24 linear layers, R the one
rank at which they store a quarter of their dense parameters; the embedding tables left
out). One rank rather than --budget 0.25: on these random weights, whose spectra are flat,
the budget's allocation cuts the feed-forward layers to rank 1 and keeps others dense. Input: one sequence of S = 128 seeded token ids, attention mask
all ones, token types 0; the output is last_hidden_state [1, 128, hidden].

Timing follows bench/timing.py (alternating candidates in one process, same-run medians).
This process (the benchmark environment's python3) times onnxruntime
(intra_op_num_threads = T), dlor dense and dlor compressed; PyTorch lives under another
interpreter, so a second process (--torch-python, torch.set_num_threads(T)) times PyTorch
against its own turn of dlor dense. Before timing, every candidate's output is compared with
PyTorch's float64 pass of the same module (relative error to the largest output). A
benchmark, not a test: it prints ratios and whether this run met the targets (dlor dense
<= 1.2 x onnxruntime; compressed faster than dense), and with --markdown writes the table
for BENCHMARKS.md (bench/harness.py).
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import timing  # noqa: E402

SEQ = 128
SEED = 7
ORT_LIMIT = 1.2  # target: dlor dense <= this x onnxruntime
P = 0.25         # the compressed model stores this fraction of the linear layers' parameters
SIZES = {
    "full": {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 1024,
             "vocab_size": 2000},
    "quick": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 256,
              "vocab_size": 500},
}


# ---------------------------------------------------------------- under Debian's python3 (torch)

def torch_module(folder):
    """The encoder as a torch module (samples/bert-tiny/train.py's classes), weights from the folder."""
    import torch

    sys.path.insert(0, os.path.join(ROOT, "samples", "bert-tiny"))
    import train  # noqa: E402

    cfg = json.load(open(os.path.join(folder, "config.json")))
    m = train.BertModel(cfg).eval()
    if os.path.exists(os.path.join(folder, "model.safetensors")):
        t = timing.read_safetensors(os.path.join(folder, "model.safetensors"))
        m.load_state_dict({k: torch.from_numpy(v) for k, v in t.items()}, strict=True)
    return m, train


def make(folder, size):
    """Builds the seeded encoder, writes the folder, the ONNX export, the input and the float64 reference."""
    import torch

    sys.path.insert(0, os.path.join(ROOT, "samples"))
    from hf_files import export_onnx, save_model, write_json

    torch.manual_seed(SEED)
    os.makedirs(folder, exist_ok=True)
    cfg_path = os.path.join(folder, "config.json")
    sys.path.insert(0, os.path.join(ROOT, "samples", "bert-tiny"))
    import train  # noqa: E402

    cfg = dict(train.CONFIG)
    cfg.update(SIZES[size])
    cfg["max_position_embeddings"] = SEQ
    cfg["pad_token_id"] = 0
    m = train.BertModel(cfg).eval()
    train.init_weights(m, 0.05)
    write_json(cfg_path, cfg)
    save_model(os.path.join(folder, "model.safetensors"), m)
    rng = np.random.default_rng(SEED)
    ids = rng.integers(1, cfg["vocab_size"], size=(1, SEQ), dtype=np.int64)
    mask = np.ones((1, SEQ), dtype=np.int64)
    types = np.zeros((1, SEQ), dtype=np.int64)
    np.save(os.path.join(folder, "ids.npy"), ids)
    with torch.no_grad():
        export_onnx(m, os.path.join(folder, "model.onnx"), [ids, mask, types],
                    ["input_ids", "attention_mask", "token_type_ids"], "last_hidden_state")
        ref = m.double()(torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(types)).numpy()
    np.save(os.path.join(folder, "ref_f64.npy"), ref)


def torch_turn(plan_path, out_path):
    """PyTorch against dlor dense, alternating in this process."""
    import torch

    plan = json.load(open(plan_path))
    ids = np.load(os.path.join(plan["folder"], "ids.npy"))
    mask = np.ones_like(ids)
    ref = np.load(os.path.join(plan["folder"], "ref_f64.npy"))
    m, _ = torch_module(plan["folder"])
    ti, tm, tt = torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(np.zeros_like(ids))
    rt = timing.Runtime(plan["shim"])
    results = {}
    for T in plan["threads"]:
        torch.set_num_threads(T)
        holder = {}

        def pt():
            with torch.no_grad():
                holder["y"] = m(ti, tm, tt)

        pt()
        cands = {"pytorch": pt, "dlor dense": rt.seq_model(plan["dense"], ids, mask, T)}
        cands["dlor dense"]()
        err = {"pytorch": timing.rel_err(holder["y"].numpy(), ref), "dlor dense": timing.rel_err(cands["dlor dense"].y, ref)}
        res = measure(cands, plan["budget"], T)
        results[str(T)] = {"times": res, "rel_err_vs_f64": err}
        print("pytorch T=%d: %s" % (T, line(res)), flush=True)
    json.dump({"torch": torch.__version__, "results": results}, open(out_path, "w"), indent=1)


# ---------------------------------------------------------------- shared

def measure(cands, budget, T):
    if T > 1:  # framework thread pools: blocks of samples and a pause after their turn
        pools = [n for n in cands if not n.startswith("dlor")]
        return timing.measure(cands, budget_s=2 * budget, block=3, cooldown={n: 0.15 for n in pools})
    return timing.measure(cands, budget_s=budget)


def line(res):
    return ", ".join("%s %.4g ms" % (k, v["ms"]) for k, v in res.items() if not k.startswith("_"))


# ---------------------------------------------------------------- the benchmark environment's python3

def ort_session(path, T):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = T
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def ort_model(sess, ids, mask):
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    io = sess.io_binding()
    for k, v in feeds.items():
        io.bind_cpu_input(k, v)
    io.bind_output("last_hidden_state")
    run_io = sess.run_with_iobinding

    def run():
        run_io(io)

    run.out = lambda: io.copy_outputs_to_cpu()[0]
    run.plain = sess.run(None, feeds)[0]
    run.keep = (sess, io, feeds)
    return run


def rank_for(cfg):
    """The one rank r of every linear layer (beta I + P Q^T, r (m + n) + 1 numbers each) for which
    the encoder's linear layers store at most P of their dense parameters, and that fraction."""
    h, i = cfg["hidden_size"], cfg["intermediate_size"]
    shapes = [(h, h)] * 4 + [(i, h), (h, i)]  # query, key, value, attention output; intermediate, output
    dense = sum(m * n for m, n in shapes)
    r = int((P * dense - len(shapes)) // sum(m + n for m, n in shapes))
    return r, sum(r * (m + n) + 1 for m, n in shapes) / dense


def convert(dlor, folder, out, args):
    cmd = [dlor, "convert", folder, "-o", out] + args
    print("  $ " + " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT + "/") else c for c in cmd), flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--make", help=argparse.SUPPRESS)
    ap.add_argument("--torch-turn", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--dlor", default=os.path.join(ROOT, "build-bench", "dlor"))
    ap.add_argument("--shim", default=os.path.join(ROOT, "build-bench", "bench", "librt_shim.so"))
    ap.add_argument("--work", default=os.path.join(ROOT, "build-bench", "work"))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--budget", type=float, default=6.0, help="seconds of sampling per thread count")
    ap.add_argument("--torch-python", default="/usr/bin/python3")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--markdown")
    ap.add_argument("--json")
    a = ap.parse_args()
    size = "quick" if a.quick else "full"
    if a.make:
        return make(a.make, size)
    if a.torch_turn:
        return torch_turn(*a.torch_turn)

    import onnxruntime as ort

    threads = [int(t) for t in a.threads.split(",")]
    work = os.path.join(a.work, "transformer")
    folder = os.path.join(work, "bert")
    os.makedirs(work, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    subprocess.run([a.torch_python, os.path.abspath(__file__), "--make", folder] + (["--quick"] if a.quick else []),
                   check=True, env=env)
    dense, comp = os.path.join(work, "dense.dlor"), os.path.join(work, "p025.dlor")
    convert(a.dlor, folder, dense, ["--method", "auto", "--tol", "1e-9"])
    cfg = json.load(open(os.path.join(folder, "config.json")))
    rank, frac = rank_for(cfg)
    convert(a.dlor, folder, comp, ["--method", "lowrank", "--rank", str(rank), "--exclude", "embeddings.*"])
    ids = np.load(os.path.join(folder, "ids.npy"))
    mask = np.ones_like(ids)
    ref = np.load(os.path.join(folder, "ref_f64.npy"))
    rt = timing.Runtime(a.shim)

    rows = {}
    for T in threads:
        sess = ort_session(os.path.join(folder, "model.onnx"), T)
        cands = {"onnxruntime": ort_model(sess, ids, mask),
                 "dlor dense": rt.seq_model(dense, ids, mask, T),
                 "dlor p=0.25": rt.seq_model(comp, ids, mask, T)}
        for c in cands.values():
            c()
        err = {"onnxruntime": timing.rel_err(cands["onnxruntime"].out(), ref),
               "onnxruntime (plain run)": timing.rel_err(cands["onnxruntime"].plain, ref),
               "dlor dense": timing.rel_err(cands["dlor dense"].y, ref),
               "dlor p=0.25": timing.rel_err(cands["dlor p=0.25"].y, ref),
               "dlor p=0.25 vs dlor dense": timing.rel_err(cands["dlor p=0.25"].y, cands["dlor dense"].y)}
        print("T=%d output relative error (max abs diff / max |ref|, ref = PyTorch float64): %s" % (
            T, ", ".join("%s %.2e" % kv for kv in err.items())), flush=True)
        res = measure(cands, a.budget, T)
        print("onnxruntime T=%d: %s (%s after %d samples)" % (T, line(res), res["_stop"], res["_samples"]), flush=True)
        rows[T] = {"times": res, "rel_err_vs_f64": err}
        del cands, sess

    plan = os.path.join(work, "torch-plan.json")
    tout = os.path.join(work, "torch-times.json")
    json.dump({"folder": folder, "shim": os.path.abspath(a.shim), "dense": dense, "threads": threads,
               "budget": a.budget}, open(plan, "w"))
    subprocess.run([a.torch_python, os.path.abspath(__file__), "--torch-turn", plan, tout], check=True, env=env)
    tres = json.load(open(tout))

    out = {"config": {k: cfg[k] for k in SIZES["full"]}, "seq": SEQ, "batch": 1, "onnxruntime": ort.__version__,
           "torch": tres["torch"], "rank": rank, "fraction": frac, "sizes": {"dense": os.path.getsize(dense), "p=0.25": os.path.getsize(comp)},
           "rows": []}
    for T in threads:
        o, t = rows[T]["times"], tres["results"][str(T)]["times"]
        out["rows"].append({
            "threads": T, "ort_ms": o["onnxruntime"]["ms"], "dense_ms": o["dlor dense"]["ms"],
            "p_ms": o["dlor p=0.25"]["ms"], "dense_vs_ort": o["dlor dense"]["ms"] / o["onnxruntime"]["ms"],
            "p_vs_dense": o["dlor p=0.25"]["ms"] / o["dlor dense"]["ms"],
            "torch_ms": t["pytorch"]["ms"], "dense_ms_torch_turn": t["dlor dense"]["ms"],
            "dense_vs_torch": t["dlor dense"]["ms"] / t["pytorch"]["ms"],
            "rel_err": rows[T]["rel_err_vs_f64"], "rel_err_torch_turn": tres["results"][str(T)]["rel_err_vs_f64"]})
    md = table(out)
    print("\n".join(md))
    if a.markdown:
        open(a.markdown, "w").write("\n".join(md) + "\n")
    if a.json:
        json.dump(out, open(a.json, "w"), indent=1)


def table(out):
    c = out["config"]
    L = ["BERT-style encoder (seeded, untrained): hidden %d, %d layers, %d heads, intermediate %d, vocabulary %d; "
         "batch 1, S = %d. p = 0.25: every linear layer `--method lowrank --rank %d` (%.3f of their dense "
         "parameters; embeddings dense). Files: dense %.2f MB, p = 0.25 %.2f MB. dlor: its portable runtime "
         "(no BLAS) in its only mode, the same bits on every host (no fused multiply-add). onnxruntime %s, "
         "PyTorch %s." % (
             c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"], c["intermediate_size"],
             c["vocab_size"], out["seq"], out["rank"], out["fraction"], out["sizes"]["dense"] / 1e6,
             out["sizes"]["p=0.25"] / 1e6, out["onnxruntime"], out["torch"]),
         "",
         "| threads | onnxruntime ms | dlor dense ms | dense / ort | dlor p=0.25 ms | p=0.25 / dense "
         "| PyTorch ms | dlor dense ms (its turn) | dense / PyTorch |",
         "|---|---|---|---|---|---|---|---|---|"]
    for r in out["rows"]:
        L.append("| %d | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |" % (
            r["threads"], r["ort_ms"], r["dense_ms"], r["dense_vs_ort"], r["p_ms"], r["p_vs_dense"],
            r["torch_ms"], r["dense_ms_torch_turn"], r["dense_vs_torch"]))
    L.append("")
    for r in out["rows"]:
        e = r["rel_err"]
        L.append("T = %d: output error against PyTorch float64 (max abs difference / max |ref|): onnxruntime %.1e, "
                 "dlor dense %.1e, PyTorch float32 %.1e; dlor p=0.25 differs from dlor dense by %.1e (a lossy "
                 "model, not an error). Targets: dense <= %.1f x onnxruntime: %.3f, %s; p=0.25 faster than dense: "
                 "%.3f, %s." % (r["threads"], e["onnxruntime"], e["dlor dense"], r["rel_err_torch_turn"]["pytorch"],
                                e["dlor p=0.25 vs dlor dense"], ORT_LIMIT, r["dense_vs_ort"],
                                "met" if r["dense_vs_ort"] <= ORT_LIMIT else "**missed**", r["p_vs_dense"],
                                "met" if r["p_vs_dense"] < 1 else "**missed**"))
    return L


if __name__ == "__main__":
    main()
