"""CPU memory for training: keep freed tensor memory in the process (Linux/glibc), so large
activations are not page-faulted in again on every step, and keep oneDNN from caching a
compiled convolution for every input length.

glibc's ``malloc`` serves every request above its mmap threshold (dynamic, at most 32 MiB on
64-bit systems) with a fresh ``mmap`` and returns it to the kernel on ``free``. Res2Net50's
first-stage activations are larger than that (batch 32 x 64 channels x 80 bins x 101 frames
is 66 MB), so each training step used to map, zero-fill and unmap several GB: on a 2-core
CPU a third of the step was kernel time (``results/benchmark_encoders.md``). ECAPA's
tensors (32 x 512 x 101 floats, 6.6 MB) stay below the threshold and never paid it.
:func:`retain_freed_memory` raises the mmap threshold and the trim threshold once per
process (``mallopt``), so freed buffers stay in the heap and are reused. The peak resident
memory is unchanged (it is set by the largest step); memory is returned when the process
ends. Elsewhere (macOS, Windows, musl) it does nothing.

oneDNN (PyTorch's CPU convolutions) caches up to 1024 compiled primitives, one per layer,
direction and input shape, with their buffers. Training crops of random length give every
batch new shapes, and the cache grew a Res2Net50 (m16) process from 3.7 to 5.1 GB in 40 steps
(6.1 GB with freed memory kept), with no speed gained: a primitive is created in far less
time than it runs. :func:`bound_onednn_cache` (called by ``recipes/train.py`` and
``recipes/eval.py`` before any model is built) sets ``ONEDNN_PRIMITIVE_CACHE_CAPACITY=0``
unless the environment already sets it (oneDNN reads it when the process creates its first
primitive); with both settings the same 40 steps peak at 4.0 GB and stay there. A process
that runs one input shape (a benchmark) keeps the cache.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["retain_freed_memory", "bound_onednn_cache", "peak_resident_gib", "ALLOCATOR_ENV", "ONEDNN_CACHE_ENV"]

ALLOCATOR_ENV = "RES2NET_SV_KEEP_MALLOC"  # set to 0 to leave glibc's defaults alone
ONEDNN_CACHE_ENV = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameter numbers (malloc.h)
_state: dict = {}


def retain_freed_memory(threshold_bytes: int = 1 << 30) -> bool:
    """Serve allocations up to ``threshold_bytes`` from the heap and keep up to that much
    freed memory in it (glibc only; once per process). Returns whether the setting is active.

    Set the environment variable ``RES2NET_SV_KEEP_MALLOC=0`` to opt out.

    Example
    -------
    >>> isinstance(retain_freed_memory(), bool)
    True
    """
    if "active" in _state:
        return _state["active"]
    active = False
    if sys.platform.startswith("linux") and os.environ.get(ALLOCATOR_ENV, "1") != "0":
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):  # not glibc
            mallopt = None
        if mallopt is not None:
            mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
            value = int(min(threshold_bytes, 2**31 - 1))
            active = bool(mallopt(_M_MMAP_THRESHOLD, value)) and bool(mallopt(_M_TRIM_THRESHOLD, value))
    _state["active"] = active
    return active


def bound_onednn_cache(capacity: int = 0) -> str:
    """Set oneDNN's primitive cache capacity (default 0: no cache) unless the environment
    already sets ``ONEDNN_PRIMITIVE_CACHE_CAPACITY``; call it before the first convolution
    of the process. Returns the capacity in force.

    Example
    -------
    >>> bound_onednn_cache() == os.environ[ONEDNN_CACHE_ENV]
    True
    """
    return os.environ.setdefault(ONEDNN_CACHE_ENV, str(int(capacity)))


def peak_resident_gib() -> float:
    """The process's peak resident memory so far (``ru_maxrss``), in GiB; 0.0 where the
    ``resource`` module is missing (Windows).

    Example
    -------
    >>> 0.0 < peak_resident_gib() < 1024
    True
    """
    try:
        import resource
    except ImportError:
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux, bytes on macOS
    return peak / 2**30 if sys.platform == "darwin" else peak / 2**20
