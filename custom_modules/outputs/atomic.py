"""Outputs that are either complete or absent: write under a temporary name, then rename.

A run that fails or is killed while writing must leave the previous results intact and no
partial file. :func:`atomic_path` gives a temporary name beside the target (same folder,
so ``os.replace`` is an atomic rename on POSIX) and renames it into place only when the
block finishes; :func:`write_text` and :func:`write_json` use it. :func:`staged_outputs`
does the same for a set of files (an evaluation's scores, results, summary and plots): they
are written into a hidden staging folder and moved into place, ``last`` file last, only after
all of them were written. A folder that cannot be written gives an :class:`OutputError`
naming the path and the fix, not a traceback.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
from typing import Any, Iterator, Sequence

__all__ = ["OutputError", "ensure_writable_folder", "atomic_path", "write_text", "write_json", "staged_outputs"]

STAGING_PREFIX = ".partial-"


class OutputError(RuntimeError):
    """An output path cannot be written (read-only folder, a file where a folder should be)."""


def ensure_writable_folder(folder: str) -> None:
    """Create ``folder`` if needed; :class:`OutputError` naming it when it cannot be written."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise OutputError(
            f"cannot create the output folder {folder}: {error.strerror or error}; choose a writable output location"
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write into {folder}: permission denied; choose a writable output location")


@contextlib.contextmanager
def atomic_path(path: str, only_if_written: bool = False) -> Iterator[str]:
    """Yield a temporary path beside ``path`` (same extension, so writers that pick the
    format from it still work); rename it to ``path`` when the block succeeds, remove it when
    the block raises. With ``only_if_written``, a block that wrote nothing there (a writer
    that writes on the main process only, under DDP) leaves ``path`` as it was.

    Example
    -------
    >>> import tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "scores.txt")
    >>> with atomic_path(target) as tmp:
    ...     _ = open(tmp, "w").write("a b 0.5\\n")
    ...     os.path.exists(target)
    False
    >>> open(target).read()
    'a b 0.5\\n'
    """
    folder = os.path.dirname(os.path.abspath(path))
    ensure_writable_folder(folder)
    root, ext = os.path.splitext(os.path.basename(path))
    tmp = os.path.join(folder, f".{root}{STAGING_PREFIX}{os.getpid()}{ext}")
    try:
        yield tmp
        if only_if_written and not os.path.lexists(tmp):
            return
        try:
            os.replace(tmp, path)
        except OSError as error:
            raise OutputError(
                f"cannot write {path}: {error.strerror or error}; choose a writable output location"
            ) from None
    finally:
        if os.path.lexists(tmp):
            os.remove(tmp)


def write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)


def write_json(path: str, value: Any, indent: int = 2) -> None:
    """Write ``value`` as JSON to ``path`` atomically.

    Example
    -------
    >>> import tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "results.json")
    >>> write_json(target, {"eer": 0.1})
    >>> json.load(open(target))
    {'eer': 0.1}
    """
    write_text(path, json.dumps(value, indent=indent) + "\n")


def _remove_stale_staging(folder: str) -> None:
    """Staging folders of processes that no longer run (killed runs) are removed."""
    for stale in glob.glob(os.path.join(folder, STAGING_PREFIX + "*")):
        pid = stale.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                os.kill(int(pid), 0)
                continue  # still running
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
        shutil.rmtree(stale, ignore_errors=True)


@contextlib.contextmanager
def staged_outputs(folder: str, last: Sequence[str] = (), replaces: Sequence[str] = ()) -> Iterator[str]:
    """Yield a hidden staging folder inside ``folder``; when the block succeeds, move every
    file written there into ``folder`` (the names in ``last`` after the others, in order),
    remove files of ``folder`` that match a glob pattern of ``replaces`` but were not written
    this time (outputs of an earlier run that this one replaces), and remove the staging
    folder; when it raises, remove the staging folder and leave ``folder``'s previous files
    untouched. Staging folders left by killed runs are removed.

    Example
    -------
    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> write_text(os.path.join(out, "results.json"), "old")
    >>> try:
    ...     with staged_outputs(out) as stage:
    ...         write_text(os.path.join(stage, "results.json"), "new")
    ...         raise RuntimeError("killed")
    ... except RuntimeError:
    ...     pass
    >>> open(os.path.join(out, "results.json")).read(), sorted(os.listdir(out))
    ('old', ['results.json'])
    >>> with staged_outputs(out, last=["results.json"]) as stage:
    ...     write_text(os.path.join(stage, "results.json"), "new")
    >>> open(os.path.join(out, "results.json")).read(), sorted(os.listdir(out))
    ('new', ['results.json'])
    """
    ensure_writable_folder(folder)
    _remove_stale_staging(folder)
    stage = os.path.join(folder, f"{STAGING_PREFIX}{os.getpid()}")
    shutil.rmtree(stage, ignore_errors=True)
    os.makedirs(stage)
    try:
        yield stage
        names = sorted(os.listdir(stage), key=lambda n: (n in last, list(last).index(n) if n in last else 0, n))
        stale = {os.path.basename(p) for pattern in replaces for p in glob.glob(os.path.join(folder, pattern))}
        for name in names:
            os.replace(os.path.join(stage, name), os.path.join(folder, name))
        for name in sorted(stale - set(names)):
            os.remove(os.path.join(folder, name))
    finally:
        shutil.rmtree(stage, ignore_errors=True)
