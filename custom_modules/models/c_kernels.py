"""Build and load the project's C kernels (``custom_modules/models/kernels/*.c``) with the
system C compiler, once per machine, and say why when they cannot be used.

The kernels are optional: every caller has a PyTorch path that gives the same values (up to
float rounding), taken when :func:`batch_norm_library` returns None. They exist because on a
CPU PyTorch's channels-last batch norm idles most vector lanes on channel counts such as 6,
13, 26 and 52 and does not gain from a second thread: a Res2Net50 training step's 85 batch
norms (with their ReLU and additions), each timed alone, take 402 ms through PyTorch at two
threads and 252 ms through these kernels (``results/benchmark_batch_norm.md``); the whole
step 1.42 against 1.20 s (``results/benchmark_encoders.md``, ``docs/models.md``).

How it is built: ``$CC`` (default ``cc``) with ``-O3 -march=native -fopenmp -shared``, into
``$XDG_CACHE_HOME/res2net-sv/kernels/<key>/`` (``~/.cache/...`` by default; the folder can be
set with ``RES2NET_SV_KERNEL_CACHE``), where the key hashes the source, the flags, the compiler's
version and the CPU's flags, so a cache shared by machines of different CPUs cannot hand one a
library built for another. The library is compiled into a temporary file and renamed into
place, so processes that start at once (two DDP ranks) never load a half-written file. A
compile takes about half a second.

Threads: the kernels use OpenMP and are linked against ``libgomp.so.1``, the runtime PyTorch
(Linux wheels) has already loaded under that name, so they share PyTorch's thread pool.
Loading refuses a library that would bring a second OpenMP runtime into the process (a
compiler linking ``libomp``): two pools spin-waiting on the same cores slow everything down.

``RES2NET_SV_C_KERNELS=0`` switches the kernels off (the PyTorch path is then taken).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Iterator

import torch  # noqa: F401  (loaded first: its OpenMP runtime is the one the kernels link to)

__all__ = ["batch_norm_library", "kernels_disabled", "kernel_status", "KERNELS_ENV", "CACHE_ENV", "KERNEL_SOURCE_DIR"]

KERNELS_ENV = "RES2NET_SV_C_KERNELS"  # 0: do not build or load the C kernels
CACHE_ENV = "RES2NET_SV_KERNEL_CACHE"  # folder of built kernels (default: the user's cache)
KERNEL_SOURCE_DIR = Path(__file__).resolve().parent / "kernels"
FLAGS = ("-O3", "-march=native", "-fopenmp", "-fPIC", "-shared", "-std=gnu11")

_P, _I64, _INT = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
_SIGNATURES = {  # library -> C function -> (argument types, return type)
    "batch_norm_nhwc": {
        "bn_nhwc_stats_f32": ([_P, _I64, _I64, _P, _P, _INT], _INT),
        "bn_nhwc_apply_f32": ([_P, _P, _P, _I64, _I64, _P, _P, _INT, _INT], None),
        "bn_nhwc_backward_sums_f32": ([_P, _P, _P, _P, _I64, _I64, _P, _P, _P, _INT], _INT),
        "bn_nhwc_backward_input_f32": ([_P, _P, _P, _P, _I64, _I64, _P, _P, _P, _INT], None),
    }
}
_loaded: dict[str, ctypes.CDLL | None] = {}
_status: dict[str, str] = {}


def kernel_status(name: str = "batch_norm_nhwc") -> str:
    """Why a kernel library is or is not in use (after its first load attempt).

    Example
    -------
    >>> _ = batch_norm_library()
    >>> kernel_status().split(":")[0] in ("loaded", "off", "unavailable")
    True
    """
    return _status.get(name, "not tried yet")


def _cache_root() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "res2net-sv" / "kernels"


def _cpu_flags() -> str:
    """The CPU's feature flags (Linux), which ``-march=native`` compiles for."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _compiler_version(compiler: str) -> str:
    try:
        done = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        raise RuntimeError(f"C compiler {compiler!r} not usable ({e}); set CC to a C compiler") from e
    if done.returncode != 0:
        raise RuntimeError(f"C compiler {compiler!r} failed to report its version: {done.stderr.strip()[:300]}")
    return done.stdout.strip().splitlines()[0] if done.stdout.strip() else compiler


def _build(name: str, source: Path) -> Path:
    """Compile ``source`` into the cache (if not there yet) and return the library's path."""
    compiler = os.environ.get("CC") or "cc"
    if shutil.which(compiler) is None:
        raise RuntimeError(f"no C compiler: {compiler!r} not found on PATH (install gcc, or set CC)")
    text = source.read_bytes()
    key_text = b"\n".join([text, " ".join(FLAGS).encode(), _compiler_version(compiler).encode(), _cpu_flags().encode()])
    key = hashlib.sha256(key_text).hexdigest()[:16]
    folder = _cache_root() / key
    library = folder / f"lib{name}.so"
    if library.exists():
        return library
    folder.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(prefix=f".lib{name}.", suffix=".so", dir=folder)
    os.close(handle)
    try:
        done = subprocess.run(
            [compiler, *FLAGS, "-o", partial, str(source)], capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            raise RuntimeError(f"{compiler} failed on {source} (exit {done.returncode}): {done.stderr.strip()[:800]}")
        os.replace(partial, library)  # atomic: another process sees the whole file or none
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return library


def _openmp_runtimes() -> set[str]:
    """File names of the OpenMP runtimes mapped into this process (Linux; empty elsewhere)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "/" in line}
    except OSError:
        return set()
    names = ("libgomp", "libomp", "libiomp")
    return {p for p in paths if os.path.basename(p).startswith(names)}


def _load(name: str) -> ctypes.CDLL:
    source = KERNEL_SOURCE_DIR / f"{name}.c"
    if not sys.platform.startswith("linux"):
        raise RuntimeError(f"the C kernels are built on Linux only (this is {sys.platform})")
    path = _build(name, source)
    before = _openmp_runtimes()
    library = ctypes.CDLL(str(path))
    added = _openmp_runtimes() - before
    if before and added:
        raise RuntimeError(
            f"{path} brought a second OpenMP runtime ({', '.join(sorted(added))}) next to PyTorch's "
            f"({', '.join(sorted(before))}); build it with gcc (CC=gcc), which links libgomp"
        )
    for symbol, (argtypes, restype) in _SIGNATURES[name].items():
        function = getattr(library, symbol)
        function.argtypes, function.restype = argtypes, restype
    return library


def batch_norm_library() -> ctypes.CDLL | None:
    """The batch-norm kernels (``kernels/batch_norm_nhwc.c``), built on first use; None when
    they are switched off (``RES2NET_SV_C_KERNELS=0``) or cannot be built or loaded here, with a
    warning that says why (once per process; :func:`kernel_status` says it too).

    Example
    -------
    >>> library = batch_norm_library()
    >>> library is None or hasattr(library, "bn_nhwc_stats_f32")
    True
    """
    name = "batch_norm_nhwc"
    if name in _loaded:
        return _loaded[name]
    library = None
    if os.environ.get(KERNELS_ENV, "1") == "0":
        _status[name] = f"off: {KERNELS_ENV}=0"
    else:
        try:
            library = _load(name)
            _status[name] = f"loaded: {library._name}"
        except (RuntimeError, OSError, AttributeError, subprocess.SubprocessError) as e:
            _status[name] = f"unavailable: {e}"
            warnings.warn(
                f"C batch-norm kernels not used ({e}); training runs on PyTorch's kernels, with the same "
                f"results and a slower step. Set {KERNELS_ENV}=0 to silence this.",
                RuntimeWarning,
                stacklevel=2,
            )
    _loaded[name] = library
    return library


@contextlib.contextmanager
def kernels_disabled() -> Iterator[None]:
    """Inside the block :func:`batch_norm_library` returns None, so callers take their
    PyTorch path (for comparisons in one process; ``RES2NET_SV_C_KERNELS=0`` does it for a
    whole process).

    Example
    -------
    >>> with kernels_disabled():
    ...     batch_norm_library() is None
    True
    """
    name = "batch_norm_nhwc"
    batch_norm_library()  # load (or fail) first, so the state restored is the real one
    saved = _loaded[name]
    _loaded[name] = None
    try:
        yield
    finally:
        _loaded[name] = saved
