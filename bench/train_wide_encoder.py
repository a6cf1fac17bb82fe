"""A wider, briefly trained BERT encoder for bench_calib.py: a model where calibration matters.

    /usr/bin/python3 bench/train_wide_encoder.py OUTDIR [--hidden 256] [--layers 2] [--steps 300]

Trains samples/bert-tiny's architecture and masked-LM recipe (samples/bert-tiny/train.py: its
modules, data, masking and Trainer) at a larger width for a few hundred steps, and
writes OUTDIR as a Hugging Face folder dlor reads (config.json, model.safetensors). Few steps
leave the weights close to their random initialisation, with flat spectra that low rank fits
badly, while the inputs the layers see span few directions (a 207-word vocabulary, LayerNorm'd):
the case where fitting each layer to its inputs instead of its weights pays most. Then

    python3 bench/bench_calib.py build/dlor WORK --models OUTDIR

prints its figures. Needs torch (Debian's /usr/bin/python3). Not a test; nothing committed.
"""
import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "samples" / "bert-tiny"))
sys.path.insert(0, str(HERE.parent / "samples"))
import train as bt  # noqa: E402
from hf_files import save_model, write_json  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--steps", type=int, default=300)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(bt.SEED)
    cfg = dict(bt.CONFIG, hidden_size=a.hidden, intermediate_size=4 * a.hidden, num_hidden_layers=a.layers)
    trainer = bt.Trainer(cfg, a.steps)
    rng, nrng = random.Random(bt.SEED), np.random.default_rng(bt.SEED)
    t0 = time.time()
    for step in range(a.steps):
        loss = trainer.step([bt.random_example(rng, 32) for _ in range(bt.BATCH)], nrng)
        if step % 100 == 0 or step == a.steps - 1:
            print(f"step {step:4d}  loss {loss.item():.3f}  {time.time() - t0:.0f} s", flush=True)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    trainer.model.eval()
    save_model(out / "model.safetensors", trainer.model)
    write_json(out / "config.json", cfg)
    print(f"wrote {out}: hidden {a.hidden}, {a.layers} layers, {a.steps} steps")


if __name__ == "__main__":
    main()
