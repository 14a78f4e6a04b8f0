"""Speaker-level bootstrap confidence intervals for the EER and minDCF.

Pure NumPy/SciPy (no torch).

Why speakers, not trials
    Trials that share a speaker are not independent: a speaker whose voice the system
    handles badly makes many trials fail together. Resampling *trials* treats them as
    independent and gives intervals that are too narrow. Here the *speakers* are resampled:
    each bootstrap round draws the S speakers of the trial list S times with replacement,
    and every trial is kept with a weight: a different-speaker trial weighs
    ``count[enrol speaker] * count[test speaker]`` (the number of times the pair appears in
    the resampled list of speakers), and, by default (``same_speaker_weight="count"``), a
    same-speaker trial weighs ``count[speaker]`` (each drawn copy of a speaker brings its own
    target trials: a one-way cluster bootstrap of the targets); a speaker not drawn weighs 0.
    ``same_speaker_weight="product"`` gives same-speaker trials ``count**2``, the strict
    "pigeonhole" bootstrap for crossed designs (Owen, "The pigeonhole bootstrap", Annals of
    Applied Statistics 1, 2007), which is conservative. On synthetic lists with speaker
    effects and a known population EER (``scripts/benchmark_bootstrap.py``, 40 speakers),
    ``"count"`` is 0.9-1.3 times as wide as the EER's actual sampling spread and covers the
    truth 89-98 times in 100; ``"product"`` is about 1.85 times as wide and covers it 99-100
    times; resampling trials, which ignores speakers, covers it only 44 times in 100 when
    each speaker has many trials (VoxCeleb1-O sizes). The interval is the percentile
    interval of the resampled metric.

Speakers
    The speaker of a trial side is ``speaker_map[id]`` when a mapping is given, else the part
    of the utterance ID before the first ``/`` (``id10270/x6uYqmx31kE/00001`` -> ``id10270``,
    the ``<speaker>/<utt>`` IDs of this project); an ID without ``/`` is its own speaker, so
    plain speaker labels work too.

Weighted metrics
    The weighted EER and minDCF use the operating points and the conventions of
    ``custom_modules.scoring.metrics`` (accept if ``score >= t``, tied scores move together, EER
    interpolated at the crossing of the miss and false-alarm rates, minDCF normalised by the
    best trivial system) with rates ``p_miss = (target weight below t) / (target weight)`` and
    ``p_fa = (non-target weight at or above t) / (non-target weight)``. With integer weights
    they equal the unweighted metrics of the list in which each trial is repeated ``weight``
    times, bit for bit; with unit weights they equal ``metrics.equal_error_rate`` and
    ``metrics.min_detection_cost`` exactly.

Speed
    The scores are sorted once. Trials are cut into blocks of about ``sqrt(N)`` trials at
    boundaries between distinct scores, and every block is summarised by how many target and
    non-target trials it holds for each (enrol speaker, test speaker) pair, a sparse matrix.
    For a chunk of resamples, one sparse-times-dense product gives the target and non-target
    weight of every block in every resample, so the exact rates at every block boundary
    cost O(nnz x resamples) with no per-trial work. The miss minus false-alarm rate is
    monotone, so the EER crossing lies in one known block; the cost of a block is bounded
    below by its miss rate at the start and false-alarm rate at the end, so only blocks
    whose bound beats the best boundary can hold the minDCF. Only those blocks are
    expanded trial by trial (weights, cumulative sums, tie groups). All sums are of
    integer-valued weights in float64 and are exact, so the result does not depend on the
    blocks: it is bit for bit the value of the weighted metrics above. 10^6 trials x 1000
    resamples take a few seconds (``scripts/benchmark_bootstrap.py``).

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> spk = np.repeat(np.arange(20), 30)            # 20 speakers, 30 trials each as enrol side
>>> other = (spk + rng.integers(1, 20, spk.size)) % 20
>>> is_target = np.arange(spk.size) % 3 == 0
>>> test = np.where(is_target, spk, other)
>>> scores = rng.normal(0, 1, spk.size) + 2.5 * is_target
>>> res = speaker_bootstrap(scores, is_target, spk, test, resamples=200, seed=1)
>>> res["n_speakers"], res["resamples"], res["warning"] is None
(20, 200, True)
>>> res["eer"]["low"] <= res["eer"]["value"] <= res["eer"]["high"]
True

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Hashable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import scipy.sparse as sp

from custom_modules.scoring.metrics import DEFAULT_P_TARGETS, check_costs, validate_scores

__all__ = [
    "speaker_of",
    "weighted_equal_error_rate",
    "weighted_min_detection_cost",
    "speaker_bootstrap",
    "speaker_bootstrap_trials",
    "paired_speaker_bootstrap",
    "seed_averaged_paired_bootstrap",
    "SAME_SPEAKER_WEIGHTS",
]

ArrayLike = Union[Sequence[float], np.ndarray]

# How a same-speaker trial is weighted (see speaker_bootstrap).
SAME_SPEAKER_WEIGHTS = ("product", "count")

# Largest number of elements in one working array (64 MiB of float64).
_MAX_ELEMENTS = 1 << 23
# Block sums are computed in float32 when every one of them stays below this (exact integers).
_EXACT32_LIMIT = 2.0**24


# --------------------------------------------------------------------------- validation
def _as_labels(labels: ArrayLike, n: int) -> np.ndarray:
    """Boolean target mask from 0/1 or bool labels, with both classes present."""
    arr = np.asarray(labels)
    if arr.ndim != 1 or arr.size != n:
        raise ValueError(f"labels must be 1-D with one label per score ({n}), got shape {arr.shape}")
    if arr.dtype == bool:
        is_target = arr
    else:
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"labels must be 0/1 or booleans, got dtype {arr.dtype}")
        bad = ~((arr == 0) | (arr == 1))
        if bad.any():
            raise ValueError(f"labels must be 0 (non-target) or 1 (target), got {arr[bad][0]!r}")
        is_target = arr == 1
    n_tgt = int(np.count_nonzero(is_target))
    if n_tgt == 0 or n_tgt == n:
        raise ValueError(f"{n_tgt} target and {n - n_tgt} non-target trials: error rates need at least one of each")
    return is_target


def _check_costs(p_targets: Sequence[float], c_miss: float, c_fa: float) -> List[Tuple[float, float, float]]:
    """Validated ``(p_target, c_miss, c_fa)`` settings, one per prior."""
    if isinstance(p_targets, (int, float)):
        p_targets = (p_targets,)
    check_costs(0.5, c_miss, c_fa)  # the costs first, whatever the priors
    return [check_costs(p, c_miss, c_fa) for p in p_targets]


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer of at least {minimum}, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------- speakers
def speaker_of(utterance_id: Hashable, speaker_map: Optional[Mapping[Hashable, Hashable]] = None) -> Hashable:
    """Speaker of one trial side: ``speaker_map[utterance_id]``, else the ID up to the first ``/``.

    Arguments
    ---------
    utterance_id : str or hashable
        An utterance ID ``<speaker>/<utt>`` or a speaker label. Non-string labels (e.g.
        integers) are their own speaker.
    speaker_map : mapping or None
        Explicit utterance-to-speaker mapping; every ID must be in it.

    Returns
    -------
    str or hashable
        The speaker.

    Raises
    ------
    ValueError
        If ``speaker_map`` is given and lacks the ID.

    Example
    -------
    >>> speaker_of("id10270/x6uYqmx31kE/00001")
    'id10270'
    >>> speaker_of("spk3"), speaker_of(7)
    ('spk3', 7)
    >>> speaker_of("u1", {"u1": "alice"})
    'alice'
    """
    if speaker_map is not None:
        try:
            return speaker_map[utterance_id]
        except KeyError:
            raise ValueError(f"utterance {utterance_id!r} is not in speaker_map") from None
    if isinstance(utterance_id, str):
        return utterance_id.split("/", 1)[0]
    return utterance_id


def _speaker_indices(
    enrol: Sequence[Hashable],
    test: Sequence[Hashable],
    n: int,
    speaker_map: Optional[Mapping[Hashable, Hashable]],
) -> Tuple[np.ndarray, np.ndarray, List[Hashable]]:
    """Speaker index (into the sorted speaker list) of both sides of every trial."""
    if (
        speaker_map is None
        and isinstance(enrol, np.ndarray)
        and isinstance(test, np.ndarray)
        and enrol.dtype.kind in "biu"
        and test.dtype.kind in "biu"
        and enrol.shape == test.shape == (n,)
    ):
        # Integer speaker labels: no string handling needed.
        labels, inverse = np.unique(np.concatenate([enrol, test]), return_inverse=True)
        inverse = inverse.ravel().astype(np.intp)
        return inverse[:n], inverse[n:], labels.tolist()
    sides = []
    for name, ids in (("enrol_speakers", enrol), ("test_speakers", test)):
        if isinstance(ids, np.ndarray):
            if ids.ndim != 1:
                raise ValueError(f"{name} must be 1-D, got shape {ids.shape}")
            ids = ids.tolist()
        elif isinstance(ids, (str, bytes)) or not hasattr(ids, "__len__"):
            raise ValueError(f"{name} must be a sequence of utterance IDs or speaker labels")
        if len(ids) != n:
            raise ValueError(f"{name} has {len(ids)} entries for {n} scores: give one per trial")
        sides.append(ids)
    codes: Dict[Hashable, int] = {}  # utterance ID -> speaker code
    speakers: Dict[Hashable, int] = {}  # speaker -> code (first appearance)
    missing: List[Hashable] = []
    out = []
    for ids in sides:
        side = []
        for x in ids:
            c = codes.get(x)
            if c is None:
                if speaker_map is not None and x not in speaker_map:
                    missing.append(x)
                    c = -1
                else:
                    c = speakers.setdefault(speaker_of(x, speaker_map), len(speakers))
                codes[x] = c
            side.append(c)
        out.append(side)
    if missing:
        raise ValueError(f"{len(missing)} utterance ID(s) are not in speaker_map, e.g. {missing[:5]}")
    # Number the speakers in sorted order, so the draws do not depend on the trial order.
    names = list(speakers)
    try:
        rank = sorted(range(len(names)), key=lambda i: names[i])
    except TypeError:  # labels of mixed types
        rank = sorted(range(len(names)), key=lambda i: (type(names[i]).__name__, str(names[i])))
    remap = np.empty(len(names), dtype=np.intp)
    remap[rank] = np.arange(len(names))
    e = remap[np.asarray(out[0], dtype=np.intp)]
    t = remap[np.asarray(out[1], dtype=np.intp)]
    return e, t, [names[i] for i in rank]


# --------------------------------------------------------------------------- weighted metrics
def _eer_from_points(pm_p, d_p, pm_i, d_i):
    """EER from the operating points around the crossing (metrics.py's interpolation)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        a = d_p / (d_p - d_i)
        return np.where(d_i == 0, pm_i, (1.0 - a) * pm_p + a * pm_i)


def _weighted_rates(scores: ArrayLike, labels: ArrayLike, weights: ArrayLike) -> Tuple[np.ndarray, np.ndarray]:
    """Weighted miss and false-alarm rates at every distinct score and +inf (validated)."""
    s = validate_scores(scores, "scores")
    is_target = _as_labels(labels, s.size)
    w = validate_scores(weights, "weights")
    if w.size != s.size:
        raise ValueError(f"weights has {w.size} values for {s.size} scores: give one per trial")
    if w.size and w.min() < 0:
        raise ValueError(f"weights must be non-negative, got {float(w.min())}")
    order = np.argsort(s, kind="stable")
    ss, ws, ls = s[order], w[order], is_target[order]
    cum_t = np.zeros(s.size + 1)
    cum_n = np.zeros(s.size + 1)
    np.cumsum(np.where(ls, ws, 0.0), out=cum_t[1:])
    np.cumsum(np.where(ls, 0.0, ws), out=cum_n[1:])
    w_t, w_n = cum_t[-1], cum_n[-1]
    if not (w_t > 0 and w_n > 0):
        raise ValueError(f"target weight {w_t} and non-target weight {w_n}: both must be positive")
    starts = np.concatenate([[0], np.flatnonzero(np.diff(ss)) + 1])
    idx = np.append(starts, s.size)
    return cum_t[idx] / w_t, (w_n - cum_n[idx]) / w_n


def weighted_equal_error_rate(scores: ArrayLike, labels: ArrayLike, weights: ArrayLike) -> float:
    """EER of weighted trials, with the conventions of ``custom_modules.scoring.metrics.equal_error_rate``.

    Arguments
    ---------
    scores : array-like
        1-D trial scores (accept if ``score >= threshold``).
    labels : array-like
        1-D labels, 1 (or True) for target trials, 0 for non-targets.
    weights : array-like
        1-D non-negative trial weights; the total target and non-target weights must be positive.

    Returns
    -------
    float
        The EER as a fraction. With unit weights it equals ``metrics.equal_error_rate(...).eer``
        exactly, and with integer weights the EER of the list where each trial is repeated
        ``weight`` times.

    Raises
    ------
    ValueError
        On shape mismatches, non-finite values, negative weights, labels other than 0/1, or a
        class with no (weight of) trials.

    Example
    -------
    >>> weighted_equal_error_rate([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], [1, 1, 1, 1])
    0.5
    >>> weighted_equal_error_rate([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], [1, 0, 1, 1])
    0.0
    """
    p_miss, p_fa = _weighted_rates(scores, labels, weights)
    diff = p_miss - p_fa
    i = int(np.argmax(diff >= 0))
    return float(_eer_from_points(p_miss[i - 1], diff[i - 1], p_miss[i], diff[i]))


def weighted_min_detection_cost(
    scores: ArrayLike,
    labels: ArrayLike,
    weights: ArrayLike,
    p_target: float = 0.01,
    c_miss: float = 1.0,
    c_fa: float = 1.0,
) -> float:
    """Normalised minDCF of weighted trials (conventions of ``metrics.min_detection_cost``).

    Arguments
    ---------
    scores : array-like
        1-D trial scores.
    labels : array-like
        1-D labels, 1 (or True) for targets, 0 for non-targets.
    weights : array-like
        1-D non-negative trial weights.
    p_target : float
        Prior of a target, strictly between 0 and 1.
    c_miss : float
        Cost of a miss.
    c_fa : float
        Cost of a false alarm.

    Returns
    -------
    float
        ``min_t (c_miss p p_miss + c_fa (1 - p) p_fa) / min(c_miss p, c_fa (1 - p))``.

    Raises
    ------
    ValueError
        As :func:`weighted_equal_error_rate`, or for settings out of range.

    Example
    -------
    >>> weighted_min_detection_cost([3, 1, 2, 0], [1, 1, 0, 0], [1, 1, 1, 1], p_target=0.5)
    0.5
    >>> weighted_min_detection_cost([3, 1, 2, 0], [1, 1, 0, 0], [1, 0, 1, 1], p_target=0.5)
    0.0
    """
    ((p, cm, cf),) = _check_costs((p_target,), c_miss, c_fa)
    p_miss, p_fa = _weighted_rates(scores, labels, weights)
    w_miss, w_fa = cm * p, cf * (1.0 - p)
    return float(np.min(w_miss * p_miss + w_fa * p_fa) / min(w_miss, w_fa))


# --------------------------------------------------------------------------- fast engine
class _SortedTrials:
    """One sort of a system's scores, cut into blocks, with per-block speaker-pair counts."""

    def __init__(
        self,
        scores: np.ndarray,
        is_target: np.ndarray,
        enrol: np.ndarray,
        test: np.ndarray,
        n_speakers: int,
        block_size: Optional[int] = None,
        same_speaker_weight: str = "count",
    ):
        n = scores.size
        order = np.argsort(scores, kind="stable")  # the only sort
        s = scores[order]
        self.n = n
        self.n_speakers = n_speakers
        self.lab = is_target[order]
        self.e = enrol[order]
        self.t = test[order]
        if same_speaker_weight == "count":
            # Same-speaker trials take their test-side factor from a virtual speaker whose
            # count is always 1 (column S of the counts), so they weigh count[speaker].
            self.t = np.where(self.e == self.t, n_speakers, self.t)
        # is_start[k]: an operating point sits at sorted position k (a run of equal scores
        # starts there); position n is the "accept nothing" point.
        self.is_start = np.ones(n + 1, dtype=bool)
        self.is_start[1:n] = s[1:] != s[:-1]
        starts = np.flatnonzero(self.is_start)
        block = int(block_size) if block_size else max(32, int(math.ceil(math.sqrt(n))))
        # Checkpoints: the first run start at or after every multiple of `block`, and both
        # ends of every run longer than a block (such a run becomes a block of its own).
        cp = starts[np.searchsorted(starts, np.arange(0, n, block))]
        sizes = np.diff(starts)
        big = np.flatnonzero(sizes >= block)
        self.cp = np.unique(np.concatenate([[0, n], cp, starts[big], starts[big + 1]]))
        k = self.cp.size - 1
        self.block_start = self.cp[:-1]
        self.block_len = np.diff(self.cp)
        runs = np.diff(np.searchsorted(starts, self.cp))
        self.interior = runs > 1  # blocks with operating points strictly inside
        self.width = int(self.block_len[self.interior].max()) if self.interior.any() else 0
        # Sparse (2 * blocks) x (speaker pairs) matrix of trial counts: row 2b targets, 2b+1 non-targets.
        block_of = np.repeat(np.arange(k), self.block_len)
        base = n_speakers + 1
        key = self.e.astype(np.int64) * base + self.t
        pairs, pair_of = np.unique(key, return_inverse=True)
        self.pair_e = (pairs // base).astype(np.intp)
        self.pair_t = (pairs % base).astype(np.intp)
        rows = 2 * block_of + (~self.lab)
        self.counts = sp.csr_matrix((np.ones(n), (rows, pair_of.ravel())), shape=(2 * k, pairs.size))
        self.counts.sum_duplicates()
        self.counts32 = self.counts.astype(np.float32)
        self.max_block_len = int(self.block_len.max())
        self.n_pairs = int(pairs.size)

    def boundary_sums(self, counts: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Cumulative target and non-target weight below every checkpoint, ``(R, K + 1)`` each."""
        # float32 is exact (and faster) while every block sum stays below 2^24.
        exact32 = self.max_block_len * float(counts.max()) ** 2 < _EXACT32_LIMIT
        ct = np.ascontiguousarray(counts.T, dtype=np.float32 if exact32 else np.float64)  # S x R
        pair_w = ct[self.pair_e]
        pair_w *= ct[self.pair_t]
        sums = np.asarray((self.counts32 if exact32 else self.counts) @ pair_w, dtype=np.float64)  # 2K x R
        r, k = counts.shape[0], self.cp.size - 1
        cum_t = np.zeros((r, k + 1))
        cum_n = np.zeros((r, k + 1))
        np.cumsum(sums[0::2].T, axis=1, out=cum_t[:, 1:])
        np.cumsum(sums[1::2].T, axis=1, out=cum_n[:, 1:])
        return cum_t, cum_n

    def expand(
        self, counts: np.ndarray, rows: np.ndarray, blocks: np.ndarray, t0: np.ndarray, n0: np.ndarray
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exact cumulative weights at every position strictly inside the given blocks.

        Returns ``(cum_t, cum_n, eligible)`` of shape ``(len(rows), width - 1)``: column ``q``
        is sorted position ``block_start + q + 1``; ``eligible`` marks operating points
        (run starts) inside the block.
        """
        width = self.width
        q = np.arange(width)
        pos = self.block_start[blocks][:, None] + q
        inside = q < self.block_len[blocks][:, None]
        np.minimum(pos, self.n - 1, out=pos)
        base = (rows * counts.shape[1])[:, None]
        flat = counts.ravel()
        w = flat[base + self.e[pos]] * flat[base + self.t[pos]]
        w *= inside
        tw = np.where(self.lab[pos], w, 0.0)
        w -= tw
        cum_t = t0[:, None] + np.cumsum(tw[:, :-1], axis=1)
        cum_n = n0[:, None] + np.cumsum(w[:, :-1], axis=1)
        eligible = self.is_start[pos[:, 1:]] & inside[:, 1:]
        return cum_t, cum_n, eligible

    def metrics(
        self, counts: np.ndarray, settings: Sequence[Tuple[float, float, float]]
    ) -> Tuple[np.ndarray, np.ndarray]:
        """Weighted EER ``(R,)`` and minDCFs ``(R, len(settings))`` for speaker counts ``(R, S)``.

        Rows without target or without non-target weight are NaN.
        """
        r = counts.shape[0]
        counts = np.concatenate([np.asarray(counts, dtype=np.float64), np.ones((r, 1))], axis=1)
        cum_t, cum_n = self.boundary_sums(counts)
        w_t, w_n = cum_t[:, -1].copy(), cum_n[:, -1].copy()
        valid = (w_t > 0) & (w_n > 0)
        w_t[~valid] = 1.0
        w_n[~valid] = 1.0
        p_miss = cum_t / w_t[:, None]
        p_fa = (w_n[:, None] - cum_n) / w_n[:, None]
        rows_all = np.arange(r)
        batch = max(1, _MAX_ELEMENTS // max(self.width, 1))

        # ---- EER: the crossing lies in the block ending at the first checkpoint with d >= 0.
        diff = p_miss - p_fa
        j = np.argmax(diff >= 0, axis=1)
        j = np.maximum(j, 1)
        pm_i, d_i = p_miss[rows_all, j], diff[rows_all, j]
        pm_p, d_p = p_miss[rows_all, j - 1], diff[rows_all, j - 1]
        todo = np.flatnonzero(valid & self.interior[j - 1])
        for lo in range(0, todo.size, batch):
            sel = todo[lo : lo + batch]
            b = j[sel] - 1
            ct, cn, ok = self.expand(counts, sel, b, cum_t[sel, b], cum_n[sel, b])
            pm_q = ct / w_t[sel, None]
            d_q = pm_q - (w_n[sel, None] - cn) / w_n[sel, None]
            cols = np.arange(ok.shape[1])
            last_ok = np.maximum.accumulate(np.where(ok, cols, -1), axis=1)
            hit = ok & (d_q >= 0)
            has = hit.any(axis=1)
            first = np.argmax(hit, axis=1)
            rr = np.arange(sel.size)
            # crossing point: first interior point with d >= 0, else the end checkpoint
            pm_i[sel[has]] = pm_q[rr[has], first[has]]
            d_i[sel[has]] = d_q[rr[has], first[has]]
            # the point before it: the last interior point before, else the start checkpoint
            prev = np.where(has, np.where(first > 0, last_ok[rr, np.maximum(first - 1, 0)], -1), last_ok[:, -1])
            use = prev >= 0
            pm_p[sel[use]] = pm_q[rr[use], prev[use]]
            d_p[sel[use]] = d_q[rr[use], prev[use]]
        eer = _eer_from_points(pm_p, d_p, pm_i, d_i)
        eer[~valid] = np.nan

        # ---- minDCF: best checkpoint, then only the blocks whose lower bound beats it.
        dcf = np.empty((r, len(settings)))
        for m, (p, c_miss, c_fa) in enumerate(settings):
            w_miss, w_fa = c_miss * p, c_fa * (1.0 - p)
            best = np.min(w_miss * p_miss + w_fa * p_fa, axis=1)
            bound = w_miss * p_miss[:, :-1] + w_fa * p_fa[:, 1:]
            cand_r, cand_b = np.nonzero((bound < best[:, None]) & self.interior[None, :] & valid[:, None])
            for lo in range(0, cand_r.size, batch):
                sel, b = cand_r[lo : lo + batch], cand_b[lo : lo + batch]
                ct, cn, ok = self.expand(counts, sel, b, cum_t[sel, b], cum_n[sel, b])
                cost = w_miss * (ct / w_t[sel, None]) + w_fa * ((w_n[sel, None] - cn) / w_n[sel, None])
                cost[~ok] = np.inf
                np.minimum.at(best, sel, cost.min(axis=1))
            dcf[:, m] = best / min(w_miss, w_fa)
        dcf[~valid] = np.nan
        return eer, dcf


# --------------------------------------------------------------------------- bootstrap driver
def _interval(samples: np.ndarray, confidence: float) -> Tuple[Optional[float], Optional[float]]:
    ok = samples[np.isfinite(samples)]
    if ok.size == 0:
        return None, None
    tail = 50.0 * (1.0 - confidence)
    low, high = np.percentile(ok, [tail, 100.0 - tail])
    return float(low), float(high)


def _summary(value: float, samples: np.ndarray, confidence: float) -> Dict[str, Optional[float]]:
    low, high = _interval(samples, confidence)
    return {"value": float(value), "low": low, "high": high}


def _draw_counts(rng: np.random.Generator, n_speakers: int, rows: int) -> np.ndarray:
    """Speaker draw counts of ``rows`` resamples, one ``rng.integers`` call per resample."""
    out = np.empty((rows, n_speakers))
    for i in range(rows):
        out[i] = np.bincount(rng.integers(0, n_speakers, n_speakers), minlength=n_speakers)
    return out


def _prepare(
    score_lists: Sequence[ArrayLike],
    labels,
    enrol_speakers,
    test_speakers,
    p_targets,
    resamples,
    seed,
    confidence,
    c_miss,
    c_fa,
    speaker_map,
    block_size,
    same_speaker_weight,
    names: Optional[Sequence[str]] = None,
):
    """Validate everything and build one _SortedTrials per score list."""
    if names is None:
        names = ["scores"] if len(score_lists) == 1 else ["scores_a", "scores_b"]
    systems = [validate_scores(scores, name) for scores, name in zip(score_lists, names)]
    for system, name in zip(systems[1:], names[1:]):
        if system.size != systems[0].size:
            raise ValueError(
                f"{names[0]} has {systems[0].size} trials and {name} {system.size}: "
                f"a paired comparison needs every system's scores on the same trials"
            )
    n = systems[0].size
    is_target = _as_labels(labels, n)
    settings = _check_costs(p_targets, c_miss, c_fa)
    resamples = _check_int(resamples, "resamples", 1)
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    if block_size is not None:
        _check_int(block_size, "block_size", 1)
    if seed is not None:
        _check_int(seed, "seed", 0)
    if same_speaker_weight not in SAME_SPEAKER_WEIGHTS:
        raise ValueError(
            f"same_speaker_weight must be one of {list(SAME_SPEAKER_WEIGHTS)}, got {same_speaker_weight!r}"
        )
    e, t, speakers = _speaker_indices(enrol_speakers, test_speakers, n, speaker_map)
    prepared = [_SortedTrials(s, is_target, e, t, len(speakers), block_size, same_speaker_weight) for s in systems]
    warnings: List[str] = []
    n_pairs = prepared[0].n_pairs
    if len(speakers) < 2:
        warnings.append(
            f"the trials involve only {len(speakers)} speaker ({speakers[0]!r}): "
            f"every resample is the same list, the interval is meaningless"
        )
    elif n_pairs < 2:
        warnings.append("all trials come from a single (enrol, test) speaker pair: the interval is meaningless")
    info = {
        "confidence": float(confidence),
        "resamples": resamples,
        "seed": seed,
        "n_speakers": len(speakers),
        "n_speaker_pairs": n_pairs,
        "n_trials": n,
        "n_target": int(np.count_nonzero(is_target)),
        "n_nontarget": int(n - np.count_nonzero(is_target)),
        "same_speaker_weight": same_speaker_weight,
        "method": "speaker-level bootstrap (speakers drawn with replacement; trial weight = "
        "count(enrol speaker) x count(test speaker)"
        + (", count(speaker) for same-speaker trials" if same_speaker_weight == "count" else "")
        + "), percentile interval",
    }
    return prepared, settings, resamples, warnings, info


def _run(prepared: List[_SortedTrials], settings, resamples: int, seed: Optional[int], chunk_size: Optional[int]):
    """Full-data values and per-resample samples of every system."""
    n_speakers = prepared[0].n_speakers
    ones = np.ones((1, n_speakers))
    values = [p.metrics(ones, settings) for p in prepared]
    if chunk_size is None:
        widest = max(max(p.n_pairs, p.n_speakers) for p in prepared)
        chunk_size = int(np.clip(_MAX_ELEMENTS // widest, 1, 128))
    rng = np.random.default_rng(seed)
    eers = [np.empty(resamples) for _ in prepared]
    dcfs = [np.empty((resamples, len(settings))) for _ in prepared]
    for lo in range(0, resamples, chunk_size):
        rows = min(chunk_size, resamples - lo)
        counts = _draw_counts(rng, n_speakers, rows)
        for k, p in enumerate(prepared):
            eers[k][lo : lo + rows], dcfs[k][lo : lo + rows] = p.metrics(counts, settings)
    return values, eers, dcfs


def _degenerate_warning(samples: np.ndarray, resamples: int) -> Optional[str]:
    bad = int(np.count_nonzero(~np.isfinite(samples)))
    if not bad:
        return None
    return (
        f"{bad} of {resamples} resamples drew no speaker with target trials or none with "
        f"non-target trials and were left out of the interval"
    )


def speaker_bootstrap(
    scores: ArrayLike,
    labels: ArrayLike,
    enrol_speakers: Sequence[Hashable],
    test_speakers: Sequence[Hashable],
    p_targets: Sequence[float] = DEFAULT_P_TARGETS,
    resamples: int = 1000,
    seed: Optional[int] = 0,
    confidence: float = 0.95,
    c_miss: float = 1.0,
    c_fa: float = 1.0,
    speaker_map: Optional[Mapping[Hashable, Hashable]] = None,
    same_speaker_weight: str = "count",
    return_samples: bool = False,
    block_size: Optional[int] = None,
    chunk_size: Optional[int] = None,
) -> Dict[str, Any]:
    """EER and minDCF with speaker-level bootstrap percentile intervals.

    Each of ``resamples`` rounds draws the S speakers of the trial list S times with
    replacement (``numpy.random.default_rng(seed)``); a trial weighs
    ``count[enrol speaker] * count[test speaker]`` and the weighted EER and minDCFs are
    computed exactly (see the module docstring). The interval is the ``confidence``
    percentile interval of the resampled values; the value is that of the full list.

    Arguments
    ---------
    scores : array-like
        1-D trial scores (higher means "same speaker").
    labels : array-like
        1-D labels, 1 (or True) for targets, 0 for non-targets; both must occur.
    enrol_speakers : sequence
        Per trial, the enrol utterance ID (``<speaker>/<utt>``) or speaker label.
    test_speakers : sequence
        Per trial, the test utterance ID or speaker label.
    p_targets : sequence of float
        Priors of the minDCFs.
    resamples : int
        Number of bootstrap rounds.
    seed : int or None
        Seed of the speaker draws (same seed, same draws).
    confidence : float
        Coverage of the interval, e.g. 0.95 for the 2.5th to 97.5th percentiles.
    c_miss, c_fa : float
        Detection costs of the minDCFs.
    speaker_map : mapping or None
        Utterance ID -> speaker, instead of the part of the ID before the first ``/``.
    same_speaker_weight : str
        ``"product"`` (default): every trial weighs ``count[enrol] * count[test]``, so a
        same-speaker (target) trial weighs ``count**2``. ``"count"``: same-speaker trials
        weigh ``count[speaker]``, as if each drawn copy of a speaker brought its own target
        trials (one-way cluster bootstrap for targets; narrower, see the module docstring).
    return_samples : bool
        Also return the per-resample values (NumPy arrays, not JSON-serialisable).
    block_size, chunk_size : int or None
        Performance knobs (trials per block, resamples per chunk); the result does not
        depend on them.

    Returns
    -------
    dict
        ``eer``: ``{value, low, high}``; ``min_dcf``: one ``{p_target, c_miss, c_fa, value,
        low, high}`` per prior; ``confidence``, ``resamples``, ``valid_resamples`` (those with
        both target and non-target weight), ``seed``, ``n_speakers``, ``n_speaker_pairs``,
        ``n_trials``, ``n_target``, ``n_nontarget``, ``method``; ``warning``: None or a string
        (fewer than 2 speakers or a single speaker pair: the interval is meaningless; or
        resamples left out). With ``return_samples``: ``samples`` = ``{eer: (R,),
        min_dcf: (R, priors)}``.

    Raises
    ------
    ValueError
        On mismatched lengths, non-finite scores, labels other than 0/1, a missing class,
        bad settings, or IDs missing from ``speaker_map``.

    Example
    -------
    >>> scores = [0.9, 0.7, 0.8, 0.2, 0.1, 0.3, 0.6, 0.4]
    >>> labels = [1, 1, 1, 0, 0, 0, 0, 1]
    >>> enrol = ["a/1", "b/1", "c/1", "a/2", "b/2", "c/2", "a/3", "d/1"]
    >>> test = ["a/4", "b/3", "c/3", "b/4", "c/4", "d/2", "d/3", "d/4"]
    >>> r = speaker_bootstrap(scores, labels, enrol, test, resamples=100, seed=0)
    >>> r["eer"]["value"], r["n_speakers"], r["n_trials"]
    (0.25, 4, 8)
    """
    prepared, settings, resamples, warnings, info = _prepare(
        [scores],
        labels,
        enrol_speakers,
        test_speakers,
        p_targets,
        resamples,
        seed,
        confidence,
        c_miss,
        c_fa,
        speaker_map,
        block_size,
        same_speaker_weight,
    )
    values, eers, dcfs = _run(prepared, settings, resamples, seed, chunk_size)
    eer, dcf = eers[0], dcfs[0]
    conf = info["confidence"]
    out: Dict[str, Any] = {
        "eer": _summary(values[0][0][0], eer, conf),
        "min_dcf": [
            {"p_target": p, "c_miss": cm, "c_fa": cf, **_summary(values[0][1][0, m], dcf[:, m], conf)}
            for m, (p, cm, cf) in enumerate(settings)
        ],
        **info,
        "valid_resamples": int(np.count_nonzero(np.isfinite(eer))),
    }
    extra = _degenerate_warning(eer, resamples)
    if extra:
        warnings.append(extra)
    out["warning"] = "; ".join(warnings) if warnings else None
    if return_samples:
        out["samples"] = {"eer": eer, "min_dcf": dcf}
    return out


def speaker_bootstrap_trials(trials: Sequence[Any], scores: ArrayLike, **kwargs: Any) -> Dict[str, Any]:
    """:func:`speaker_bootstrap` for a list of ``custom_modules.scoring.trials.Trial`` (label, enrol, test).

    Example
    -------
    >>> from custom_modules.scoring.trials import Trial
    >>> trials = [Trial(1, "a/1", "a/2"), Trial(0, "a/1", "b/1"), Trial(1, "b/1", "b/2"), Trial(0, "b/2", "a/2")]
    >>> speaker_bootstrap_trials(trials, [0.9, 0.1, 0.8, 0.2], resamples=10)["eer"]["value"]
    0.0
    """
    labels = [int(t.label) for t in trials]
    return speaker_bootstrap(scores, labels, [t.enrol for t in trials], [t.test for t in trials], **kwargs)


def paired_speaker_bootstrap(
    scores_a: ArrayLike,
    scores_b: ArrayLike,
    labels: ArrayLike,
    enrol_speakers: Sequence[Hashable],
    test_speakers: Sequence[Hashable],
    p_targets: Sequence[float] = DEFAULT_P_TARGETS,
    resamples: int = 1000,
    seed: Optional[int] = 0,
    confidence: float = 0.95,
    c_miss: float = 1.0,
    c_fa: float = 1.0,
    speaker_map: Optional[Mapping[Hashable, Hashable]] = None,
    same_speaker_weight: str = "count",
    return_samples: bool = False,
    block_size: Optional[int] = None,
    chunk_size: Optional[int] = None,
) -> Dict[str, Any]:
    """Interval of the difference of two systems' EER (and minDCF) on the same trials.

    Both systems are evaluated on the *same* resampled speakers in every round, so the
    interval of ``metric(a) - metric(b)`` accounts for their correlation. The difference is
    ``significant`` when its interval excludes 0. With the same ``seed``, the per-system
    intervals equal those of :func:`speaker_bootstrap`.

    Arguments
    ---------
    scores_a, scores_b : array-like
        1-D scores of systems A and B on the same trials, in the same order.
    labels, enrol_speakers, test_speakers, p_targets, resamples, seed, confidence, c_miss, c_fa, speaker_map, same_speaker_weight, return_samples, block_size, chunk_size
        As in :func:`speaker_bootstrap`.

    Returns
    -------
    dict
        ``eer_a``, ``eer_b``: ``{value, low, high}``; ``eer_difference``: ``{value, low, high}``
        of A minus B (negative: A has the lower EER); ``significant``: bool, False when the
        EER-difference interval contains 0; ``min_dcf_difference``: one ``{p_target, c_miss,
        c_fa, value, low, high, significant, value_a, value_b}`` per prior; and the metadata
        of :func:`speaker_bootstrap` (``warning`` included). With ``return_samples``:
        ``samples`` = ``{eer_a, eer_b, min_dcf_a, min_dcf_b}``.

    Raises
    ------
    ValueError
        As :func:`speaker_bootstrap`, or if the two score lists differ in length.

    Example
    -------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> spk = np.repeat(np.arange(30), 20)
    >>> tgt = np.arange(spk.size) % 2 == 0
    >>> test = np.where(tgt, spk, (spk + 1 + rng.integers(0, 29, spk.size)) % 30)
    >>> a = rng.normal(0, 1, spk.size) + 3.0 * tgt
    >>> r = paired_speaker_bootstrap(a, a, tgt, spk, test, resamples=50)
    >>> r["eer_difference"], r["significant"]
    ({'value': 0.0, 'low': 0.0, 'high': 0.0}, False)
    """
    out, samples = _runs_difference(
        [scores_a],
        [scores_b],
        ["scores_a", "scores_b"],
        labels,
        enrol_speakers,
        test_speakers,
        p_targets,
        resamples,
        seed,
        confidence,
        c_miss,
        c_fa,
        speaker_map,
        same_speaker_weight,
        block_size,
        chunk_size,
    )
    for key in ("eer_a", "eer_b"):
        out[key] = {k: out[key][k] for k in ("value", "low", "high")}
    if return_samples:
        out["samples"] = samples
    return out


def seed_averaged_paired_bootstrap(
    runs_a: Sequence[ArrayLike],
    runs_b: Sequence[ArrayLike],
    labels: ArrayLike,
    enrol_speakers: Sequence[Hashable],
    test_speakers: Sequence[Hashable],
    p_targets: Sequence[float] = DEFAULT_P_TARGETS,
    resamples: int = 1000,
    seed: Optional[int] = 0,
    confidence: float = 0.95,
    c_miss: float = 1.0,
    c_fa: float = 1.0,
    speaker_map: Optional[Mapping[Hashable, Hashable]] = None,
    same_speaker_weight: str = "count",
    return_samples: bool = False,
    block_size: Optional[int] = None,
    chunk_size: Optional[int] = None,
) -> Dict[str, Any]:
    """Interval of the difference of two systems' seed-averaged EER (and minDCF) on the same trials.

    System A was trained ``len(runs_a)`` times (seeds), system B ``len(runs_b)`` times. In every
    round the speakers are drawn once and *every* run of both systems is evaluated on that
    draw; the statistic is ``mean over A's runs of metric - mean over B's runs of metric``.
    The interval therefore reflects which test speakers happened to be chosen, with the
    seed-to-seed variation averaged out as far as the number of runs allows; the spread over
    seeds itself is returned (``eer_a["per_run"]`` and their standard deviation) so that a
    reader sees both. With one run per system it equals :func:`paired_speaker_bootstrap`.

    Arguments
    ---------
    runs_a, runs_b : sequence of array-like
        Per training run, the 1-D scores of that run on the same trials, in the same order.
    labels, enrol_speakers, test_speakers, p_targets, resamples, seed, confidence, c_miss, c_fa, speaker_map, same_speaker_weight, return_samples, block_size, chunk_size
        As in :func:`speaker_bootstrap`.

    Returns
    -------
    dict
        ``eer_a``, ``eer_b``: ``{value, low, high, runs, per_run, std}`` of the seed-averaged
        EER (``std``: sample standard deviation over runs, None for one run);
        ``eer_difference``: ``{value, low, high}`` of A minus B (negative: A is better);
        ``significant``: False when that interval contains 0; ``min_dcf_difference``: one
        ``{p_target, c_miss, c_fa, value, low, high, significant, value_a, value_b}`` per
        prior (seed-averaged); and the metadata of :func:`speaker_bootstrap`. With
        ``return_samples``: ``samples`` = ``{eer_a, eer_b, min_dcf_a, min_dcf_b}`` (seed-averaged,
        per resample).

    Raises
    ------
    ValueError
        As :func:`speaker_bootstrap`; or if either system has no run, or a run's scores
        differ in length from the others'.

    Example
    -------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> spk = np.repeat(np.arange(30), 20)
    >>> tgt = np.arange(spk.size) % 2 == 0
    >>> test = np.where(tgt, spk, (spk + 1 + rng.integers(0, 29, spk.size)) % 30)
    >>> good = [rng.normal(0, 1, spk.size) + 3.0 * tgt for _ in range(3)]
    >>> bad = [rng.normal(0, 1, spk.size) + 1.0 * tgt for _ in range(2)]
    >>> r = seed_averaged_paired_bootstrap(good, bad, tgt, spk, test, resamples=100)
    >>> r["eer_a"]["runs"], r["eer_b"]["runs"], len(r["eer_a"]["per_run"])
    (3, 2, 3)
    >>> r["eer_difference"]["high"] < 0, r["significant"]
    (True, True)
    """
    runs_a, runs_b = list(runs_a), list(runs_b)
    if not runs_a or not runs_b:
        raise ValueError(f"each system needs at least one run, got {len(runs_a)} for A and {len(runs_b)} for B")
    names = [f"runs_a[{i}]" for i in range(len(runs_a))] + [f"runs_b[{i}]" for i in range(len(runs_b))]
    out, samples = _runs_difference(
        runs_a,
        runs_b,
        names,
        labels,
        enrol_speakers,
        test_speakers,
        p_targets,
        resamples,
        seed,
        confidence,
        c_miss,
        c_fa,
        speaker_map,
        same_speaker_weight,
        block_size,
        chunk_size,
    )
    if return_samples:
        out["samples"] = samples
    return out


def _runs_difference(
    runs_a,
    runs_b,
    names,
    labels,
    enrol_speakers,
    test_speakers,
    p_targets,
    resamples,
    seed,
    confidence,
    c_miss,
    c_fa,
    speaker_map,
    same_speaker_weight,
    block_size,
    chunk_size,
) -> Tuple[Dict[str, Any], Dict[str, np.ndarray]]:
    """The report of :func:`seed_averaged_paired_bootstrap` (one run per system: that of
    :func:`paired_speaker_bootstrap`) and its per-resample, run-averaged samples."""
    prepared, settings, resamples, warnings, info = _prepare(
        list(runs_a) + list(runs_b),
        labels,
        enrol_speakers,
        test_speakers,
        p_targets,
        resamples,
        seed,
        confidence,
        c_miss,
        c_fa,
        speaker_map,
        block_size,
        same_speaker_weight,
        names=names,
    )
    values, eers, dcfs = _run(prepared, settings, resamples, seed, chunk_size)
    conf = info["confidence"]
    n_a = len(runs_a)
    full_eer = np.array([v[0][0] for v in values])
    full_dcf = np.array([v[1][0] for v in values])  # (runs, priors)
    eer_a, eer_b = np.mean(eers[:n_a], axis=0), np.mean(eers[n_a:], axis=0)
    dcf_a, dcf_b = np.mean(dcfs[:n_a], axis=0), np.mean(dcfs[n_a:], axis=0)

    def system_summary(per_run: np.ndarray, samples: np.ndarray) -> Dict[str, Any]:
        std = float(np.std(per_run, ddof=1)) if per_run.size > 1 else None
        return {
            **_summary(float(per_run.mean()), samples, conf),
            "runs": int(per_run.size),
            "per_run": [float(v) for v in per_run],
            "std": std,
        }

    diff = eer_a - eer_b
    diff_summary = _summary(float(full_eer[:n_a].mean() - full_eer[n_a:].mean()), diff, conf)
    out: Dict[str, Any] = {
        "eer_a": system_summary(full_eer[:n_a], eer_a),
        "eer_b": system_summary(full_eer[n_a:], eer_b),
        "eer_difference": diff_summary,
        "significant": _significant(diff_summary),
        "min_dcf_difference": [],
        **info,
        "valid_resamples": int(np.count_nonzero(np.isfinite(diff))),
    }
    for m, (p, cm, cf) in enumerate(settings):
        value_a, value_b = float(full_dcf[:n_a, m].mean()), float(full_dcf[n_a:, m].mean())
        d = _summary(value_a - value_b, dcf_a[:, m] - dcf_b[:, m], conf)
        out["min_dcf_difference"].append(
            {
                "p_target": p,
                "c_miss": cm,
                "c_fa": cf,
                **d,
                "significant": _significant(d),
                "value_a": value_a,
                "value_b": value_b,
            }
        )
    extra = _degenerate_warning(diff, resamples)
    if extra:
        warnings.append(extra)
    out["warning"] = "; ".join(warnings) if warnings else None
    return out, {"eer_a": eer_a, "eer_b": eer_b, "min_dcf_a": dcf_a, "min_dcf_b": dcf_b}


def _significant(summary: Dict[str, Optional[float]]) -> bool:
    low, high = summary["low"], summary["high"]
    if low is None or high is None:
        return False
    return not (low <= 0.0 <= high)
