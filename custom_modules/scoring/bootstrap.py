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
    The scores are sorted once and summarised in blocks, so a resample costs no per-trial
    work and the result is bit for bit that of the weighted metrics: how, in
    :mod:`custom_modules.scoring.speaker_resampling`. 10^6 trials x 1000 resamples take a few
    seconds (``scripts/benchmark_bootstrap.py``).

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

Modules
    This module holds :func:`speaker_bootstrap` and re-exports the rest: the weighted metrics
    (``custom_modules.scoring.weighted_metrics``), the speakers of the trials
    (``custom_modules.scoring.trial_speakers``), the resampling core
    (``custom_modules.scoring.speaker_resampling``), the intervals
    (``custom_modules.scoring.bootstrap_intervals``) and the paired comparisons
    (``custom_modules.scoring.paired_bootstrap``).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

from typing import Any, Dict, Hashable, Mapping, Optional, Sequence, Union

import numpy as np

from custom_modules.scoring.bootstrap_intervals import _degenerate_warning, _summary
from custom_modules.scoring.metrics import DEFAULT_P_TARGETS
from custom_modules.scoring.paired_bootstrap import paired_speaker_bootstrap, seed_averaged_paired_bootstrap
from custom_modules.scoring.speaker_resampling import SAME_SPEAKER_WEIGHTS, _prepare, _run
from custom_modules.scoring.trial_speakers import speaker_of
from custom_modules.scoring.weighted_metrics import weighted_equal_error_rate, weighted_min_detection_cost

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
