"""``dlor.load``: a ``.dlor`` file as numpy arrays, DLoR layers and a runnable graph."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np

from . import _container as C
from . import dag as DG
from . import graph as G

PathLike = Union[str, "os.PathLike[str]"]

_METHODS = {C.METHOD_MUL: "mul", C.METHOD_ADD: "add"}
_BASES = {C.BASIS_SCHUR: "schur", C.BASIS_RANDOM: "random", C.BASIS_SVD: "svd"}
_LAYOUTS = {C.U_ROWS: "rows", C.U_PANELS: "panels"}


@dataclass(frozen=True, eq=False)
class Layer:
    """One converted dense layer ``W`` (``rows x cols``, ``y = W x``) in DLoR form.

    ``U`` (``[dim_u, K]``) and ``V`` (``[dim_v, K]``) follow the convention of
    ``dlor convert --emit``: factor ``l`` uses columns ``[l*rank, min((l+1)*rank, K))``.

    - ``method == "mul"``: ``W`` is ``M_{L-1} ... M_0`` with ``M_l = alpha I + U_l V_l^T``
      (``D x D``, ``D = max(rows, cols)``), applied to the input zero-padded to ``D``
      and cut to the first ``rows`` outputs (``padding`` = ``(D - rows, D - cols)``).
    - ``method == "add"``: ``W = L alpha I_{rows x cols} + U V^T``. A layer that is
      one component (``factors == 1``) is ``beta I + U V^T``: it has ``beta`` and
      ``alpha`` is None, as ``--emit`` names them.

    ``form`` says what the layer holds, as ``dlor verify`` reports it: ``mul`` and
    ``add`` (exact), ``mul-compressed``, ``lowrank`` (``beta I + P Q^T`` and sums of
    components), ``svd`` (plain truncated SVD, ``beta = 0``) or ``qlr`` (a quantized base ``B`` plus
    a low-rank correction, ``W = B + U V^T``, format 1.7). ``dtype`` is the
    storage dtype of the factors (``f32``, ``f64``, ``f16``, ``bf16``, ``q8``, ``q4``); ``U`` and
    ``V`` hold their values exactly (bf16 widened to float32, numpy having no bfloat16; q8 and q4
    dequantized to float32, which holds them exactly). Arrays are read-only.
    """
    name: str
    method: str
    form: str
    basis: str
    shape: Tuple[int, int]
    rank: int
    factors: int
    coefficient: float
    U: np.ndarray = field(repr=False)
    V: np.ndarray = field(repr=False)
    dtype: str
    u_layout: str
    source_dtype: str
    seed: int
    B: Optional[np.ndarray] = field(default=None, repr=False)
    """``form == "qlr"``: the ``rows x cols`` quantized base (dequantized), ``W = B + U V^T``."""

    @property
    def alpha(self) -> Optional[float]:
        """The diagonal coefficient shared by every factor (None for a single component)."""
        return None if self.single else self.coefficient

    @property
    def beta(self) -> Optional[float]:
        """The diagonal coefficient of a single component ``beta I + U V^T`` (else None)."""
        return self.coefficient if self.single else None

    @property
    def single(self) -> bool:
        """True when the layer is the one component ``beta I + U V^T``."""
        return self.method == "add" and self.factors == 1

    @property
    def k(self) -> int:
        """Columns of ``U`` and ``V`` (``K``); an exact layer has ``max`` (mul) or ``min`` (add) of its shape."""
        return int(self.U.shape[1])

    @property
    def padding(self) -> Tuple[int, int]:
        """Zero rows and columns added to make ``W`` square for ``mul`` (DLOR_FORMAT.md 7.1)."""
        if self.method != "mul":
            return (0, 0)
        d = max(self.shape)
        return (d - self.shape[0], d - self.shape[1])

    def factor(self, l: int) -> Tuple[np.ndarray, np.ndarray]:
        """``(U_l, V_l)``, the columns of factor ``l``."""
        if not 0 <= l < self.factors:
            raise IndexError(f"layer '{self.name}' has {self.factors} factors, not {l + 1}")
        cols = slice(l * self.rank, min((l + 1) * self.rank, self.k))
        return self.U[:, cols], self.V[:, cols]

    def apply(self, x: np.ndarray, dtype: Optional[np.dtype] = None) -> np.ndarray:
        """``W x`` for every row of ``x`` (``[..., cols]`` -> ``[..., rows]``), factor by factor,
        without forming ``W``; computed in ``dtype`` (default float64)."""
        dt = np.dtype(dtype or np.float64)
        x = np.asarray(x, dtype=dt)
        rows, cols = self.shape
        if x.shape[-1:] != (cols,):
            raise ValueError(f"layer '{self.name}' takes {cols} features, the input has shape {x.shape}")
        U, V, a = self.U.astype(dt), self.V.astype(dt), dt.type(self.coefficient)
        if self.method == "mul":
            d = max(rows, cols)
            h = np.zeros(x.shape[:-1] + (d,), dt)
            h[..., :cols] = x
            for l in range(self.factors):
                c = slice(l * self.rank, min((l + 1) * self.rank, self.k))
                h = a * h + (h @ V[:, c]) @ U[:, c].T
            return h[..., :rows]
        y = (x @ V) @ U.T
        if self.B is not None:
            y = y + x @ self.B.astype(dt).T
        n = min(rows, cols)
        y[..., :n] += dt.type(self.factors) * a * x[..., :n]
        return y

    def dense(self) -> np.ndarray:
        """The ``rows x cols`` matrix ``W`` in float64 (for inspection: ``apply`` never forms it)."""
        return self.apply(np.eye(self.shape[1])).T


class Model:
    """A ``.dlor`` file read and checked (see ``dlor.load``).

    Attributes:
        path: the file read.
        tensors: every tensor of the file by name, as a read-only numpy array of its
            dtype (bf16 widened to float32; a U tensor stored in panels is given in
            rows, the order its shape describes).
        layers: the DLoR layers by name (``Layer``).
        graph: the model's graph, empty without one: for a chain (GRAPH section, 7.4)
            its operations in order (``dlor.graph``), for a graph over values (DAG
            section, 7.7: transformers, several outputs) its nodes (``dlor.dag.Node``).
        is_dag: whether ``graph`` holds DAG nodes.
        metadata: the file's string metadata.
        version: the file's format version, e.g. ``(1, 4)``.
        compressed: whether the file was stored deflated (``convert --compress``).
    """

    def __init__(self, path: str, img: "C.Image") -> None:
        self.path = path
        self.version = (C.MAJOR, img.minor)
        self.compressed = img.compressed
        self.metadata: Dict[str, str] = dict(img.metadata)
        arrays = [C.tensor_array(img, t) for t in img.tensors]
        for L in img.layers:
            if L.u_layout == C.U_PANELS:
                arrays[L.u_tensor] = C.unpanel(arrays[L.u_tensor], L.rank)
        self.tensors: Dict[str, np.ndarray] = {t.name: a for t, a in zip(img.tensors, arrays)}
        self.layers: Dict[str, Layer] = {}
        for L in img.layers:
            kmax = max(L.rows, L.cols) if L.method == C.METHOD_MUL else min(L.rows, L.cols)
            if L.base_tensor is not None:
                form = "qlr"
            elif L.k == kmax:
                form = _METHODS[L.method]
            elif L.method == C.METHOD_MUL:
                form = "mul-compressed"
            else:
                form = "svd" if L.alpha == 0.0 and L.factors == 1 else "lowrank"
            self.layers[L.name] = Layer(
                name=L.name, method=_METHODS[L.method], form=form, basis=_BASES[L.basis],
                shape=(L.rows, L.cols), rank=L.rank, factors=L.factors, coefficient=L.alpha,
                U=_readonly(arrays[L.u_tensor].T), V=_readonly(arrays[L.v_tensor].T),
                dtype=C.dtype_name(img.tensors[L.u_tensor].dtype), u_layout=_LAYOUTS[L.u_layout],
                source_dtype=C.DTYPES[L.source_dtype][0], seed=L.seed,
                B=None if L.base_tensor is None else _readonly(arrays[L.base_tensor]))
        self.is_dag = bool(img.nodes)
        self.graph: List[Any] = DG.from_records(img) if self.is_dag else G.from_records(img)
        self.in_features, self.out_features = (DG.widths(self.graph) if self.is_dag
                                               else G.widths(self, self.graph))
        self._dag: Optional[List[DG.Node]] = None
        factor_names = {img.tensors[i].name for L in img.layers
                        for i in (L.u_tensor, L.v_tensor, L.base_tensor) if i is not None}
        self.carried: List[str] = [t.name for t in img.tensors if t.name not in factor_names]
        """Names of the tensors that are not factors of a layer (biases, layers kept dense, ...)."""

    @property
    def dag(self) -> List[DG.Node]:
        """The graph as DAG nodes: a DAG file's own, or a chain read as DLOR_FORMAT.md 7.8
        says (INPUT ``input``, OUTPUT ``output``); empty without a graph."""
        if self._dag is None:
            self._dag = (list(self.graph) if self.is_dag else
                         DG.from_chain(self, self.graph) if self.graph else [])
        return self._dag

    @property
    def input_names(self) -> List[str]:
        """The names of the graph's inputs (``input_ids``, ``attention_mask``, ... or ``input``)."""
        return [nd.name for nd in self.dag if nd.kind == "input"]

    @property
    def output_names(self) -> List[str]:
        """The names of the graph's outputs in order; ``forward`` returns the first by default."""
        return [nd.name for nd in self.dag if nd.kind == "output"]

    def forward(self, inputs: Union[np.ndarray, Mapping[str, np.ndarray]], dtype: Optional[np.dtype] = None,
                select: Optional[str] = None) -> np.ndarray:
        """Runs the model's graph with numpy and returns one output (the first, or the one
        named ``select``, as ``dlor run --select``).

        ``inputs``: for a model of features, ``[N, in_features]`` (or one sample
        ``[in_features]``, giving one output row); for a model of token ids, a dict
        holding ``input_ids`` (integers ``[N, S]``) and optionally ``attention_mask``
        (0 and 1; all ones when left out) and ``token_type_ids`` (all zeros when left
        out), under the graph's input names or Hugging Face's, or the ``input_ids``
        array alone. Outputs are ``[N, F]``, or ``[N, S, F]`` for a value per token.
        Computes in ``dtype``: float64 by default, float32 to follow the float32 runtime
        of ``dlor run``."""
        outs = self.outputs(inputs, dtype)
        if select is None:
            return next(iter(outs.values()))
        if select not in outs:
            raise ValueError(f"{self.path}: the model has no output '{select}' (outputs: {', '.join(outs)})")
        return outs[select]

    def outputs(self, inputs: Union[np.ndarray, Mapping[str, np.ndarray]],
                dtype: Optional[np.dtype] = None) -> Dict[str, np.ndarray]:
        """Every output of the graph by name, in order (``forward`` takes one of them)."""
        if not self.graph:
            why = self.metadata.get("dlor.graph_missing", "")
            raise ValueError(f"{self.path}: the file records no graph, so it cannot be run" +
                             (f" ({why})" if why else ""))
        dt = np.dtype(dtype or np.float64)
        if dt.kind != "f":
            raise TypeError(f"forward computes in a float dtype, not {dt}")
        if self.in_features:
            x = inputs
            if isinstance(inputs, Mapping):
                extra = sorted(set(inputs) - {self.input_names[0], "input"})
                if extra or len(inputs) != 1:
                    raise ValueError(f"{self.path}: the model takes one input '{self.input_names[0]}', "
                                     f"not {sorted(inputs)}")
                x = next(iter(inputs.values()))
            x = np.asarray(x)
            one = x.ndim == 1
            batch = x.reshape(1, -1) if one else x
            if batch.ndim != 2 or batch.shape[1] != self.in_features:
                raise ValueError(f"{self.path}: the model takes [N, {self.in_features}] inputs, not {list(x.shape)}")
            batch = batch.astype(dt)
            if self.is_dag:
                outs = DG.evaluate(self, self.graph, {"features": batch}, dt, batch.shape[0], 1)
            else:
                outs = {"output": G.evaluate(self, self.graph, batch)}
            return {k: (v[0] if one else v) for k, v in outs.items()}
        feeds = self._token_feeds(inputs)
        n, s = feeds["ids"].shape
        return DG.evaluate(self, self.graph, feeds, dt, n, s)

    def _token_feeds(self, inputs: Union[np.ndarray, Mapping[str, np.ndarray]]) -> Dict[str, np.ndarray]:
        """The integer inputs of a model of token ids by mode, checked."""
        by_name = {nd.name: nd.mode for nd in self.dag if nd.kind == "input"}
        by_name.update({DG.INPUT_NAMES[m]: m for m in by_name.values()})
        if not isinstance(inputs, Mapping):
            inputs = {"input_ids": inputs}
        feeds: Dict[str, np.ndarray] = {}
        for key, a in inputs.items():
            if key not in by_name:
                raise ValueError(f"{self.path}: the model has no input '{key}' (inputs: {', '.join(self.input_names)})")
            a = np.asarray(a)
            if a.dtype.kind not in "iu" and not (a.dtype.kind == "b" and by_name[key] == "mask"):
                raise TypeError(f"{self.path}: input '{key}' holds {a.dtype}, not integers")
            feeds[by_name[key]] = a.astype(np.int64)
        if "ids" not in feeds:
            raise ValueError(f"{self.path}: the model needs 'input_ids'")
        ids = feeds["ids"]
        if ids.ndim == 1:
            feeds = {k: v.reshape(1, -1) for k, v in feeds.items()}
            ids = feeds["ids"]
        if ids.ndim != 2 or ids.shape[1] < 1:
            raise ValueError(f"{self.path}: input_ids of shape {list(ids.shape)}, expected [N, S]")
        for mode, a in feeds.items():
            if a.shape != ids.shape:
                raise ValueError(f"{self.path}: {DG.INPUT_NAMES[mode]} of shape {list(a.shape)}, "
                                 f"input_ids {list(ids.shape)}")
        if "mask" in feeds and ((feeds["mask"] != 0) & (feeds["mask"] != 1)).any():
            raise ValueError(f"{self.path}: attention_mask holds values other than 0 and 1")
        return feeds

    __call__ = forward

    def __repr__(self) -> str:
        return (f"<dlor.Model {os.path.basename(self.path)!r}: {len(self.layers)} layers, {len(self.tensors)} tensors, "
                f"{len(self.graph)} graph {'nodes' if self.is_dag else 'operations'}>")


def _readonly(a: np.ndarray) -> np.ndarray:
    a = a.view()
    a.flags.writeable = False
    return a


def load(path: PathLike, check_crc: bool = True) -> Model:
    """Reads a ``.dlor`` file (compressed or not) and checks every rule of
    formats/DLOR_FORMAT.md section 9 before returning it as a ``Model``.

    Raises ``dlor.FormatError`` (one line naming the file and the tensor, layer or
    record) for a malformed file and ``OSError`` when it cannot be read. With
    ``check_crc=False`` the tensors' CRC-32s are not compared (the header's is)."""
    p = os.fspath(path)
    with open(p, "rb") as f:
        raw = f.read()
    return Model(p, C.read_image(raw, p, check_crc))


__all__ = ["Layer", "Model", "load"]
