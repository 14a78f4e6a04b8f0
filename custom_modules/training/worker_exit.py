"""How a recipe process ends when torchrun started it with other ranks.

A gloo process group runs its collectives in C++ worker threads. After a collective returns,
its worker may still be dropping the last reference to the tensors it used; when those
tensors belong to Python objects the worker needs the GIL for that. If the main thread has
already begun shutting the interpreter down, a thread that asks for the GIL is ended with
``pthread_exit``, which unwinds through a C++ destructor and aborts the whole process
("terminate called without an active exception", SIGABRT): the training succeeded, yet
torchrun reports a failed rank. Destroying the process group does not prevent it (the
group's threads live as long as anything refers to the group, and DistributedDataParallel's
reducer does). See pytorch/pytorch#190489 and the abandoned fix pytorch/pytorch#179291.

So a worker of a multi-process run skips the interpreter's shutdown: it flushes its logs and
streams and leaves with ``os._exit`` and the exit status Python would have given. A
single-process run ends normally.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from typing import Callable, List


def in_multiprocess_run() -> bool:
    """True in a process that torchrun started with other ranks (``WORLD_SIZE`` > 1).

    Example
    -------
    >>> os.environ.pop("WORLD_SIZE", None) and None
    >>> in_multiprocess_run()
    False
    """
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


def exit_status(main: Callable[[List[str]], object], argv: List[str]) -> int:
    """Run ``main(argv)`` and return the exit status Python would give it: 0 when it returns,
    the code of a ``SystemExit`` (its message printed to stderr, status 1), and 1 with the
    traceback printed for any other exception.

    Example
    -------
    >>> exit_status(lambda argv: None, [])
    0
    >>> exit_status(lambda argv: sys.exit(3), [])
    3
    """
    try:
        main(argv)
    except SystemExit as stop:
        if stop.code is None:
            return 0
        if isinstance(stop.code, int):
            return stop.code
        print(stop.code, file=sys.stderr)
        return 1
    except BaseException:  # noqa: BLE001 - reported like the interpreter would, then exit 1
        traceback.print_exc()
        return 1
    return 0


def run_recipe(main: Callable[[List[str]], object], argv: List[str]) -> None:
    """Run a recipe's ``main(argv)``; in a multi-process run, end the process with
    ``os._exit`` after flushing logs and streams (see the module docstring), otherwise return
    or raise as ``main`` does.

    Example
    -------
    >>> run_recipe(lambda argv: print("trained on", argv), ["data"])
    trained on ['data']
    """
    if not in_multiprocess_run():
        main(argv)
        return
    status = exit_status(main, argv)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
