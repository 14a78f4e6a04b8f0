"""The preparation itself: :func:`prepare` runs the phases in order.

Options are checked, the source is read (:mod:`~custom_modules.data.preparation.sources`),
names, IDs and every audio segment are checked
(:mod:`~custom_modules.data.preparation.inspection`), short utterances are counted, the kept
utterances are split (:mod:`~custom_modules.data.preparation.splits`), every problem is
reported at once or the rows are planned and written
(:mod:`~custom_modules.data.preparation.output`) with the report
(:mod:`~custom_modules.data.preparation.report`).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Callable, Dict, List, Sequence, Set, Tuple

from custom_modules.data.dataio import DataError, split_train_valid
from custom_modules.data.preparation.inspection import copy_name, inspect_all
from custom_modules.data.preparation.output import check_output, write_output
from custom_modules.data.preparation.records import (
    FORMATS,
    SPLIT_NAMES,
    AudioInfo,
    Findings,
    PreparationError,
    PrepareOptions,
    PrepareResult,
    Utterance,
)
from custom_modules.data.preparation.report import format_problems, listing, render_report
from custom_modules.data.preparation.sources import detect_format, has_whitespace, read_source
from custom_modules.data.preparation.splits import SplitPlan, make_trials, split_utterances
from custom_modules.scoring.trials import Trial

__all__ = ["prepare"]


def _check_options(opts: PrepareOptions) -> None:
    if opts.format is not None and opts.format not in FORMATS:
        raise DataError(f"unknown --format {opts.format!r}; use one of {list(FORMATS)}")
    if not 0.0 <= opts.valid_fraction < 1.0:
        raise DataError(f"--valid_fraction must be in [0, 1), got {opts.valid_fraction}")
    if opts.test_fraction is not None and not 0.0 <= opts.test_fraction < 1.0:
        raise DataError(f"--test_fraction must be in [0, 1), got {opts.test_fraction}")
    if opts.test_speakers is not None and opts.test_speakers < 0:
        raise DataError(f"--test_speakers must be 0 or more, got {opts.test_speakers}")
    if opts.test_speakers is not None and opts.test_fraction is not None:
        raise DataError("give --test_speakers or --test_fraction, not both")
    if (opts.trials or opts.keep_splits) and (opts.test_speakers is not None or opts.test_fraction is not None):
        raise DataError(
            "--test_speakers/--test_fraction choose test speakers at random; with --trials or "
            "--keep_splits the test speakers are given by the source, so leave them out"
        )
    if opts.trials and opts.all_pairs:
        raise DataError("--all_pairs makes a trial list; with --trials the given list is used, so leave one out")
    if opts.trials_count < 2:
        raise DataError(f"--trials_count must be at least 2, got {opts.trials_count}")
    if opts.sample_rate <= 0 or opts.min_seconds < 0 or opts.silence_peak < 0 or opts.jobs < 1:
        raise DataError("--sample_rate and --jobs must be positive, --min_seconds and --silence_peak non-negative")
    if opts.trials and not os.path.isfile(opts.trials):
        raise DataError(f"{opts.trials}: trial list not found")


def _check_names(
    utterances: Sequence[Utterance], opts: PrepareOptions, fmt: str, found: Findings
) -> Dict[str, Utterance]:
    """Whitespace in names, duplicate IDs and (``keep_splits``) unknown split values; returns
    the first utterance of each ID."""
    first_seen: Dict[str, Utterance] = {}
    for utt in utterances:
        if has_whitespace(utt.id) or has_whitespace(utt.spk_id):
            found.flag(utt, "whitespace", f"ID {utt.id!r}, speaker {utt.spk_id!r}")
        if utt.id in first_seen:
            other = first_seen[utt.id]
            found.flag(
                utt,
                "duplicate_id",
                f"ID {utt.id!r} also given to {other.path}"
                f"{' (' + other.origin + ')' if other.origin else ''}; add an ID column or rename one",
            )
        else:
            first_seen[utt.id] = utt
    if opts.keep_splits:
        if fmt != "csv":
            raise DataError("--keep_splits needs a CSV source with a split column (train/valid/test)")
        for utt in utterances:
            if SPLIT_NAMES.get((utt.split or "").lower()) is None:
                found.flag(utt, "split_value", f"split {utt.split!r} of {utt.id!r}")
    return first_seen


def _check_audio(
    unique: Sequence[Utterance], opts: PrepareOptions, found: Findings, log: Callable[[str], None]
) -> Dict[str, AudioInfo]:
    """Inspect every segment (unusable audio, sample rate, channels) and find the same audio
    under two speakers; returns the facts of the usable segments by ID."""
    inspected = dict(zip((u.id for u in unique), inspect_all(unique, opts.silence_peak, opts.jobs, log)))
    infos: Dict[str, AudioInfo] = {}
    for utt in unique:
        info, kind, reason = inspected[utt.id]
        if info is None:
            found.flag(utt, kind, reason)
            continue
        infos[utt.id] = info
        if info.sample_rate != opts.sample_rate and not opts.resample:
            found.flag(utt, "sample_rate", f"{info.sample_rate} Hz, expected {opts.sample_rate} Hz")
        if info.channels > 1 and not opts.downmix:
            found.flag(utt, "channels", f"{info.channels} channels, expected mono")
    by_hash: Dict[str, List[Utterance]] = defaultdict(list)
    for utt in unique:
        if utt.id in infos:
            by_hash[infos[utt.id].sha1].append(utt)
    same_speaker_copies = 0
    for copies in by_hash.values():
        if len({u.spk_id for u in copies}) > 1:
            for utt in copies:
                others = ", ".join(f"{o.path} [{o.spk_id}]" for o in copies if o is not utt)
                found.flag(utt, "duplicate_audio", f"speaker {utt.spk_id!r}; same samples as {others}")
        elif len(copies) > 1:
            same_speaker_copies += len(copies) - 1
    if same_speaker_copies:
        found.notes.append(
            f"{same_speaker_copies} utterance(s) repeat the samples of another utterance of the same speaker (kept)"
        )
    return infos


def _kept_utterances(
    unique: Sequence[Utterance], infos: Dict[str, AudioInfo], opts: PrepareOptions, found: Findings
) -> Tuple[List[str], Set[str], List[Utterance], Dict[str, List[Utterance]]]:
    """The utterances kept (no droppable problem, and not short with ``drop_short``):
    ``(short IDs, short IDs dropped, kept, kept by speaker)``."""
    short = sorted(
        u.id
        for u in unique
        if u.id in infos
        and u.id not in found.bad_ids
        and infos[u.id].samples / infos[u.id].sample_rate < opts.min_seconds
    )
    short_ids = set(short) if opts.drop_short else set()
    kept = [u for u in unique if u.id not in found.bad_ids and u.id in infos and u.id not in short_ids]
    by_speaker: Dict[str, List[Utterance]] = defaultdict(list)
    for utt in kept:
        by_speaker[utt.spk_id].append(utt)
    singles = sorted(s for s, items in by_speaker.items() if len(items) < 2)
    if singles:
        found.notes.append(
            f"{len(singles)} speaker(s) with a single utterance (no target trial or validation utterance "
            f"possible; not eligible for a drawn test set): {listing(singles)}"
        )
    return short, short_ids, kept, by_speaker


def _row(utt: Utterance, wav: str, start: int, stop: int, seconds: float) -> Dict[str, str]:
    return {
        "ID": utt.id,
        "duration": f"{seconds:.3f}",
        "wav": wav,
        "start": str(start),
        "stop": str(stop),
        "spk_id": utt.spk_id,
    }


def _plan_rows(kept: Sequence[Utterance], infos: Dict[str, AudioInfo], opts: PrepareOptions):
    """Each kept utterance's CSV row, and which segments are converted or copied under ``audio/``:
    ``(rows by ID, converted: ID -> (relative target, samples), copied: ID -> (relative target,
    whole file copied as is))``."""
    rows: Dict[str, Dict[str, str]] = {}
    converted: Dict[str, Tuple[str, int]] = {}
    copied: Dict[str, Tuple[str, bool]] = {}
    for utt in kept:
        info = infos[utt.id]
        needs = info.sample_rate != opts.sample_rate or info.channels > 1
        if needs:
            rel = copy_name(utt.id) + ".wav"
            samples = (
                int(round(info.samples * opts.sample_rate / info.sample_rate))
                if info.sample_rate != opts.sample_rate
                else info.samples
            )
            converted[utt.id] = (rel, samples)
            rows[utt.id] = _row(utt, rel, 0, samples, samples / opts.sample_rate)
        elif opts.copy_audio:
            whole = info.start == 0 and utt.stop is None
            rel = copy_name(utt.id) + (os.path.splitext(utt.path)[1].lower() if whole else ".wav")
            copied[utt.id] = (rel, whole)
            rows[utt.id] = _row(utt, rel, 0, info.samples, info.seconds)
        else:
            rows[utt.id] = _row(utt, utt.path, info.start, info.stop, info.seconds)
    return rows, converted, copied


def _split_rows(plan: SplitPlan, rows: Dict[str, Dict[str, str]], opts: PrepareOptions, notes: List[str]):
    """The train/valid/test rows (valid drawn from train unless given) and the trials (drawn
    when no list was given): ``(train, valid, test, trials)``."""

    def rows_of(utts: Sequence[Utterance]) -> List[Dict[str, str]]:
        return [rows[u.id] for u in sorted(utts, key=lambda u: u.id)]

    trials: List[Trial] = plan.trials
    train_rows = rows_of(plan.train_pool)
    if plan.valid_given:
        valid_rows = rows_of(plan.valid_given)
    elif opts.valid_fraction > 0:
        train_rows, valid_rows = split_train_valid(train_rows, opts.valid_fraction, opts.seed)
    else:
        valid_rows = []
    test_rows = rows_of(plan.test_utts)
    if plan.given_trials is None and test_rows:
        trials = make_trials(
            {s: [u.id for u in plan.test_utts if u.spk_id == s] for s in plan.test_speakers},
            opts.trials_count,
            opts.seed,
            opts.all_pairs,
        )
        if not opts.all_pairs and len(trials) < 2 * (opts.trials_count // 2):
            notes.append(
                f"{len(trials)} trials instead of {2 * (opts.trials_count // 2)}: the test speakers do not "
                f"have more distinct balanced pairs"
            )
    return train_rows, valid_rows, test_rows, trials


def prepare(opts: PrepareOptions, log: Callable[[str], None] = print) -> PrepareResult:
    """Read, validate, split and write a speaker dataset (see :mod:`custom_modules.data.preparation`).

    Raises :class:`PreparationError` (a :class:`DataError`) listing every problem, grouped
    by kind, when the input cannot be prepared as asked; nothing is written then.
    """
    _check_options(opts)
    source = os.path.abspath(opts.source)
    if not os.path.exists(source):
        raise DataError(f"{source}: source not found")
    check_output(opts)
    fmt = opts.format or detect_format(source)
    utterances, problems, notes = read_source(fmt, opts)
    found = Findings(problems, notes)
    first_seen = _check_names(utterances, opts, fmt, found)
    unique = list(first_seen.values())
    infos = _check_audio(unique, opts, found, log)
    short, short_ids, kept, by_speaker = _kept_utterances(unique, infos, opts, found)
    kept_ids = {u.id for u in kept}
    plan = split_utterances(opts, source, utterances, kept, by_speaker, first_seen, short_ids, found)
    blocking = [p for p in problems if not (p.droppable and opts.drop_bad)]
    if blocking:
        raise PreparationError(format_problems(problems, opts.drop_bad), problems)
    dropped = [p for p in problems if p.droppable]
    rows, converted, copied = _plan_rows(kept, infos, opts)
    train_rows, valid_rows, test_rows, trials = _split_rows(plan, rows, opts, notes)
    output = os.path.abspath(opts.output)
    result = PrepareResult(output, fmt, train_rows, valid_rows, test_rows, trials, dropped, notes)
    write_output(
        opts,
        result,
        first_seen,
        infos,
        converted,
        copied,
        lambda: render_report(opts, result, infos, kept_ids, short, plan.dropped_test, converted, copied),
    )
    return result
