"""Arrays as read-only memory maps of the files that hold them, not read into memory: a page's first visit reads
only the pages of a file it touches, and every process serving the same file shares one copy in the page cache.
The files are only ever replaced whole (written aside, then renamed), so a map stays valid while it is held."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

SAFETENSORS_DTYPES = {"F16": np.float16, "F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64,
                      "U8": np.uint8, "BOOL": np.bool_}


def mapped_safetensors(path: Path) -> dict[str, np.ndarray]:
    """A safetensors file's tensors as read-only views of one memory map of it (the format: an 8-byte
    little-endian header length, a JSON header of dtype, shape and data offsets per tensor, then the data).
    Falls back to reading it whole for a dtype numpy lacks (bf16)."""
    with open(path, "rb") as f:
        length = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(length))
    header.pop("__metadata__", None)
    if any(entry["dtype"] not in SAFETENSORS_DTYPES for entry in header.values()):
        from safetensors.numpy import load_file
        return load_file(str(path))
    if not header:
        return {}
    data = np.memmap(path, dtype=np.uint8, mode="r")
    start = 8 + length
    out = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        raw = data[start + begin:start + end]
        out[name] = raw.view(SAFETENSORS_DTYPES[entry["dtype"]]).reshape(entry["shape"])
    return out


def mapped_npz_member(path: Path, name: str) -> np.ndarray | None:
    """An array stored uncompressed in an .npz (np.savez) as a read-only memory map of the file, or None when it
    is not stored so: a 250,000-item cache's vectors (384 MB) took ~1 s to read whole, on the Explore page too."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(f"{name}.npy")
    if info.compress_type != zipfile.ZIP_STORED:
        return None
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)  # a zip local file header: its name and extra-field lengths are its last 4 bytes
        if local[:4] != b"PK\x03\x04":
            return None
        f.seek(info.header_offset + 30 + int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30], "little"))
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(f)
        offset = f.tell()
    if dtype.hasobject or not shape or 0 in shape:
        return None
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")

