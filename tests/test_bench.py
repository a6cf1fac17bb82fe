"""dlor bench: the report is complete and consistent (keys, ratio = dlor_ms / dense_ms,
parameter and byte ratios equal to the stored sizes, outputs of the two paths agree
for an exact model), for batch 1 (sgemv) and batches (sgemm, runtime threads), and bad
arguments are refused. Speeds are not asserted: they are measured by the benchmarks."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dlor_pyreader  # noqa: E402
from dlor_testlib import SRC, check, finish, run, scratch_dir  # noqa: E402

TMP = scratch_dir("bench")
digits = os.path.join(SRC, "samples", "digits")
dsrc = os.path.join(digits, "digits.safetensors")
exact, small = os.path.join(TMP, "exact.dlor"), os.path.join(TMP, "small.dlor")
run("convert", dsrc, "-o", exact, "--activation", "relu")
run("convert", dsrc, "-o", small, "--activation", "relu", "--budget", "0.3", "--dtype", "f16")

for model, batch, threads in ((exact, 1, 1), (exact, 7, 3), (small, 64, 2)):
    rep = os.path.join(TMP, "bench.json")
    rc, so, se = run("bench", model, "--dense", dsrc, "--batch", str(batch), "--threads", str(threads), "--time", "0.2",
                     "--json", rep)
    check(rc == 0, f"bench {os.path.basename(model)} batch {batch}: {se}")
    r = json.load(open(rep))
    for k in ("batch", "threads", "dense_ms", "dlor_ms", "ratio", "params_ratio", "bytes_ratio", "read_ms",
              "read_ratio"):
        check(k in r, f"bench JSON has '{k}'")
    check(r["batch"] == batch and r["threads"] == threads, "batch and threads are reported as given")
    check(r["dense_ms"] > 0 and r["dlor_ms"] > 0 and abs(r["ratio"] - r["dlor_ms"] / r["dense_ms"]) <= 1e-9 * r["ratio"],
          f"ratio is dlor_ms / dense_ms: {r}")
    check(r["read_ms"] > 0 and abs(r["read_ratio"] - r["read_ms"] / r["dense_ms"]) <= 1e-9 * r["read_ratio"],
          f"read_ratio is read_ms / dense_ms: {r}")
    # sizes from the independent reader: factors (+1 for alpha) or kept-dense tensors
    meta, tensors, layers = dlor_pyreader.read(model)
    names = ("0.weight", "2.weight", "4.weight")
    dense = sum({"0.weight": 128 * 64, "2.weight": 128 * 128, "4.weight": 10 * 128}[n] for n in names)
    stored = sum(layers[n]["U"].size + layers[n]["V"].size + 1 if n in layers else tensors[n].size for n in names)
    check(abs(r["params_ratio"] - stored / dense) <= 1e-12, f"params_ratio {r['params_ratio']} vs {stored / dense}")
    if model == exact:
        check(r["max_abs_output_difference"] <= 1e-4, f"exact model: outputs agree ({r['max_abs_output_difference']})")
    check("ratio DLoR / dense" in so, "the text report prints the ratio")

for args, msg in ((["bench", exact], "--dense"), (["bench", exact, "--dense", dsrc, "--batch", "0"], "--batch"),
                  (["bench", exact, "--dense", dsrc, "--threads", "x"], "--threads"),
                  (["bench", dsrc, "--dense", dsrc], "not a .dlor"),
                  (["bench", os.path.join(TMP, "missing.dlor"), "--dense", dsrc], "missing.dlor: cannot open")):
    rc, so, se = run(*args)
    check(rc in (1, 2) and msg in se, f"{' '.join(args[1:])}: refused ({se.strip()})")
# a dense source of another shape
other = os.path.join(SRC, "samples", "sawtooth", "sawtooth.safetensors")
rc, so, se = run("bench", exact, "--dense", other, "--time", "0.1")
check(rc == 1 and "sawtooth.safetensors" in se, f"a mismatched dense source is named: {se.strip()}")
# a JSON path that cannot be written is refused before anything is timed
bad = os.path.join(TMP, "no-such-dir", "b.json")
rc, so, se = run("bench", exact, "--dense", dsrc, "--time", "0.1", "--json", bad)
check(rc == 1 and "no-such-dir/b.json" in se and "ratio DLoR" not in so,
      f"an unwritable --json fails before the timing: rc {rc}, {se.strip()}, {so.strip()}")
# a failed bench leaves an earlier JSON file as it was, and no temporary file beside it
keep = os.path.join(TMP, "keep.json")
with open(keep, "w") as f:
    f.write("earlier\n")
rc, so, se = run("bench", exact, "--dense", other, "--time", "0.1", "--json", keep)
check(rc == 1 and open(keep).read() == "earlier\n", f"a failed bench leaves --json untouched ({se.strip()})")
check(sorted(n for n in os.listdir(TMP) if n.startswith("keep")) == ["keep.json"],
      f"no temporary file is left: {os.listdir(TMP)}")
finish()
