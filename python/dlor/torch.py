"""DLoR layers as PyTorch modules: evaluate and fine-tune compressed models in PyTorch.

``import dlor`` never imports torch; importing this module does. It gives

- ``DLoRLinear``: a drop-in for ``nn.Linear`` holding a DLoR layer's factors as
  trainable parameters and applying them factor by factor
  (``x <- alpha x + U_l (V_l^T x)``), never forming the dense matrix;
- ``from_layer``: a ``DLoRLinear`` from a layer of ``dlor.load``;
- ``apply``: replaces the ``nn.Linear`` modules of a model that a ``.dlor`` file
  names (layer ``fc1.weight`` -> module ``fc1``) and loads the file's other tensors;
- ``load``: any ``.dlor`` file with a graph as an ``nn.Sequential`` (network forms too).
"""
from __future__ import annotations

from typing import Dict, List, NamedTuple, Optional, Tuple, Union

import numpy as np

try:
    import torch
    from torch import nn
except ImportError as e:  # pragma: no cover - depends on the installation
    raise ImportError("dlor.torch needs PyTorch (pip install torch, or on Debian: apt-get install python3-torch)") from e

from . import graph as G
from .model import Layer, Model, PathLike, load as _load_model

__all__ = ["DLoRLinear", "from_layer", "apply", "load", "Applied", "BranchGroup"]


def _param(a: np.ndarray, dtype: torch.dtype, device, trainable: bool = True) -> nn.Parameter:
    return nn.Parameter(torch.tensor(np.asarray(a, dtype=np.float64), dtype=dtype, device=device),
                        requires_grad=trainable)


class DLoRLinear(nn.Module):
    """``y = W x + b`` with ``W`` in DLoR form, for inputs ``[..., in_features]``.

    ``method="mul"``: ``W`` is ``M_{L-1} ... M_0``, ``M_l = alpha I + U_l V_l^T`` on the
    input zero-padded to ``D = max(in, out)``, cut to the first ``out_features``.
    ``method="add"``: ``W = L alpha I_{out x in} + U V^T`` (a compressed
    ``beta I + P Q^T`` is ``L = 1``). ``U`` is ``[dim_u, K]``, ``V`` ``[dim_v, K]``,
    factor ``l`` uses columns ``[l*rank, min((l+1)*rank, K))``, as ``dlor.Layer``.
    ``U``, ``V``, ``alpha`` and ``bias`` are ``nn.Parameter``s."""

    def __init__(self, in_features: int, out_features: int, k: int, rank: Optional[int] = None,
                 method: str = "add", bias: bool = True, device=None, dtype: Optional[torch.dtype] = None) -> None:
        super().__init__()
        if method not in ("mul", "add"):
            raise ValueError(f"method must be 'mul' or 'add', not {method!r}")
        d = max(in_features, out_features)
        kmax = d if method == "mul" else min(in_features, out_features)
        rank = k if rank is None else rank
        if not (1 <= k <= kmax and 1 <= rank <= k):
            raise ValueError(f"{method} layer {out_features}x{in_features}: K = {k} must be 1 to {kmax}, "
                             f"rank {rank} 1 to K")
        self.in_features, self.out_features = in_features, out_features
        self.method, self.rank, self.k = method, rank, k
        self.factors = -(-k // rank)
        dim_u, dim_v = (d, d) if method == "mul" else (out_features, in_features)
        kw = {"device": device, "dtype": dtype}
        self.U = nn.Parameter(torch.empty(dim_u, k, **kw))
        self.V = nn.Parameter(torch.empty(dim_v, k, **kw))
        self.alpha = nn.Parameter(torch.empty((), **kw))
        self.bias = nn.Parameter(torch.empty(out_features, **kw)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Small random factors, ``alpha`` 1 (mul: each factor near the identity) or 0 (add)."""
        with torch.no_grad():
            nn.init.normal_(self.U, std=self.U.shape[0] ** -0.5)
            nn.init.normal_(self.V, std=self.V.shape[0] ** -0.5 / self.factors)
            self.alpha.fill_(1.0 if self.method == "mul" else 0.0)
            if self.bias is not None:
                bound = self.in_features ** -0.5
                nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self._weight_times(x)
        return y if self.bias is None else y + self.bias

    def _weight_times(self, x: torch.Tensor) -> torch.Tensor:
        n, m = self.in_features, self.out_features
        if x.shape[-1] != n:
            raise ValueError(f"DLoRLinear takes {n} features, the input has shape {list(x.shape)}")
        if self.method == "mul":
            d = max(m, n)
            h = nn.functional.pad(x, (0, d - n)) if d > n else x
            for l in range(self.factors):
                c = slice(l * self.rank, min((l + 1) * self.rank, self.k))
                h = self.alpha * h + (h @ self.V[:, c]) @ self.U[:, c].t()
            return h[..., :m]
        y = (x @ self.V) @ self.U.t()
        diag = (self.factors * self.alpha) * x[..., :min(m, n)]
        return y + (nn.functional.pad(diag, (0, m - n)) if m > n else diag)

    def dense_weight(self) -> torch.Tensor:
        """The ``[out, in]`` matrix ``W`` (for inspection; ``forward`` never forms it)."""
        return self._weight_times(torch.eye(self.in_features, dtype=self.U.dtype, device=self.U.device)).t()

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, method={self.method}, "
                f"K={self.k}, rank={self.rank}, factors={self.factors}, bias={self.bias is not None}")

    @classmethod
    def from_layer(cls, layer: Layer, bias: Optional[Union[np.ndarray, torch.Tensor]] = None,
                   dtype: torch.dtype = torch.float32, device=None, train_alpha: bool = True) -> "DLoRLinear":
        """The module of a ``dlor.Layer`` (from ``dlor.load``), its factors copied into
        parameters of ``dtype``; ``bias`` (length ``rows``) or no bias; with
        ``train_alpha=False`` the diagonal coefficient stays fixed in training."""
        rows, cols = layer.shape
        mod = cls(cols, rows, layer.k, layer.rank, layer.method, bias is not None, device, dtype)
        with torch.no_grad():
            mod.U = _param(layer.U, dtype, device)
            mod.V = _param(layer.V, dtype, device)
            mod.alpha = nn.Parameter(torch.tensor(layer.coefficient, dtype=dtype, device=device),
                                     requires_grad=train_alpha)
            if bias is not None:
                b = bias.detach().cpu().double().numpy() if isinstance(bias, torch.Tensor) else bias
                if np.shape(b) != (rows,):
                    raise ValueError(f"layer '{layer.name}': bias of shape {list(np.shape(b))}, expected [{rows}]")
                mod.bias = _param(b, dtype, device)
        return mod


def from_layer(layer: Layer, bias: Optional[Union[np.ndarray, torch.Tensor]] = None,
               dtype: torch.dtype = torch.float32, device=None, train_alpha: bool = True) -> DLoRLinear:
    """``DLoRLinear.from_layer``: the trainable module of a ``dlor.Layer``."""
    return DLoRLinear.from_layer(layer, bias, dtype, device, train_alpha)


# ---- replacing the layers of a user's model ---------------------------------------------

class Applied(NamedTuple):
    """What ``apply`` changed: the modules replaced and the tensors loaded into the model."""
    replaced: List[str]
    loaded: List[str]


def _model_of(source: Union[PathLike, Model]) -> Model:
    return source if isinstance(source, Model) else _load_model(source)


def apply(model: nn.Module, source: Union[PathLike, Model], train_alpha: bool = True) -> Applied:
    """Replaces every ``nn.Linear`` of ``model`` that a ``.dlor`` file has a layer for
    (layer ``fc1.weight`` -> module ``fc1``) by a ``DLoRLinear`` holding the layer's
    factors and the file's bias ``fc1.bias``, and copies the file's other tensors
    (biases, layers kept dense, ...) into the parameters and buffers of the same name.

    Everything is checked before anything changes: a layer naming a module the model
    lacks or that is not an ``nn.Linear``, a shape that differs, or a tensor with no
    place in the model raises ``ValueError`` naming the module or tensor, and the
    model is left as it was. New modules take the dtype, device and training mode of
    the ones they replace. ``source`` is a path or a ``dlor.Model``."""
    m = _model_of(source)
    where = m.path
    if m.metadata.get("dlor.form") == "network":
        raise ValueError(f"{where}: a network-form file replaces each layer by several; run it with "
                         "dlor.torch.load instead of applying it to the dense model")
    plan: List[Tuple[str, nn.Module]] = []
    used = set()
    for name, layer in m.layers.items():
        if not name.endswith(".weight"):
            raise ValueError(f"{where}: layer '{name}' does not name a module's weight ('<module>.weight')")
        mod_name = name[:-len(".weight")]
        try:
            mod = model.get_submodule(mod_name)
        except AttributeError:
            raise ValueError(f"{where}: layer '{name}': the model has no module '{mod_name}'") from None
        if not isinstance(mod, nn.Linear):
            raise ValueError(f"{where}: layer '{name}': module '{mod_name}' is {type(mod).__name__}, not nn.Linear")
        if (mod.out_features, mod.in_features) != layer.shape:
            raise ValueError(f"{where}: layer '{name}' is {layer.shape[0]}x{layer.shape[1]} but module '{mod_name}' "
                             f"is Linear({mod.in_features}, {mod.out_features})")
        bias_name = f"{mod_name}.bias"
        if bias_name in m.tensors:
            if mod.bias is None:
                raise ValueError(f"{where}: tensor '{bias_name}': module '{mod_name}' has no bias")
            bias: Optional[Union[np.ndarray, torch.Tensor]] = m.tensors[bias_name]
            if bias.shape != (layer.shape[0],):
                raise ValueError(f"{where}: tensor '{bias_name}' has shape {list(bias.shape)}, module '{mod_name}' "
                                 f"needs [{layer.shape[0]}]")
            used.add(bias_name)
        else:
            bias = mod.bias
        new = DLoRLinear.from_layer(layer, bias, mod.weight.dtype, mod.weight.device, train_alpha)
        new.train(mod.training)
        plan.append((mod_name, new))
    replaced = {n for n, _ in plan}
    state = model.state_dict()
    loads: List[Tuple[str, np.ndarray]] = []
    factor_names = set(m.tensors) - set(m.carried)
    for tname in m.carried:
        if tname in used or tname in factor_names:
            continue
        owner = tname.rsplit(".", 1)[0] if "." in tname else ""
        if owner in replaced or tname not in state:
            raise ValueError(f"{where}: tensor '{tname}' has no place in the model (no parameter or buffer of "
                             "that name)")
        if tuple(state[tname].shape) != m.tensors[tname].shape:
            raise ValueError(f"{where}: tensor '{tname}' has shape {list(m.tensors[tname].shape)}, the model's "
                             f"{list(state[tname].shape)}")
        loads.append((tname, m.tensors[tname]))
    # every check passed: now change the model
    for mod_name, new in plan:
        parent_name, _, child = mod_name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, new)
    targets: Dict[str, torch.Tensor] = dict(model.named_parameters())
    targets.update(dict(model.named_buffers()))
    with torch.no_grad():
        for tname, a in loads:
            t = targets[tname]
            t.copy_(torch.from_numpy(np.array(a)).to(dtype=t.dtype, device=t.device))
    return Applied([n for n, _ in plan], [n for n, _ in loads])


# ---- a whole file's graph as a module ------------------------------------------------------

class _Softplus(nn.Module):
    """``log(1 + exp(x))`` without a threshold (the format's definition exactly)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x) + torch.log1p(torch.exp(-x.abs()))


def _activation(op: G.Activation) -> nn.Module:
    makers = {
        "identity": nn.Identity, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
        "softplus": _Softplus, "gelu": nn.GELU, "silu": nn.SiLU,
        "leaky_relu": lambda: nn.LeakyReLU(op.param),
        "gelu_tanh": lambda: nn.GELU(approximate="tanh"),
    }
    return makers[op.name]()


class BranchGroup(nn.Module):
    """A BRANCH ... MERGE group (format 1.3): ``y = sum_j s_j branch_j(x) (+ b)``."""

    def __init__(self, branches: List[nn.Module], weights: List[float], bias: Optional[torch.Tensor]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)
        self.register_buffer("weights", torch.tensor(weights, dtype=torch.float64))
        self.bias = nn.Parameter(bias) if bias is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = sum(w.to(x.dtype) * b(x) for w, b in zip(self.weights, self.branches))
        return y if self.bias is None else y + self.bias


def load(source: Union[PathLike, Model], dtype: torch.dtype = torch.float32, device=None,
         train_alpha: bool = True) -> nn.Sequential:
    """The graph of a ``.dlor`` file as an ``nn.Sequential`` of ``DLoRLinear``,
    ``nn.Linear`` (layers kept dense), activation, ``nn.Softmax`` and ``BranchGroup``
    modules, computing in ``dtype`` (float64 for a network form stored in f64)."""
    m = _model_of(source)
    if not m.graph:
        raise ValueError(f"{m.path}: the file records no graph, so it cannot be made a module")
    if m.is_dag:
        raise ValueError(f"{m.path}: the file's graph is a DAG (format 1.5: transformers, several outputs), "
                         "which has no nn.Sequential form; apply the file to the model's own module "
                         "(dlor.torch.apply) or run it with Model.forward")

    def vec(name: Optional[str]) -> Optional[torch.Tensor]:
        return None if name is None else torch.tensor(np.asarray(m.tensors[name], np.float64), dtype=dtype,
                                                     device=device)

    def linear(op: G.Linear) -> nn.Module:
        if op.dlor:
            return DLoRLinear.from_layer(m.layers[op.weight], vec(op.bias), dtype, device, train_alpha)
        w = m.tensors[op.weight]
        lin = nn.Linear(w.shape[1], w.shape[0], bias=op.bias is not None, device=device, dtype=dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(np.asarray(w, np.float64)))
            if op.bias is not None:
                lin.bias.copy_(vec(op.bias))
        return lin

    top: List[nn.Module] = []
    branches: List[List[nn.Module]] = []
    weights: List[float] = []
    for op in m.graph:
        if isinstance(op, G.Branch):
            branches.append([])
            weights.append(op.weight)
            continue
        if isinstance(op, G.Merge):
            top.append(BranchGroup([nn.Sequential(*b) for b in branches], weights, vec(op.bias)))
            branches, weights = [], []
            continue
        if isinstance(op, G.Linear):
            mod = linear(op)
        elif isinstance(op, G.Activation):
            mod = _activation(op)
        elif isinstance(op, G.Softmax):
            mod = nn.Softmax(dim=-1)
        else:  # pragma: no cover - every kind dlor.load returns is handled above
            raise ValueError(f"{m.path}: graph operation {op!r} has no PyTorch module here")
        (branches[-1] if branches else top).append(mod)
    return nn.Sequential(*top)
