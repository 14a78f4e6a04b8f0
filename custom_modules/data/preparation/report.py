"""Messages and the data report of a preparation.

:func:`format_problems` lists every problem grouped by kind (the message of a
:class:`~custom_modules.data.preparation.records.PreparationError`); :func:`render_report`
writes ``data_report.md`` (splits, trials, audio, what was dropped and why, notes).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import os
import statistics
from collections import Counter
from dataclasses import fields
from typing import Dict, List, Mapping, Sequence, Set, Tuple

from custom_modules.data.preparation.records import PROBLEM_KINDS, AudioInfo, PrepareOptions, PrepareResult, Problem


def listing(items: Sequence[str], limit: int = 10) -> str:
    items = list(items)
    shown = ", ".join(items[:limit])
    return shown + (f" ... (+{len(items) - limit} more)" if len(items) > limit else "")


def grouped(problems: Sequence[Problem]) -> Dict[str, List[Problem]]:
    groups: Dict[str, List[Problem]] = {kind: [] for kind in PROBLEM_KINDS}
    for problem in problems:
        groups[problem.kind].append(problem)
    return {kind: items for kind, items in groups.items() if items}


def format_problems(problems: Sequence[Problem], drop_bad: bool = False) -> str:
    """All problems grouped by kind, one ``file: reason`` line each, and what to do.

    Example
    -------
    >>> print(format_problems([Problem("missing", "/d/a.wav", "file not found (d.csv line 2)")]))
    1 problem(s) in the input; nothing was written and the input is unchanged.
    missing file (1):
      /d/a.wav: file not found (d.csv line 2)
    Fix or remove these entries, or pass --drop_bad to leave the affected utterances out (they are then listed in data_report.md).
    """
    lines = [f"{len(problems)} problem(s) in the input; nothing was written and the input is unchanged."]
    for kind, items in grouped(problems).items():
        lines.append(f"{PROBLEM_KINDS[kind][0]} ({len(items)}):")
        lines.extend(f"  {p.file}: {p.reason}" for p in items)
    fatal = [p for p in problems if not p.droppable]
    if fatal:
        lines.append(
            "The problems of the dataset as a whole ("
            + ", ".join(sorted({PROBLEM_KINDS[p.kind][0].split(" (")[0] for p in fatal}))
            + ") must be fixed in the source; --drop_bad does not skip them."
        )
    if any(p.droppable for p in problems) and not drop_bad:
        lines.append(
            "Fix or remove these entries, or pass --drop_bad to leave the affected utterances out "
            "(they are then listed in data_report.md)."
        )
    return "\n".join(lines)


def stats(values: Sequence[float]) -> Tuple[float, float, float]:
    return (min(values), statistics.median(values), max(values)) if values else (0, 0, 0)


def _header_lines(opts: PrepareOptions, result: PrepareResult) -> List[str]:
    """The title, the source and the options that differ from the defaults."""
    defaults = PrepareOptions(source="", output="")
    changed = [
        f"--{f.name} {getattr(opts, f.name)}" if not isinstance(getattr(opts, f.name), bool) else f"--{f.name}"
        for f in fields(PrepareOptions)
        if f.name not in ("source", "output", "overwrite", "jobs")
        and getattr(opts, f.name) != getattr(defaults, f.name)
    ]
    return [
        "# Data report",
        "",
        f"Source: `{os.path.abspath(opts.source)}` (format `{result.format}`), prepared by `recipes/prepare.py`"
        f" with seed {opts.seed}, sample rate {opts.sample_rate} Hz"
        + (f", options `{' '.join(changed)}`" if changed else "")
        + ".",
    ]


def _split_lines(result: PrepareResult) -> List[str]:
    """``## Splits``: speakers, utterances and minutes per CSV."""
    lines = [
        "",
        "## Splits",
        "",
        "| file | speakers | utterances | minutes | utterances per speaker (min / median / max) |",
        "|---|---|---|---|---|",
    ]
    everything = result.train + result.valid + result.test
    for name, rows in (
        ("train.csv", result.train),
        ("valid.csv", result.valid),
        ("test.csv", result.test),
        ("all", everything),
    ):
        if not rows:
            lines.append(f"| {name} | 0 | 0 | 0 | - |")
            continue
        per = Counter(r["spk_id"] for r in rows)
        lo, med, hi = stats(list(per.values()))
        minutes = sum(float(r["duration"]) for r in rows) / 60
        lines.append(f"| {name} | {len(per)} | {len(rows)} | {minutes:.1f} | {lo} / {med:g} / {hi} |")
    lines.append("")
    if result.train and result.test:
        lines.append(
            "Training and test speakers are disjoint (open-set test); valid.csv holds held-out utterances "
            "of training speakers (closed set)."
        )
    return lines


def _trial_lines(opts: PrepareOptions, result: PrepareResult) -> List[str]:
    """What trials.txt holds: targets and non-targets, where they come from, how they spread."""
    if not result.trials:
        return ["", "No test set and no trials.txt (no test speakers)."] if not result.test else []
    targets = [t for t in result.trials if t.label == 1]
    nontargets = [t for t in result.trials if t.label == 0]
    speaker_of = {r["ID"]: r["spk_id"] for r in result.test}
    per_spk = Counter(speaker_of[t.enrol] for t in targets)
    per_pair = Counter(tuple(sorted((speaker_of[t.enrol], speaker_of[t.test]))) for t in nontargets)
    source = (
        f"copied from `{os.path.abspath(opts.trials)}`"
        if opts.trials
        else ("every pair of test utterances" if opts.all_pairs else "drawn balanced and spread evenly")
    )
    lines = [
        "",
        f"trials.txt: {len(result.trials)} trials ({len(targets)} target, {len(nontargets)} non-target), {source}.",
    ]
    if per_spk:
        lines.append(
            f"Target trials per test speaker: {min(per_spk.values())} to {max(per_spk.values())} "
            f"over {len(per_spk)} speakers."
        )
    if per_pair:
        lines.append(
            f"Non-target trials per speaker pair: {min(per_pair.values())} to {max(per_pair.values())} "
            f"over {len(per_pair)} pairs."
        )
    return lines


def _audio_lines(
    opts: PrepareOptions,
    infos: Mapping[str, AudioInfo],
    kept_ids: Set[str],
    short: Sequence[str],
    converted: Mapping[str, Tuple[str, int]],
    copied: Mapping[str, str],
) -> List[str]:
    """``## Audio``: durations, sample rates, channels, converted and copied files, short utterances."""
    kept = [infos[i] for i in sorted(kept_ids)]
    durations = [info.seconds for info in kept]
    lines = ["", "## Audio", ""]
    if durations:
        lo, med, hi = stats(durations)
        lines.append(
            f"- Utterance duration: min {lo:.3f} s, median {med:.3f} s, mean {sum(durations) / len(durations):.3f} s, "
            f"max {hi:.3f} s; total {sum(durations) / 60:.1f} min over {len(durations)} utterances."
        )
        rates = Counter(info.sample_rate for info in kept)
        lines.append("- Source sample rates: " + ", ".join(f"{r} Hz: {n}" for r, n in sorted(rates.items())) + ".")
        channels = Counter(info.channels for info in kept)
        lines.append("- Channels: " + ", ".join(f"{c}: {n}" for c, n in sorted(channels.items())) + ".")
    if converted:
        resampled = sum(1 for i in converted if infos[i].sample_rate != opts.sample_rate)
        downmixed = sum(1 for i in converted if infos[i].channels > 1)
        lines.append(
            f"- Converted copies under `audio/`: {len(converted)} ({resampled} resampled to "
            f"{opts.sample_rate} Hz with scipy.signal.resample_poly, {downmixed} downmixed to mono)."
        )
    if copied:
        lines.append(f"- Copied under `audio/` (--copy_audio): {len(copied)}.")
    verb = "dropped (--drop_short)" if opts.drop_short else "kept (recipes/train.py repeats them to the crop length)"
    lines.append(
        f"- Shorter than --min_seconds {opts.min_seconds:g} s: {len(short)}, {verb}"
        + (f": {listing(short, 20)}" if short else "")
        + "."
    )
    return lines


def _dropped_lines(
    opts: PrepareOptions, result: PrepareResult, short: Sequence[str], dropped_test: Sequence[str]
) -> List[str]:
    """``## Dropped``: a count per reason, then every dropped file with its reason."""
    lines = ["", "## Dropped", ""]
    groups = grouped(result.dropped)
    if not groups and not dropped_test and not (opts.drop_short and short):
        lines.append("Nothing was dropped.")
        return lines
    lines += ["| reason | count |", "|---|---|"]
    lines += [f"| {PROBLEM_KINDS[k][0]} | {len(v)} |" for k, v in groups.items()]
    if opts.drop_short and short:
        lines.append(f"| shorter than {opts.min_seconds:g} s (--drop_short) | {len(short)} |")
    if dropped_test:
        lines.append(f"| test speaker with fewer than 2 utterances | {len(dropped_test)} |")
    for kind, items in groups.items():
        lines += ["", f"### {PROBLEM_KINDS[kind][0]}", ""]
        lines += [f"- `{p.file}`: {p.reason}" for p in items]
    if dropped_test:
        lines += ["", "### test speakers with fewer than 2 utterances", ""]
        lines += [f"- `{i}`" for i in dropped_test]
    return lines


def render_report(
    opts: PrepareOptions,
    result: PrepareResult,
    infos: Mapping[str, AudioInfo],
    kept_ids: Set[str],
    short: Sequence[str],
    dropped_test: Sequence[str],
    converted: Mapping[str, Tuple[str, int]],
    copied: Mapping[str, str],
) -> str:
    """``data_report.md``: what the output holds, what was dropped and why (no timestamps,
    no output path, so the same input and seed give the same bytes)."""
    lines = _header_lines(opts, result)
    lines += _split_lines(result)
    lines += _trial_lines(opts, result)
    lines += _audio_lines(opts, infos, kept_ids, short, converted, copied)
    lines += _dropped_lines(opts, result, short, dropped_test)
    if result.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in result.notes]
    return "\n".join(lines) + "\n"
