"""Test-speaker choice, splits and trials for a preparation.

:func:`choose_test_speakers` draws the open-set test speakers, :func:`spread_evenly` and
:func:`make_trials` draw a balanced trial list, :func:`write_trials` writes it; the phase
functions used by :func:`~custom_modules.data.preparation.core.prepare` split the kept
utterances into train, valid and test (given splits, a given trial list, or drawn test
speakers) and report what makes a split unusable.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

from collections import Counter
from typing import Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple

import numpy as np

from custom_modules.data.dataio import DataError
from custom_modules.data.preparation.records import SPLIT_NAMES, Findings, PrepareOptions, Problem, Utterance
from custom_modules.data.preparation.report import listing
from custom_modules.outputs.atomic import atomic_path
from custom_modules.scoring.trials import Trial, parse_trials


def choose_test_speakers(
    utterance_counts: Mapping[str, int], count: Optional[int], fraction: Optional[float], seed: int
) -> Tuple[List[str], List[str]]:
    """Pick the open-set test speakers: ``count`` of them, or ``round(fraction x speakers)``.

    Only speakers with at least 2 utterances are eligible (a target trial needs two). The
    draw is a seeded permutation of the sorted eligible speakers, so it does not depend on
    the input order. A fraction that would give 1 speaker gives 2 (non-target trials need
    2), and none when fewer than 2 training speakers would be left. Returns
    ``(test speakers sorted, notes)``; an impossible ``count`` raises :class:`DataError`.

    Example
    -------
    >>> counts = {"a": 5, "b": 5, "c": 5, "d": 1, "e": 4, "f": 3}
    >>> choose_test_speakers(counts, 2, None, seed=0)[0] == choose_test_speakers(dict(reversed(counts.items())), 2, None, 0)[0]
    True
    >>> len(choose_test_speakers(counts, None, 0.5, seed=0)[0]), "d" in choose_test_speakers(counts, 4, None, 0)[0]
    (3, False)
    """
    speakers = sorted(utterance_counts)
    eligible = [s for s in speakers if utterance_counts[s] >= 2]
    notes: List[str] = []
    if count is not None:
        if count == 0:
            return [], notes
        if count == 1:
            raise DataError("--test_speakers 1: non-target trials need at least 2 test speakers (or 0 for no test set)")
        if count > len(eligible) or len(speakers) - count < 2:
            raise DataError(
                f"--test_speakers {count}: only {len(eligible)} speaker(s) have 2+ utterances and "
                f"{len(speakers)} speakers in all, and training needs at least 2 speakers left"
            )
        wanted = count
    else:
        fraction = 0.2 if fraction is None else fraction
        wanted = int(round(fraction * len(speakers))) if fraction > 0 else 0
        if wanted == 1:
            wanted = 2
        wanted = min(wanted, len(eligible))
        if wanted and (len(speakers) - wanted < 2 or wanted < 2):
            notes.append(
                f"no test set: {len(speakers)} speakers ({len(eligible)} with 2+ utterances) are too few "
                f"for 2 test speakers and 2 training speakers"
            )
            wanted = 0
    order = np.random.default_rng(seed).permutation(len(eligible))
    return sorted(eligible[i] for i in order[:wanted]), notes


def spread_evenly(total: int, capacities: Sequence[int], rng: np.random.Generator) -> List[int]:
    """Share ``total`` among bins as evenly as their ``capacities`` allow (water filling).

    Bins below capacity differ by at most one; which bins get the remainder is drawn from
    ``rng``. Returns the amounts (their sum is ``min(total, sum(capacities))``).

    Example
    -------
    >>> spread_evenly(10, [2, 100, 100], np.random.default_rng(0))
    [2, 4, 4]
    >>> sorted(spread_evenly(7, [9, 9, 9], np.random.default_rng(0)))
    [2, 2, 3]
    """
    amounts = [0] * len(capacities)
    remaining = min(int(total), int(sum(capacities)))
    open_bins = [i for i, cap in enumerate(capacities) if cap > 0]
    while remaining > 0 and open_bins:
        share = remaining // len(open_bins)
        if share == 0:
            for pick in rng.permutation(len(open_bins))[:remaining]:
                amounts[open_bins[pick]] += 1
            break
        for i in open_bins:
            give = min(share, capacities[i] - amounts[i])
            amounts[i] += give
            remaining -= give
        open_bins = [i for i in open_bins if amounts[i] < capacities[i]]
    return amounts


def _pairs_from_indices(indices: np.ndarray, n: int) -> List[Tuple[int, int]]:
    """The pairs (a < b) of range(n) at the given positions of their lexicographic order.

    Example
    -------
    >>> _pairs_from_indices(np.arange(6), 4)
    [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    """
    rows = np.arange(n, dtype=np.int64)
    starts = rows * n - rows * (rows + 1) // 2  # row a holds (a, a+1 .. n-1)
    a = np.searchsorted(starts, indices, side="right") - 1
    b = indices - starts[a] + a + 1
    return list(zip(a.tolist(), b.tolist()))


def make_trials(
    utterances_by_speaker: Mapping[str, Sequence[str]], count: int = 6000, seed: int = 1986, all_pairs: bool = False
) -> List[Trial]:
    """A balanced VoxCeleb-style trial list over test speakers, deterministic for a seed.

    ``count // 2`` target and as many non-target trials (fewer when fewer pairs exist:
    both halves are capped by the smaller supply). Targets are spread evenly over the
    speakers and non-targets over the speaker pairs (:func:`spread_evenly`); pairs are drawn
    without replacement, so each unordered pair of utterances appears at most once; the
    enrol/test order is random. ``all_pairs`` gives every unordered pair instead (not
    balanced). Trials are sorted by enrol then test ID.

    Example
    -------
    >>> utts = {"a": ["a/1", "a/2", "a/3"], "b": ["b/1", "b/2"], "c": ["c/1", "c/2"]}
    >>> trials = make_trials(utts, count=8, seed=0)
    >>> sum(t.label for t in trials), len(trials)
    (4, 8)
    >>> len(make_trials(utts, all_pairs=True))
    21
    """
    speakers = sorted(s for s, u in utterances_by_speaker.items() if len(u) > 0)
    lists = {s: sorted(utterances_by_speaker[s]) for s in speakers}
    rng = np.random.default_rng(seed)
    trials: List[Trial] = []
    if all_pairs:
        everyone = sorted((uid, s) for s in speakers for uid in lists[s])
        for i, (a, sa) in enumerate(everyone):
            for b, sb in everyone[i + 1 :]:
                trials.append(Trial(int(sa == sb), a, b))
        return trials
    pairs = [(a, b) for i, a in enumerate(speakers) for b in speakers[i + 1 :]]
    target_caps = [len(lists[s]) * (len(lists[s]) - 1) // 2 for s in speakers]
    nontarget_caps = [len(lists[a]) * len(lists[b]) for a, b in pairs]
    half = min(max(int(count), 0) // 2, sum(target_caps), sum(nontarget_caps))
    per_speaker = spread_evenly(half, target_caps, rng)
    per_pair = spread_evenly(half, nontarget_caps, rng)

    def oriented(label: int, a: str, b: str) -> Trial:
        return Trial(label, a, b) if rng.random() < 0.5 else Trial(label, b, a)

    for speaker, amount, cap in zip(speakers, per_speaker, target_caps):
        if not amount:
            continue
        items = lists[speaker]
        for i, j in _pairs_from_indices(np.sort(rng.choice(cap, size=amount, replace=False)), len(items)):
            trials.append(oriented(1, items[i], items[j]))
    for (sa, sb), amount, cap in zip(pairs, per_pair, nontarget_caps):
        first, second = lists[sa], lists[sb]
        if not amount:
            continue
        for k in np.sort(rng.choice(cap, size=amount, replace=False)).tolist():
            trials.append(oriented(0, first[k // len(second)], second[k % len(second)]))
    trials.sort(key=lambda t: (t.enrol, t.test))
    return trials


def write_trials(path: str, trials: Iterable[Trial]) -> None:
    """Write ``<1|0> <enrol>.wav <test>.wav`` lines (the VoxCeleb format of the dev set).

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "trials.txt")
    >>> write_trials(path, [Trial(1, "a/1", "a/2")]); open(path).read()
    '1 a/1.wav a/2.wav\\n'
    """
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for trial in trials:
            handle.write(f"{int(trial.label)} {trial.enrol}.wav {trial.test}.wav\n")


class SplitPlan(NamedTuple):
    """How the kept utterances are split, before any row is written."""

    train_pool: List[Utterance]  # training speakers' utterances (valid.csv is drawn from them unless given)
    valid_given: List[Utterance]  # the source's valid split (--keep_splits), else empty
    test_utts: List[Utterance]
    test_speakers: List[str]
    given_trials: Optional[List[Trial]]  # the --trials list as read, None when trials are drawn
    trials: List[Trial]  # the usable given trials (drawn trials are added once the rows exist)
    dropped_test: List[str]  # IDs of test speakers with fewer than 2 utterances


def _given_splits(kept: Sequence[Utterance], source: str, problems: List[Problem]):
    """--keep_splits: the source's train/valid/test, with overlaps reported as problems."""
    parts: Dict[str, List[Utterance]] = {"train": [], "valid": [], "test": []}
    for utt in kept:
        parts[SPLIT_NAMES[utt.split.lower()]].append(utt)
    train_pool, valid_given, test_utts = parts["train"], parts["valid"], parts["test"]
    train_spk = {u.spk_id for u in train_pool}
    overlap = sorted(train_spk & {u.spk_id for u in test_utts})
    if overlap:
        problems.append(
            Problem(
                "split",
                source,
                f"speaker(s) in both train and test: {listing(overlap)}; test speakers must be unseen in training",
            )
        )
    outside = sorted({u.spk_id for u in valid_given} - train_spk)
    if outside:
        problems.append(
            Problem(
                "split",
                source,
                f"valid speaker(s) not in train: {listing(outside)}; "
                f"valid is closed-set (held-out utterances of training speakers)",
            )
        )
    test_speakers = sorted({u.spk_id for u in test_utts})
    return train_pool, valid_given, test_utts, test_speakers


def _drop_lonely_test_speakers(test_utts: List[Utterance], source: str, found: Findings):
    """Leave out test speakers with fewer than 2 utterances; a single test speaker left is a problem."""
    dropped_test: List[str] = []
    test_counts = Counter(u.spk_id for u in test_utts)
    lonely = sorted(s for s, n in test_counts.items() if n < 2)
    if lonely:
        dropped_test = [u.id for u in test_utts if u.spk_id in set(lonely)]
        found.notes.append(
            f"{len(lonely)} test speaker(s) with fewer than 2 utterances dropped (no target trial "
            f"possible): {listing(lonely)}"
        )
        test_utts = [u for u in test_utts if u.spk_id not in set(lonely)]
    test_speakers = sorted({u.spk_id for u in test_utts})
    if len(test_speakers) == 1:
        found.problems.append(
            Problem(
                "speakers",
                source,
                f"only 1 test speaker ({test_speakers[0]}) with 2+ utterances: non-target trials need 2",
            )
        )
    return test_utts, test_speakers, dropped_test


def _usable_given_trials(
    given_trials: Sequence[Trial],
    test_utts: Sequence[Utterance],
    opts: PrepareOptions,
    first_seen: Mapping[str, Utterance],
    short_ids: Set[str],
    found: Findings,
) -> List[Trial]:
    """The given trials whose utterances are both in the test split; the others are reported
    as problems (unknown IDs) or left out with a note (dropped utterances)."""
    trials: List[Trial] = []
    test_ids = {u.id for u in test_utts}
    unusable = []
    for number, trial in enumerate(given_trials, start=1):
        missing = [i for i in (trial.enrol, trial.test) if i not in test_ids]
        if not missing:
            trials.append(trial)
            continue
        unusable.append(trial)
        unknown = [i for i in missing if i not in found.bad_ids and not (opts.drop_short and i in short_ids)]
        if unknown:
            where = ", ".join(
                f"{i} ({'not in the test split' if i in first_seen else 'not in the source'})" for i in unknown
            )
            found.problems.append(
                Problem(
                    "trials",
                    opts.trials,
                    f"trial {number}: {where}; prepared IDs are <spk>/<path below the speaker folder>",
                )
            )
    if unusable:
        found.notes.append(
            f"{len(unusable)} of {len(given_trials)} given trials refer to utterances that were "
            f"dropped or not found, and were left out"
        )
    return trials


def _check_train_speakers(train_pool: Sequence[Utterance], source: str, found: Findings) -> None:
    """Fewer than 2 training speakers is a problem, fewer than 10 a warning note."""
    train_speakers = sorted({u.spk_id for u in train_pool})
    if len(train_speakers) < 2:
        found.problems.append(
            Problem(
                "speakers",
                source,
                f"{len(train_speakers)} training speaker(s) left "
                f"({listing(train_speakers)}); training needs at least 2",
            )
        )
    elif len(train_speakers) < 10:
        found.notes.append(
            f"warning: only {len(train_speakers)} training speakers; embeddings trained on so few "
            f"speakers generalise poorly"
        )


def split_utterances(
    opts: PrepareOptions,
    source: str,
    utterances: Sequence[Utterance],
    kept: Sequence[Utterance],
    by_speaker: Mapping[str, List[Utterance]],
    first_seen: Mapping[str, Utterance],
    short_ids: Set[str],
    found: Findings,
) -> SplitPlan:
    """Split the kept utterances: the source's splits (``keep_splits``), the speakers of a given
    trial list (``trials``), or drawn test speakers; problems and notes go to ``found``."""
    valid_given: List[Utterance] = []
    trials: List[Trial] = []
    dropped_test: List[str] = []
    given_trials: Optional[List[Trial]] = None
    if opts.keep_splits:
        train_pool, valid_given, test_utts, test_speakers = _given_splits(kept, source, found.problems)
    elif opts.trials:
        try:
            given_trials = parse_trials(opts.trials)
        except ValueError as error:
            raise DataError(str(error)) from None
        known = {u.id: u for u in utterances}
        test_speakers = sorted({known[i].spk_id for t in given_trials for i in (t.enrol, t.test) if i in known})
        train_pool = [u for u in kept if u.spk_id not in set(test_speakers)]
        test_utts = [u for u in kept if u.spk_id in set(test_speakers)]
    else:
        counts = {s: len(items) for s, items in by_speaker.items()}
        test_speakers, picked_notes = choose_test_speakers(counts, opts.test_speakers, opts.test_fraction, opts.seed)
        found.notes.extend(picked_notes)
        train_pool = [u for u in kept if u.spk_id not in set(test_speakers)]
        test_utts = [u for u in kept if u.spk_id in set(test_speakers)]
    if given_trials is None:
        test_utts, test_speakers, dropped_test = _drop_lonely_test_speakers(test_utts, source, found)
    else:
        trials = _usable_given_trials(given_trials, test_utts, opts, first_seen, short_ids, found)
    _check_train_speakers(train_pool, source, found)
    return SplitPlan(train_pool, valid_given, test_utts, test_speakers, given_trials, trials, dropped_test)
