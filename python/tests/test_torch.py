"""dlor.torch: DLoRLinear, apply and load against `dlor run` on the samples converted
in every form (within 1e-5 of the largest output), gradients reaching every factor,
a forward pass that never forms the dense matrix, and apply's refusals leaving the
model as it was.

Run by ctest with Debian's /usr/bin/python3 (PyTorch 1.13); exits 77 (skipped) when
that Python has no torch.
"""
import os
import sys

import numpy as np

try:
    import torch
    import torch.nn as nn
except ImportError:
    print(f"SKIP: {sys.executable} has no torch (apt-get install python3-torch)")
    sys.exit(77)

SRC = os.environ.get("DLOR_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(SRC, "python"))
sys.path.insert(0, os.path.join(SRC, "tests"))
import dlor  # noqa: E402
import dlor.torch as dt  # noqa: E402
from dlor_testlib import check, finish, run, scratch_dir  # noqa: E402

TMP = scratch_dir("python-torch")
TOL = 1e-5
torch.set_num_threads(1)


def digits_model():
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))


def sawtooth_model():
    layers = []
    for i, (a, b) in enumerate([(1, 16), (16, 16), (16, 16), (16, 16), (16, 1)]):
        layers += [nn.Linear(a, b)] + ([nn.Softplus()] if i < 4 else [])
    return nn.Sequential(*layers)


SAMPLES = {
    "digits": ("samples/digits/digits.safetensors", "samples/digits/x_test.npy", "relu", digits_model),
    "sawtooth": ("samples/sawtooth/sawtooth.safetensors", "samples/sawtooth/x_test.npy", "softplus", sawtooth_model),
}
FORMS = [
    ("mul", ["--method", "mul"], ("digits", "sawtooth")),
    ("mul-r16", ["--method", "mul", "--rank", "16"], ("digits", "sawtooth")),
    ("mul-rows", ["--method", "mul", "--rank", "3", "--layout", "rows"], ("digits", "sawtooth")),
    ("add", ["--method", "add"], ("digits", "sawtooth")),
    ("add-r5", ["--method", "add", "--rank", "5"], ("digits",)),
    ("budget", ["--budget", "0.25"], ("digits", "sawtooth")),
    ("tol", ["--tol", "0.3"], ("digits", "sawtooth")),
    ("lowrank", ["--method", "lowrank", "--rank", "8"], ("digits",)),
    ("svd", ["--method", "svd", "--rank", "8"], ("digits",)),
    ("factors3", ["--method", "lowrank", "--rank", "6", "--factors", "3"], ("digits",)),
    ("f16", ["--budget", "0.25", "--dtype", "f16"], ("digits", "sawtooth")),
    ("bf16-compress", ["--method", "add", "--dtype", "bf16", "--compress"], ("digits", "sawtooth")),
    ("f64", ["--method", "mul", "--rank", "5", "--dtype", "f64"], ("digits", "sawtooth")),
    ("compress", ["--method", "mul", "--rank", "16", "--compress"], ("digits", "sawtooth")),
    ("net-deep", ["--form", "network"], ("digits", "sawtooth")),
    ("net-wide", ["--form", "network", "--construction", "wide"], ("digits", "sawtooth")),
    ("net-wide-f64", ["--form", "network", "--construction", "wide", "--dtype", "f64"], ("digits", "sawtooth")),
]


def rel(a, b):
    return float(np.abs(np.asarray(a, np.float64) - b).max() / np.abs(b).max())


def dlor_run(path, x, f64):
    xi, yo = os.path.join(TMP, "x.npy"), os.path.join(TMP, "y.npy")
    np.save(xi, x)
    rc, so, se = run("run", path, "-i", xi, "-o", yo, *(["--dtype", "f64"] if f64 else []))
    check(rc == 0, f"dlor run {path}: {se.strip()}")
    return np.load(yo) if rc == 0 else None


def outputs(module, x, dtype):
    module.eval()
    with torch.no_grad():
        return module(torch.from_numpy(x).to(dtype)).double().numpy()


def test_forms():
    worst = []
    for sample, (src, xs, act, make) in SAMPLES.items():
        src, x = os.path.join(SRC, src), np.load(os.path.join(SRC, xs))
        for form, args, where in FORMS:
            if sample not in where:
                continue
            label = f"{sample} {form}"
            path = os.path.join(TMP, f"{sample}-{form}.dlor")
            if os.path.exists(path):
                os.remove(path)
            rc, so, se = run("convert", src, "-o", path, "--activation", act, *args)
            if not check(rc == 0, f"{label}: convert: {se.strip()}"):
                continue
            f64 = "f64" in form
            dtype = torch.float64 if f64 else torch.float32
            y_run = dlor_run(path, x, f64)
            if y_run is None:
                continue
            m = dlor.load(path)
            net = dt.load(m, dtype=dtype)
            worst.append((rel(outputs(net, x, dtype), y_run), label))
            check(rel(outputs(net, x, dtype), y_run) <= TOL,
                  f"{label}: dlor.torch.load vs dlor run {rel(outputs(net, x, dtype), y_run):.3g}")
            if "net" in form:
                continue
            model = make().to(dtype)
            applied = dt.apply(model, path)
            check(sorted(applied.replaced) == sorted(n[:-len(".weight")] for n in m.layers),
                  f"{label}: replaced {applied.replaced}")
            check(all(isinstance(model.get_submodule(n), dt.DLoRLinear) for n in applied.replaced),
                  f"{label}: DLoRLinear modules in place")
            worst.append((rel(outputs(model, x, dtype), y_run), label + " (apply)"))
            check(rel(outputs(model, x, dtype), y_run) <= TOL,
                  f"{label}: apply vs dlor run {rel(outputs(model, x, dtype), y_run):.3g}")
            for name, L in m.layers.items():
                mod = model.get_submodule(name[:-len(".weight")])
                w = mod.dense_weight().detach().double().numpy()
                check(rel(w, L.dense()) <= (1e-12 if f64 else 1e-5), f"{label}: {name}: dense_weight")
                check(mod.U.dtype == dtype and isinstance(mod.U, nn.Parameter) and mod.U.requires_grad,
                      f"{label}: {name}: trainable parameters of the model's dtype")
    if worst:
        print(f"PyTorch modules against dlor run, {len(worst)} models: largest relative difference "
              f"{max(worst)[0]:.2e} ({max(worst)[1]})")


def test_module():
    """Gradients reach U, V, alpha and bias; forward never forms W; padding both ways."""
    torch.manual_seed(0)
    for method, m_out, n_in, k, rank in (("mul", 30, 20, 12, 5), ("mul", 20, 30, 30, 7), ("add", 30, 20, 20, 6),
                                         ("add", 20, 30, 4, 4)):
        mod = dt.DLoRLinear(n_in, m_out, k, rank, method).double()
        with torch.no_grad():
            mod.alpha.fill_(0.7)
        x = torch.randn(9, n_in, dtype=torch.float64)
        w = mod.dense_weight()
        check(tuple(w.shape) == (m_out, n_in) and torch.allclose(mod(x), x @ w.t() + mod.bias, atol=1e-12),
              f"{method} {m_out}x{n_in}: forward = x W^T + b")
        # W from the format's definitions, written here
        U, V, a = mod.U.detach(), mod.V.detach(), 0.7
        if method == "mul":
            d = max(m_out, n_in)
            P = torch.eye(d, dtype=torch.float64)
            for l0 in range(0, k, rank):
                c = slice(l0, min(l0 + rank, k))
                P = (a * torch.eye(d, dtype=torch.float64) + U[:, c] @ V[:, c].t()) @ P
            ref = P[:m_out, :n_in]
        else:
            ref = U @ V.t()
            ref[range(min(m_out, n_in)), range(min(m_out, n_in))] += mod.factors * a
        check(torch.allclose(w, ref, atol=1e-12), f"{method} {m_out}x{n_in}: W against the definition")
        mod(x).pow(2).sum().backward()
        check(all(p.grad is not None and p.grad.abs().sum() > 0 for p in (mod.U, mod.V, mod.alpha, mod.bias)),
              f"{method}: gradients reach U, V, alpha and bias")
        check(len(list(mod.parameters())) == 4, "four parameters")
    # no operation of the forward pass takes a [out, in] or [in, out] matrix
    mod = dt.DLoRLinear(300, 200, 8, 8, "add")
    with torch.profiler.profile(record_shapes=True) as prof:
        mod(torch.randn(3, 300))
    shapes = [s for e in prof.events() for s in e.input_shapes if len(s) == 2]
    check(shapes and not any(sorted(s) == [200, 300] for s in shapes), f"add forward never forms W: {shapes}")
    mod = dt.DLoRLinear(300, 200, 20, 5, "mul")
    with torch.profiler.profile(record_shapes=True) as prof:
        mod(torch.randn(3, 300))
    shapes = [s for e in prof.events() for s in e.input_shapes if len(s) == 2]
    check(shapes and not any(s == [300, 300] or sorted(s) == [200, 300] for s in shapes),
          f"mul forward never forms W: {shapes}")
    try:
        dt.DLoRLinear(10, 5, 6, 2, "add")
        check(False, "K above min(rows, cols) for add is refused")
    except ValueError as e:
        check("K = 6" in str(e), f"bad K: {e}")


def same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def refused(label, model, path, *words):
    """apply raises ValueError naming what is wrong, and the model is left as it was."""
    before = {k: v.clone() for k, v in model.state_dict().items()}
    kinds = [type(mm) for mm in model.modules()]
    try:
        dt.apply(model, path)
        check(False, f"{label}: accepted")
    except ValueError as e:
        check(all(w in str(e) for w in words) and "\n" not in str(e), f"{label}: message {e}")
    check(same_state(before, model.state_dict()) and kinds == [type(mm) for mm in model.modules()],
          f"{label}: the model changed")


def test_apply_refusals():
    path = os.path.join(TMP, "digits-budget.dlor")  # layers 0 and 2; 4 kept dense
    exact = os.path.join(TMP, "digits-add.dlor")    # layers 0, 2 and 4
    short = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU())
    refused("a missing module", short, exact, "'4'", "4.weight")
    wrong = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 100), nn.ReLU(), nn.Linear(100, 10))
    refused("a shape that differs", wrong, exact, "'2'", "Linear(128, 100)")
    conv = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Identity(), nn.ReLU(), nn.Linear(128, 10))
    refused("not a Linear", conv, path, "'2'", "Identity")
    nobias = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128, bias=False), nn.ReLU(),
                           nn.Linear(128, 10))
    refused("a bias the module lacks", nobias, path, "2.bias", "no bias")
    wrong_head = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 12))
    refused("a carried tensor of another shape", wrong_head, path, "4.bias", "[10]", "[12]")
    refused("a network form", digits_model(), os.path.join(TMP, "digits-net-deep.dlor"), "network")
    # nested modules: layer 'enc.fc.weight' -> module enc.fc
    rng = np.random.default_rng(1)
    st = os.path.join(TMP, "nested.npz")
    np.savez(st, **{"enc.fc.weight": rng.standard_normal((6, 5)).astype(np.float32),
                    "enc.fc.bias": rng.standard_normal(6).astype(np.float32)})
    nested_dlor = os.path.join(TMP, "nested.dlor")
    if os.path.exists(nested_dlor):
        os.remove(nested_dlor)
    rc, so, se = run("convert", st, "-o", nested_dlor, "--method", "add")
    if check(rc == 0, f"nested convert: {se}"):
        model = nn.Module()
        model.enc = nn.Module()
        model.enc.fc = nn.Linear(5, 6)
        r = dt.apply(model, nested_dlor)
        x = torch.randn(4, 5)
        W = torch.from_numpy(np.load(st)["enc.fc.weight"])
        b = torch.from_numpy(np.load(st)["enc.fc.bias"])
        check(r.replaced == ["enc.fc"] and isinstance(model.enc.fc, dt.DLoRLinear) and
              torch.allclose(model.enc.fc(x), x @ W.t() + b, atol=1e-5), "nested module replaced")


# ---- a transformer-like module tree --------------------------------------------------------

class SelfAttention(nn.Module):
    def __init__(self, h):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)


class Attention(nn.Module):
    def __init__(self, h, heads):
        super().__init__()
        self.heads = heads
        setattr(self, "self", SelfAttention(h))  # Hugging Face's name for it
        self.output = nn.Module()
        self.output.dense, self.output.LayerNorm = nn.Linear(h, h), nn.LayerNorm(h)

    def forward(self, x, mask):
        n, s, h = x.shape
        sa = getattr(self, "self")
        q, k, v = (f(x).view(n, s, self.heads, -1).transpose(1, 2) for f in (sa.query, sa.key, sa.value))
        e = q @ k.transpose(2, 3) / (h // self.heads) ** 0.5
        e = e.masked_fill(mask[:, None, None, :] == 0, float("-inf"))
        y = (e.softmax(-1) @ v).transpose(1, 2).reshape(n, s, h)
        return self.output.LayerNorm(self.output.dense(y) + x)


class Block(nn.Module):
    def __init__(self, h, i, heads):
        super().__init__()
        self.attention = Attention(h, heads)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(h, i)
        self.output = nn.Module()
        self.output.dense, self.output.LayerNorm = nn.Linear(i, h), nn.LayerNorm(h)

    def forward(self, x, mask):
        a = self.attention(x, mask)
        return self.output.LayerNorm(self.output.dense(nn.functional.gelu(self.intermediate.dense(a))) + a)


class Encoder(nn.Module):
    """A small BERT-like encoder with Hugging Face's module names."""

    def __init__(self, vocab=50, h=32, i=96, heads=4, layers=2, positions=16):
        super().__init__()
        self.embeddings = nn.Module()
        self.embeddings.word_embeddings = nn.Embedding(vocab, h)
        self.embeddings.position_embeddings = nn.Embedding(positions, h)
        self.embeddings.LayerNorm = nn.LayerNorm(h)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(Block(h, i, heads) for _ in range(layers))

    def forward(self, ids, mask):
        e = self.embeddings
        x = e.LayerNorm(e.word_embeddings(ids) + e.position_embeddings(torch.arange(ids.shape[1]))[None])
        for b in self.encoder.layer:
            x = b(x, mask)
        return x


def test_apply_transformer():
    """apply on a module tree whose Linear modules the file's layers name (exact add: the
    outputs of the dense model; a compressed budget: the model with each weight replaced by
    the layer's numpy rebuild), and refusals of files naming modules the model lacks or
    shapes that differ, naming the module and leaving the model as it was."""
    torch.manual_seed(3)
    dense = Encoder().eval()
    with torch.no_grad():  # LayerNorm parameters away from their initial 1 and 0
        for name, p in dense.named_parameters():
            if "LayerNorm" in name:
                p.add_(0.1 * torch.randn_like(p))
    src = os.path.join(TMP, "encoder.pt")
    torch.save(dense.state_dict(), src)
    ids = torch.randint(0, 50, (3, 9))
    mask = torch.ones(3, 9, dtype=torch.long)
    mask[1, 6:] = 0
    mask[2, 3:] = 0
    with torch.no_grad():
        want = dense(ids, mask).double().numpy()
    linears = sorted(n for n, mm in dense.named_modules() if isinstance(mm, nn.Linear))
    for form, flags in (("add", ["--method", "add"]), ("budget", ["--budget", "0.5"])):
        path = os.path.join(TMP, f"encoder-{form}.dlor")
        if os.path.exists(path):
            os.remove(path)
        rc, so, se = run("convert", src, "-o", path, "--exclude", "*embeddings*", *flags)
        if not check(rc == 0, f"encoder {form}: convert: {se.strip()}"):
            continue
        m = dlor.load(path)
        model = Encoder().eval()
        r = dt.apply(model, path)
        check(sorted(r.replaced) == sorted(n[:-len(".weight")] for n in m.layers) and
              all(isinstance(model.get_submodule(n), dt.DLoRLinear) for n in r.replaced) and
              "embeddings.word_embeddings.weight" in r.loaded, f"encoder {form}: replaced {r.replaced}")
        with torch.no_grad():
            got = model(ids, mask).double().numpy()
        if form == "add":
            check(sorted(r.replaced) == linears, f"encoder add: every Linear replaced: {r.replaced}")
            check(rel(got, want) <= TOL, f"encoder add: apply vs the dense model {rel(got, want):.3g}")
        else:
            rebuilt = Encoder().eval()
            rebuilt.load_state_dict(dense.state_dict())
            with torch.no_grad():
                for name, L in m.layers.items():
                    rebuilt.get_submodule(name[:-len(".weight")]).weight.copy_(torch.from_numpy(L.dense()))
                ref = rebuilt(ids, mask).double().numpy()
            check(m.layers and rel(got, ref) <= TOL and rel(got, want) > 1e-4,
                  f"encoder budget: apply vs the numpy rebuilds {rel(got, ref):.3g}")
    exact = os.path.join(TMP, "encoder-add.dlor")
    refused("a transformer lacking a module", Encoder(layers=1), exact, "'encoder.layer.1.",
            "the model has no module")
    refused("a transformer of another width", Encoder(i=64), exact, "'encoder.layer.0.intermediate.dense'",
            "Linear(32, 64)")


def test_training():
    """A few optimiser steps move the factors and lower the loss."""
    path = os.path.join(TMP, "digits-budget.dlor")
    model = digits_model()
    dt.apply(model, path)
    x = torch.from_numpy(np.load(os.path.join(SRC, "samples/digits/x_train.npy")))
    y = torch.from_numpy(np.load(os.path.join(SRC, "samples/digits/y_train.npy")))
    u0 = model[0].U.detach().clone()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    check(losses[-1] < losses[0] and not torch.equal(u0, model[0].U), f"training lowers the loss: {losses[::5]}")


if __name__ == "__main__":
    test_forms()
    test_module()
    test_apply_refusals()
    test_apply_transformer()
    test_training()
    finish()
