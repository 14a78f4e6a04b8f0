"""Learning curves: the same recipe trained on nested subsets of the training speakers.

``recipes/learning_curve.py`` is the thin command; the logic lives here as pure functions
so that it is tested exactly:

- which speakers: :func:`speaker_order` draws one permutation of the training speakers
  from the seed, and :func:`nested_subsets` takes its first ``k`` for every count, so each
  subset contains the smaller ones (:func:`check_speaker_counts` validates the counts);
- their data: :func:`subset_rows` and :func:`write_subset_folder` write a data folder per
  subset (``train.csv``, ``valid.csv`` when the source has one, ``test.csv``) whose audio
  paths are absolute, so they stay valid from the new folder;
- the run: :func:`parse_overrides` / :func:`override_args` normalise the ``train.py``
  overrides, :func:`hparams_seed` finds the seed, :func:`check_no_heldout_speakers` refuses
  ``valid_speakers`` > 0 (train.py would draw held-out speakers anew inside each subset),
  :func:`configuration_differences` tells whether an earlier run of the same ``--name`` was
  another configuration;
- the report: :func:`curve_point` reads one subset's ``results.json`` (recipes/eval.py),
  ``metrics.jsonl`` and ``experiment.json`` (recipes/train.py); :func:`build_report`,
  :func:`curve_markdown` and :func:`plot_learning_curve` write the table, JSON and figure.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

import numpy as np

from custom_modules.data.dataio import resolve_audio_path, write_speaker_csv_if_changed

__all__ = [
    "MIN_TRAIN_SPEAKERS",
    "FORBIDDEN_OVERRIDES",
    "RUN_ONLY_OPTIONS",
    "LearningCurveError",
    "parse_speaker_counts",
    "check_speaker_counts",
    "speaker_order",
    "nested_subsets",
    "subset_rows",
    "write_subset_folder",
    "parse_overrides",
    "check_train_overrides",
    "override_args",
    "hparams_setting",
    "hparams_seed",
    "check_no_heldout_speakers",
    "configuration_differences",
    "curve_point",
    "build_report",
    "curve_markdown",
    "plot_learning_curve",
]

MIN_TRAIN_SPEAKERS = 2
"""The fewest training speakers ``recipes/train.py`` accepts (``checks.check_speakers`` FAILs
below 2: a softmax over one class learns nothing)."""

FORBIDDEN_OVERRIDES = ("data_folder", "output_folder", "train_annotation", "valid_annotation")
"""``train.py`` settings the learning curve sets itself for every subset."""

RUN_ONLY_OPTIONS = ("noprogressbar", "device", "num_workers")
"""Run options that change speed or display, not the model: left out of a learning curve's or
cross-validation's configuration, so changing them does not refuse a resume."""

Row = Dict[str, str]


class LearningCurveError(ValueError):
    """Bad learning-curve input: the message names the value and the fix."""


def parse_speaker_counts(text: str) -> List[int]:
    """Parse ``--speakers`` (a comma list of integers).

    Parameters
    ----------
    text : str
        For example ``"4,8,12,16"``; spaces are ignored.

    Returns
    -------
    list of int
        The counts, in the order given (validate them with :func:`check_speaker_counts`).

    Raises
    ------
    LearningCurveError
        When an item is not an integer.

    Examples
    --------
    >>> parse_speaker_counts("4, 8,12,16")
    [4, 8, 12, 16]
    >>> parse_speaker_counts("4,x")
    Traceback (most recent call last):
    ...
    custom_modules.learning_curve.LearningCurveError: --speakers '4,x': 'x' is not an integer; give a comma list of speaker counts, e.g. --speakers 4,8,12,16
    """
    items = [item.strip() for item in str(text).split(",")]
    counts = []
    for item in items:
        if not re.fullmatch(r"[+-]?\d+", item):
            raise LearningCurveError(
                f"--speakers {text!r}: {item!r} is not an integer; give a comma list of speaker counts, "
                f"e.g. --speakers 4,8,12,16"
            )
        counts.append(int(item))
    return counts


def check_speaker_counts(counts: Sequence[int], available: int, minimum: int = MIN_TRAIN_SPEAKERS) -> List[int]:
    """Check that speaker counts can make nested subsets of ``available`` speakers.

    Parameters
    ----------
    counts : sequence of int
        The requested subset sizes.
    available : int
        Number of training speakers in the data folder's ``train.csv``.
    minimum : int
        The fewest speakers ``recipes/train.py`` trains on.

    Returns
    -------
    list of int
        ``counts`` as a list, unchanged.

    Raises
    ------
    LearningCurveError
        Empty, not strictly increasing, below ``minimum`` or above ``available``; the
        message names the value and the fix.

    Examples
    --------
    >>> check_speaker_counts([4, 8, 16], available=16)
    [4, 8, 16]
    >>> check_speaker_counts([4, 20], available=16)
    Traceback (most recent call last):
    ...
    custom_modules.learning_curve.LearningCurveError: --speakers 4,20: 20 is more than the 16 training speakers of train.csv; the largest count can be 16 (e.g. --speakers 4,16)
    >>> check_speaker_counts([8, 4], available=16)
    Traceback (most recent call last):
    ...
    custom_modules.learning_curve.LearningCurveError: --speakers 8,4: 4 after 8; counts must increase strictly, since each subset contains the previous one (e.g. --speakers 4,8)
    """
    given = ",".join(str(c) for c in counts)
    if not counts:
        raise LearningCurveError("--speakers is empty; give a comma list of speaker counts, e.g. --speakers 4,8,12,16")
    for previous, count in zip(counts, counts[1:]):
        if count <= previous:
            fix = ",".join(str(c) for c in sorted(set(counts)))
            raise LearningCurveError(
                f"--speakers {given}: {count} after {previous}; counts must increase strictly, since each subset "
                f"contains the previous one (e.g. --speakers {fix})"
            )
    if counts[0] < minimum:
        raise LearningCurveError(
            f"--speakers {given}: {counts[0]} is below {minimum}, the fewest training speakers recipes/train.py "
            f"accepts (a classifier needs at least {minimum} classes); start at {minimum} or more"
        )
    if counts[-1] > available:
        fix = ",".join(str(c) for c in [c for c in counts if c < available] + [available])
        raise LearningCurveError(
            f"--speakers {given}: {counts[-1]} is more than the {available} training speakers of train.csv; "
            f"the largest count can be {available} (e.g. --speakers {fix})"
        )
    return list(counts)


def speaker_order(speakers: Iterable[str], seed: int) -> List[str]:
    """One permutation of the distinct speakers, drawn from ``seed``.

    The speakers are sorted before the draw, so the order depends only on the speaker set
    and the seed, never on the order of the CSV rows.

    Parameters
    ----------
    speakers : iterable of str
        Speaker IDs (repeats are fine, e.g. one per CSV row).
    seed : int
        The training seed.

    Returns
    -------
    list of str
        Every distinct speaker once; the first ``k`` form the ``k``-speaker subset.

    Examples
    --------
    >>> order = speaker_order(["c", "a", "b", "a", "d"], seed=1)
    >>> sorted(order), order == speaker_order("dcba", seed=1)
    (['a', 'b', 'c', 'd'], True)
    """
    unique = sorted(set(speakers))
    return [unique[i] for i in np.random.default_rng(int(seed)).permutation(len(unique))]


def nested_subsets(order: Sequence[str], counts: Sequence[int]) -> Dict[int, List[str]]:
    """The nested subsets: the first ``k`` speakers of ``order`` for every count ``k``.

    Parameters
    ----------
    order : sequence of str
        A speaker order from :func:`speaker_order`.
    counts : sequence of int
        Checked counts (:func:`check_speaker_counts`).

    Returns
    -------
    dict
        ``count -> speakers`` (in draw order); each subset contains every smaller one.

    Examples
    --------
    >>> nested_subsets(["b", "d", "a", "c"], [2, 4])
    {2: ['b', 'd'], 4: ['b', 'd', 'a', 'c']}
    """
    return {int(k): list(order[: int(k)]) for k in counts}


def subset_rows(rows: Sequence[Row], speakers: Iterable[str], data_folder: str) -> List[Row]:
    """The rows of the chosen speakers, in their CSV order, with absolute ``wav`` paths.

    Parameters
    ----------
    rows : sequence of dict
        Speaker-CSV rows (:func:`custom_modules.data.dataio.read_speaker_csv`).
    speakers : iterable of str
        The speakers to keep.
    data_folder : str
        The folder relative and ``$data_root`` paths are resolved against.

    Returns
    -------
    list of dict
        Copies of the kept rows, every other column unchanged.

    Examples
    --------
    >>> rows = [{"ID": "a/1", "wav": "wav/a/1.wav", "spk_id": "a"},
    ...         {"ID": "b/1", "wav": "$data_root/wav/b/1.wav", "spk_id": "b"},
    ...         {"ID": "c/1", "wav": "/x/c/1.wav", "spk_id": "c"}]
    >>> [(r["ID"], r["wav"]) for r in subset_rows(rows, ["b", "c"], "/data")]
    [('b/1', '/data/wav/b/1.wav'), ('c/1', '/x/c/1.wav')]
    """
    keep = set(speakers)
    return [
        {**row, "wav": os.path.abspath(resolve_audio_path(row["wav"], data_folder))}
        for row in rows
        if row["spk_id"] in keep
    ]


def write_subset_folder(
    folder: str,
    speakers: Sequence[str],
    data_folder: str,
    train_rows: Sequence[Row],
    valid_rows: Optional[Sequence[Row]] = None,
    test_rows: Optional[Sequence[Row]] = None,
) -> Dict[str, Optional[str]]:
    """Write the data folder of one subset: a folder ``recipes/train.py`` takes as is.

    Parameters
    ----------
    folder : str
        Where to write (created; the files are rewritten only when their rows changed).
    speakers : sequence of str
        The subset's training speakers.
    data_folder : str
        The source data folder (relative audio paths are resolved against it).
    train_rows : sequence of dict
        The source ``train.csv`` rows.
    valid_rows : sequence of dict, optional
        The source ``valid.csv`` rows (a prepared split): the same speakers are kept, so
        train.py uses it as its closed-set validation set.
    test_rows : sequence of dict, optional
        The test CSV of the trial list, copied whole (absolute paths), so train.py's preflight
        checks that no test speaker is a training speaker and eval.py finds every trial
        utterance.

    Returns
    -------
    dict
        Paths of ``train``, ``valid`` and ``test`` (``None`` for a file not written).

    Raises
    ------
    LearningCurveError
        When a chosen speaker has no training row, or ``valid_rows`` has none of the
        subset's speakers.

    Examples
    --------
    >>> import tempfile
    >>> from custom_modules.data.dataio import read_speaker_csv
    >>> rows = [{"ID": f"{s}/{i}", "wav": f"wav/{s}/{i}.wav", "spk_id": s} for s in "abc" for i in range(2)]
    >>> out = write_subset_folder(os.path.join(tempfile.mkdtemp(), "data_2spk"), ["c", "a"], "/data", rows)
    >>> [r["ID"] for r in read_speaker_csv(out["train"])], out["valid"]
    (['a/0', 'a/1', 'c/0', 'c/1'], None)
    """
    chosen = set(speakers)
    train = subset_rows(train_rows, chosen, data_folder)
    missing = sorted(chosen - {r["spk_id"] for r in train})
    if missing:
        raise LearningCurveError(f"speakers {missing} have no row in the training CSV of {data_folder}")
    paths: Dict[str, Optional[str]] = {"train": os.path.join(folder, "train.csv"), "valid": None, "test": None}
    os.makedirs(folder, exist_ok=True)
    write_speaker_csv_if_changed(paths["train"], train)
    if valid_rows is not None:
        valid = subset_rows(valid_rows, chosen, data_folder)
        if not valid:
            raise LearningCurveError(
                f"{os.path.join(data_folder, 'valid.csv')} has no utterance of the {len(chosen)}-speaker subset "
                f"{sorted(chosen)}; complete valid.csv (recipes/prepare.py writes one for every training speaker) "
                f"or remove it to let train.py hold out utterances itself"
            )
        paths["valid"] = os.path.join(folder, "valid.csv")
        write_speaker_csv_if_changed(paths["valid"], valid)
    if test_rows is not None:
        paths["test"] = os.path.join(folder, "test.csv")
        write_speaker_csv_if_changed(
            paths["test"], subset_rows(test_rows, {r["spk_id"] for r in test_rows}, data_folder)
        )
    return paths


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
    custom_modules.learning_curve.LearningCurveError: --debug keeps no checkpoint (SpeechBrain writes it to a temporary folder), so the subsets could not be evaluated; for a quick curve use --number_of_epochs=1 (and a small model, e.g. --m_channels=4)
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
    match = re.search(rf"^{re.escape(key)}:[ \t]*([^#\s]+)", hparams_text, flags=re.MULTILINE)
    return match.group(1) if match else None


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
    custom_modules.learning_curve.LearningCurveError: valid_speakers=2: train.py would set 2 speakers of every subset apart, drawn anew per subset, so the training sets would not be nested; run the learning curve with --valid_speakers=0 (each subset's last checkpoint is then evaluated; the curve itself measures unseen speakers by EER on the trials)
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


def _read_json(path: str) -> Dict[str, Any]:
    with open(path) as handle:
        return json.load(handle)


def _metrics_lines(path: str) -> List[Dict[str, Any]]:
    if not os.path.isfile(path):
        return []
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def curve_point(
    count: int,
    speakers: Sequence[str],
    experiment: str,
    results_path: str,
    score_norm: str = "none",
) -> Dict[str, Any]:
    """One point of the curve from the files of a trained and evaluated subset.

    Parameters
    ----------
    count : int
        Number of training speakers.
    speakers : sequence of str
        Those speakers.
    experiment : str
        The training output folder (``experiment.json`` and ``metrics.jsonl`` of
        ``recipes/train.py``; either may be missing).
    results_path : str
        The subset's ``results.json`` from ``recipes/eval.py``.
    score_norm : str
        Which of the evaluated systems to report.

    Returns
    -------
    dict
        ``speakers``, ``speaker_ids``, ``train_utterances``, ``valid_utterances``, ``epochs``,
        ``train_acc``, ``valid_acc`` (the last logged epoch), ``eer``,
        ``eer_interval_95`` (``[low, high]`` or ``None``), ``min_dcf`` and
        ``min_dcf_interval_95`` (keyed by ``str(p_target)``), ``trials``, ``n_target``,
        ``n_nontarget``, ``experiment``, ``results``.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> results = {"trials": "/t.txt", "n_target": 2, "n_nontarget": 2, "systems": {"none": {
    ...     "eer": 0.25, "min_dcf": [{"p_target": 0.01, "min_dcf": 0.9}], "interval": None}}}
    >>> _ = open(os.path.join(folder, "results.json"), "w").write(json.dumps(results))
    >>> point = curve_point(2, ["a", "b"], folder, os.path.join(folder, "results.json"))
    >>> point["eer"], point["min_dcf"], point["eer_interval_95"], point["train_acc"]
    (0.25, {'0.01': 0.9}, None, None)
    """
    results = _read_json(results_path)
    if score_norm not in results["systems"]:
        raise LearningCurveError(
            f"{results_path}: no {score_norm!r} scores (has {sorted(results['systems'])}); evaluate again with "
            f"--score_norm={score_norm}"
        )
    system = results["systems"][score_norm]
    interval = system.get("interval")
    record_path = os.path.join(experiment, "experiment.json")
    record = _read_json(record_path) if os.path.isfile(record_path) else {}
    logged = [m for m in _metrics_lines(os.path.join(experiment, "metrics.jsonl")) if m.get("train")]
    last = logged[-1] if logged else {}
    return {
        "speakers": int(count),
        "speaker_ids": list(speakers),
        "train_utterances": record.get("train_utterances"),
        "valid_utterances": record.get("valid_utterances"),
        "epochs": last.get("epoch"),
        "train_acc": (last.get("train") or {}).get("acc"),
        "valid_acc": (last.get("valid") or {}).get("acc"),
        "eer": system["eer"],
        "eer_interval_95": [interval["eer"]["low"], interval["eer"]["high"]] if interval else None,
        "min_dcf": {str(d["p_target"]): d["min_dcf"] for d in system["min_dcf"]},
        "min_dcf_interval_95": (
            {str(d["p_target"]): [d["low"], d["high"]] for d in interval["min_dcf"]} if interval else None
        ),
        "trials": results["trials"],
        "n_target": results["n_target"],
        "n_nontarget": results["n_nontarget"],
        "experiment": os.path.abspath(experiment),
        "results": os.path.abspath(results_path),
    }


def build_report(
    name: str,
    configuration: Mapping[str, Any],
    points: Sequence[Mapping[str, Any]],
    date: str,
    commit: str,
) -> Dict[str, Any]:
    """The content of ``learning_curve.json``.

    Parameters
    ----------
    name : str
        The ``--name`` of the curve.
    configuration : mapping
        Everything that defines the curve except the counts (hparams file and its hash,
        data folder, seed, speaker order, overrides, trials, test CSV, score norm).
    points : sequence of dict
        From :func:`curve_point`, in increasing speaker count.
    date, commit : str
        When and from which commit.

    Raises
    ------
    LearningCurveError
        When the points were evaluated on different trial lists.

    Examples
    --------
    >>> p = {"speakers": 2, "trials": "/t.txt", "n_target": 3, "n_nontarget": 4}
    >>> r = build_report("x", {"seed": 1, "score_norm": "none"}, [p], "2024-01-01", "abc")
    >>> r["speaker_counts"], r["trials"], r["n_target"], r["score_norm"]
    ([2], '/t.txt', 3, 'none')
    """
    trials = sorted({p["trials"] for p in points})
    if len(trials) != 1:
        raise LearningCurveError(f"the subsets were evaluated on different trial lists {trials}")
    return {
        "name": name,
        "speaker_counts": [p["speakers"] for p in points],
        "trials": trials[0],
        "n_target": points[0]["n_target"],
        "n_nontarget": points[0]["n_nontarget"],
        "score_norm": configuration.get("score_norm", "none"),
        "configuration": dict(configuration),
        "points": [dict(p) for p in points],
        "date": date,
        "commit": commit,
    }


def _pct(value: Optional[float]) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def curve_markdown(report: Mapping[str, Any]) -> str:
    """``learning_curve.md``: one table row per subset, and what the figures mean.

    Parameters
    ----------
    report : mapping
        From :func:`build_report`.

    Returns
    -------
    str
        The Markdown text (EER in %, its 95% interval or ``-``, minDCF per p_target with its
        interval when the evaluation had one, ``-`` for anything the run did not record).

    Examples
    --------
    >>> point = {"speakers": 2, "train_utterances": 10, "epochs": 1, "train_acc": 0.5, "eer": 0.25,
    ...          "eer_interval_95": [0.1, 0.4], "min_dcf": {"0.01": 0.9}, "min_dcf_interval_95": None}
    >>> config = {"hparams_file": "/h.yaml", "data_folder": "/d", "seed": 1, "train_args": [],
    ...           "speaker_order": ["b", "a", "c"], "score_norm": "none"}
    >>> report = {"name": "x", "trials": "/t.txt", "n_target": 2, "n_nontarget": 2, "score_norm": "none",
    ...           "configuration": config, "points": [point], "date": "D", "commit": "C"}
    >>> print(curve_markdown(report).splitlines()[6])
    | 2 | 10 | 1 | 50.00% | 25.00% | 10.00% - 40.00% | 0.9000 |
    """
    config = report["configuration"]
    points = report["points"]
    p_targets = list(points[0]["min_dcf"]) if points else []
    args = " ".join(config.get("train_args") or []) or "none"
    order = config.get("speaker_order") or []
    lines = [
        f"# Learning curve: {report['name']}",
        "",
        f"`{config.get('hparams_file')}` trained on nested subsets of the {len(order)} training speakers of "
        f"`{config.get('data_folder')}`: the same recipe, epochs and seed ({config.get('seed')}) for every subset; "
        f"overrides: `{args}`. Each model is evaluated on `{report['trials']}` ({report['n_target']} target, "
        f"{report['n_nontarget']} non-target trials), cosine scoring, score normalisation: {report['score_norm']}. "
        f"minDCF normalised, C_miss = C_fa = 1; intervals: 95%, from a bootstrap over the speakers of the trial "
        f"list. Training accuracy is closed-set on each subset's own speakers (chance level 1/speakers), so it is "
        f"not comparable across rows.",
        "",
        "| training speakers | training utterances | epochs | final train acc | EER | EER 95% interval | "
        + " | ".join(f"minDCF p={p}" for p in p_targets)
        + " |",
        "|---|---|---|---|---|---|" + "---|" * len(p_targets),
    ]
    for point in points:
        interval = point.get("eer_interval_95")
        eer_interval = "-" if not interval else f"{_pct(interval[0])} - {_pct(interval[1])}"
        dcfs = []
        for p in p_targets:
            text = f"{point['min_dcf'][p]:.4f}"
            bounds = (point.get("min_dcf_interval_95") or {}).get(p)
            dcfs.append(text + (f" [{bounds[0]:.3f}, {bounds[1]:.3f}]" if bounds else ""))
        utterances = "-" if point.get("train_utterances") is None else str(point["train_utterances"])
        epochs = "-" if point.get("epochs") is None else str(point["epochs"])
        lines.append(
            f"| {point['speakers']} | {utterances} | {epochs} | {_pct(point.get('train_acc'))} | "
            f"{_pct(point['eer'])} | {eer_interval} | " + " | ".join(dcfs) + " |"
        )
    lines += [
        "",
        f"Speaker order (drawn from seed {config.get('seed')}; the first k speakers form the k-speaker subset): "
        + ", ".join(order)
        + ".",
        "",
        f"Date {report['date']}, commit {report['commit']}.",
        "",
        "![learning curve](learning_curve.png)",
    ]
    return "\n".join(lines) + "\n"


def plot_learning_curve(points: Sequence[Mapping[str, Any]], path: str, title: str = "learning curve") -> str:
    """Plot EER (%) against the number of training speakers into ``path`` (PNG), with the
    bootstrap 95% interval as error bars where the points have one.

    Parameters
    ----------
    points : sequence of dict
        ``speakers``, ``eer`` (fraction) and ``eer_interval_95`` (``[low, high]`` or ``None``).
    path : str
        The PNG to write.
    title : str
        The figure title.

    Returns
    -------
    str
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "curve.png")
    >>> _ = plot_learning_curve([{"speakers": 2, "eer": 0.3, "eer_interval_95": [0.2, 0.4]},
    ...                          {"speakers": 4, "eer": 0.2, "eer_interval_95": None}], path)
    >>> open(path, "rb").read(4) == b"\\x89PNG"
    True
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.array([p["speakers"] for p in points], dtype=float)
    y = np.array([100 * p["eer"] for p in points])
    low = np.array(
        [y[i] - 100 * p["eer_interval_95"][0] if p.get("eer_interval_95") else 0.0 for i, p in enumerate(points)]
    )
    high = np.array(
        [100 * p["eer_interval_95"][1] - y[i] if p.get("eer_interval_95") else 0.0 for i, p in enumerate(points)]
    )
    fig, ax = plt.subplots(figsize=(5.5, 4))
    has_interval = any(p.get("eer_interval_95") for p in points)
    ax.errorbar(
        x,
        y,
        yerr=np.vstack([low, high]) if has_interval else None,
        marker="o",
        capsize=4,
        label="EER" + (" (95% speaker-bootstrap interval)" if has_interval else ""),
    )
    for xi, yi in zip(x, y):
        ax.annotate(f"{yi:.1f}%", (xi, yi), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xticks(x, [str(int(v)) for v in x])
    ax.set_xlabel("training speakers")
    ax.set_ylabel("EER (%)")
    ax.set_title(textwrap.fill(title, 60), fontsize=10)
    ax.grid(True, lw=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
