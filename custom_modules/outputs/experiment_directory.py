"""SpeechBrain's ``create_experiment_directory``, with every file it writes made atomic.

``speechbrain.core.create_experiment_directory`` writes ``hyperparams.yaml`` (the hparams as
run, overrides applied), a copy of the calling script and ``env.log`` with plain ``open``: a
run killed while it writes them leaves a truncated ``hyperparams.yaml``, which eval and
export read back to rebuild the model. :func:`create_experiment_directory` writes the same
files, with the same contents, under temporary names renamed into place
(:mod:`custom_modules.outputs.atomic`), then sets up logging as SpeechBrain does. ``log.txt`` stays
an append-only log: a kill can cut its last line, never rewrite earlier ones.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import datetime
import logging
import os
import sys
from typing import Any

import speechbrain as sb
from hyperpyyaml import resolve_references

from custom_modules.outputs.atomic import write_text

__all__ = ["create_experiment_directory", "resolved_hparams_text"]

logger = logging.getLogger(__name__)


def resolved_hparams_text(hparams_file: str, overrides: Any = None) -> str:
    """The text SpeechBrain saves as an experiment's ``hyperparams.yaml``: a three-line
    header (date, source file, yamllint switch) and the yaml with references resolved and
    ``overrides`` applied.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "h.yaml")
    >>> _ = open(path, "w").write("seed: 1\\nout: !ref results/<seed>\\n")
    >>> resolved_hparams_text(path, {"seed": 7}).splitlines()[3:]
    ['seed: 7', 'out: results/7']
    """
    with open(hparams_file, encoding="utf-8") as handle:
        resolved = resolve_references(handle, overrides or {}).getvalue()
    header = f"# Generated {datetime.date.today()} from:\n# {os.path.abspath(hparams_file)}\n# yamllint disable\n"
    return header + resolved


def create_experiment_directory(
    folder: str,
    hparams_file: str,
    overrides: Any = None,
    calling_file: str | None = None,
    save_env_desc: bool = True,
) -> None:
    """Create ``folder`` with ``hyperparams.yaml``, a copy of ``calling_file`` and
    ``env.log``, each written atomically, and log to ``folder/log.txt`` as SpeechBrain does.

    Only the main process writes (under DDP the others wait at a barrier).

    Arguments
    ---------
    folder : str
        The experiment (output) folder.
    hparams_file : str
        The hyperpyyaml file of the run.
    overrides : dict or str, optional
        The command-line overrides, as passed to ``load_hyperpyyaml``.
    calling_file : str, optional
        The script to copy into the folder (SpeechBrain copies its caller).
    save_env_desc : bool
        Write ``env.log`` (SpeechBrain's description of the environment).
    """
    try:
        if sb.utils.distributed.if_main_process():
            os.makedirs(folder, exist_ok=True)
            write_text(os.path.join(folder, "hyperparams.yaml"), resolved_hparams_text(hparams_file, overrides))
            if calling_file is not None:
                with open(calling_file, encoding="utf-8") as handle:
                    write_text(os.path.join(folder, os.path.basename(calling_file)), handle.read())
            sb.utils.logger.setup_logging(
                sb.core.DEFAULT_LOG_CONFIG,
                {"handlers": {"file_handler": {"filename": os.path.join(folder, "log.txt")}}},
            )
            sys.excepthook = sb.core._logging_excepthook
            sb.utils.quirks.log_applied_quirks()
            logger.info("Beginning experiment!")
            logger.info(f"Experiment folder: {folder}")
            if save_env_desc:
                write_text(os.path.join(folder, "env.log"), sb.utils.logger.get_environment_description())
    finally:
        sb.utils.distributed.ddp_barrier()
