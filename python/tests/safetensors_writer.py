"""A minimal safetensors writer (numpy only) for the tests: layers as W1, b1, W2, b2, ... (F32)."""

import json
import struct


def write_model(path, layers, names=None):
    """``names``: the module name of each layer (``fc1`` -> ``fc1.weight``, ``fc1.bias``); default W1, b1, ..."""
    tensors, offset, blobs = {}, 0, []
    for i, (w, b, _) in enumerate(layers, start=1):
        keys = (f"W{i}", f"b{i}") if names is None else (f"{names[i - 1]}.weight", f"{names[i - 1]}.bias")
        for name, a in zip(keys, (w, b)):
            data = a.astype("<f4").tobytes()
            tensors[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
            offset += len(data)
            blobs.append(data)
    header = json.dumps(tensors).encode()
    header += b" " * (-len(header) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + b"".join(blobs))


def read_tensors(path):
    """The tensors of a safetensors file as numpy arrays (F32 and U8 only)."""
    import numpy as np

    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    body = raw[8 + n :]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        dtype = {"F32": "<f4", "U8": "u1"}[t["dtype"]]
        out[name] = np.frombuffer(body[a:b], dtype=dtype).reshape(t["shape"])
    return out
