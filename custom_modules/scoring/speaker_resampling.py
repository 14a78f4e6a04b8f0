"""The speaker-level resampling core of :mod:`custom_modules.scoring.bootstrap`.

Validation of a bootstrap's inputs (:func:`_prepare`), the speaker draws and the per-resample
weighted EER and minDCFs of every system (:func:`_run`), computed by :class:`_SortedTrials`.

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
    blocks: it is bit for bit the value of the weighted metrics
    (:mod:`custom_modules.scoring.weighted_metrics`). 10^6 trials x 1000 resamples take a few
    seconds (``scripts/benchmark_bootstrap.py``).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import math
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np
import scipy.sparse as sp

from custom_modules.scoring.metrics import validate_scores
from custom_modules.scoring.trial_speakers import _speaker_indices
from custom_modules.scoring.weighted_metrics import _as_labels, _check_costs, _eer_from_points

__all__ = ["SAME_SPEAKER_WEIGHTS"]

ArrayLike = Union[Sequence[float], np.ndarray]

# How a same-speaker trial is weighted (see speaker_bootstrap).
SAME_SPEAKER_WEIGHTS = ("product", "count")

# Largest number of elements in one working array (64 MiB of float64).
_MAX_ELEMENTS = 1 << 23
# Block sums are computed in float32 when every one of them stays below this (exact integers).
_EXACT32_LIMIT = 2.0**24


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer of at least {minimum}, got {value!r}")
    return int(value)


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
