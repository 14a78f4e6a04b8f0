"""Trial lists and score files.

Pure NumPy (no torch). Cosine scoring is in :mod:`custom_modules.scoring.cosine`, cohort
score normalisation (z, t, s and as-norm) in :mod:`custom_modules.scoring.normalisation`.

Trial lists
    Two line formats are read, split on any whitespace (tabs or several spaces; SpeechBrain's
    VoxCeleb recipe splits on single spaces and breaks on such files):

    - VoxCeleb: ``<0|1> <enrol> <test>``, e.g. ``1 id10270/x6uYqmx31kE/00001.wav id10270/...``
    - NIST / Kaldi: ``<enrol> <test> <target|nontarget>``

    Both sides are turned into utterance IDs by :func:`utterance_id`, which strips a trailing
    ``.wav`` or ``.flac``; so ``asc_s17/backward_06.wav`` becomes ``asc_s17/backward_06``, the
    ``ID`` column of the speaker CSVs. Blank lines and lines starting with ``#`` are skipped.

Score files
    :func:`write_scores` writes one ``<enrol> <test> <label> <score>`` line per trial and
    :func:`read_scores` reads it back.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import os
from collections.abc import Set as AbstractSet
from typing import Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from custom_modules.outputs.atomic import atomic_path

__all__ = [
    "Trial",
    "TrialCounts",
    "require_scoreable",
    "utterance_id",
    "parse_trials",
    "trial_counts",
    "trial_labels",
    "check_trial_ids",
    "build_index",
    "write_scores",
    "read_scores",
]

PathLike = Union[str, "os.PathLike[str]"]
ArrayLike = Union[Sequence[float], np.ndarray]

_AUDIO_EXTENSIONS = (".wav", ".flac")
_NIST_LABELS = {"target": 1, "nontarget": 0}
_EXPECTED = "expected '<0|1> <enrol> <test>' or '<enrol> <test> <target|nontarget>'"


class Trial(NamedTuple):
    """One verification trial.

    Attributes
    ----------
    label : int
        1 for a target (same-speaker) trial, 0 for a non-target trial.
    enrol : str
        Utterance ID of the enrolment side (extension stripped).
    test : str
        Utterance ID of the test side (extension stripped).
    """

    label: int
    enrol: str
    test: str


class TrialCounts(NamedTuple):
    """Sizes of a trial list (see :func:`trial_counts`).

    Attributes
    ----------
    trials : int
        Number of trials.
    targets : int
        Number of target trials (label 1).
    nontargets : int
        Number of non-target trials (label 0).
    enrol : int
        Number of distinct enrolment IDs.
    test : int
        Number of distinct test IDs.
    """

    trials: int
    targets: int
    nontargets: int
    enrol: int
    test: int


# --------------------------------------------------------------------------- trial lists
def utterance_id(path_like: str) -> str:
    """Utterance ID of a trial-list entry: the path with a trailing ``.wav``/``.flac`` removed.

    Only the extension is removed (case-insensitively); other dots are kept, unlike
    SpeechBrain's ``split(".")[0]``, which truncates IDs that contain a dot.

    Arguments
    ---------
    path_like : str
        A trial-list entry such as ``asc_s17/backward_06.wav`` or an ID already.

    Returns
    -------
    str
        The ID, e.g. ``asc_s17/backward_06``.

    Example
    -------
    >>> utterance_id("asc_s17/backward_06.wav")
    'asc_s17/backward_06'
    >>> utterance_id("spk.1/utt.2.FLAC"), utterance_id("already_an_id")
    ('spk.1/utt.2', 'already_an_id')
    """
    lowered = path_like.lower()
    for ext in _AUDIO_EXTENSIONS:
        if lowered.endswith(ext) and len(path_like) > len(ext):
            return path_like[: -len(ext)]
    return path_like


def _parse_trial_line(fields: List[str]) -> Optional[Trial]:
    """A Trial from the whitespace-split fields of one line, or None if malformed."""
    if len(fields) != 3:
        return None
    first, second, third = fields
    if first in ("0", "1"):
        return Trial(int(first), utterance_id(second), utterance_id(third))
    label = _NIST_LABELS.get(third.lower())
    if label is not None:
        return Trial(label, utterance_id(first), utterance_id(second))
    return None


def parse_trials(path: PathLike) -> List[Trial]:
    """Read a VoxCeleb or NIST/Kaldi-style trial list.

    Lines are split on any run of whitespace. Formats (may be mixed, one per line):
    ``<0|1> <enrol> <test>`` and ``<enrol> <test> <target|nontarget>``. IDs pass through
    :func:`utterance_id`. Blank lines and lines whose first non-blank character is ``#``
    are skipped. A list without targets or without non-targets is returned as is (see
    :func:`trial_counts`); the metrics refuse it later.

    Arguments
    ---------
    path : str or os.PathLike
        The trial list.

    Returns
    -------
    list of Trial
        In file order.

    Raises
    ------
    ValueError
        If the file does not exist, or a line is malformed (the message gives the file,
        the 1-based line number, the expected formats and the line).

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "trials.txt")
    >>> _ = open(path, "w").write("# comment\\n1\\ta/1.wav   b/2.wav\\n\\na/1 c/3 nontarget\\n")
    >>> parse_trials(path)
    [Trial(label=1, enrol='a/1', test='b/2'), Trial(label=0, enrol='a/1', test='c/3')]
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(
            f"{path}: trial list not found. Pass the path of a file with lines "
            f"'<0|1> <enrol> <test>' (VoxCeleb) or '<enrol> <test> <target|nontarget>' (NIST/Kaldi)"
        )
    trials: List[Trial] = []
    with open(path, encoding="utf-8-sig") as handle:
        try:
            for number, line in enumerate(handle, start=1):
                stripped = line.strip()
                if not stripped or stripped.startswith("#"):
                    continue
                trial = _parse_trial_line(stripped.split())
                if trial is None:
                    raise ValueError(f"{path}, line {number}: {_EXPECTED}, got {stripped!r}")
                trials.append(trial)
        except UnicodeDecodeError:
            raise ValueError(
                f"{path}: not UTF-8 text (a UTF-16 file?); save the trial list as UTF-8, e.g. "
                f"iconv -f UTF-16 -t UTF-8 {path} > trials_utf8.txt"
            ) from None
    return trials


def require_scoreable(trials: Sequence[Trial], path: PathLike) -> None:
    """Refuse, before anything is embedded, a trial list that no EER can be computed on:
    empty, or without target or without non-target trials (ValueError naming the counts).

    Example
    -------
    >>> require_scoreable([Trial(1, "a/1", "a/2")], "t.txt")
    Traceback (most recent call last):
    ...
    ValueError: t.txt: 1 target and 0 non-target trials; an EER needs both (add trials of different speakers)
    """
    counts = trial_counts(trials)
    if counts.trials == 0:
        raise ValueError(
            f"{os.fspath(path)}: no trials (only blank or # lines); lines are '<0|1> <enrol> <test>' "
            f"(VoxCeleb) or '<enrol> <test> <target|nontarget>' (NIST/Kaldi)"
        )
    if counts.targets == 0 or counts.nontargets == 0:
        missing = "same-speaker" if counts.targets == 0 else "different speakers"
        raise ValueError(
            f"{os.fspath(path)}: {counts.targets} target and {counts.nontargets} non-target trials; an "
            f"EER needs both (add trials of {missing})"
        )


def trial_counts(trials: Sequence[Trial]) -> TrialCounts:
    """Numbers of trials, targets, non-targets and distinct enrol / test IDs.

    Arguments
    ---------
    trials : sequence of Trial
        A trial list.

    Returns
    -------
    TrialCounts
        ``(trials, targets, nontargets, enrol, test)``.

    Example
    -------
    >>> trial_counts([Trial(1, "a", "b"), Trial(0, "a", "c")])
    TrialCounts(trials=2, targets=1, nontargets=1, enrol=1, test=2)
    """
    targets = sum(1 for t in trials if t.label == 1)
    return TrialCounts(
        trials=len(trials),
        targets=targets,
        nontargets=len(trials) - targets,
        enrol=len({t.enrol for t in trials}),
        test=len({t.test for t in trials}),
    )


def trial_labels(trials: Sequence[Trial]) -> np.ndarray:
    """Labels of a trial list as a boolean array (True for targets).

    Example
    -------
    >>> trial_labels([Trial(1, "a", "b"), Trial(0, "a", "c")]).tolist()
    [True, False]
    """
    return np.fromiter((t.label == 1 for t in trials), dtype=bool, count=len(trials))


def check_trial_ids(trials: Sequence[Trial], known_ids: Iterable[str], source: str = "test.csv") -> None:
    """Check that every enrol and test ID of the trials is known.

    Arguments
    ---------
    trials : sequence of Trial
        A trial list.
    known_ids : iterable of str
        The IDs available, e.g. the ``ID`` column of ``test.csv`` or an embedding index.
    source : str
        Where ``known_ids`` come from, used in the message.

    Raises
    ------
    ValueError
        Listing the first 5 unknown IDs (in trial order) and how many are unknown in total.

    Example
    -------
    >>> check_trial_ids([Trial(1, "a", "b")], {"a", "b"})
    >>> check_trial_ids([Trial(1, "a", "x.wav")], {"a", "b"})
    Traceback (most recent call last):
    ...
    ValueError: 1 trial ID(s) not in test.csv, first: ['x.wav']. Check that the trial list matches test.csv: trial entries are audio paths relative to wav/ with .wav stripped, which must equal the ID column (e.g. 'a')
    """
    # sets, dicts and dict views answer `in` in O(1); anything else becomes a set
    known = known_ids if isinstance(known_ids, (Mapping, AbstractSet)) else set(known_ids)
    unknown: Dict[str, None] = {}
    for trial in trials:
        for uid in (trial.enrol, trial.test):
            if uid not in known:
                unknown[uid] = None
    if unknown:
        first = list(unknown)[:5]
        # an example of a known ID: the first of a mapping, the smallest of a set
        example = next(iter(known), None) if isinstance(known, Mapping) else min(known, default=None)
        hint = f" (e.g. {example!r})" if example is not None else " (it is empty)"
        raise ValueError(
            f"{len(unknown)} trial ID(s) not in {source}, first: {first}. Check that the trial "
            f"list matches {source}: trial entries are audio paths relative to wav/ with .wav "
            f"stripped, which must equal the ID column{hint}"
        )


def build_index(ids: Sequence[str]) -> Dict[str, int]:
    """Map each ID to its row (position in ``ids``), refusing duplicates.

    Example
    -------
    >>> build_index(["a", "b"])
    {'a': 0, 'b': 1}
    """
    index: Dict[str, int] = {}
    for row, uid in enumerate(ids):
        if uid in index:
            raise ValueError(f"duplicate ID {uid!r} at rows {index[uid]} and {row}: IDs must be unique")
        index[uid] = row
    return index


# --------------------------------------------------------------------------- score files
def write_scores(path: PathLike, trials: Sequence[Trial], scores: ArrayLike) -> None:
    """Write one ``<enrol> <test> <label> <score>`` line per trial (label 1/0, 6 decimals).

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "scores.txt")
    >>> write_scores(path, [Trial(1, "a", "b")], [0.25])
    >>> open(path).read()
    'a b 1 0.250000\\n'
    """
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 1 or values.shape[0] != len(trials):
        raise ValueError(f"scores must be 1-D with one score per trial ({len(trials)}), got shape {values.shape}")
    with atomic_path(os.fspath(path)) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for trial, score in zip(trials, values.tolist()):
            handle.write(f"{trial.enrol} {trial.test} {int(trial.label)} {score:.6f}\n")


def read_scores(path: PathLike) -> Tuple[List[Trial], np.ndarray]:
    """Read a file written by :func:`write_scores` (any whitespace between fields).

    Returns
    -------
    trials : list of Trial
        The trials in file order.
    scores : numpy.ndarray
        ``(T,)`` float64 scores.

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "scores.txt")
    >>> write_scores(path, [Trial(0, "a", "c")], [-1.5])
    >>> read_scores(path)
    ([Trial(label=0, enrol='a', test='c')], array([-1.5]))
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"{path}: score file not found")
    trials: List[Trial] = []
    scores: List[float] = []
    with open(path, encoding="utf-8") as handle:
        try:
            lines = list(enumerate(handle, start=1))
        except UnicodeDecodeError:
            raise ValueError(
                f"{path}: not UTF-8 text (a UTF-16 file?); expected lines '<enrol> <test> <0|1> <score>' in UTF-8"
            ) from None
        for number, line in lines:
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            try:
                if len(fields) != 4 or fields[2] not in ("0", "1"):
                    raise ValueError
                score = float(fields[3])
            except ValueError:
                raise ValueError(
                    f"{path}, line {number}: expected '<enrol> <test> <0|1> <score>', got {line.strip()!r}"
                ) from None
            trials.append(Trial(int(fields[2]), fields[0], fields[1]))
            scores.append(score)
    return trials, np.asarray(scores, dtype=np.float64)
