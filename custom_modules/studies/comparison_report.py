"""The markdown report of a comparison of trained systems on one trial list.

:func:`markdown` renders ``comparison.md`` from the report that
:func:`custom_modules.studies.comparison.compare` builds (and writes as ``comparison.json``),
one function per part:

- :func:`intro_lines`: the title and what the figures mean (trials, scoring, intervals);
- :func:`systems_table`: one row per system (EER with its interval, minDCF at every prior the
  evaluations measured, size, cost, training and embedding speed);
- :func:`floor_lines`: what the no-learning floor row is, and a line per system above it;
- :func:`paired_table`: every system's EER against the first one's (paired speaker bootstrap);
- :func:`seeds_table`: the systems with several seeds, summarised across them;
- :func:`seed_averaged_table`: seed-averaged EER against the first system's;
- :func:`footer_lines`: hardware, date, commit and the DET plot.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping

from custom_modules.scoring.metrics import percent_text

__all__ = [
    "FLOOR_NAME",
    "dcf_text",
    "intro_lines",
    "systems_table",
    "floor_lines",
    "paired_table",
    "seeds_table",
    "seed_averaged_table",
    "footer_lines",
    "markdown",
]

FLOOR_NAME = "floor"
"""Name (and system label) of the no-learning floor row."""

Report = Mapping[str, Any]


def dcf_text(row: Mapping[str, Any], p: str) -> str:
    """A row's minDCF at prior ``p`` with its 95% interval, e.g. ``0.9000 [0.800, 1.000]``."""
    low, high = row["min_dcf_interval_95"][p]
    return f"{row['min_dcf'][p]:.4f} [{low:.3f}, {high:.3f}]"


def _significant(difference: Mapping[str, Any]) -> str:
    return "yes" if difference["significant"] else "no"


def intro_lines(report: Report) -> List[str]:
    """The title and the paragraph saying what the table's figures are."""
    return [
        f"# Comparison: {report['name']}",
        "",
        f"Trials `{report['trials']}` ({report['n_target']} target, {report['n_nontarget']} non-target), "
        f"cosine scoring, score normalisation: {report['score_norm']}. minDCF normalised, C_miss = C_fa = 1. "
        f"Intervals: 95%, from a bootstrap over the speakers of the trial list (trials sharing a speaker are not "
        f"independent); with few test speakers they are wide, and that is the honest figure.",
        "",
    ]


def _system_line(row: Mapping[str, Any], priors: List[str]) -> str:
    t = row["training"]
    epoch_seconds = "-" if t["seconds_per_epoch"] is None else f"{t['seconds_per_epoch']:.0f}"
    speed = row["embedding_audio_seconds_per_second"]
    speed = "-" if speed is None else f"{speed:.0f}"
    low, high = row["eer_interval_95"]
    macs = "-" if row["macs_per_second"] is None else f"{row['macs_per_second'] / 1e9:.2f} G"
    return (
        f"| {row['system']} | {percent_text(row['eer'])} | {percent_text(low)} - {percent_text(high)} | "
        + "".join(f"{dcf_text(row, p)} | " for p in priors)
        + f"{row['parameters'] / 1e6:.2f} M | {macs} | {t['epochs'] or '-'} | "
        f"{epoch_seconds} | {speed} |"
    )


def systems_table(report: Report) -> List[str]:
    """The main table: one row per system, a minDCF column per prior the evaluations measured
    (the keys of the first row's ``min_dcf``)."""
    priors = list(report["systems"][0]["min_dcf"])
    lines = [
        "| system | EER | EER 95% interval | "
        + "".join(f"minDCF p={p} [95%] | " for p in priors)
        + "parameters | MACs / s audio | epochs | train s / epoch | embedding speed (s audio / s) |",
        "|---|---|---|" + "---|" * len(priors) + "---|---|---|---|---|",
    ]
    return lines + [_system_line(row, priors) for row in report["systems"]]


def floor_lines(report: Report) -> List[str]:
    """What the floor row is (when there is one) and the report's floor warnings."""
    lines: List[str] = []
    floor = next((r for r in report["systems"] if r["name"] == FLOOR_NAME), None)
    if floor is not None:
        lines += [
            "",
            f"`{FLOOR_NAME}`: {floor['description']}, scored on the same trials: what a system gets "
            "without learning anything about voices.",
        ]
    return lines + [f"\n{line}" for line in report.get("floor_warnings", [])]


def paired_table(report: Report) -> List[str]:
    """Every system's EER difference to the first system's; empty without differences."""
    if not report["paired_differences"]:
        return []
    lines = [
        "",
        f"Paired speaker bootstrap against {report['systems'][0]['system']} (same resampled speakers):",
        "",
        "| system | EER difference | 95% interval | significant |",
        "|---|---|---|---|",
    ]
    for d in report["paired_differences"]:
        low, high = d["interval_95"]
        lines.append(
            f"| {d['system']} | {100 * d['eer_difference']:+.2f} points | {100 * low:+.2f} to {100 * high:+.2f} | "
            f"{_significant(d)} |"
        )
    return lines


def seeds_table(report: Report) -> List[str]:
    """EER mean, std, min and max of every system with several seeds; empty without one."""
    if not report["across_seeds"]:
        return []
    lines = [
        "",
        "Across seeds:",
        "",
        "| system | seeds | EER mean | EER std | EER min - max |",
        "|---|---|---|---|---|",
    ]
    for s in report["across_seeds"]:
        lines.append(
            f"| {s['name']} | {s['seeds']} | {percent_text(s['eer_mean'])} | {percent_text(s['eer_std'])} | "
            f"{percent_text(s['eer_min'])} - {percent_text(s['eer_max'])} |"
        )
    return lines


def seed_averaged_table(report: Report) -> List[str]:
    """Seed-averaged EER of every system against the first one's; empty when the report has
    none (or, as an older report, no such key)."""
    averaged = report.get("seed_averaged_differences")
    if not averaged:
        return []
    lines = [
        "",
        f"Seed-averaged EER against {averaged[0]['reference']} "
        "(every run of both systems on the same resampled speakers in each bootstrap round):",
        "",
        "| system | seeds | mean EER | reference seeds | reference mean EER | difference | 95% interval | significant |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for d in averaged:
        low, high = d["interval_95"]
        lines.append(
            f"| {d['system']} | {d['seeds']} | {percent_text(d['eer_mean'])} | {d['reference_seeds']} | "
            f"{percent_text(d['reference_eer_mean'])} | {100 * d['eer_difference']:+.2f} points | "
            f"{100 * low:+.2f} to {100 * high:+.2f} | {_significant(d)} |"
        )
    return lines


def footer_lines(report: Report) -> List[str]:
    """Where and when the figures were measured, and the DET plot."""
    return [
        "",
        f"Hardware: {report['hardware']}. Date {report['date']}, commit {report['commit']}. "
        f"Training seconds per epoch are medians over the run's epochs (validation excluded); embedding speed is "
        f"measured while embedding the trial utterances. Exact hparams of each system: `hparams/`.",
        "",
        "![DET](det.png)",
    ]


def markdown(report: Dict[str, Any]) -> str:
    """Render ``comparison.md`` from a comparison report.

    Parameters
    ----------
    report : dict
        As :func:`custom_modules.studies.comparison.compare` returns it (``comparison.json``).

    Returns
    -------
    str
        The markdown text, ending with a newline.
    """
    lines = (
        intro_lines(report)
        + systems_table(report)
        + floor_lines(report)
        + paired_table(report)
        + seeds_table(report)
        + seed_averaged_table(report)
        + footer_lines(report)
    )
    return "\n".join(lines) + "\n"
