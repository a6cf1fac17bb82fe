"""Calibrated budget allocation against one rank fraction for every layer, end to end.

    python3 bench_calib.py DLOR WORKDIR [--budgets 0.5,0.25] [--models digits,bert-tiny,...]
                           [--calib-seqs 512] [--test-seqs 256]

A model is a sample's name (digits, bert-tiny, llama-tiny, llama-tiny-tied) or the path of a
Hugging Face folder of the samples' language (bench/train_wide_encoder.py writes one).

For each sample model and budget F, converts it five ways and measures each file with
`DLOR verify MODEL OUT --inputs TEST --json` (end-to-end outputs of the dense and compressed
models on held-out inputs):
  uncal-uniform   --budget F --allocate uniform (every layer at F of its own size, weight fits)
  uncal-alloc     --budget F (the default allocation, on weight-space errors)
  cal-uniform     --budget F --allocate uniform --calib CALIB (data-aware fits, same ranks as
                  uncal-uniform)
  cal-alloc       --budget F --calib CALIB (data-aware fits, ranks allocated on data errors
                  weighed by each layer's end-to-end sensitivity, kept only when closer to the
                  dense outputs on the calibration inputs than cal-uniform's ranks)
  cal-alloc-max   --budget F --allocate max --calib CALIB (the same weights and check)
and prints one table row per model, budget and way: the mean and least per-sample cosine of
dense and compressed outputs, the largest relative error (verify's max_rel_error) and the
stored numbers over the dense ones. Then, per model and budget, the gains: cal-alloc minus
cal-uniform (allocation with the same calibrated fits) and cal-alloc minus uncal-alloc
(calibration).

Inputs: digits: calibration x_train (1257 rows), test x_test (540). The transformers
(bert-tiny: output its mean-pooled hidden state, as verify compares it; llama-tiny: logits):
calibration and test sets of --calib-seqs and --test-seqs sequences of 32 tokens, drawn here from
the samples' language (samples/tinytext.py) with seeds apart from each other and from the
committed sets, tokenized as the samples' train.py does ([CLS] text [SEP] for the encoder,
<s> text for the decoder), right-padded with attention masks. Not a test: prints figures.
"""
import argparse
import json
import os
import random
import subprocess
import sys

import numpy as np

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SRC, "samples"))
import tinytext as tt  # noqa: E402

WAYS = [("uncal-uniform", ["--allocate", "uniform"], False),
        ("uncal-alloc", [], False),
        ("cal-uniform", ["--allocate", "uniform"], True),
        ("cal-alloc", [], True),
        ("cal-alloc-max", ["--allocate", "max"], True)]


def token_set(specials, lead, tail, n, seed, length=32):
    """n right-padded sequences of the samples' language: input_ids, attention_mask (and
    token_type_ids for the encoder), int64 [n, length]."""
    vocab = tt.vocabulary(specials)
    idx = {w: i for i, w in enumerate(vocab)}
    unk = specials[1] if specials is tt.BERT_SPECIALS else specials[0]
    pad = idx[specials[0] if specials is tt.BERT_SPECIALS else "<pad>"]
    rng = random.Random(seed)
    ids = np.full((n, length), pad, dtype=np.int64)
    mask = np.zeros((n, length), dtype=np.int64)
    for i in range(n):
        while True:
            row = [idx[w] for w in lead] + tt.encode(tt.text_of_length(rng, 6, 28), idx, unk) + \
                [idx[w] for w in tail]
            if len(row) <= length:
                break
        ids[i, :len(row)] = row
        mask[i, :len(row)] = 1
    out = {"input_ids": ids, "attention_mask": mask}
    if specials is tt.BERT_SPECIALS:
        out["token_type_ids"] = np.zeros_like(ids)
    return out


def model_sets(name, work, a):
    """(model path, calibration file, test file, extra convert flags)."""
    s = os.path.join(SRC, "samples")
    if name == "digits":
        d = os.path.join(s, "digits")
        return (os.path.join(d, "digits.safetensors"), os.path.join(d, "x_train.npy"),
                os.path.join(d, "x_test.npy"), ["--activation", "relu"])
    folder = name if os.path.isdir(name) else os.path.join(s, name)
    with open(os.path.join(folder, "config.json")) as f:
        bert = json.load(f).get("model_type") == "bert"
    if bert:
        spec, lead, tail = tt.BERT_SPECIALS, ["[CLS]"], ["[SEP]"]
    else:
        spec, lead, tail = tt.LLAMA_SPECIALS, ["<s>"], []
    files = []
    for kind, n, seed in (("calib", a.calib_seqs, 1001), ("test", a.test_seqs, 2002)):
        f = os.path.join(work, f"{os.path.basename(folder.rstrip('/'))}_{kind}.npz")
        np.savez(f, **token_set(spec, lead, tail, n, seed))
        files.append(f)
    return folder, files[0], files[1], []


def measure(dlor, model, out, test):
    js = out + ".json"
    p = subprocess.run([dlor, "verify", model, out, "--inputs", test, "--json", js, "--min-cosine", "0"],
                       capture_output=True, text=True)
    if not os.path.exists(js):
        raise SystemExit(f"verify {out}: {p.stderr}")
    with open(js) as f:
        j = json.load(f)
    e = j["end_to_end"]
    return e["mean_cosine"], e["min_cosine"], e["max_rel_error"], j["params_dlor_total"] / j["params_dense_total"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dlor")
    ap.add_argument("work")
    ap.add_argument("--budgets", default="0.5,0.25")
    ap.add_argument("--models", default="digits,bert-tiny,llama-tiny")
    ap.add_argument("--calib-seqs", type=int, default=512)
    ap.add_argument("--test-seqs", type=int, default=256)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    print(f"{'model':11} {'budget':>6} {'way':14} {'mean cos':>9} {'min cos':>9} {'max rel':>9} {'stored':>7}")
    gains = []
    for arg in a.models.split(","):
        model, calib, test, extra = model_sets(arg, a.work, a)
        name = os.path.basename(arg.rstrip("/"))
        for b in a.budgets.split(","):
            res = {}
            for way, flags, cal in WAYS:
                out = os.path.join(a.work, f"{name}_{b}_{way}.dlor")
                cmd = [a.dlor, "convert", model, "-o", out, "--budget", b, *extra, *flags,
                       *(["--calib", calib] if cal else [])]
                p = subprocess.run(cmd, capture_output=True, text=True)
                if p.returncode != 0:
                    raise SystemExit(f"{' '.join(cmd)}: {p.stderr}")
                res[way] = measure(a.dlor, model, out, test)
                mc, mn, mr, st = res[way]
                print(f"{name:11} {b:>6} {way:14} {mc:9.5f} {mn:9.5f} {mr:9.4f} {st:7.3f}", flush=True)
            gains.append((name, b, res["cal-alloc"][0] - res["cal-uniform"][0],
                          res["cal-alloc"][0] - res["uncal-alloc"][0],
                          res["cal-alloc"][2] - res["cal-uniform"][2]))
    print()
    print(f"{'model':11} {'budget':>6} {'alloc - uniform (cal.)':>23} {'cal - uncal (alloc)':>20} "
          f"{'max rel: alloc - uniform':>25}")
    for name, b, g1, g2, g3 in gains:
        print(f"{name:11} {b:>6} {g1:+23.5f} {g2:+20.5f} {g3:+25.4f}")


if __name__ == "__main__":
    main()
