"""The ``train.py`` overrides of commands that train a recipe many times (learning curve,
cross-validation).

:func:`parse_overrides` / :func:`override_args` normalise the overrides,
:func:`check_train_overrides` refuses those the command sets itself, :func:`hparams_seed`
finds the seed, :func:`check_no_heldout_speakers` refuses ``valid_speakers`` > 0 (train.py
would draw held-out speakers anew inside each subset), :func:`configuration_differences`
tells whether an earlier run of the same ``--name`` was another configuration. Bad input
raises :class:`custom_modules.studies.learning_curve.LearningCurveError`.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence

from custom_modules.studies.learning_curve import LearningCurveError

__all__ = [
    "FORBIDDEN_OVERRIDES",
    "RUN_ONLY_OPTIONS",
    "parse_overrides",
    "check_train_overrides",
    "override_args",
    "hparams_setting",
    "hparams_seed",
    "check_no_heldout_speakers",
    "configuration_differences",
]

FORBIDDEN_OVERRIDES = ("data_folder", "output_folder", "train_annotation", "valid_annotation")
"""``train.py`` settings the learning curve sets itself for every subset."""

RUN_ONLY_OPTIONS = ("noprogressbar", "device", "num_workers")
"""Run options that change speed or display, not the model: left out of a learning curve's or
cross-validation's configuration, so changing them does not refuse a resume."""


def parse_overrides(args: Sequence[str]) -> Dict[str, Optional[str]]:
    """The ``train.py`` overrides and run options of a command line, as ``key -> value``.

    ``--key=value`` and ``--key value`` both work (as in SpeechBrain); a flag such as
    ``--debug`` maps to ``None``. The last occurrence of a key wins.

    Parameters
    ----------
    args : sequence of str
        The arguments the learning curve passes on to ``train.py``.

    Returns
    -------
    dict
        ``key`` (without ``--``) -> value or ``None``.

    Raises
    ------
    LearningCurveError
        For a stray argument that is not an option.

    Examples
    --------
    >>> parse_overrides(["--number_of_epochs", "4", "--debug", "--seed=7", "--margin", "-0.1"])
    {'number_of_epochs': '4', 'debug': None, 'seed': '7', 'margin': '-0.1'}
    """
    parsed: Dict[str, Optional[str]] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) == 2:
            raise LearningCurveError(
                f"unexpected argument {arg!r}: train.py overrides are --key=value (e.g. --number_of_epochs=4)"
            )
        if "=" in arg:
            key, value = arg[2:].split("=", 1)
            parsed[key] = value
        elif i + 1 < len(args) and not args[i + 1].startswith("--"):
            parsed[arg[2:]] = args[i + 1]
            i += 1
        else:
            parsed[arg[2:]] = None
        i += 1
    return parsed


def check_train_overrides(overrides: Mapping[str, Optional[str]]) -> None:
    """Refuse the ``train.py`` options a learning curve cannot pass on unchanged.

    ``data_folder``, ``output_folder``, ``train_annotation`` and ``valid_annotation`` are set
    for every subset by the learning curve; ``--debug`` makes SpeechBrain write checkpoints to
    a temporary folder, so there would be nothing to evaluate.

    Parameters
    ----------
    overrides : mapping
        From :func:`parse_overrides`.

    Raises
    ------
    LearningCurveError
        Naming the option and what to do instead.

    Examples
    --------
    >>> check_train_overrides({"number_of_epochs": "1"})
    >>> check_train_overrides({"debug": None})
    Traceback (most recent call last):
    ...
    custom_modules.studies.learning_curve.LearningCurveError: --debug keeps no checkpoint (SpeechBrain writes it to a temporary folder), so the subsets could not be evaluated; for a quick curve use --number_of_epochs=1 (and a small model, e.g. --m_channels=4)
    """
    forbidden = [k for k in FORBIDDEN_OVERRIDES if k in overrides]
    if forbidden:
        raise LearningCurveError(
            f"--{forbidden[0]} is set by the learning curve for every subset; pass the source folder (with "
            f"train.csv, and valid.csv if you have one) as --data_folder"
        )
    if "debug" in overrides:
        raise LearningCurveError(
            "--debug keeps no checkpoint (SpeechBrain writes it to a temporary folder), so the subsets could not be "
            "evaluated; for a quick curve use --number_of_epochs=1 (and a small model, e.g. --m_channels=4)"
        )


def override_args(overrides: Mapping[str, Optional[str]]) -> List[str]:
    """Canonical command-line form of :func:`parse_overrides`'s result, sorted by key.

    Parameters
    ----------
    overrides : mapping
        ``key -> value`` (``None`` for a flag).

    Returns
    -------
    list of str
        ``--key=value`` / ``--flag`` arguments: the same settings give the same list whatever
        their order or form on the command line.

    Examples
    --------
    >>> override_args({"seed": "7", "debug": None, "lr": "0.01"})
    ['--debug', '--lr=0.01', '--seed=7']
    """
    return [f"--{k}" if overrides[k] is None else f"--{k}={overrides[k]}" for k in sorted(overrides)]


def hparams_setting(hparams_text: str, overrides: Mapping[str, Optional[str]], key: str) -> Optional[str]:
    """A plain top-level setting as train.py will see it: the override if given, else the
    hparams file's ``key: value`` line (a trailing comment is ignored), else ``None``.

    Parameters
    ----------
    hparams_text : str
        The content of the training hparams file.
    overrides : mapping
        From :func:`parse_overrides`.
    key : str
        A top-level key with a plain scalar value (``seed``, ``valid_speakers``).

    Examples
    --------
    >>> text = "seed: 1986  # comment\\nvalid_speakers: 0\\n"
    >>> hparams_setting(text, {}, "seed"), hparams_setting(text, {"seed": "7"}, "seed"), hparams_setting(text, {}, "lr")
    ('1986', '7', None)
    """
    if key in overrides:
        return overrides[key]
    import ruamel.yaml

    try:  # round-trip mode keeps tags as data: nothing is built or run
        tree = ruamel.yaml.YAML(typ="rt").load(hparams_text)
    except ruamel.yaml.YAMLError as error:
        raise LearningCurveError(f"the hparams file is not valid YAML ({error})") from None
    value = tree.get(key) if isinstance(tree, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None  # absent, or not a plain scalar (a !ref, a list, a mapping)
    return str(value)


def hparams_seed(hparams_text: str, overrides: Mapping[str, Optional[str]]) -> int:
    """The training seed: ``--seed`` if overridden, else the hparams file's top-level ``seed:``.

    Parameters
    ----------
    hparams_text : str
        The content of the training hparams file.
    overrides : mapping
        From :func:`parse_overrides`.

    Raises
    ------
    LearningCurveError
        When neither gives an integer seed.

    Examples
    --------
    >>> hparams_seed("seed: 1986\\nlr: 0.001\\n", {})
    1986
    >>> hparams_seed("seed: 1986  # comment\\n", {"seed": "7"})
    7
    """
    value = hparams_setting(hparams_text, overrides, "seed")
    try:
        return int(str(value))
    except ValueError:
        raise LearningCurveError(
            f"no integer training seed (got {value!r}): the speaker order is drawn from the seed; pass --seed=<integer>"
        ) from None


def check_no_heldout_speakers(hparams_text: str, overrides: Mapping[str, Optional[str]]) -> None:
    """Refuse ``valid_speakers`` > 0: train.py would draw its held-out speakers anew inside
    every subset, so the subsets it trains on would not be nested and would hold fewer
    speakers than the curve says.

    Parameters
    ----------
    hparams_text : str
        The content of the training hparams file.
    overrides : mapping
        From :func:`parse_overrides`.

    Raises
    ------
    LearningCurveError
        When ``valid_speakers`` is set above 0 (in the file or on the command line).

    Examples
    --------
    >>> check_no_heldout_speakers("valid_speakers: 0\\n", {})
    >>> check_no_heldout_speakers("valid_speakers: 0\\n", {"valid_speakers": "2"})
    Traceback (most recent call last):
    ...
    custom_modules.studies.learning_curve.LearningCurveError: valid_speakers=2: train.py would set 2 speakers of every subset apart, drawn anew per subset, so the training sets would not be nested; run the learning curve with --valid_speakers=0 (each subset's last checkpoint is then evaluated; the curve itself measures unseen speakers by EER on the trials)
    """
    value = hparams_setting(hparams_text, overrides, "valid_speakers")
    if value not in (None, "0", "null", "~"):
        raise LearningCurveError(
            f"valid_speakers={value}: train.py would set {value} speakers of every subset apart, drawn anew per "
            f"subset, so the training sets would not be nested; run the learning curve with --valid_speakers=0 "
            f"(each subset's last checkpoint is then evaluated; the curve itself measures unseen speakers by EER "
            f"on the trials)"
        )


def configuration_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> List[str]:
    """What differs between two learning-curve configurations, one line per key.

    The speaker counts are not part of a configuration: the same configuration with more
    counts extends the curve and reuses the finished subsets.

    Parameters
    ----------
    old, new : mapping
        Two configurations (``configuration.json`` / ``learning_curve.json["configuration"]``).

    Returns
    -------
    list of str
        ``"key: old -> new"`` per differing key (long values shortened); empty when equal.

    Examples
    --------
    >>> configuration_differences({"seed": 1, "lr": 2}, {"seed": 3, "lr": 2})
    ['seed: 1 -> 3']
    >>> configuration_differences({"seed": 1}, {"seed": 1})
    []
    """

    def short(value: Any) -> str:
        text = value if isinstance(value, str) else json.dumps(value)
        return text if len(text) <= 80 else text[:77] + "..."

    keys = sorted(set(old) | set(new))
    return [f"{k}: {short(old.get(k))} -> {short(new.get(k))}" for k in keys if old.get(k) != new.get(k)]


def refuse_changed_configuration(config: Mapping[str, Any], path: str, study: str, fix: str) -> None:
    """Stop, before anything is trained or written, when ``path`` (a study's configuration.json,
    or its report whose ``configuration`` key holds one) records another configuration than
    ``config``: resuming would mix checkpoints and results of two settings. ``study`` names what
    the folder holds ("a learning curve"), ``fix`` ends the message.

    Example
    -------
    >>> import json, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "configuration.json")
    >>> _ = open(path, "w").write(json.dumps({"configuration": {"seed": 1}}))
    >>> refuse_changed_configuration({"seed": 1}, path, "a cross-validation", "Choose another --name.")
    >>> refuse_changed_configuration({"seed": 2}, path, "a cross-validation", "Choose another --name.")
    Traceback (most recent call last):
    ...
    SystemExit: error: ... holds a cross-validation of another configuration:
      seed: 1 -> 2
    Choose another --name.
    """
    if not os.path.isfile(path):
        return
    with open(path) as handle:
        old = json.load(handle)
    differences = configuration_differences(old.get("configuration", old), config)
    if differences:
        raise SystemExit(
            f"error: {os.path.dirname(path)} holds {study} of another configuration:\n  "
            + "\n  ".join(differences)
            + f"\n{fix}"
        )
