"""Trial lists, cosine scoring and cohort score normalisation (z, t, s and as-norm).

Pure NumPy (no torch): everything here works on embeddings already extracted into an
``(N, D)`` array whose rows are looked up by utterance ID through a ``dict`` index.

Trial lists
    Two line formats are read, split on any whitespace (tabs or several spaces; SpeechBrain's
    VoxCeleb recipe splits on single spaces and breaks on such files):

    - VoxCeleb: ``<0|1> <enrol> <test>``, e.g. ``1 id10270/x6uYqmx31kE/00001.wav id10270/...``
    - NIST / Kaldi: ``<enrol> <test> <target|nontarget>``

    Both sides are turned into utterance IDs by :func:`utterance_id`, which strips a trailing
    ``.wav`` or ``.flac``; so ``asc_s17/backward_06.wav`` becomes ``asc_s17/backward_06``, the
    ``ID`` column of the speaker CSVs. Blank lines and lines starting with ``#`` are skipped.

Cosine scoring
    ``score = <e, t> / (|e| |t|)`` in float64: the embedding rows are L2-normalised once and
    each trial is a row-wise dot product of the gathered enrol and test rows.

Score normalisation
    Each utterance ``u`` gets cohort statistics ``mu_u`` and ``sd_u``: the mean and the
    *population* standard deviation (``ddof=0``, as ``np.std`` in WeSpeaker) of its cosine
    scores against every cohort embedding, or, for adaptive s-norm, against only its
    ``top_k`` highest-scoring cohort embeddings (Matejka et al., "Analysis of score
    normalization in multilingual speaker recognition", Interspeech 2017; ``asnorm`` in
    WeSpeaker's ``score_norm.py``). The statistics are computed once per utterance, so the
    cost is O((enrol + test utterances) x cohort) for the cohort scores plus O(trials) for
    the normalisation, never O(trials x cohort). For a trial with raw score ``s``:

    - z-norm (enrol side): ``z = (s - mu_e) / sd_e``
    - t-norm (test side): ``t = (s - mu_t) / sd_t``
    - s-norm: ``(z + t) / 2`` with full-cohort statistics
    - as-norm: ``(z + t) / 2`` with top-k statistics

    This is the symmetric convention of WeSpeaker's ``score_norm.py``: the enrol and the test
    utterance are each scored against the same cohort, with no "impostor model" asymmetry.
    A zero standard deviation (a one-element cohort, or identical cohort scores) is replaced
    by ``eps`` so that no score becomes NaN or infinite.

Example
-------
>>> import numpy as np
>>> emb = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
>>> index = {"a": 0, "b": 1, "c": 2}
>>> trials = [Trial(1, "a", "b"), Trial(0, "a", "c")]
>>> cosine_trial_scores(trials, emb, index).round(6).tolist()
[0.6, 0.0]
>>> cohort = np.array([[1.0, 1.0], [-1.0, 0.0]])
>>> mean, std = cohort_statistics(emb, cohort)
>>> normalise_scores([0.6, 0.0], trials, index, mean, std, "s").round(4).tolist()
[0.692, -0.4142]

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import math
import os
from collections.abc import Set as AbstractSet
from typing import Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from custom_modules.outputs.atomic import atomic_path

__all__ = [
    "Trial",
    "TrialCounts",
    "require_scoreable",
    "NORM_METHODS",
    "utterance_id",
    "parse_trials",
    "trial_counts",
    "trial_labels",
    "check_trial_ids",
    "build_index",
    "cosine_trial_scores",
    "cohort_statistics",
    "normalise_scores",
    "speaker_mean_cohort",
    "write_scores",
    "read_scores",
]

PathLike = Union[str, "os.PathLike[str]"]
ArrayLike = Union[Sequence[float], np.ndarray]

#: Valid ``method`` values of :func:`normalise_scores`.
NORM_METHODS = ("none", "z", "t", "s", "as")

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


# --------------------------------------------------------------------------- helpers
def _as_matrix(x: np.ndarray, name: str) -> np.ndarray:
    """A validated finite 2-D float64 array."""
    arr = np.asarray(x)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (rows x dim), got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
        raise ValueError(f"{name} has non-finite values (NaN or Inf) in {bad.size} row(s), first row {bad[0]}")
    return arr


def _l2_normalise(x: np.ndarray, name: str) -> np.ndarray:
    """Rows divided by their L2 norm (a new float64 array); zero rows raise."""
    norms = np.linalg.norm(x, axis=1)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise ValueError(f"{name} has {zero.size} all-zero row(s), first row {zero[0]}: cosine scores are undefined")
    return x / norms[:, None]


def _trial_rows(trials: Sequence[Trial], index: Mapping[str, int], n_rows: int) -> Tuple[np.ndarray, np.ndarray]:
    """Rows of the enrol and test sides of every trial, checked against the index."""
    check_trial_ids(trials, index, source="the embedding index")
    enrol = np.fromiter((index[t.enrol] for t in trials), dtype=np.int64, count=len(trials))
    test = np.fromiter((index[t.test] for t in trials), dtype=np.int64, count=len(trials))
    for side in (enrol, test):
        if side.size and (side.min() < 0 or side.max() >= n_rows):
            raise ValueError(
                f"the embedding index points at row {int(side.max()) if side.max() >= n_rows else int(side.min())}, "
                f"outside the {n_rows} embedding rows"
            )
    return enrol, test


# --------------------------------------------------------------------------- scoring
def cosine_trial_scores(
    trials: Sequence[Trial],
    embeddings: np.ndarray,
    index: Mapping[str, int],
    chunk_size: int = 65536,
) -> np.ndarray:
    """Cosine score of every trial, vectorised.

    The embedding rows are L2-normalised once; each trial's score is the dot product of its
    gathered enrol and test rows, ``chunk_size`` trials at a time (memory O(chunk x D)).

    Arguments
    ---------
    trials : sequence of Trial
        The trials to score.
    embeddings : numpy.ndarray
        ``(N, D)`` embeddings, any real dtype, finite and with no all-zero row.
    index : mapping of str to int
        Row of ``embeddings`` for each utterance ID.
    chunk_size : int
        Trials gathered per step.

    Returns
    -------
    numpy.ndarray
        ``(T,)`` float64 scores in trial order.

    Raises
    ------
    ValueError
        For unknown IDs (first 5 and the count), rows outside ``embeddings``, or bad embeddings.

    Example
    -------
    >>> emb = np.array([[3.0, 4.0], [4.0, 3.0]])
    >>> cosine_trial_scores([Trial(1, "a", "b"), Trial(1, "a", "a")], emb, {"a": 0, "b": 1}).tolist()
    [0.96, 1.0]
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    unit = _l2_normalise(_as_matrix(embeddings, "embeddings"), "embeddings")
    enrol, test = _trial_rows(trials, index, unit.shape[0])
    scores = np.empty(len(trials), dtype=np.float64)
    for start in range(0, len(trials), chunk_size):
        stop = start + chunk_size
        scores[start:stop] = np.einsum("ij,ij->i", unit[enrol[start:stop]], unit[test[start:stop]])
    return scores


def cohort_statistics(
    embeddings: np.ndarray,
    cohort: np.ndarray,
    top_k: Optional[int] = None,
    chunk_size: int = 1024,
) -> Tuple[np.ndarray, np.ndarray]:
    """Mean and population standard deviation of each utterance's cosine scores to a cohort.

    The cosine score matrix is computed ``chunk_size`` rows at a time, so memory stays
    O(chunk x M) for a cohort of M embeddings. With ``top_k``, only the ``top_k`` highest
    cohort scores of each utterance are used (adaptive s-norm, Matejka et al. 2017; the
    ``top_n`` of WeSpeaker's as-norm). The standard deviation is the population one
    (``ddof=0``), as ``np.std`` in WeSpeaker.

    Arguments
    ---------
    embeddings : numpy.ndarray
        ``(N, D)`` embeddings of the utterances to normalise (enrol and test sides).
    cohort : numpy.ndarray
        ``(M, D)`` cohort embeddings (e.g. :func:`speaker_mean_cohort` of the training set, or
        training utterance embeddings directly); need not be normalised.
    top_k : int or None
        Number of highest cohort scores to keep, 1..M; None keeps all M (plain s-norm).
    chunk_size : int
        Rows of ``embeddings`` scored per step.

    Returns
    -------
    mean : numpy.ndarray
        ``(N,)`` float64 mean cohort score of each utterance.
    std : numpy.ndarray
        ``(N,)`` float64 population standard deviation of the same scores.

    Raises
    ------
    ValueError
        If ``top_k`` is outside 1..M, the dimensions differ, or a row is zero or non-finite.

    Example
    -------
    >>> emb = np.array([[1.0, 0.0]])
    >>> cohort = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    >>> mean, std = cohort_statistics(emb, cohort)
    >>> mean.tolist(), std.round(4).tolist()
    ([0.0], [0.8165])
    >>> mean, std = cohort_statistics(emb, cohort, top_k=2)
    >>> mean.tolist(), std.tolist()
    ([0.5], [0.5])
    """
    emb = _l2_normalise(_as_matrix(embeddings, "embeddings"), "embeddings")
    coh = _l2_normalise(_as_matrix(cohort, "cohort"), "cohort")
    if emb.shape[1] != coh.shape[1]:
        raise ValueError(
            f"embeddings have dimension {emb.shape[1]} but the cohort has {coh.shape[1]}: "
            f"both must come from the same model"
        )
    m = coh.shape[0]
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or not 1 <= top_k <= m:
            raise ValueError(f"top_k must be an integer from 1 to the cohort size M={m}, got {top_k!r}")
        top_k = int(top_k)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    n = emb.shape[0]
    mean = np.empty(n, dtype=np.float64)
    std = np.empty(n, dtype=np.float64)
    for start in range(0, n, chunk_size):
        scores = emb[start : start + chunk_size] @ coh.T
        if top_k is not None and top_k < m:
            scores = np.partition(scores, m - top_k, axis=1)[:, m - top_k :]
        mu = scores.mean(axis=1)
        mean[start : start + chunk_size] = mu
        std[start : start + chunk_size] = np.sqrt(np.mean((scores - mu[:, None]) ** 2, axis=1))
    return mean, std


def normalise_scores(
    scores: ArrayLike,
    trials: Sequence[Trial],
    index: Mapping[str, int],
    mean: np.ndarray,
    std: np.ndarray,
    method: str,
    eps: float = 1e-10,
) -> np.ndarray:
    """Normalise raw trial scores with per-utterance cohort statistics.

    With ``e`` and ``t`` the enrol and test rows of a trial (found through ``index``):
    ``"z"``: ``(s - mean[e]) / std[e]``; ``"t"``: ``(s - mean[t]) / std[t]``;
    ``"s"`` and ``"as"``: the average of the two (symmetric, as WeSpeaker's
    ``score_norm.py``); ``"none"``: a float64 copy of ``scores``. ``"s"`` and ``"as"`` compute
    the same formula: pass full-cohort statistics (``cohort_statistics(..., top_k=None)``)
    for s-norm and top-k statistics for as-norm. O(trials) work: the cohort scores are
    already summarised in ``mean`` and ``std``.

    Arguments
    ---------
    scores : array-like
        ``(T,)`` raw scores, in trial order.
    trials : sequence of Trial
        The trials (only the IDs are used).
    index : mapping of str to int
        Row of ``mean``/``std`` for each utterance ID (the same index as the embeddings).
    mean, std : numpy.ndarray
        ``(N,)`` statistics from :func:`cohort_statistics`.
    method : str
        One of ``NORM_METHODS``: ``"none"``, ``"z"``, ``"t"``, ``"s"``, ``"as"``.
    eps : float
        Standard deviations below ``eps`` (e.g. 0 for a one-embedding cohort) are replaced
        by ``eps``.

    Returns
    -------
    numpy.ndarray
        ``(T,)`` float64 normalised scores.

    Raises
    ------
    ValueError
        For an unknown method (the valid ones are listed), length or shape mismatches, or
        unknown IDs.

    Example
    -------
    >>> trials = [Trial(1, "a", "b")]
    >>> mean, std = np.array([0.1, 0.3]), np.array([0.2, 0.1])
    >>> [float(normalise_scores([0.5], trials, {"a": 0, "b": 1}, mean, std, m)[0].round(6))
    ...  for m in ("none", "z", "t", "s")]
    [0.5, 2.0, 2.0, 2.0]
    """
    if method not in NORM_METHODS:
        raise ValueError(f"unknown score normalisation {method!r}; valid methods are {list(NORM_METHODS)}")
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 1 or values.shape[0] != len(trials):
        raise ValueError(f"scores must be 1-D with one score per trial ({len(trials)}), got shape {values.shape}")
    if method == "none":
        return values.copy()
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    if mean.ndim != 1 or mean.shape != std.shape:
        raise ValueError(f"mean and std must be 1-D of equal length, got shapes {mean.shape} and {std.shape}")
    if not (eps > 0 and math.isfinite(eps)):
        raise ValueError(f"eps must be a positive finite number, got {eps}")
    enrol, test = _trial_rows(trials, index, mean.shape[0])
    safe_std = np.maximum(std, eps)
    z = (values - mean[enrol]) / safe_std[enrol] if method in ("z", "s", "as") else None
    t = (values - mean[test]) / safe_std[test] if method in ("t", "s", "as") else None
    if method == "z":
        return z
    if method == "t":
        return t
    return 0.5 * (z + t)


def speaker_mean_cohort(embeddings: np.ndarray, speaker_ids: Sequence[str]) -> Tuple[np.ndarray, List[str]]:
    """One L2-normalised mean embedding per speaker, the cohort WeSpeaker's recipes build.

    The raw embeddings of each speaker are averaged (as WeSpeaker's ``vector_mean.py``) and the
    mean is L2-normalised. To use utterance embeddings as the cohort instead, pass them to
    :func:`cohort_statistics` directly.

    Arguments
    ---------
    embeddings : numpy.ndarray
        ``(N, D)`` embeddings of the cohort utterances (e.g. the training set).
    speaker_ids : sequence of str
        ``N`` speaker labels, one per row.

    Returns
    -------
    cohort : numpy.ndarray
        ``(S, D)`` float64 unit-norm speaker means, in the order of ``speakers``.
    speakers : list of str
        The S distinct speakers, sorted.

    Example
    -------
    >>> emb = np.array([[2.0, 0.0], [0.0, 2.0], [0.0, -5.0]])
    >>> cohort, speakers = speaker_mean_cohort(emb, ["a", "a", "b"])
    >>> cohort.round(4).tolist(), speakers
    ([[0.7071, 0.7071], [0.0, -1.0]], ['a', 'b'])
    """
    emb = _as_matrix(embeddings, "embeddings")
    labels = [str(s) for s in speaker_ids]
    if len(labels) != emb.shape[0]:
        raise ValueError(f"{len(labels)} speaker IDs for {emb.shape[0]} embedding rows: give one per row")
    speakers, inverse = np.unique(np.asarray(labels, dtype=object), return_inverse=True)
    sums = np.zeros((len(speakers), emb.shape[1]), dtype=np.float64)
    np.add.at(sums, inverse.ravel(), emb)
    means = sums / np.bincount(inverse.ravel(), minlength=len(speakers))[:, None]
    zero = np.flatnonzero(np.linalg.norm(means, axis=1) == 0)
    if zero.size:
        raise ValueError(f"the mean embedding of speaker {speakers[zero[0]]!r} is zero: it cannot be normalised")
    return _l2_normalise(means, "speaker means"), [str(s) for s in speakers]


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
