"""dlor verify's end-to-end check of transformers (models of token ids), on the Hugging Face
samples converted exactly (--method add) and compressed (--method lowrank --rank 12, so the
figures are far from perfect).

For each, `dlor verify FOLDER OUT.dlor --inputs test.npz --json R --html H` reports under
end_to_end the max abs and relative output errors of the first output, and: for the encoder
(bert-tiny) the mean and smallest per-sequence cosine similarity of the mean-pooled hidden
states (over the attention mask); for the decoders (llama-tiny, -tied) the top-1 next-token
agreement and the mean KL divergence of the next-token distributions over the positions the
mask keeps. Each figure is recomputed in numpy from `dlor run`'s outputs of the dense folder
and of the .dlor on the same inputs (cosine within 1e-6, KL within 1e-3 relative plus 1e-9,
agreement within one position, errors within 1e-6 relative); an exact form has cosine 1 to
within 1e-6 and agreement 1; the HTML page shows the figures. Without --inputs the check runs
on seeded random sequences; --labels with a model of token ids is a usage error (exit 2)."""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dlor_testlib import SRC, check, finish, run, scratch_dir  # noqa: E402

TMP = scratch_dir("verify_tokens")


def dlor_run(model, inputs):
    out = os.path.join(TMP, "y.npy")
    if os.path.exists(out):
        os.remove(out)
    rc, _, err = run("run", model, "-i", inputs, "-o", out)
    return np.load(out).astype(np.float64) if rc == 0 else None


def pooled_cosine(a, b, mask):
    m = mask[:, :, None].astype(np.float64)
    pa, pb = (a * m).sum(1) / m.sum(1), (b * m).sum(1) / m.sum(1)
    c = (pa * pb).sum(1) / (np.linalg.norm(pa, axis=1) * np.linalg.norm(pb, axis=1))
    return c.mean(), c.min()


def next_token(a, b, mask):
    keep = mask.astype(bool)
    p, q = a[keep], b[keep]
    lp = p - p.max(1, keepdims=True)
    lp -= np.log(np.exp(lp).sum(1, keepdims=True))
    lq = q - q.max(1, keepdims=True)
    lq -= np.log(np.exp(lq).sum(1, keepdims=True))
    kl = (np.exp(lp) * (lp - lq)).sum(1)
    return (p.argmax(1) == q.argmax(1)).mean(), kl.mean(), len(p)


for name in ("bert-tiny", "llama-tiny", "llama-tiny-tied"):
    folder = os.path.join(SRC, "samples", name)
    inputs = os.path.join(folder, "test.npz")
    mask = np.load(inputs)["attention_mask"]
    dense = dlor_run(folder, inputs)
    check(dense is not None, f"{name}: dlor run on the folder")
    for form, flags in (("exact", ["--method", "add"]), ("lowrank", ["--method", "lowrank", "--rank", "12"])):
        what = f"{name} {form}"
        dl = os.path.join(TMP, f"{name}-{form}.dlor")
        rc, _, err = run("convert", folder, "-o", dl, *flags)
        if not check(rc == 0, f"{what}: convert: {err}"):
            continue
        rj, rh = os.path.join(TMP, "r.json"), os.path.join(TMP, "r.html")
        rc, so, err = run("verify", folder, dl, "--inputs", inputs, "--json", rj, "--html", rh)
        if not check(rc in (0, 1) and os.path.exists(rj), f"{what}: verify: rc {rc}: {err}"):
            continue
        e2e = json.load(open(rj)).get("end_to_end", {})
        html = open(rh).read()
        y = dlor_run(dl, inputs)
        if not check(y is not None and e2e.get("samples") == len(mask), f"{what}: end_to_end {e2e}"):
            continue
        abs_err = np.abs(y - dense).max()
        check(abs(e2e["max_abs_error"] - abs_err) <= 1e-6 * max(abs_err, 1e-30) + 1e-12,
              f"{what}: max_abs_error {e2e['max_abs_error']} vs numpy {abs_err}")
        if name == "bert-tiny":
            cm, cmin = pooled_cosine(dense, y, mask)
            check("top1_agreement" not in e2e and abs(e2e.get("cosine_mean", -9) - cm) <= 1e-6
                  and abs(e2e.get("cosine_min", -9) - cmin) <= 1e-6,
                  f"{what}: cosine {e2e.get('cosine_mean')} {e2e.get('cosine_min')} vs numpy {cm} {cmin}")
            check(form != "exact" or cmin >= 1 - 1e-6, f"{what}: an exact form's cosine is {cmin}")
            check(form != "lowrank" or cmin < 0.9999, f"{what}: rank 12 changes nothing ({cmin})")
            check("mean-pooled" in html and f"{e2e.get('cosine_min', 0):.9f}" in html, f"{what}: HTML lacks the cosine")
            check("cosine similarity mean" in so, f"{what}: verify's text lacks the cosine: {so}")
        else:
            top1, kl, npos = next_token(dense, y, mask)
            check("cosine_mean" not in e2e and e2e.get("positions") == npos
                  and abs(e2e.get("top1_agreement", -9) - top1) <= 1.0 / npos + 1e-12
                  and abs(e2e.get("kl_mean", -9) - kl) <= 1e-3 * kl + 1e-9,
                  f"{what}: top1 {e2e.get('top1_agreement')} kl {e2e.get('kl_mean')} vs numpy {top1} {kl} ({npos})")
            check(form != "exact" or (e2e.get("top1_agreement") == 1.0 and kl < 1e-9), f"{what}: exact: {e2e}")
            check(form != "lowrank" or kl > 1e-6, f"{what}: rank 12 changes nothing ({kl})")
            check("next-token agreement" in html and "KL divergence" in html, f"{what}: HTML lacks the figures")
            check("top-1 agreement" in so, f"{what}: verify's text lacks the agreement: {so}")
    # seeded random sequences without --inputs
    dl = os.path.join(TMP, f"{name}-exact.dlor")
    rj = os.path.join(TMP, "random.json")
    rc, so, err = run("verify", folder, dl, "--samples", "8", "--json", rj)
    e2e = json.load(open(rj)).get("end_to_end", {}) if os.path.exists(rj) else {}
    check(rc == 0 and e2e.get("samples") == 8 and e2e.get("inputs") == "random token"
          and e2e.get("max_rel_error", 1) <= 1e-5, f"{name}: random sequences: rc {rc} {e2e} {err}")
    labels = os.path.join(TMP, "labels.npy")
    np.save(labels, np.zeros(len(mask), np.int64))
    rc, so, err = run("verify", folder, dl, "--inputs", inputs, "--labels", labels)
    check(rc == 2 and "--labels" in err, f"{name}: --labels with token ids: rc {rc} {err}")
finish()
