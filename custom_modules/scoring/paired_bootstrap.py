"""Paired speaker-level bootstrap: the difference of two systems on the same trials.

Both systems (or every training run of each, :func:`seed_averaged_paired_bootstrap`) are
evaluated on the *same* resampled speakers in every round, so the interval of the difference
accounts for their correlation; see :mod:`custom_modules.scoring.bootstrap` for the resampling.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

from typing import Any, Dict, Hashable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from custom_modules.scoring.bootstrap_intervals import _degenerate_warning, _significant, _summary
from custom_modules.scoring.metrics import DEFAULT_P_TARGETS
from custom_modules.scoring.speaker_resampling import _prepare, _run

__all__ = ["paired_speaker_bootstrap", "seed_averaged_paired_bootstrap"]

ArrayLike = Union[Sequence[float], np.ndarray]


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
    diff = eer_a - eer_b
    diff_summary = _summary(float(full_eer[:n_a].mean() - full_eer[n_a:].mean()), diff, conf)
    out: Dict[str, Any] = {
        "eer_a": _system_summary(full_eer[:n_a], eer_a, conf),
        "eer_b": _system_summary(full_eer[n_a:], eer_b, conf),
        "eer_difference": diff_summary,
        "significant": _significant(diff_summary),
        "min_dcf_difference": _min_dcf_differences(settings, full_dcf[:n_a], full_dcf[n_a:], dcf_a, dcf_b, conf),
        **info,
        "valid_resamples": int(np.count_nonzero(np.isfinite(diff))),
    }
    extra = _degenerate_warning(diff, resamples)
    if extra:
        warnings.append(extra)
    out["warning"] = "; ".join(warnings) if warnings else None
    return out, {"eer_a": eer_a, "eer_b": eer_b, "min_dcf_a": dcf_a, "min_dcf_b": dcf_b}


def _system_summary(per_run: np.ndarray, samples: np.ndarray, conf: float) -> Dict[str, Any]:
    """``{value, low, high, runs, per_run, std}`` of one system's seed-averaged metric."""
    std = float(np.std(per_run, ddof=1)) if per_run.size > 1 else None
    return {
        **_summary(float(per_run.mean()), samples, conf),
        "runs": int(per_run.size),
        "per_run": [float(v) for v in per_run],
        "std": std,
    }


def _min_dcf_differences(
    settings: Sequence[Tuple[float, float, float]],
    full_a: np.ndarray,
    full_b: np.ndarray,
    dcf_a: np.ndarray,
    dcf_b: np.ndarray,
    conf: float,
) -> List[Dict[str, Any]]:
    """One ``{p_target, c_miss, c_fa, value, low, high, significant, value_a, value_b}`` per
    prior: the run-averaged minDCF of A minus B (``full_*``: (runs, priors) full-list values;
    ``dcf_*``: (resamples, priors) run-averaged samples)."""
    entries = []
    for m, (p, cm, cf) in enumerate(settings):
        value_a, value_b = float(full_a[:, m].mean()), float(full_b[:, m].mean())
        d = _summary(value_a - value_b, dcf_a[:, m] - dcf_b[:, m], conf)
        entries.append(
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
    return entries
