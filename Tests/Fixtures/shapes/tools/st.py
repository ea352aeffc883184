"""Minimal safetensors reader/writer in numpy (with BF16 support)."""
import json
import struct
import numpy as np

_DT = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8, "I8": np.int8,
       "F16": np.float16, "BF16": np.uint16}
_RDT = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64", np.dtype(np.int32): "I32",
        np.dtype(np.uint8): "U8", np.dtype(np.float64): "F64"}


def bf16_to_f32(u16):
    return (u16.astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16(x):
    """Round-to-nearest-even float32 -> bf16 bits (uint16)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    u = x.view(np.uint32).astype(np.uint64)
    rounding = ((u >> 16) & 1) + 0x7FFF
    return ((u + rounding) >> 16).astype(np.uint16)


def bf16_round(x):
    return bf16_to_f32(f32_to_bf16(x))


def load(path, raw=False):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        arr = np.frombuffer(data[base + b: base + e], dtype=_DT[info["dtype"]]).reshape(info["shape"])
        if info["dtype"] == "BF16" and not raw:
            arr = bf16_to_f32(arr)
        out[name] = arr.copy()
    return out


def save(path, tensors, bf16_names=(), metadata=None):
    """tensors: name -> np array. Names in bf16_names (or all float arrays if bf16_names == 'all')
    are stored as BF16."""
    header = {}
    blobs = []
    off = 0
    for name in tensors:
        a = tensors[name]
        if bf16_names == "all" and a.dtype.kind == "f" or name in (bf16_names if bf16_names != "all" else ()):
            raw = f32_to_bf16(a).tobytes()
            dt = "BF16"
        else:
            a = np.ascontiguousarray(a)
            raw = a.tobytes()
            dt = _RDT[a.dtype]
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
