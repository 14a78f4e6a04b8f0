"""One run per output folder: an advisory lock held for the life of the process.

``hold_folder_lock(folder)`` takes an exclusive ``flock`` on ``<folder>/.run.lock`` and writes
the process's PID and command line into it. A second run into the same folder stops with
one line naming the first (PID and command). The kernel releases the lock when the holder
exits or dies (killed included), so a crashed run never leaves the folder locked.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import os
import sys

__all__ = ["FolderBusy", "hold_folder_lock", "LOCK_NAME"]

LOCK_NAME = ".run.lock"
_held: dict = {}


class FolderBusy(RuntimeError):
    """Another live process holds the folder's lock; the message names it."""


def hold_folder_lock(folder: str) -> None:
    """Lock ``folder`` for this process until it exits (idempotent per folder). Raises
    :class:`FolderBusy` naming the holder when another process has it. Does nothing where
    ``fcntl`` is missing (Windows).

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> hold_folder_lock(folder); hold_folder_lock(folder)  # a process may take it again
    >>> open(os.path.join(folder, LOCK_NAME)).read().split()[0] == str(os.getpid())
    True
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return
    path = os.path.abspath(os.path.join(folder, LOCK_NAME))
    if path in _held:
        return
    os.makedirs(folder, exist_ok=True)
    handle = open(path, "a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "a process that did not say which"
        handle.close()
        raise FolderBusy(
            f"{folder} is in use by another run (pid and command: {holder}); wait for it to finish, "
            f"stop it, or choose another output folder"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()} {' '.join(sys.argv)}\n")
    handle.flush()
    _held[path] = handle  # kept open: the lock lives as long as the process
