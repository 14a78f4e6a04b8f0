"""Where a figure came from: the commit, the date and the hardware, written once for every
report (results.json, comparison and cross-validation reports, benchmarks).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess

__all__ = ["PROJECT_ROOT", "git_commit", "timestamp", "hardware", "project_path"]

PROJECT_ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)  # custom_modules/outputs/ -> root


def git_commit() -> str:
    """The project's short commit hash, or ``"unknown"`` outside a git checkout.

    Example
    -------
    >>> len(git_commit()) > 0
    True
    """
    try:
        run = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    except OSError:  # no git on the machine
        return "unknown"
    return run.stdout.strip() if run.returncode == 0 and run.stdout.strip() else "unknown"


def timestamp() -> str:
    """The local time to the second, ISO 8601 (``2026-12-04T11:20:10``)."""
    return datetime.datetime.now().isoformat(timespec="seconds")


def hardware() -> str:
    """The machine in one line: architecture, processor, CPU cores, GPU."""
    import torch

    gpu = f"GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "no GPU"
    return f"{platform.machine()} {platform.processor() or ''}".strip() + f", {os.cpu_count()} CPU cores, {gpu}"


def project_path(path: str, root: str = PROJECT_ROOT) -> str:
    """``path`` relative to the project root (``hparams/x.yaml``, ``../shared/data/dev``), as
    committed reports write paths: they stay true on another machine or checkout.

    Example
    -------
    >>> project_path(os.path.join(PROJECT_ROOT, "hparams", "eval.yaml"))
    'hparams/eval.yaml'
    >>> project_path("/data/dev", root="/work/main")
    '../../data/dev'
    """
    return os.path.relpath(os.path.abspath(path), root)
