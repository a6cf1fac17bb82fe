"""The operations of a model graph (DLOR_FORMAT.md 7.4) and their numpy evaluation.

A graph is a list of operations applied in order to a batch of row vectors.
Each kind of operation is one dataclass here (listed in ``Operation``) and one
entry in two tables: ``_FROM_RECORD`` (how the file encodes it) and ``_EVALUATE``
(what it does to the batch, given the evaluation state ``_State``). A new kind of
operation is a new dataclass and an entry in each (and, for PyTorch, a module in
``dlor.torch.load``); operations that need more state than the current batch and
the open branch groups add it to ``_State``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, ClassVar, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _container as C

if TYPE_CHECKING:  # pragma: no cover
    from .model import Model

ACTIVATIONS = ("identity", "relu", "leaky_relu", "sigmoid", "tanh", "softplus", "gelu", "gelu_tanh", "silu")


@dataclass(frozen=True)
class Linear:
    """``y = W x (+ b)``: ``weight`` names a layer of ``Model.layers`` when ``dlor`` is
    true, else a 2-D tensor of ``Model.tensors``; ``bias`` names a tensor or is None."""
    weight: str
    bias: Optional[str] = None
    dlor: bool = False
    kind: ClassVar[str] = "linear"


@dataclass(frozen=True)
class Activation:
    """An activation applied to every feature; ``param`` is leaky_relu's negative slope."""
    name: str
    param: float = 0.0
    kind: ClassVar[str] = "act"


@dataclass(frozen=True)
class Softmax:
    """``y_i = exp(x_i) / sum_j exp(x_j)`` over the features of each sample."""
    kind: ClassVar[str] = "softmax"


@dataclass(frozen=True)
class Branch:
    """Starts a branch of a parallel group (format 1.3); ``weight`` scales its output."""
    weight: float
    kind: ClassVar[str] = "branch"


@dataclass(frozen=True)
class Merge:
    """Ends a group: the weighted sum of its branches' outputs (+ ``bias``)."""
    bias: Optional[str] = None
    kind: ClassVar[str] = "merge"


Operation = Union[Linear, Activation, Softmax, Branch, Merge]


def from_records(img: "C.Image") -> List[Operation]:
    """The checked GRAPH records of an image as operation objects."""
    tnames = [t.name for t in img.tensors]
    lnames = [L.name for L in img.layers]
    return [_FROM_RECORD[r.kind](r, tnames, lnames) for r in img.ops]


def _bias(r: "C.OpRecord", tnames: List[str]) -> Optional[str]:
    return None if r.bias == C.NO_TENSOR else tnames[r.bias]


_FROM_RECORD: Dict[int, Callable[["C.OpRecord", List[str], List[str]], Operation]] = {
    C.OP_LINEAR: lambda r, t, l: Linear((l if r.is_layer else t)[r.weight], _bias(r, t), r.is_layer),
    C.OP_ACT: lambda r, t, l: Activation(ACTIVATIONS[r.act], r.param),
    C.OP_SOFTMAX: lambda r, t, l: Softmax(),
    C.OP_BRANCH: lambda r, t, l: Branch(r.param),
    C.OP_MERGE: lambda r, t, l: Merge(_bias(r, t)),
}


# ---- evaluation ---------------------------------------------------------------------

def _erf(x: np.ndarray) -> np.ndarray:
    return np.frompyfunc(math.erf, 1, 1)(x).astype(x.dtype)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of a negative number only: no overflow warnings for large |x|
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


_ACT_FUNCS: Dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "identity": lambda x, p: x,
    "relu": lambda x, p: np.maximum(x, 0),
    "leaky_relu": lambda x, p: np.where(x >= 0, x, x * x.dtype.type(p)),
    "sigmoid": lambda x, p: _sigmoid(x),
    "tanh": lambda x, p: np.tanh(x),
    "softplus": lambda x, p: np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x))),
    "gelu": lambda x, p: x / 2 * (1 + _erf(x / x.dtype.type(math.sqrt(2)))),
    "gelu_tanh": lambda x, p: x / 2 * (1 + np.tanh(x.dtype.type(math.sqrt(2 / math.pi)) *
                                                   (x + x.dtype.type(0.044715) * x ** 3))),
    "silu": lambda x, p: x * _sigmoid(x),
}


@dataclass
class _Group:
    saved: np.ndarray                    # the group's input
    scale: float                         # the open branch's weight
    total: Optional[np.ndarray] = None   # weighted sum of the finished branches


@dataclass
class _State:
    model: "Model"
    h: np.ndarray
    groups: List[_Group] = field(default_factory=list)

    def vector(self, name: str) -> np.ndarray:
        return self.model.tensors[name].astype(self.h.dtype)


def _eval_linear(s: _State, op: Linear) -> None:
    if op.dlor:
        s.h = s.model.layers[op.weight].apply(s.h, dtype=s.h.dtype)
    else:
        s.h = s.h @ s.model.tensors[op.weight].astype(s.h.dtype).T
    if op.bias is not None:
        s.h = s.h + s.vector(op.bias)


def _eval_act(s: _State, op: Activation) -> None:
    s.h = _ACT_FUNCS[op.name](s.h, op.param)


def _eval_softmax(s: _State, op: Softmax) -> None:
    e = np.exp(s.h - s.h.max(axis=1, keepdims=True))
    s.h = e / e.sum(axis=1, keepdims=True)


def _close_branch(s: _State) -> None:
    g = s.groups[-1]
    part = s.h * s.h.dtype.type(g.scale)
    g.total = part if g.total is None else g.total + part


def _eval_branch(s: _State, op: Branch) -> None:
    if s.groups:  # a BRANCH inside a group ends the previous branch
        _close_branch(s)
        s.groups[-1].scale = op.weight
    else:
        s.groups.append(_Group(s.h, op.weight))
    s.h = s.groups[-1].saved


def _eval_merge(s: _State, op: Merge) -> None:
    _close_branch(s)
    s.h = s.groups.pop().total
    if op.bias is not None:
        s.h = s.h + s.vector(op.bias)


_EVALUATE: Dict[str, Callable[[_State, Operation], None]] = {
    Linear.kind: _eval_linear,
    Activation.kind: _eval_act,
    Softmax.kind: _eval_softmax,
    Branch.kind: _eval_branch,
    Merge.kind: _eval_merge,
}


def evaluate(model: "Model", ops: Sequence[Operation], x: np.ndarray) -> np.ndarray:
    """Runs ``ops`` on the batch ``x`` ([N, in], in x's float dtype). Non-finite values go
    through as IEEE arithmetic gives them (DLOR_FORMAT.md 7.4), without numpy's warnings."""
    s = _State(model, x)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for op in ops:
            _EVALUATE[op.kind](s, op)
    return s.h


def widths(model: "Model", ops: Sequence[Operation]) -> Tuple[int, int]:
    """(inputs, outputs) of a checked graph: the first LINEAR's ``in`` and the last one's ``out``
    (all branches of a group give the same number of features); (0, 0) without a graph."""
    shapes = [model.layers[op.weight].shape if op.dlor else model.tensors[op.weight].shape
              for op in ops if isinstance(op, Linear)]
    return (int(shapes[0][1]), int(shapes[-1][0])) if shapes else (0, 0)
