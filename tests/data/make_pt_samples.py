#!/usr/bin/python3
"""make_pt_samples - writes the torch-made fixtures under tests/data/pt/.

Run ONCE with Debian's python3-torch (/usr/bin/python3, torch 1.13); the
outputs are committed and CI never runs torch. Each X.pt comes with X.npz
holding the tensors dlor must return from it (same names, C order; bfloat16
as its raw uint16 bits, since numpy has no bfloat16).

  dtypes.pt      one tensor per storage type dlor reads, a 0-d and an empty one
  views.pt       views torch saves with their strides: transposed, stepped,
                 offset, broadcast (stride 0), permuted; tied weights
  checkpoint.pt  {"model": state_dict, "optimizer": Adam state, "epoch": 3, ...}
  parameter.pt   nn.Parameter values (_rebuild_parameter)
  byteorder_little.pt / byteorder_big.pt
                 dtypes.pt rewritten with a "byteorder" record, as torch >= 2.1
                 writes it (the big one is refused, its data is not swapped)
  script.pt      a TorchScript archive (torch.jit.save), refused
"""
import collections
import io
import os
import zipfile

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pt")


def expect(name, tensors):
    arrays = {}
    for k, t in tensors.items():
        t = t.detach().contiguous()
        if t.dtype == torch.bfloat16:
            arrays[k] = t.view(torch.int16).numpy().view(np.uint16).copy()
        else:
            arrays[k] = t.numpy().copy()
    np.savez(os.path.join(OUT, name + ".npz"), **arrays)


def save(name, obj, tensors):
    torch.save(obj, os.path.join(OUT, name + ".pt"))
    expect(name, tensors)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(1234)
    g = torch.Generator().manual_seed(5)

    # --- dtypes
    d = collections.OrderedDict()
    d["f32"] = torch.randn(3, 4, generator=g)
    d["f64"] = torch.randn(2, 3, generator=g, dtype=torch.float64)
    d["f16"] = torch.randn(5, generator=g).half()
    d["bf16"] = torch.randn(2, 2, generator=g).bfloat16()
    d["i64"] = torch.tensor([[-(2**62), 2**62 + 7], [-1, 0]], dtype=torch.int64)
    d["i32"] = torch.tensor([-(2**31), 2**31 - 1, 5], dtype=torch.int32)
    d["i16"] = torch.tensor([-32768, 32767, -2], dtype=torch.int16)
    d["i8"] = torch.tensor([-128, 127, 3], dtype=torch.int8)
    d["u8"] = torch.tensor([0, 255, 17], dtype=torch.uint8)
    d["bool"] = torch.tensor([True, False, True, True])
    d["scalar"] = torch.tensor(2.5)
    d["empty"] = torch.zeros(0, 3)
    d["special"] = torch.tensor([float("inf"), float("-inf"), float("nan"), -0.0, 1e-45])
    save("dtypes", d, d)

    # --- views and tied weights
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    w = torch.randn(3, 5, generator=g)
    b = torch.randn(4, generator=g)
    cube = torch.arange(24, dtype=torch.int32).reshape(2, 3, 4)
    v = collections.OrderedDict()
    v["base"] = base
    v["transposed"] = base.t()                  # strides (1, 6)
    v["stepped"] = base[:, ::2]                 # strides (6, 2)
    v["rows"] = base[1:3]                       # contiguous, offset 6
    v["column"] = base[:, 4]                    # stride 6, offset 4
    v["broadcast"] = b.expand(3, 4)             # stride (0, 1)
    v["permuted"] = cube.permute(2, 0, 1)       # a 3-d non-contiguous view
    v["enc.weight"] = w
    v["dec.weight"] = w                         # tied: same tensor twice
    v["dec.weight_t"] = w.t()                   # tied through a view
    assert not v["transposed"].is_contiguous() and v["rows"].storage_offset() == 6
    save("views", v, v)

    # --- a training checkpoint
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    loss = model(torch.randn(5, 3, generator=g)).pow(2).sum()
    loss.backward()
    opt.step()
    ck = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3,
          "loss": float(loss), "name": "tiny", "best": None}
    flat = collections.OrderedDict()
    for k, t in model.state_dict().items():
        flat["model." + k] = t
    for pid, st in opt.state_dict()["state"].items():
        for k, t in st.items():
            flat["optimizer.state.%d.%s" % (pid, k)] = t
    save("checkpoint", ck, flat)

    # --- parameters
    p = collections.OrderedDict()
    p["weight"] = torch.nn.Parameter(torch.randn(2, 3, generator=g))
    p["frozen"] = torch.nn.Parameter(torch.randn(3, generator=g), requires_grad=False)
    save("parameter", p, p)

    # --- byteorder records (dtypes.pt rewritten)
    src = zipfile.ZipFile(os.path.join(OUT, "dtypes.pt"))
    for order in ("little", "big"):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as dst:
            for info in src.infolist():
                dst.writestr(info.filename, src.read(info.filename))
                if info.filename.endswith("/data.pkl"):
                    dst.writestr(info.filename[: -len("data.pkl")] + "byteorder", order)
        with open(os.path.join(OUT, "byteorder_%s.pt" % order), "wb") as f:
            f.write(buf.getvalue())
    expect("byteorder_little", d)

    # --- TorchScript
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), os.path.join(OUT, "script.pt"))

    for f in sorted(os.listdir(OUT)):
        size = os.path.getsize(os.path.join(OUT, f))
        assert size < 50000, f
        print("%-24s %6d bytes" % (f, size))


if __name__ == "__main__":
    main()
