"""Reading and checking the DAG section of a ``.dlor`` image (DLOR_FORMAT.md 7.7 and
rule 10 of section 9), written from the specification.

``read_dag`` checks every node record in order and returns plain ``NodeRecord``s;
``dag.py`` turns them into the nodes users see and runs them.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

NODE_SIZE = 96
NONE = 0xFFFFFFFF
MAX_OUTPUTS = 64

# kinds
LINEAR, ACT, SOFTMAX, INPUT, OUTPUT, EMBED, POS_EMBED = 1, 2, 3, 6, 7, 8, 9
ADD, MUL, SCALE, LAYERNORM, RMSNORM, ATTENTION, POOL, L2NORM = 10, 11, 12, 13, 14, 15, 16, 17
KIND_NAMES = {LINEAR: "linear", ACT: "act", SOFTMAX: "softmax", INPUT: "input", OUTPUT: "output",
              EMBED: "embed", POS_EMBED: "pos_embed", ADD: "add", MUL: "mul", SCALE: "scale",
              LAYERNORM: "layernorm", RMSNORM: "rmsnorm", ATTENTION: "attention", POOL: "pool",
              L2NORM: "l2norm"}

# value types
ROWS, TOKENS, IDS, MASK = 1, 2, 3, 4
TYPE_NAMES = {ROWS: "rows", TOKENS: "tokens", IDS: "ids", MASK: "mask"}
FLOAT_TYPES = (ROWS, TOKENS)

# INPUT modes, POOL modes
IN_FEATURES, IN_IDS, IN_MASK, IN_TYPE_IDS = 1, 2, 3, 4
MODE_NAMES = {IN_FEATURES: "features", IN_IDS: "ids", IN_MASK: "mask", IN_TYPE_IDS: "type_ids"}
POOL_MEAN, POOL_CLS = 1, 2
POOL_NAMES = {POOL_MEAN: "mean", POOL_CLS: "cls"}

FLAG_LAYER, FLAG_CAUSAL = 1, 2
MAX_ACT = 8
LEAKY_RELU = 2

# what each kind may set besides in[0]: (in slots used, weight, bias, code, p0, p1, flags)
_USES: Dict[int, Tuple[int, bool, bool, bool, bool, bool, int]] = {
    LINEAR: (1, True, True, False, False, False, FLAG_LAYER),
    ACT: (1, False, False, True, True, False, 0),
    SOFTMAX: (1, False, False, False, False, False, 0),
    INPUT: (0, False, False, True, False, False, 0),
    OUTPUT: (1, False, False, False, False, False, 0),
    EMBED: (1, True, False, False, False, False, 0),
    POS_EMBED: (1, True, False, False, False, False, 0),
    ADD: (2, False, False, False, False, False, 0),
    MUL: (2, False, False, False, False, False, 0),
    SCALE: (1, False, True, False, True, False, 0),
    LAYERNORM: (1, True, True, False, True, False, 0),
    RMSNORM: (1, True, False, False, True, False, 0),
    ATTENTION: (4, False, False, False, True, True, FLAG_CAUSAL),
    POOL: (2, False, False, True, False, False, 0),
    L2NORM: (1, False, False, False, True, False, 0),
}


@dataclass
class NodeRecord:
    kind: int
    code: int
    flags: int
    inputs: Tuple[int, ...]   # the value numbers read, NONE for an unused optional slot
    weight: int               # tensor index (layer index for a LINEAR with FLAG_LAYER), or NONE
    bias: int                 # tensor index or NONE
    name: Optional[str]       # INPUT and OUTPUT
    heads: int
    kv_heads: int
    features: int             # F of the value made
    vtype: int                # type of the value made
    p0: float
    p1: float


def read_dag(c, b: bytes, sec: Tuple[int, int, int], tensors, layers, string: Callable,
             panel_owners: Dict[int, str], shown: Callable[[str], str],
             float_dtypes: Tuple[int, ...]) -> List[NodeRecord]:
    """The DAG section's nodes, each checked against the ones before it (rule 10)."""
    off, _, count = sec
    layer_names = {L.name for L in layers}
    nodes: List[NodeRecord] = []
    modes: Dict[int, int] = {}           # INPUT mode -> node number
    input_names = set()
    output_names = set()
    inputs_done = False
    for i in range(count):
        r = off + NODE_SIZE * i
        kind, code, flags = struct.unpack_from("<HHI", b, r)
        ins = struct.unpack_from("<4I", b, r + 8)
        widx, bidx, name_off, name_len, heads, kv_heads, feats = struct.unpack_from("<IIIIIIQ", b, r + 24)
        vtype = b[r + 56]
        p0, p1 = struct.unpack_from("<dd", b, r + 64)
        what = f"DAG node {i}"
        c.check(kind in _USES, f"{what}: unknown kind {kind}")
        kname = KIND_NAMES[kind]
        what = f"DAG node {i} ({kname})"
        c.check(not any(b[r + 57:r + 64]) and not any(b[r + 80:r + 96]), f"{what}: reserved bytes are not zero")
        nin, uses_w, uses_b, uses_code, uses_p0, uses_p1, allowed_flags = _USES[kind]
        c.check(flags & ~allowed_flags == 0, f"{what}: flags 0x{flags:x} not defined for this kind")
        c.check(uses_code or code == 0, f"{what}: code {code} set")
        c.check(all(x == NONE for x in ins[nin:]), f"{what}: an unused input slot is set")
        c.check(uses_w or widx == NONE, f"{what}: weight set")
        c.check(uses_b or bidx == NONE, f"{what}: bias set")
        c.check(kind in (INPUT, OUTPUT) or (name_off == 0 and name_len == 0), f"{what}: name set")
        c.check(kind == ATTENTION or (heads == 0 and kv_heads == 0), f"{what}: heads set")
        c.check(math.isfinite(p0) and math.isfinite(p1), f"{what}: parameters are not finite")
        c.check(uses_p0 or p0 == 0.0, f"{what}: p0 {p0:g} set")
        c.check(uses_p1 or p1 == 0.0, f"{what}: p1 {p1:g} set")
        c.check(vtype in TYPE_NAMES, f"{what}: unknown value type {vtype}")

        if kind == INPUT:
            c.check(not inputs_done, f"{what}: INPUT nodes must come before every other node")
        else:
            inputs_done = True
        # the values read: made by earlier nodes that are not OUTPUTs
        for slot in range(nin):
            v = ins[slot]
            if v == NONE:
                continue
            c.check(v < i, f"{what}: input {slot} reads value {v}, not made before it")
            c.check(nodes[v].kind != OUTPUT, f"{what}: input {slot} reads the value of OUTPUT node {v}")

        def val(slot: int) -> NodeRecord:
            c.check(ins[slot] != NONE, f"{what}: input {slot} is missing")
            return nodes[ins[slot]]

        def float_in(slot: int) -> NodeRecord:
            x = val(slot)
            c.check(x.vtype in FLOAT_TYPES, f"{what}: input {slot} is {TYPE_NAMES[x.vtype]}, not a float value")
            return x

        def tensor(idx: int, role: str, shape: Optional[Tuple[int, ...]], ndim: int) -> Tuple[int, ...]:
            c.check(idx < len(tensors), f"{what}: {role} index {idx} out of range")
            t = tensors[idx]
            c.check(t.dtype in float_dtypes, f"{what}: {role} '{shown(t.name)}' is not a float tensor")
            c.check(len(t.shape) == ndim and all(d > 0 for d in t.shape),
                    f"{what}: {role} '{shown(t.name)}' of shape {list(t.shape)} is not a non-empty {ndim}-D tensor")
            c.check(shape is None or t.shape == shape,
                    f"{what}: {role} '{shown(t.name)}' has shape {list(t.shape)}, expected {list(shape or ())}")
            c.check(idx not in panel_owners,
                    f"{what}: {role} '{shown(t.name)}' is a layer's U stored in panels, which only that layer may use")
            return t.shape

        def vector(idx: int, role: str, n: int) -> None:
            if idx != NONE:
                tensor(idx, role, (n,), 1)

        def mask_slot(slot: int) -> None:
            v = ins[slot]
            c.check(v == NONE or modes.get(IN_MASK) == v, f"{what}: input {slot} is not the MASK input")

        vt, f = ROWS, 0
        if kind == INPUT:
            c.check(code in MODE_NAMES, f"{what}: unknown input mode {code}")
            c.check(code not in modes, f"{what}: a second input of mode {MODE_NAMES[code]}")
            name = string(name_off, name_len, 1, 255, what)
            c.check(name not in input_names, f"{what}: a second input named '{shown(name)}'")
            input_names.add(name)
            modes[code] = i
            if code == IN_FEATURES:
                c.check(feats >= 1, f"{what}: a FEATURES input of 0 features")
                vt, f = ROWS, feats
            else:
                vt = MASK if code == IN_MASK else IDS
        elif kind == OUTPUT:
            x = float_in(0)
            vt, f = x.vtype, x.features
            name = string(name_off, name_len, 1, 255, what)
            c.check(name not in output_names, f"{what}: a second output named '{shown(name)}'")
            output_names.add(name)
        elif kind == LINEAR:
            x = float_in(0)
            if flags & FLAG_LAYER:
                c.check(widx < len(layers), f"{what}: layer index {widx} out of range")
                L = layers[widx]
                c.check(L.cols == x.features, f"{what}: layer '{shown(L.name)}' takes {L.cols} features, "
                                              f"the input has {x.features}")
                out = L.rows
            else:
                c.check(widx != NONE, f"{what}: no weight")
                out, _ = tensor(widx, "weight", None, 2)
                tensor(widx, "weight", (out, x.features), 2)
                c.check(tensors[widx].name not in layer_names,
                        f"{what}: weight tensor '{shown(tensors[widx].name)}' has the name of a layer, "
                        "so the name is ambiguous")
            vector(bidx, "bias", out)
            vt, f = x.vtype, out
        elif kind == ACT:
            x = float_in(0)
            c.check(code <= MAX_ACT, f"{what}: unknown activation {code}")
            c.check(code == LEAKY_RELU or p0 == 0.0, f"{what}: parameter {p0:g} for an activation without one")
            vt, f = x.vtype, x.features
        elif kind in (SOFTMAX, L2NORM, RMSNORM, LAYERNORM, SCALE):
            x = float_in(0)
            vt, f = x.vtype, x.features
            if kind in (L2NORM, RMSNORM, LAYERNORM):
                c.check(p0 > 0, f"{what}: eps {p0:g} is not positive")
            if kind in (RMSNORM, LAYERNORM):
                vector(widx, "weight", f)
            if kind in (LAYERNORM, SCALE):
                vector(bidx, "bias", f)
        elif kind in (EMBED, POS_EMBED):
            x = val(0)
            ok = (IDS,) if kind == EMBED else (IDS, MASK)
            c.check(x.vtype in ok, f"{what}: input 0 is {TYPE_NAMES[x.vtype]}, not "
                                   f"{' or '.join(TYPE_NAMES[t] for t in ok)}")
            c.check(widx != NONE, f"{what}: no table")
            _, f = tensor(widx, "table", None, 2)
            vt = TOKENS
        elif kind in (ADD, MUL):
            x, y = float_in(0), float_in(1)
            c.check(x.vtype == y.vtype and x.features == y.features,
                    f"{what}: operands {TYPE_NAMES[x.vtype]} [{x.features}] and {TYPE_NAMES[y.vtype]} "
                    f"[{y.features}] differ")
            vt, f = x.vtype, x.features
        elif kind == ATTENTION:
            q, k, v = float_in(0), float_in(1), float_in(2)
            c.check(q.vtype == TOKENS and k.vtype == TOKENS and v.vtype == TOKENS,
                    f"{what}: q, k and v must be token values")
            mask_slot(3)
            c.check(heads >= 1 and kv_heads >= 1 and heads % kv_heads == 0,
                    f"{what}: {heads} heads and {kv_heads} key/value heads")
            c.check(q.features % heads == 0, f"{what}: {q.features} query features for {heads} heads")
            d = q.features // heads
            c.check(k.features == kv_heads * d, f"{what}: {k.features} key features, expected {kv_heads * d}")
            c.check(v.features % kv_heads == 0, f"{what}: {v.features} value features for {kv_heads} heads")
            c.check(p0 >= 0 and p1 >= 0, f"{what}: negative scale or rotary base")
            c.check(p1 == 0 or d % 2 == 0, f"{what}: rotary embedding needs an even head size, not {d}")
            vt, f = TOKENS, heads * (v.features // kv_heads)
        elif kind == POOL:
            x = float_in(0)
            c.check(x.vtype == TOKENS, f"{what}: input 0 is {TYPE_NAMES[x.vtype]}, not tokens")
            c.check(code in POOL_NAMES, f"{what}: unknown pool mode {code}")
            mask_slot(1)
            vt, f = ROWS, x.features
        c.check(vtype == vt and feats == f,
                f"{what}: declares {TYPE_NAMES[vtype]} [{feats}], the node makes {TYPE_NAMES[vt]} [{f}]")
        nodes.append(NodeRecord(kind, code, flags, tuple(ins[:nin]), widx, bidx,
                                name if kind in (INPUT, OUTPUT) else None, heads, kv_heads, feats, vtype, p0, p1))
    c.check(IN_FEATURES in modes or IN_IDS in modes, "DAG: no FEATURES or IDS input")
    c.check(not (IN_FEATURES in modes and IN_IDS in modes), "DAG: both a FEATURES and an IDS input")
    c.check(IN_IDS in modes or (IN_MASK not in modes and IN_TYPE_IDS not in modes),
            "DAG: a MASK or TYPE_IDS input without an IDS input")
    c.check(1 <= len(output_names) <= MAX_OUTPUTS, f"DAG: {len(output_names)} outputs (must be 1 to {MAX_OUTPUTS})")
    return nodes
