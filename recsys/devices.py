"""Where and how fast tensors compute: the device (a GPU when there is one), bf16/fp16 autocast where the
hardware is fast at it, and an allocator setting that keeps big training buffers from being refaulted."""
from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from pathlib import Path


def pick_device() -> str:
    import torch
    return "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"


def cpu_has_bf16() -> bool:
    """bf16 matmuls are fast only on CPUs with native bf16 units (AVX512-BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast(device: str, precision: str = "auto"):
    """bf16 matmuls on CUDA or CPUs with native bf16 (precision 'auto'); plain fp32 elsewhere or with 'fp32'."""
    import torch
    enabled = precision != "fp32" and (device == "cuda" or (device == "cpu" and cpu_has_bf16()))
    return torch.autocast("cuda" if device == "cuda" else "cpu", dtype=torch.bfloat16, enabled=enabled)


ONEDNN_CACHE = "64"  # oneDNN kernels kept per process (its default: 1,024)


def bound_onednn_cache() -> None:
    """On CPUs with native bf16, each bf16 matmul of a new shape builds a oneDNN kernel that keeps up to ~18 MB,
    and oneDNN keeps 1,024 of them. A training step's shapes change every step (the batch's distinct history items,
    a sampled softmax's distinct columns), so a round's memory grew by gigabytes (250,000 items: peak 12.2 GB,
    against 6.4 GB on a CPU without bf16). Measured on 2 cores with AMX, kernels kept / 160 steps at 250,000 items
    (peak RSS) / 180 steps on ml-latest-small (seconds): 1,024 / 4.6-4.9 GB / 33.0; 128 / 3.3 GB / 37.3;
    64 / 2.9 GB / 37.8; 16 / 2.4-2.7 GB / 25% slower than 1,024 over 60 steps (a small cache rebuilds even
    the shapes every step shares).
    Training pads those sizes to a few buckets (`bucketed`), so a small cache keeps its kernels. oneDNN reads
    the setting when it builds its first kernel, so the package sets it on import (before torch runs anything);
    a value already in the environment wins (also under oneDNN's older name, DNNL_PRIMITIVE_CACHE_CAPACITY)."""
    if "DNNL_PRIMITIVE_CACHE_CAPACITY" not in os.environ:
        os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", ONEDNN_CACHE)


OPENMP_SPIN = "10000"  # GNU OpenMP's busy-wait before an idle thread sleeps (its default: 300,000 spins)


def bound_openmp_spin() -> None:
    """Torch's OpenMP threads busy-wait between parallel regions, so on a shared 2-core machine two processes that
    train (or a round and the dashboard's own work) spin on each other's cores. Measured on 2 cores, 30 training
    steps of ml-latest-small, alone / two processes at once (each, repeated runs): spin 300,000 (default)
    2.4-2.5 s / 6.9-37.7 s, erratic; 100,000 2.5 / 18.9; **10,000 2.6 / 7.3-7.6**; 3,000 2.8 / 5.6; 1,000 3.0 / 5.0;
    OMP_WAIT_POLICY=PASSIVE 3.5 / 4.8. The same losses in every setting. libgomp reads it when torch loads it,
    so the package sets it on import; a value already in the environment (or OMP_WAIT_POLICY) wins."""
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", OPENMP_SPIN)


SHAPE_BUCKET = 128  # row counts that vary per step are padded to a multiple of this before a matmul


def bucketed(n: int, multiple: int = SHAPE_BUCKET) -> int:
    """n rounded up to a multiple of `multiple`. oneDNN (bf16 on CPU) builds a kernel for each new matmul shape,
    ~3 ms each; a training step's sizes (the batch's distinct items, a sampled softmax's columns) change every
    step, so 3 matmuls of (1024 x 128) by (~3,000 x 128) took 13.6 ms at a new size each time against 4.0 ms at a
    fixed one, and 4.4 ms bucketed to 256 (2 cores, AMX). Padding to a few sizes keeps the kernels cached."""
    return -(-n // multiple) * multiple


def keep_freed_memory() -> None:
    """glibc returns each freed (batch x n_items) buffer to the OS and faults it back in on the next step:
    two thirds of training time was page faults. Raising the mmap/trim thresholds keeps it (2x faster)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6")
            libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD
            libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
        except (OSError, AttributeError):
            pass


@contextlib.contextmanager
def deterministic():
    """Deterministic kernels while training, so the same data and seed give the same model whatever the machine's
    load: on CPU some backward kernels of the attention model otherwise sum in a thread-timing-dependent order
    (measured: same loss, different weights, two runs in one process). Without torch's companion debugging aid,
    which fills every new tensor with NaN before it is written (`fill_uninitialized_memory`): no kernel here reads
    memory it has not written, and those fills (~15 per ml-latest-small step) cost ~7% of its time. Restores the
    caller's settings after."""
    import torch
    import torch.utils.deterministic as det
    enabled, warn_only = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    fill = det.fill_uninitialized_memory
    torch.use_deterministic_algorithms(True, warn_only=True)  # warn, not fail, where no deterministic kernel exists
    det.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
        det.fill_uninitialized_memory = fill
