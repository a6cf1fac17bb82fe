#!/usr/bin/python3
"""make_cnn_onnx - writes tests/data/onnx/cnn.onnx, a tiny convolutional classifier of the
8x8 digits (samples/digits) whose fully connected layers convert_emit_onnx tests rewrite.

Run ONCE with Debian's python3-torch (/usr/bin/python3, torch 1.13); the output is
committed and CI never runs torch. Conv2d(1, 4, 3) + ReLU, then Flatten and
Linear(144, 48) + ReLU + Linear(48, 10), trained for 200 Adam steps on x_train (seed 0),
exported by torch.onnx.export at opset 13 with a dynamic batch axis: the convolution
stays a Conv node, the two Linear layers become Gemm nodes (transB = 1) on initializers
named fc1.weight and fc2.weight.
"""
import os

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
DIGITS = os.path.join(HERE, "..", "..", "samples", "digits")

torch.manual_seed(0)
model = nn.Sequential()
model.add_module("conv", nn.Conv2d(1, 4, 3))
model.add_module("act0", nn.ReLU())
model.add_module("flat", nn.Flatten())
model.add_module("fc1", nn.Linear(144, 48))
model.add_module("act1", nn.ReLU())
model.add_module("fc2", nn.Linear(48, 10))
x = torch.from_numpy(np.load(os.path.join(DIGITS, "x_train.npy"))).reshape(-1, 1, 8, 8)
y = torch.from_numpy(np.load(os.path.join(DIGITS, "y_train.npy"))).long()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
for _ in range(200):
    opt.zero_grad()
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
model.eval()
xt = torch.from_numpy(np.load(os.path.join(DIGITS, "x_test.npy"))).reshape(-1, 1, 8, 8)
acc = (model(xt).argmax(1).numpy() == np.load(os.path.join(DIGITS, "y_test.npy"))).mean()
os.makedirs(os.path.join(HERE, "onnx"), exist_ok=True)
out = os.path.join(HERE, "onnx", "cnn.onnx")
torch.onnx.export(model, xt[:1], out, input_names=["image"], output_names=["logits"],
                  dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13)
print(f"wrote {out}: loss {loss.item():.3f}, test accuracy {acc:.3f}")
