"""Minimal safetensors writer (no dependency on the `safetensors` package).

Used by the sample training scripts, which run under Debian's /usr/bin/python3
(where torch is installed but pip's `safetensors` is not).

Format (https://github.com/huggingface/safetensors):
  8-byte little-endian u64 N = header length
  N bytes of UTF-8 JSON: {name: {"dtype", "shape", "data_offsets": [begin, end]}, ...,
                          "__metadata__": {str: str}}
  padded with spaces so that 8 + N is a multiple of 8
  raw little-endian C-order tensor data; offsets are relative to the data start.
Tensors are written in name-sorted order, contiguously, with no gaps.
"""
import json
import struct

import numpy as np

_DTYPES = {
    np.dtype("float32"): "F32",
    np.dtype("float64"): "F64",
    np.dtype("float16"): "F16",
    np.dtype("int64"): "I64",
    np.dtype("int32"): "I32",
    np.dtype("int8"): "I8",
    np.dtype("uint8"): "U8",
}


def save_safetensors(path, tensors, metadata=None):
    """tensors: dict name -> numpy array. Writes `path`."""
    header = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        dt = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
        a = a.astype(dt, copy=False)
        if a.dtype not in _DTYPES:
            raise TypeError(f"{name}: unsupported dtype {a.dtype}")
        raw = a.tobytes(order="C")
        header[name] = {
            "dtype": _DTYPES[a.dtype],
            "shape": list(a.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((-(8 + len(hjson))) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for raw in blobs:
            f.write(raw)
