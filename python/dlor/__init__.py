"""dlor for Python: read, run and fine-tune Diagonal-plus-Low-Rank (``.dlor``) models.

Reading needs numpy alone::

    import dlor
    m = dlor.load("model.dlor")           # checked as formats/DLOR_FORMAT.md says
    m.tensors["fc1.bias"]                 # numpy arrays, every dtype of the format
    layer = m.layers["fc1.weight"]        # form, alpha/beta, U, V, shape, padding, rank ...
    y = m.forward(x)                      # the model's graph in numpy
    y = m.forward({"input_ids": ids, "attention_mask": mask})   # a transformer (DAG graph)

Converting, verifying and running with dlor's C code go through the ``dlor``
command (``$DLOR_BIN``, else ``dlor`` on ``PATH``)::

    m = dlor.convert("model.safetensors", "model.dlor", budget=0.25, activation="relu")
    report = dlor.verify("model.safetensors", "model.dlor", inputs=x, labels=y)
    y = dlor.run("model.dlor", x)

``dlor.torch`` (PyTorch, imported on use) turns layers into trainable modules.
"""
from .commands import EndToEnd, LayerCheck, VerifyReport, convert, info, run, verify
from .errors import DlorError, Error, FormatError
from . import dag
from .dag import Node
from .graph import Activation, Branch, Linear, Merge, Softmax
from .model import Layer, Model, load

__version__ = "0.1.0"

__all__ = [
    "load", "Model", "Layer", "convert", "verify", "run", "info", "VerifyReport", "LayerCheck", "EndToEnd",
    "Error", "FormatError", "DlorError", "Linear", "Activation", "Softmax", "Branch", "Merge", "Node", "dag", "__version__",
]
