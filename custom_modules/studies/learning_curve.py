"""Learning curves: the same recipe trained on nested subsets of the training speakers.

``recipes/learning_curve.py`` is the thin command; the logic lives in pure functions so that
it is tested exactly. This module holds the speakers and their data:

- which speakers: :func:`speaker_order` draws one permutation of the training speakers
  from the seed, and :func:`nested_subsets` takes its first ``k`` for every count, so each
  subset contains the smaller ones (:func:`check_speaker_counts` validates the counts);
- their data: :func:`subset_rows` and :func:`write_subset_folder` write a data folder per
  subset (``train.csv``, ``valid.csv`` when the source has one, ``test.csv``) whose audio
  paths are absolute, so they stay valid from the new folder.

The run's ``train.py`` overrides (parsing, the seed, configuration differences) are in
:mod:`custom_modules.studies.train_overrides`; the report (one point per subset, the table, JSON and
figure) in :mod:`custom_modules.studies.learning_curve_report`.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import os
import re
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np

from custom_modules.data.dataio import resolve_audio_path, write_speaker_csv_if_changed

__all__ = [
    "MIN_TRAIN_SPEAKERS",
    "LearningCurveError",
    "parse_speaker_counts",
    "check_speaker_counts",
    "speaker_order",
    "nested_subsets",
    "subset_rows",
    "write_subset_folder",
]

MIN_TRAIN_SPEAKERS = 2
"""The fewest training speakers ``recipes/train.py`` accepts (``checks.check_speakers`` FAILs
below 2: a softmax over one class learns nothing)."""

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
    custom_modules.studies.learning_curve.LearningCurveError: --speakers '4,x': 'x' is not an integer; give a comma list of speaker counts, e.g. --speakers 4,8,12,16
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
    custom_modules.studies.learning_curve.LearningCurveError: --speakers 4,20: 20 is more than the 16 training speakers of train.csv; the largest count can be 16 (e.g. --speakers 4,16)
    >>> check_speaker_counts([8, 4], available=16)
    Traceback (most recent call last):
    ...
    custom_modules.studies.learning_curve.LearningCurveError: --speakers 8,4: 4 after 8; counts must increase strictly, since each subset contains the previous one (e.g. --speakers 4,8)
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
