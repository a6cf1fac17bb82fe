"""``convert``, ``verify``, ``run`` and ``info``: the ``dlor`` command from Python.

Keyword options mirror the command line: ``rank=16`` is ``--rank 16``, a name
with underscores takes dashes, ``True`` is a switch (``compress=True``), ``None``
or ``False`` leaves the option out, a list or tuple repeats it
(``include=["fc*", "proj*"]``), and a numpy array given for a file option
(``calib``, ``inputs``, ``labels``) is written to a temporary ``.npy`` first.
Results come back as Python objects; a failing command raises ``dlor.DlorError``
with its message and exit status.
"""
from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _backend
from .model import Model, PathLike, load

_ARRAY_OPTIONS = ("calib", "inputs", "labels")


def _argv(options: Mapping[str, Any], tmp: str, reserved: Sequence[str]) -> List[str]:
    out: List[str] = []
    for key, value in options.items():
        name = key.replace("_", "-")
        if name in reserved:
            raise TypeError(f"option '{key}' is set by this function itself")
        if value is None or value is False:
            continue
        if value is True:
            out.append(f"--{name}")
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if isinstance(v, np.ndarray):
                if name not in _ARRAY_OPTIONS:
                    raise TypeError(f"option '{key}' takes a value, not an array")
                path = os.path.join(tmp, f"{name}.npy")
                np.save(path, v)
                v = path
            elif isinstance(v, float):
                v = repr(v)  # every digit: the command reads the same double
            out += [f"--{name}", os.fspath(v) if isinstance(v, os.PathLike) else str(v)]
    return out


def convert(src: PathLike, out: PathLike, **options: Any) -> Model:
    """Runs ``dlor convert SRC -o OUT [options]`` and returns the written file, loaded.

    Example: ``dlor.convert("model.safetensors", "model.dlor", budget=0.25, dtype="f16",
    activation="relu")``. See the README's ``convert`` options for every option."""
    with tempfile.TemporaryDirectory(prefix="dlor-") as tmp:
        args = [os.fspath(src), "-o", os.fspath(out), *_argv(options, tmp, ("output", "o"))]
        _backend.invoke("convert", args)
    return load(out)


# ---- verify -------------------------------------------------------------------------

@dataclass
class LayerCheck:
    """One layer of a verify report (the JSON fields of README's ``verify``)."""
    name: str
    shape: Tuple[int, int]
    method: str
    form: str
    basis: str
    rank: int
    factors: int
    alpha: Optional[float]
    dtype: str
    rel_fro_error: Optional[float]
    max_abs_error: Optional[float]
    svd_rel_fro_error: Optional[float]
    data_rel_error: Optional[float]
    tol: Optional[float]
    passed: bool
    params_dense: int
    params_dlor: int
    bytes_dense: int
    bytes_dlor: int


@dataclass
class EndToEnd:
    """Dense and DLoR model outputs compared on the same inputs."""
    inputs: str
    samples: int
    max_abs_error: Optional[float]
    max_rel_error: Optional[float]
    argmax_agreement: Optional[float] = None
    accuracy_dense: Optional[float] = None
    accuracy_dlor: Optional[float] = None
    precision: Optional[str] = None   # network forms: the precision the network ran in
    tol: Optional[float] = None       # network forms: the --tol applied, None when none
    passed: Optional[bool] = None     # network forms: whether the error is within tol


@dataclass
class VerifyReport:
    """The report of ``dlor verify --json``. ``passed`` is the verdict (the command's
    exit status 0); ``raw`` is the whole JSON object, fields this version does not
    name included."""
    dlor_version: str
    source: str
    dlor_file: str
    source_sha256_match: bool
    layers: List[LayerCheck]
    max_rel_fro_error: Optional[float]
    max_abs_error: Optional[float]
    params_dense_total: int
    params_dlor_total: int
    bytes_dense_total: int
    bytes_dlor_total: int
    carried_tensors: int
    carried_identical: int
    problems: List[str]
    passed: bool
    end_to_end: Optional[EndToEnd] = None
    network: Optional[Dict[str, Any]] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)


def _typed(cls: type, d: Mapping[str, Any]) -> Any:
    """An instance of dataclass ``cls`` from a JSON object: ``pass`` becomes ``passed``,
    lists become tuples where the field is a tuple, unknown keys are left out."""
    names = {f.name for f in dataclasses.fields(cls)}
    kw = {}
    for k, v in d.items():
        k = "passed" if k == "pass" else k
        if k in names:
            kw[k] = tuple(v) if k == "shape" else v
    return cls(**kw)


def verify(src: PathLike, dlor_path: PathLike, **options: Any) -> VerifyReport:
    """Runs ``dlor verify SRC DLOR [options]`` and returns its report.

    A report whose checks failed is returned with ``passed == False`` (the command
    exits 1 then); a command that could not check raises ``DlorError``. Options as on
    the command line, e.g. ``inputs=x_test`` (an array or a ``.npy`` path),
    ``labels=y_test``, ``tol=1e-3``, ``samples=512``, ``html="report.html"``."""
    with tempfile.TemporaryDirectory(prefix="dlor-") as tmp:
        report = os.path.join(tmp, "report.json")
        args = [os.fspath(src), os.fspath(dlor_path), "--json", report, "--quiet",
                *_argv(options, tmp, ("json", "quiet", "q"))]
        done = _backend.invoke("verify", args, accept=(0, 1))
        if not os.path.exists(report):
            raise _backend.failure("verify", done)
        with open(report, encoding="utf-8") as f:
            raw = json.load(f)
    r = _typed(VerifyReport, raw)
    r.layers = [_typed(LayerCheck, x) for x in raw.get("layers", [])]
    if raw.get("end_to_end") is not None:
        r.end_to_end = _typed(EndToEnd, raw["end_to_end"])
    r.raw = raw
    return r


# ---- run and info -------------------------------------------------------------------

def run(model: Union[PathLike, Model], x: Union[np.ndarray, Mapping[str, np.ndarray], PathLike],
        **options: Any) -> np.ndarray:
    """Runs a model with dlor's runtime (``dlor run``) on the inputs ``x``
    (``[N, features]``, an array or a ``.npy`` path; for a model of token ids, a dict
    of ``input_ids`` and optionally ``attention_mask`` and ``token_type_ids``, or a
    ``.npz`` path) and returns its outputs (float32, or float64 with ``dtype="f64"``).
    ``model`` is a ``.dlor`` file (a path or a loaded ``Model``) or a dense source whose
    graph dlor knows (e.g. with ``activation="relu"``). Other options: ``batch``,
    ``threads``, ``select`` (the output to return, by name)."""
    path = model.path if isinstance(model, Model) else os.fspath(model)
    with tempfile.TemporaryDirectory(prefix="dlor-") as tmp:
        if isinstance(x, Mapping):
            xs = os.path.join(tmp, "x.npz")
            np.savez(xs, **{k: np.asarray(v) for k, v in x.items()})
        elif isinstance(x, np.ndarray):
            xs = os.path.join(tmp, "x.npy")
            np.save(xs, x if x.dtype.kind == "f" else x.astype(np.float32))
        else:
            xs = os.fspath(x)
        ys = os.path.join(tmp, "y.npy")
        _backend.invoke("run", [path, "-i", xs, "-o", ys, *_argv(options, tmp, ("input", "output", "i", "o"))])
        return np.load(ys)


def info(path: PathLike) -> Dict[str, Any]:
    """``dlor info FILE --json``: tensors, graph, layers and metadata of any file dlor reads."""
    return json.loads(_backend.invoke("info", [os.fspath(path), "--json"]).stdout)
