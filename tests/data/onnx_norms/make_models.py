"""Writes the small ONNX models with layer norms and residual connections that
tests/test_onnx_norms.py runs through dlor, exported by PyTorch's own
torch.onnx.export from fixed-seed modules:

  prenorm_opset17.onnx   x -> Linear -> [h + MLP(LayerNorm(h))] -> LayerNorm -> Linear, opset 17
                         (LayerNormalization nodes)
  prenorm_opset13.onnx   the same module at opset 13, where the exporter writes each LayerNorm
                         as ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add
  postnorm_opset13.onnx  x -> Linear -> LayerNorm(h + Linear(GELU(Linear(h)))) -> Linear -> Softmax,
                         opset 13, with a LayerNorm without affine parameters
  x.npy                  32 inputs [32, 12] (float32, seeded normal)

Run with Debian's Python and its PyTorch (the files are committed; torch 1.13.1 writes them
byte-identical): /usr/bin/python3 tests/data/onnx_norms/make_models.py
"""
import os

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))


class PreNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(12, 16)
        self.norm1 = nn.LayerNorm(16)
        self.up = nn.Linear(16, 32)
        self.down = nn.Linear(32, 16)
        self.norm2 = nn.LayerNorm(16, eps=1e-6)
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        h = self.inp(x)
        h = h + self.down(torch.relu(self.up(self.norm1(h))))
        return self.head(self.norm2(h))


class PostNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(12, 16)
        self.up = nn.Linear(16, 24)
        self.down = nn.Linear(24, 16)
        self.norm = nn.LayerNorm(16, elementwise_affine=False)
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        h = self.inp(x)
        h = self.norm(h + self.down(nn.functional.gelu(self.up(h))))
        return torch.softmax(self.head(h), dim=-1)


def export(model, name, opset):
    x = torch.zeros(2, 12)
    torch.onnx.export(model, (x,), os.path.join(HERE, name), input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, opset_version=opset,
                      do_constant_folding=True)


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    pre, post = PreNorm().eval(), PostNorm().eval()
    with torch.no_grad():  # trained-looking norms: scales and shifts away from 1 and 0
        for m in (pre.norm1, pre.norm2):
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.3, 0.3)
    export(pre, "prenorm_opset17.onnx", 17)
    export(pre, "prenorm_opset13.onnx", 13)
    export(post, "postnorm_opset13.onnx", 13)
    np.save(os.path.join(HERE, "x.npy"), np.random.default_rng(5).standard_normal((32, 12)).astype(np.float32))


if __name__ == "__main__":
    main()
