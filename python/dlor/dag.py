"""The nodes of a model graph over values (DLOR_FORMAT.md 7.7) and their numpy evaluation.

A DAG is a list of ``Node``s; node ``i`` makes value ``i`` from the values of earlier nodes
(``Node.inputs``). Values are ``rows`` (``[N, F]``), ``tokens`` (``[N, S, F]``), ``ids`` and
``mask`` (``[N, S]`` integers, graph inputs only). ``evaluate`` runs a DAG on a batch and
returns its outputs by name; ``from_chain`` reads a chain (7.4) as the DAG of 7.8.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from . import _dag as D
from . import graph as G

if TYPE_CHECKING:  # pragma: no cover
    from .model import Model

INPUT_NAMES = {"features": "input", "ids": "input_ids", "mask": "attention_mask", "type_ids": "token_type_ids"}
"""Each input mode's name in Hugging Face's tokenizers (what ``forward`` also accepts)."""


@dataclass(frozen=True)
class Node:
    """One node of a DAG: its ``kind`` (``linear``, ``act``, ``softmax``, ``input``,
    ``output``, ``embed``, ``pos_embed``, ``add``, ``mul``, ``scale``, ``layernorm``,
    ``rmsnorm``, ``attention``, ``pool``, ``l2norm``), the value numbers it reads
    (``inputs``; None for an optional slot left empty), and the type (``rows``,
    ``tokens``, ``ids``, ``mask``) and feature count of the value it makes.

    ``weight`` names a layer of ``Model.layers`` for a LINEAR with ``dlor`` true, else a
    tensor of ``Model.tensors`` (a LINEAR weight, an EMBED or POS_EMBED table, a norm's
    scale), or is None; ``bias`` names a tensor or is None. ``mode`` is the INPUT mode
    (``features``, ``ids``, ``mask``, ``type_ids``), the POOL mode (``mean``, ``cls``)
    or the ACT activation. ``p0``: leaky_relu's slope, SCALE's factor, a norm's eps,
    ATTENTION's score scale (0: ``1/sqrt(d)``); ``p1``: ATTENTION's rotary base (0: none)."""
    index: int
    kind: str
    inputs: Tuple[Optional[int], ...]
    type: str
    features: int
    weight: Optional[str] = None
    bias: Optional[str] = None
    dlor: bool = False
    name: Optional[str] = None
    mode: Optional[str] = None
    heads: int = 0
    kv_heads: int = 0
    causal: bool = False
    p0: float = 0.0
    p1: float = 0.0


def from_records(img) -> List[Node]:
    """The checked DAG records of an image as nodes."""
    tn = [t.name for t in img.tensors]
    ln = [L.name for L in img.layers]
    out: List[Node] = []
    for i, r in enumerate(img.nodes):
        dl = bool(r.flags & D.FLAG_LAYER)
        weight = None if r.weight == D.NONE else (ln if dl else tn)[r.weight]
        mode = None
        if r.kind == D.INPUT:
            mode = D.MODE_NAMES[r.code]
        elif r.kind == D.POOL:
            mode = D.POOL_NAMES[r.code]
        elif r.kind == D.ACT:
            mode = G.ACTIVATIONS[r.code]
        out.append(Node(i, D.KIND_NAMES[r.kind], tuple(None if v == D.NONE else v for v in r.inputs),
                        D.TYPE_NAMES[r.vtype], r.features, weight, None if r.bias == D.NONE else tn[r.bias],
                        dl, r.name, mode, r.heads, r.kv_heads, bool(r.flags & D.FLAG_CAUSAL), r.p0, r.p1))
    return out


def from_chain(model: "Model", ops: Sequence[G.Operation]) -> List[Node]:
    """A chain read as a DAG (DLOR_FORMAT.md 7.8): INPUT ``input``, the chain's nodes,
    each branch of a group ending in a SCALE by its weight summed by ADD nodes, a SCALE
    of 1 with MERGE's bias, and OUTPUT ``output``."""
    nodes: List[Node] = [Node(0, "input", (), "rows", model.in_features, name="input", mode="features")]

    def add(kind: str, inputs: Tuple[int, ...], features: int, **kw) -> int:
        nodes.append(Node(len(nodes), kind, inputs, "rows", features, **kw))
        return len(nodes) - 1

    def width(v: int) -> int:
        return nodes[v].features

    cur = 0
    group_in: Optional[int] = None
    total: Optional[int] = None
    scale = 0.0

    def end_branch() -> None:
        nonlocal total
        s = add("scale", (cur,), width(cur), p0=scale)
        total = s if total is None else add("add", (total, s), width(s))

    for op in ops:
        if isinstance(op, G.Linear):
            out = model.layers[op.weight].shape[0] if op.dlor else model.tensors[op.weight].shape[0]
            cur = add("linear", (cur,), int(out), weight=op.weight, bias=op.bias, dlor=op.dlor)
        elif isinstance(op, G.Activation):
            cur = add("act", (cur,), width(cur), mode=op.name, p0=op.param)
        elif isinstance(op, G.Softmax):
            cur = add("softmax", (cur,), width(cur))
        elif isinstance(op, G.Branch):
            if group_in is None:
                group_in, total = cur, None
            else:
                end_branch()
            scale, cur = op.weight, group_in
        elif isinstance(op, G.Merge):
            end_branch()
            cur = total
            if op.bias is not None:
                cur = add("scale", (cur,), width(cur), bias=op.bias, p0=1.0)
            group_in = None
    add("output", (cur,), width(cur), name="output")
    return nodes


# ---- evaluation ---------------------------------------------------------------------

class _Run:
    def __init__(self, model: "Model", dtype: np.dtype, feeds: Mapping[str, np.ndarray]) -> None:
        self.model, self.dt, self.feeds = model, dtype, feeds
        self.values: List[Optional[np.ndarray]] = []
        self.n, self.s = 0, 1

    def tensor(self, name: str) -> np.ndarray:
        return np.asarray(self.model.tensors[name], dtype=self.dt)

    def fail(self, msg: str) -> ValueError:
        return ValueError(f"{self.model.path}: {msg}")


def _linear(r: _Run, nd: Node, x: np.ndarray) -> np.ndarray:
    if nd.dlor:
        y = r.model.layers[nd.weight].apply(x, dtype=r.dt)
    else:
        y = x @ r.tensor(nd.weight).T
    return y if nd.bias is None else y + r.tensor(nd.bias)


def _input(r: _Run, nd: Node) -> np.ndarray:
    a = r.feeds.get(nd.mode)
    if a is not None:
        return a
    if nd.mode == "mask":
        return np.ones((r.n, r.s), np.int64)
    if nd.mode == "type_ids":
        return np.zeros((r.n, r.s), np.int64)
    raise r.fail(f"the model needs the input '{nd.name}'")  # pragma: no cover - forward checks it first


def _embed(r: _Run, nd: Node, ids: np.ndarray) -> np.ndarray:
    table = r.tensor(nd.weight)
    if nd.kind == "pos_embed":
        if r.s > table.shape[0]:
            raise r.fail(f"sequences of {r.s} tokens are longer than the position table "
                         f"'{nd.weight}' ({table.shape[0]} positions)")
        return np.broadcast_to(table[:r.s], (r.n, r.s, table.shape[1])).copy()
    bad = (ids < 0) | (ids >= table.shape[0])
    if bad.any():
        n, s = np.argwhere(bad)[0]
        raise r.fail(f"id {ids[n, s]} (sequence {n}, token {s}) is outside the table '{nd.weight}' "
                     f"of {table.shape[0]} rows")
    return table[ids]


def _layernorm(r: _Run, nd: Node, x: np.ndarray) -> np.ndarray:
    m = x.mean(axis=-1, keepdims=True)
    v = ((x - m) ** 2).mean(axis=-1, keepdims=True)
    y = (x - m) / np.sqrt(v + r.dt.type(nd.p0))
    if nd.weight is not None:
        y = y * r.tensor(nd.weight)
    return y if nd.bias is None else y + r.tensor(nd.bias)


def _rmsnorm(r: _Run, nd: Node, x: np.ndarray) -> np.ndarray:
    y = x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + r.dt.type(nd.p0))
    return y if nd.weight is None else y * r.tensor(nd.weight)


def _l2norm(r: _Run, nd: Node, x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.sqrt((x * x).sum(axis=-1, keepdims=True)), r.dt.type(nd.p0))


def _scale(r: _Run, nd: Node, x: np.ndarray) -> np.ndarray:
    y = x * r.dt.type(nd.p0)
    return y if nd.bias is None else y + r.tensor(nd.bias)


def _rotate(u: np.ndarray, theta: float, dt: np.dtype) -> np.ndarray:
    """Rotary embedding of u ([N, heads, S, d]) by position (the 'rotate half' convention)."""
    d, s = u.shape[-1], u.shape[-2]
    half = d // 2
    a = np.arange(s, dtype=np.float64)[:, None] * theta ** (-2.0 * np.arange(half) / d)[None, :]
    cos, sin = np.cos(a).astype(dt), np.sin(a).astype(dt)
    lo, hi = u[..., :half], u[..., half:]
    return np.concatenate([lo * cos - hi * sin, hi * cos + lo * sin], axis=-1)


def _attention(r: _Run, nd: Node, q: np.ndarray, k: np.ndarray, v: np.ndarray,
               mask: Optional[np.ndarray]) -> np.ndarray:
    n, s, _ = q.shape
    h, g = nd.heads, nd.kv_heads
    d = q.shape[2] // h
    dv = v.shape[2] // g
    qh = q.reshape(n, s, h, d).transpose(0, 2, 1, 3)
    kh = k.reshape(n, s, g, d).transpose(0, 2, 1, 3)
    vh = v.reshape(n, s, g, dv).transpose(0, 2, 1, 3)
    if nd.p1 > 0:
        qh, kh = _rotate(qh, nd.p1, r.dt), _rotate(kh, nd.p1, r.dt)
    rep = h // g  # query head j uses key/value head j // rep
    kh, vh = np.repeat(kh, rep, axis=1), np.repeat(vh, rep, axis=1)
    c = r.dt.type(nd.p0 if nd.p0 > 0 else 1 / math.sqrt(d))
    e = c * (qh @ kh.transpose(0, 1, 3, 2))                     # [n, h, s(query), s(key)]
    sees = np.ones((n, 1, s, s), bool)
    if mask is not None:
        sees &= (mask == 1)[:, None, None, :]
    if nd.causal:
        sees &= np.tril(np.ones((s, s), bool))[None, None]
    e = np.where(sees, e, -np.inf)
    top = e.max(axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0)
    p = np.where(sees, np.exp(e - top), 0)
    tot = p.sum(axis=-1, keepdims=True)
    y = (p @ vh) / np.where(tot > 0, tot, 1)
    return y.transpose(0, 2, 1, 3).reshape(n, s, h * dv)


def _pool(r: _Run, nd: Node, x: np.ndarray, mask: Optional[np.ndarray]) -> np.ndarray:
    if nd.mode == "cls":
        return x[:, 0, :].copy()
    m = np.ones(x.shape[:2], r.dt) if mask is None else mask.astype(r.dt)
    tot = m.sum(axis=1, keepdims=True)
    return (m[:, :, None] * x).sum(axis=1) / np.where(tot > 0, tot, 1)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


_EVAL: Dict[str, Callable[..., np.ndarray]] = {
    "linear": _linear,
    "act": lambda r, nd, x: G._ACT_FUNCS[nd.mode](x, nd.p0),
    "softmax": lambda r, nd, x: _softmax(x),
    "output": lambda r, nd, x: x,
    "embed": _embed,
    "pos_embed": _embed,
    "add": lambda r, nd, x, y: x + y,
    "mul": lambda r, nd, x, y: x * y,
    "scale": _scale,
    "layernorm": _layernorm,
    "rmsnorm": _rmsnorm,
    "attention": _attention,
    "pool": _pool,
    "l2norm": _l2norm,
}


def evaluate(model: "Model", nodes: Sequence[Node], feeds: Mapping[str, np.ndarray], dtype: np.dtype,
             n: int, s: int) -> Dict[str, np.ndarray]:
    """Runs ``nodes`` on the inputs ``feeds`` (by INPUT mode: float ``[n, F]`` features, or
    integer ``[n, s]`` ids, mask, type ids; a mask or type ids left out are all ones or
    zeros) in the float ``dtype``; returns every OUTPUT by name, in record order. Non-finite
    values go through as IEEE arithmetic gives them, without numpy's warnings."""
    r = _Run(model, np.dtype(dtype), feeds)
    r.n, r.s = n, s
    outs: Dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for nd in nodes:
            if nd.kind == "input":
                val = _input(r, nd)
            else:
                args = [None if v is None else r.values[v] for v in nd.inputs]
                val = _EVAL[nd.kind](r, nd, *args)
                if nd.kind == "output":
                    outs[nd.name] = val
            r.values.append(val)
    return outs


def widths(nodes: Sequence[Node]) -> Tuple[int, int]:
    """(features of the FEATURES input, 0 for a model of ids; features of the first output)."""
    fin = next((nd.features for nd in nodes if nd.kind == "input" and nd.mode == "features"), 0)
    fout = next((nd.features for nd in nodes if nd.kind == "output"), 0)
    return fin, fout
