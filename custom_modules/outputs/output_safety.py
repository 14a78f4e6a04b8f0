"""Outputs never land on what a command reads: a folder named as an output must not be,
contain or lie inside an experiment or data folder the command was not asked to write into.

``recipes/train.py`` checks its ``--output_folder`` against the data folder,
``recipes/eval.py`` its output against the data folder (and an explicit one against the
experiment, whose own ``eval/`` is where it writes by default) and ``recipes/compare.py``
its results folder against every experiment and data folder it reads. ``recipes/export.py``
has its own stricter rule (:func:`custom_modules.export.speechbrain_folder.check_export_output`).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import os
from typing import Iterable, Mapping, Optional

from custom_modules.data.preparation import is_inside
from custom_modules.outputs.atomic import OutputError

__all__ = ["refuse_output_over"]


def refuse_output_over(
    output: str, protected: Mapping[str, Optional[str]], option: str, inside_allowed: Iterable[str] = ()
) -> None:
    """Raise :class:`OutputError` when ``output`` is, contains or lies inside a folder of
    ``protected`` (description -> folder; None entries are skipped). Folders whose
    description is in ``inside_allowed`` may hold the output (but not be it).

    Example
    -------
    >>> refuse_output_over("exp/run/eval/x", {"the experiment": "exp/run"}, "--output_folder",
    ...                    inside_allowed=["the experiment"])
    >>> refuse_output_over("data/dev/out", {"the data folder": "data/dev"}, "--output_folder")
    Traceback (most recent call last):
    ...
    custom_modules.outputs.atomic.OutputError: --output_folder data/dev/out lies inside the data folder data/dev, which this command only reads; choose an output elsewhere
    """
    allowed = set(inside_allowed)
    for what, folder in protected.items():
        if not folder:
            continue
        if os.path.realpath(output) == os.path.realpath(folder):
            raise OutputError(f"{option} {output} is {what}, which this command only reads; choose an output elsewhere")
        if is_inside(output, folder) and what not in allowed:
            raise OutputError(
                f"{option} {output} lies inside {what} {folder}, which this command only reads; "
                f"choose an output elsewhere"
            )
        if is_inside(folder, output):
            raise OutputError(
                f"{option} {output} holds {what} {folder}, which this command only reads; choose an output elsewhere"
            )
