"""Comparison of trained systems on the same trial list: one table, one DET plot, every setting.

``recipes/compare.py`` is the thin command; :func:`compare` is all of it:

- the rows: every system's (:func:`custom_modules.studies.comparison_systems.describe_system`,
  evaluated when needed) and, last, the no-learning floor's
  (:func:`custom_modules.studies.comparison_systems.floor_row`); :func:`floor_warnings` flags
  every system above the floor;
- the differences: :func:`paired_differences` (every run against the first, paired speaker
  bootstrap), :func:`seed_summary` (mean, std, min and max over seeds) and
  :func:`seed_averaged_differences` (seed-averaged EER against the first system's);
- the outputs: ``det.png``, ``comparison.json`` and ``comparison.md`` (rendered by
  :mod:`custom_modules.studies.comparison_report`).

Systems that cannot be compared raise :class:`ComparisonError` (the message names the fix).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Any, Dict, List, Sequence

import numpy as np

from custom_modules.diagnostics.floor_check import check_against_floor, training_recipe_facts
from custom_modules.diagnostics.overfitting import is_floor_folder
from custom_modules.diagnostics.verdicts import WARN
from custom_modules.outputs.atomic import OutputError, atomic_path, write_json, write_text
from custom_modules.outputs.output_safety import refuse_output_over
from custom_modules.outputs.provenance import git_commit, hardware, project_path, timestamp
from custom_modules.scoring.bootstrap import paired_speaker_bootstrap, seed_averaged_paired_bootstrap
from custom_modules.scoring.plots import plot_det
from custom_modules.studies.comparison_report import FLOOR_NAME, markdown
from custom_modules.studies.comparison_systems import (
    ComparisonError,
    ComparisonOptions,
    Row,
    describe_system,
    floor_row,
)

__all__ = [
    "FLOOR_NAME",
    "ComparisonError",
    "ComparisonOptions",
    "comparison_folder",
    "floor_warnings",
    "paired_differences",
    "runs_by_system",
    "seed_summary",
    "seed_averaged_differences",
    "compare",
]


def comparison_folder(options: ComparisonOptions) -> str:
    """``<output_root>/<name>``: where :func:`compare` writes."""
    return os.path.join(options.output_root, options.name)


def floor_warnings(rows: List[Row]) -> List[str]:
    """A line for every system whose EER is above the floor row's: the verdict of
    :func:`custom_modules.diagnostics.floor_check.check_against_floor` (the rule eval.py applies too)."""
    floor = next((r for r in rows if r["name"] == FLOOR_NAME), None)
    if floor is None:
        return []
    lines = []
    for r in rows:
        if r["name"] == FLOOR_NAME:
            continue
        verdict = check_against_floor(r["eer"], floor["eer"], **training_recipe_facts(r["folder"]))
        if verdict.status == WARN:
            lines.append(f"WARN {r['system']}: {verdict.reason} (fix: {verdict.fix})")
    return lines


def paired_differences(rows: List[Row], resamples: int, p_targets: Sequence[float]) -> List[Dict[str, Any]]:
    """EER difference of every system against the first, with a paired speaker bootstrap
    (the same resampled speakers for both): not significant when the interval holds 0."""
    trials0, scores0, labels0 = rows[0]["_trials"]
    out = []
    for row in rows[1:]:
        trials, scores, labels = row["_trials"]
        if [(t.enrol, t.test) for t in trials] != [(t.enrol, t.test) for t in trials0]:
            raise ComparisonError(f"{row['system']} and {rows[0]['system']} were scored on different trial lists")
        paired = paired_speaker_bootstrap(
            scores,
            scores0,
            labels,
            [t.enrol for t in trials],
            [t.test for t in trials],
            p_targets=p_targets,
            resamples=resamples,
            seed=0,
            speaker_map=rows[0]["_speakers"],
        )
        d = paired["eer_difference"]
        out.append(
            {
                "system": row["system"],
                "reference": rows[0]["system"],
                "eer_difference": d["value"],
                "interval_95": (d["low"], d["high"]),
                "significant": bool(paired["significant"]),
            }
        )
    return out


def runs_by_system(rows: List[Row]) -> Dict[str, List[Row]]:
    """The rows of each experiment name (its seeds), names in order of first appearance."""
    groups: Dict[str, List[Row]] = defaultdict(list)
    for row in rows:
        groups[row["name"]].append(row)
    return groups


def seed_summary(rows: List[Row]) -> List[Dict[str, Any]]:
    """EER mean, min, max and std (ddof 1) over the seeds of every experiment name with several."""
    summary = []
    for name, members in runs_by_system(rows).items():
        if len(members) < 2:
            continue
        eers = np.array([m["eer"] for m in members])
        summary.append(
            {
                "name": name,
                "seeds": len(members),
                "eer_mean": float(eers.mean()),
                "eer_min": float(eers.min()),
                "eer_max": float(eers.max()),
                "eer_std": float(eers.std(ddof=1)),
            }
        )
    return summary


def seed_averaged_differences(rows: List[Row], resamples: int, p_targets: Sequence[float]) -> List[Dict[str, Any]]:
    """Seed-averaged EER of every system (experiment name) against the first one's, with a
    paired speaker bootstrap in which every run of both systems sees the same resampled
    speakers. Empty unless there are two systems and one of them has several seeds."""
    groups = runs_by_system(rows)
    if len(groups) < 2 or max(len(m) for m in groups.values()) < 2:
        return []
    names = list(groups)
    trials0, _, labels0 = rows[0]["_trials"]
    enrol, test = [t.enrol for t in trials0], [t.test for t in trials0]
    runs = {name: [m["_trials"][1] for m in members] for name, members in groups.items()}
    out = []
    for name in names[1:]:
        res = seed_averaged_paired_bootstrap(
            runs[name],
            runs[names[0]],
            labels0,
            enrol,
            test,
            p_targets=p_targets,
            resamples=resamples,
            seed=0,
            speaker_map=rows[0]["_speakers"],
        )
        d = res["eer_difference"]
        out.append(
            {
                "system": name,
                "reference": names[0],
                "seeds": res["eer_a"]["runs"],
                "reference_seeds": res["eer_b"]["runs"],
                "eer_mean": res["eer_a"]["value"],
                "reference_eer_mean": res["eer_b"]["value"],
                "eer_difference": d["value"],
                "interval_95": (d["low"], d["high"]),
                "significant": bool(res["significant"]),
                "min_dcf_difference": {str(m["p_target"]): m["value"] for m in res["min_dcf_difference"]},
            }
        )
    return out


def _make_output_folder(options: ComparisonOptions) -> str:
    out_folder = comparison_folder(options)
    read = {f"experiment {number}": folder for number, folder in enumerate(options.experiments, start=1)}
    read.update({"the data folder": options.data_folder})
    refuse_output_over(out_folder, read, "--output_root/--name")
    try:
        os.makedirs(out_folder, exist_ok=True)
    except OSError as error:
        raise OutputError(
            f"cannot create {out_folder}: {error.strerror or error}; pass a writable --output_root"
        ) from None
    return out_folder


def _collect_rows(options: ComparisonOptions, out_folder: str) -> List[Row]:
    """Every system's row, then the floor's (unless ``--no_floor`` or a floor folder is given);
    refuses rows on different trial lists or priors."""
    rows = [describe_system(folder, options, out_folder) for folder in options.experiments]
    given_floor = any(is_floor_folder(folder) for folder in options.experiments)  # already a row
    floor = None if options.no_floor or given_floor else floor_row(options.experiments[0], options)
    if floor is not None:
        rows.append(floor)
    trial_lists = {r["trials_sha256"]: r for r in rows}
    if len(trial_lists) > 1:
        listed = "; ".join(f"{r['system']}: {r['trials']} (sha256 {digest[:10]})" for digest, r in trial_lists.items())
        raise ComparisonError(
            f"the systems were evaluated on different trial lists ({listed}); "
            f"pass --trials=<file> to compare them all on one"
        )
    priors = {tuple(r["min_dcf"]) for r in rows}
    if len(priors) > 1:
        raise ComparisonError(
            f"the systems' evaluations measured minDCF at different p_targets {sorted(priors)}; "
            f"evaluate them with the same hparams/eval.yaml p_targets (--reeval)"
        )
    return rows


def compare(options: ComparisonOptions) -> Dict[str, Any]:
    """Evaluate (when needed) and compare ``options.experiments``; write ``<output_root>/<name>/``.

    Parameters
    ----------
    options : ComparisonOptions
        ``recipes/compare.py``'s parsed arguments (any object with these attributes).

    Returns
    -------
    dict
        The report written as ``comparison.json`` (paths relative to the project);
        :func:`custom_modules.studies.comparison_report.markdown` renders it (``comparison.md``).

    Raises
    ------
    ComparisonError
        Systems that cannot be compared (different trial lists or priors) or missing input.
    custom_modules.experiment.ExperimentError
        An experiment folder that cannot be loaded.
    custom_modules.outputs.atomic.OutputError
        An output folder that would overwrite an input or cannot be written.
    """
    out_folder = _make_output_folder(options)
    rows = _collect_rows(options, out_folder)
    p_targets = tuple(float(p) for p in rows[0]["min_dcf"])
    with atomic_path(os.path.join(out_folder, "det.png")) as det:
        plot_det({r["system"]: r.pop("_scores") for r in rows}, det, title=options.name)
    differences = paired_differences(rows, options.resamples, p_targets)
    seed_averaged = seed_averaged_differences(rows, options.resamples, p_targets)
    for row in rows:
        row.pop("_trials"), row.pop("_speakers")
    commit = git_commit()
    report = {
        "name": options.name,
        "trials": rows[0]["trials"],
        "trials_sha256": rows[0]["trials_sha256"],
        "n_target": rows[0]["n_target"],
        "n_nontarget": rows[0]["n_nontarget"],
        "score_norm": options.score_norm,
        "p_targets": list(p_targets),
        "systems": rows,
        "across_seeds": seed_summary(rows),
        "paired_differences": differences,
        "seed_averaged_differences": seed_averaged,
        "floor_warnings": floor_warnings(rows),
        "hardware": hardware(),
        "date": timestamp(),
        "commit": commit,
    }
    # written with paths relative to the project: the committed report stays true on another checkout
    report["trials"] = project_path(report["trials"])
    for row in rows:
        row["trials"] = project_path(row["trials"])
        row["folder"] = project_path(row["folder"]) if row.get("folder") else row.get("folder")
    write_json(os.path.join(out_folder, "comparison.json"), report)
    write_text(os.path.join(out_folder, "comparison.md"), markdown(report))
    return report
