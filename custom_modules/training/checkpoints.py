"""Checkpoints that a killed run left half-written are set aside, so a rerun resumes.

SpeechBrain's ``Checkpointer.save_checkpoint`` writes ``CKPT.yaml`` first and then one
``<name>.ckpt`` per recoverable. A run killed in between leaves a checkpoint folder that
``recover_if_possible`` picks as the newest and then fails on (``KeyError`` for a missing
file, an unpickling error for a truncated one), on every rerun. :func:`set_aside_incomplete`
moves such folders to ``<save>/incomplete-<name>`` (SpeechBrain only reads folders whose
names start with ``CKPT``), and says so, before the run recovers; the previous complete
checkpoint is then used.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import os
import zipfile
from typing import Any, Iterable, List, Mapping

__all__ = ["incomplete_reason", "set_aside_incomplete", "foreign_checkpoint_reason", "drop_records_after"]

META = "CKPT.yaml"


def incomplete_reason(folder: str, names: Iterable[str]) -> str:
    """Why the checkpoint ``folder`` cannot be recovered ("" when it is complete): its
    ``CKPT.yaml`` or a ``<name>.ckpt`` of ``names`` is missing or empty, or a torch file
    (a zip archive) is truncated.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> _ = open(os.path.join(folder, "CKPT.yaml"), "w").write("end-of-epoch: true\\n")
    >>> incomplete_reason(folder, ["embedding_model"])
    'embedding_model.ckpt is missing'
    """
    files = [META] + [f"{name}.ckpt" for name in names]
    for file in files:
        path = os.path.join(folder, file)
        if not os.path.isfile(path):
            return f"{file} is missing"
        if os.path.getsize(path) == 0:
            return f"{file} is empty"
        with open(path, "rb") as handle:
            is_zip = handle.read(2) == b"PK"
        if is_zip and not zipfile.is_zipfile(path):
            return f"{file} is truncated"
    return ""


def set_aside_incomplete(save_folder: str, names: Iterable[str]) -> List[str]:
    """Move every incomplete ``CKPT*`` folder of ``save_folder`` to ``incomplete-<name>`` and
    print one line for each; returns the new paths."""
    names = list(names)
    moved: List[str] = []
    if not os.path.isdir(save_folder):
        return moved
    for entry in sorted(os.listdir(save_folder)):
        folder = os.path.join(save_folder, entry)
        if not (entry.startswith("CKPT") and os.path.isdir(folder)):
            continue
        reason = incomplete_reason(folder, names)
        if reason:
            target = os.path.join(save_folder, f"incomplete-{entry}")
            suffix = 1
            while os.path.exists(target):
                target, suffix = os.path.join(save_folder, f"incomplete-{entry}.{suffix}"), suffix + 1
            os.rename(folder, target)
            print(
                f"checkpoint {folder} is incomplete ({reason}; a run was stopped while writing it): "
                f"set aside as {target}; resuming from the previous complete checkpoint"
            )
            moved.append(target)
    return moved


def foreign_checkpoint_reason(folder: str, modules: Mapping[str, Any]) -> str:
    """Why the checkpoint ``folder`` does not fit these ``modules`` ("" when it fits): keys
    missing or unexpected, or shapes that differ, per module, with a few examples. Only
    ``torch.nn.Module`` recoverables saved as state dicts are compared (counters and
    normalisers, which SpeechBrain saves with hooks of their own, are not)."""
    import torch
    from speechbrain.utils.checkpoints import DEFAULT_SAVE_HOOKS, get_default_hook, torch_save

    problems = []
    for name, module in modules.items():
        if not isinstance(module, torch.nn.Module) or get_default_hook(module, DEFAULT_SAVE_HOOKS) is not torch_save:
            continue
        path = os.path.join(folder, f"{name}.ckpt")
        if not os.path.isfile(path):
            continue
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001 - any unreadable file is reported, not raised
            problems.append(f"{name}.ckpt cannot be read ({type(error).__name__})")
            continue
        if not isinstance(saved, Mapping):
            continue
        own = module.state_dict()
        missing = [k for k in own if k not in saved]
        unexpected = [k for k in saved if k not in own]
        shapes = [
            k for k in own if k in saved and hasattr(saved[k], "shape") and tuple(saved[k].shape) != tuple(own[k].shape)
        ]
        if missing or unexpected or shapes:
            parts = []
            if missing:
                parts.append(f"{len(missing)} missing keys (e.g. {missing[:2]})")
            if unexpected:
                parts.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[:2]})")
            if shapes:
                k = shapes[0]
                parts.append(
                    f"{len(shapes)} shapes that differ (e.g. {k}: {tuple(saved[k].shape)} saved, "
                    f"{tuple(own[k].shape)} here)"
                )
            problems.append(f"{name}: " + ", ".join(parts))
    return "; ".join(problems)


def drop_records_after(metrics_file: str, epoch: int) -> int:
    """Remove from a ``metrics.jsonl`` the lines of epochs after ``epoch`` (the epoch of the
    checkpoint a rerun resumes from): a run killed between logging an epoch and saving its
    checkpoint repeats that epoch, which must not appear twice; a line cut short by a kill is
    dropped too. Rewritten atomically; returns the number of lines dropped.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "metrics.jsonl")
    >>> _ = open(path, "w").write('{"epoch": 1}\\n{"epoch": 2}\\n')
    >>> drop_records_after(path, 1), open(path).read()
    (1, '{"epoch": 1}\\n')
    >>> _ = open(path, "a").write('{"epoch": 2, "tra')  # killed while the line was written
    >>> drop_records_after(path, 1), open(path).read()
    (1, '{"epoch": 1}\\n')
    """
    import json

    from custom_modules.outputs.atomic import write_text

    if not os.path.isfile(metrics_file):
        return 0
    with open(metrics_file) as handle:
        lines = [line for line in handle if line.strip()]

    def logged_epoch(line: str) -> float:
        try:
            return int(json.loads(line).get("epoch", 0))
        except (ValueError, AttributeError):  # a line cut short by a kill while it was written
            return float("inf")

    kept = [line for line in lines if logged_epoch(line) <= epoch]
    if len(kept) != len(lines):
        write_text(metrics_file, "".join(kept))
    return len(lines) - len(kept)


def save_files_atomically(checkpointer) -> None:
    """Make every file of a SpeechBrain checkpoint go to a temporary name and be renamed into
    place (``atomic.atomic_path``): a run killed while saving leaves no truncated
    ``embedding_model.ckpt`` or optimizer state, only files that are whole or absent (and
    :func:`set_aside_incomplete` sets a checkpoint with absent files aside). Wraps the
    custom hooks already registered, and the type's default hook otherwise.

    Example
    -------
    >>> import tempfile, torch
    >>> from speechbrain.utils.checkpoints import Checkpointer
    >>> folder = tempfile.mkdtemp()
    >>> checkpointer = Checkpointer(folder, recoverables={"model": torch.nn.Linear(2, 2)})
    >>> save_files_atomically(checkpointer)
    >>> saved = checkpointer.save_checkpoint()
    >>> sorted(os.listdir(saved.path))
    ['CKPT.yaml', 'model.ckpt']
    """
    from speechbrain.utils.checkpoints import DEFAULT_SAVE_HOOKS, get_default_hook

    from custom_modules.outputs.atomic import atomic_path

    def atomic(hook):
        def save(obj, path):
            # SpeechBrain's hooks write on the main process only (DDP): other ranks write nothing
            with atomic_path(str(path), only_if_written=True) as tmp:
                hook(obj, tmp)

        save.atomic = True
        return save

    for name, obj in checkpointer.recoverables.items():
        hook = checkpointer.custom_save_hooks.get(name) or get_default_hook(obj, DEFAULT_SAVE_HOOKS)
        if hook is not None and not getattr(hook, "atomic", False):
            checkpointer.custom_save_hooks[name] = atomic(hook)
