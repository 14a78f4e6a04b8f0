#!/usr/bin/env python3
"""Compare trained systems on the same trial list: one table, one DET plot, every setting.

    python recipes/compare.py exp/res2net_am_demo/1986 exp/ecapa_aam_demo/1986 --name dev_demo
    python recipes/compare.py <experiment folders...> [--trials FILE --test_annotation CSV] [--score_norm as]

The no-learning floor (cepstral mean + std, cosine; built by the evaluation from the first
system's training data and scored on the same trials) is always the last row (--no_floor
leaves it out), and a system above it is flagged as worse than learning nothing.

Bootstrap speakers are the test CSV's spk_id (the one the evaluation used, or --test_annotation),
never a part of an utterance ID.

Each experiment is evaluated as recipes/eval.py does, in this process (custom_modules/evaluation.py),
on the same trials (its existing
results, in the evaluation folder keyed by the trial list's content, are reused; --reeval
forces a new run); results of different trial lists are never mixed in one table.
Writes results/<name>/comparison.md and comparison.json (EER with a 95% interval from a
bootstrap over the trial list's speakers, minDCF at the evaluations' p_targets (hparams/eval.yaml),
parameters, multiply-accumulates per second of audio, training seconds per epoch,
embedding extraction speed), det.png with every system, hparams/<system>.yaml (the exact
hparams each system was trained with) and logs/<system>.metrics.jsonl and
.eval_summary.md (how it trained and what its evaluation said). Systems that share an
experiment name but differ in seed are also summarised across seeds (mean, std, min and
max), and when one has several seeds every system's
seed-averaged EER is compared with the first system's by a paired speaker bootstrap
(every run of both on the same resampled speakers).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import os
import shutil
from collections import defaultdict
from typing import Dict, List, Optional

import numpy as np

from custom_modules.data.dataio import DataError, read_speaker_csv
from custom_modules.diagnostics.floor_check import check_against_floor, training_recipe_facts
from custom_modules.diagnostics.overfitting import is_floor_folder
from custom_modules.diagnostics.verdicts import WARN
from custom_modules.evaluation import EVALUATION_ERRORS, evaluate, load_eval_hparams
from custom_modules.experiment import (
    RECORD,
    ExperimentError,
    default_eval_folder,
    file_sha256,
    is_pretrained_folder,
    load_experiment,
)
from custom_modules.models.model_cost import count_parameters, macs_per_second
from custom_modules.outputs.atomic import OutputError, atomic_path, write_json, write_text
from custom_modules.outputs.output_safety import refuse_output_over
from custom_modules.outputs.provenance import git_commit, hardware, project_path, timestamp
from custom_modules.scoring.bootstrap import (
    paired_speaker_bootstrap,
    seed_averaged_paired_bootstrap,
    speaker_bootstrap_trials,
)
from custom_modules.scoring.metrics import percent_text, verification_metrics
from custom_modules.scoring.normalisation import NORM_METHODS
from custom_modules.scoring.plots import plot_det
from custom_modules.scoring.trials import read_scores

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def system_label(folder: str) -> str:
    """``exp/res2net_am_demo/1986`` -> ``res2net_am_demo/1986`` (name/seed of a training run);
    a model folder (exported, pretrained, floor) has no seed level: ``exp/floor`` -> ``floor``."""
    parts = os.path.normpath(os.path.abspath(folder)).split(os.sep)
    return parts[-1] if is_pretrained_folder(folder) else "/".join(parts[-2:])


def trial_list(folder: str, args) -> str:
    """The trial list ``folder`` is compared on: ``--trials``, else ``trials.txt`` of
    ``--data_folder`` or of the data folder the experiment was trained from."""
    if args.trials:
        return args.trials
    data_folder = args.data_folder
    if data_folder is None and os.path.isfile(os.path.join(folder, RECORD)):
        with open(os.path.join(folder, RECORD)) as handle:
            data_folder = json.load(handle).get("data_folder")
    if data_folder is None:
        raise SystemExit(
            f"error: {folder} names no data folder (a model folder); pass --trials=<file> or --data_folder=<dir>"
        )
    return os.path.join(data_folder, "trials.txt")


def evaluation(folder: str, args, force: bool = False) -> Dict:
    """results.json of the experiment on its trial list (:func:`trial_list`), from the
    evaluation folder keyed by that list's content, evaluating in this process if it is missing
    (or always, with ``force``). ``_folder`` (not in the file) is where it lies."""
    trials = trial_list(folder, args)
    try:
        out = default_eval_folder(folder, trials)
    except DataError as error:
        raise SystemExit(f"error: {error}") from None
    results_path = os.path.join(out, "results.json")
    if os.path.isfile(results_path) and not args.reeval and not force:
        with open(results_path) as handle:
            results = json.load(handle)
        if results.get("trials_sha256") == file_sha256(trials) and args.score_norm in results["systems"]:
            return {**results, "_folder": out}
    overrides = {
        "experiment": folder,
        "score_norm": ",".join(dict.fromkeys(["none", args.score_norm])),
        "output_folder": out,
        "trials": trials,
    }
    for key in ("test_annotation", "data_folder"):
        if getattr(args, key):
            overrides[key] = getattr(args, key)
    print(f"evaluating {folder} on {trials} ...", flush=True)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # its summary; the table below has the figures
            results = evaluate(load_eval_hparams(overrides), "cpu")
    except EVALUATION_ERRORS as error:
        raise SystemExit(f"error: evaluating {folder} failed: {error}") from None
    return {**results, "_folder": out}


def feature_dim(experiment) -> int:
    """Features per frame the encoder takes (from the feature pipeline itself)."""
    import torch

    with torch.no_grad():
        return int(experiment.extractor.compute_features(torch.zeros(1, 16000)).shape[-1])


def training_seconds(folder: str) -> Dict[str, Optional[float]]:
    path = os.path.join(folder, "metrics.jsonl")
    if not os.path.isfile(path):
        return {"epochs": None, "seconds_per_epoch": None, "total_seconds": None}
    with open(path) as handle:
        seconds = [json.loads(line)["train"]["seconds"] for line in handle if line.strip()]
    return {
        "epochs": len(seconds),
        "seconds_per_epoch": float(np.median(seconds)),
        "total_seconds": float(sum(seconds)),
    }


def copy_logs(folder: str, scores_file: str, logs_folder: str, stem: str) -> None:
    """Keep the run's per-epoch metrics and its evaluation summary beside the comparison
    (``logs/<name>_<seed>.metrics.jsonl`` and ``.eval_summary.md``), so that a committed
    results folder still shows how each row was trained once ``exp/`` is gone."""
    sources = {
        "metrics.jsonl": os.path.join(folder, "metrics.jsonl"),
        "eval_summary.md": os.path.join(os.path.dirname(scores_file), "summary.md"),
    }
    for suffix, source in sources.items():
        if os.path.isfile(source):
            os.makedirs(logs_folder, exist_ok=True)
            shutil.copyfile(source, os.path.join(logs_folder, f"{stem}.{suffix}"))


def trial_fields(folder: str, results: Dict, args, trials: list, scores: np.ndarray, labels: np.ndarray) -> Dict:
    """A row's trial list and, for the paired comparisons (keys starting with ``_``, not
    written), its scores and the utterance -> speaker map."""
    return {
        "trials": results["trials"],
        "trials_sha256": results["trials_sha256"],
        "n_target": results["n_target"],
        "n_nontarget": results["n_nontarget"],
        "_scores": (scores[labels == 1], scores[labels == 0]),
        "_trials": (trials, scores, labels),
        "_speakers": speaker_map(folder, results, args),
    }


def metric_fields(metrics: Dict, interval: Dict) -> Dict:
    """A row's EER and minDCF with their speaker-bootstrap intervals."""
    return {
        "eer": metrics["eer"],
        "eer_interval_95": (interval["eer"]["low"], interval["eer"]["high"]),
        "min_dcf": {str(d["p_target"]): d["min_dcf"] for d in metrics["min_dcf"]},
        "min_dcf_interval_95": {str(d["p_target"]): (d["low"], d["high"]) for d in interval["min_dcf"]},
        "bootstrap_warning": interval["warning"],
        "n_speakers": interval["n_speakers"],
    }


def describe_system(folder: str, args, out_folder: str) -> Dict:
    experiment = load_experiment(folder, "last")  # for the encoder's size and cost only
    results = evaluation(folder, args)
    metrics = results["systems"][args.score_norm]
    scores_file = scores_path(folder, results, f"scores_{args.score_norm}.txt")
    trials, scores = read_scores(scores_file)
    labels = np.array([t.label for t in trials])
    p_targets = tuple(results["p_targets"])  # the priors the evaluation measured (hparams/eval.yaml)
    interval = speaker_bootstrap_trials(
        trials,
        scores,
        p_targets=p_targets,
        resamples=args.resamples,
        seed=0,
        speaker_map=speaker_map(folder, results, args),
    )
    label = system_label(folder)
    hparams_copy = os.path.join(out_folder, "hparams", label.replace("/", "_") + ".yaml")
    os.makedirs(os.path.dirname(hparams_copy), exist_ok=True)
    shutil.copyfile(os.path.join(folder, "hyperparams.yaml"), hparams_copy)
    copy_logs(folder, scores_file, os.path.join(out_folder, "logs"), label.replace("/", "_"))
    encoder = experiment.extractor.embedding_model
    return {
        "system": label,
        "name": label.split("/")[0],
        "folder": os.path.abspath(folder),
        "checkpoint": os.path.basename(results.get("checkpoint") or experiment.checkpoint),  # the evaluated one
        **metric_fields(metrics, interval),
        "parameters": count_parameters(encoder),
        "macs_per_second": macs_per_second(encoder, feature_dim(experiment)),
        "training": training_seconds(folder),
        "embedding_audio_seconds_per_second": (results.get("embedding") or {}).get("audio_seconds_per_second"),
        "hparams_copy": os.path.relpath(hparams_copy, out_folder),
        **trial_fields(folder, results, args, trials, scores, labels),
    }


FLOOR_NAME = "floor"


def speaker_map(folder: str, results: Dict, args) -> Dict[str, str]:
    """Utterance -> speaker of the trial list, from the test CSV's ``spk_id`` that the
    evaluation used (the bootstrap resamples these speakers, never a part of an ID's text)."""
    csv = args.test_annotation or results.get("test_annotation")
    if not csv:
        raise SystemExit(
            f"error: {folder}: its evaluation does not name its test CSV (made before eval.py recorded "
            f"it); pass --test_annotation=<csv> or --reeval"
        )
    try:
        return csv_speakers(csv)
    except DataError as error:
        raise SystemExit(f"error: {error}") from None


@functools.lru_cache(maxsize=None)
def csv_speakers(csv: str) -> Dict[str, str]:
    """ID -> spk_id of a speaker CSV, read once per compare run however many rows share it."""
    return {row["ID"]: row["spk_id"] for row in read_speaker_csv(csv)}


def scores_path(folder: str, results: Dict, filename: str) -> str:
    """A scores file of the evaluation that ``results`` came from (:func:`evaluation`)."""
    return os.path.join(results["_folder"], filename)


def floor_row(folder: str, args) -> Optional[Dict]:
    """The no-learning floor as a row of the table, from the floor scores that the evaluation
    wrote beside the first system's (the same trials; raw cosine). An evaluation made before
    eval.py wrote them is run again. None, with a note, when there is no floor (a pretrained
    or exported model folder names no training data)."""
    results = evaluation(folder, args)
    if not (results.get("floor") or {}).get("scores_file"):
        results = evaluation(folder, args, force=True)
    floor = results.get("floor") or {}
    if not floor.get("scores_file"):
        note = (results.get("floor_comparison") or {}).get("note") or "no floor scores"
        print(f"note: no floor row: {note}")
        return None
    trials, scores = read_scores(scores_path(folder, results, floor["scores_file"]))
    labels = np.array([t.label for t in trials])
    p_targets = tuple(results["p_targets"])
    metrics = verification_metrics(scores[labels == 1], scores[labels == 0], p_targets=p_targets)
    interval = speaker_bootstrap_trials(
        trials,
        scores,
        p_targets=p_targets,
        resamples=args.resamples,
        seed=0,
        speaker_map=speaker_map(folder, results, args),
    )
    return {
        "system": FLOOR_NAME,
        "name": FLOOR_NAME,
        "description": f"no learning: {floor['system']} (raw cosine; global statistics of "
        f"{floor['train_utterances']} training utterances)",
        "folder": None,
        "checkpoint": None,
        **metric_fields(metrics, interval),
        "parameters": 0,
        "macs_per_second": None,
        "training": {"epochs": None, "seconds_per_epoch": None, "total_seconds": None},
        "embedding_audio_seconds_per_second": None,
        "hparams_copy": None,
        **trial_fields(folder, results, args, trials, scores, labels),
    }


def floor_warnings(rows: List[Dict]) -> List[str]:
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


def paired_differences(rows: List[Dict], resamples: int, p_targets) -> List[Dict]:
    """EER difference of every system against the first, with a paired speaker bootstrap
    (the same resampled speakers for both): not significant when the interval holds 0."""
    trials0, scores0, labels0 = rows[0]["_trials"]
    out = []
    for row in rows[1:]:
        trials, scores, labels = row["_trials"]
        if [(t.enrol, t.test) for t in trials] != [(t.enrol, t.test) for t in trials0]:
            raise SystemExit(f"error: {row['system']} and {rows[0]['system']} were scored on different trial lists")
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


def runs_by_system(rows: List[Dict]) -> Dict[str, List[Dict]]:
    """The rows of each experiment name (its seeds), names in order of first appearance."""
    groups: Dict[str, List[Dict]] = defaultdict(list)
    for row in rows:
        groups[row["name"]].append(row)
    return groups


def seed_summary(rows: List[Dict]) -> List[Dict]:
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


def seed_averaged_differences(rows: List[Dict], resamples: int, p_targets) -> List[Dict]:
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


def dcf_text(row: Dict, p: str) -> str:
    low, high = row["min_dcf_interval_95"][p]
    return f"{row['min_dcf'][p]:.4f} [{low:.3f}, {high:.3f}]"


def markdown(report: Dict) -> str:
    priors = list(report["systems"][0]["min_dcf"])  # the p_targets, as the rows' keys
    lines = [
        f"# Comparison: {report['name']}",
        "",
        f"Trials `{report['trials']}` ({report['n_target']} target, {report['n_nontarget']} non-target), "
        f"cosine scoring, score normalisation: {report['score_norm']}. minDCF normalised, C_miss = C_fa = 1. "
        f"Intervals: 95%, from a bootstrap over the speakers of the trial list (trials sharing a speaker are not "
        f"independent); with few test speakers they are wide, and that is the honest figure.",
        "",
        "| system | EER | EER 95% interval | "
        + "".join(f"minDCF p={p} [95%] | " for p in priors)
        + "parameters | MACs / s audio | epochs | train s / epoch | embedding speed (s audio / s) |",
        "|---|---|---|" + "---|" * len(priors) + "---|---|---|---|---|",
    ]
    for r in report["systems"]:
        t = r["training"]
        epoch_seconds = "-" if t["seconds_per_epoch"] is None else f"{t['seconds_per_epoch']:.0f}"
        speed = r["embedding_audio_seconds_per_second"]
        speed = "-" if speed is None else f"{speed:.0f}"
        low, high = r["eer_interval_95"]
        macs = "-" if r["macs_per_second"] is None else f"{r['macs_per_second'] / 1e9:.2f} G"
        lines.append(
            f"| {r['system']} | {percent_text(r['eer'])} | {percent_text(low)} - {percent_text(high)} | "
            + "".join(f"{dcf_text(r, p)} | " for p in priors)
            + f"{r['parameters'] / 1e6:.2f} M | {macs} | {t['epochs'] or '-'} | "
            f"{epoch_seconds} | {speed} |"
        )
    floor = next((r for r in report["systems"] if r["name"] == FLOOR_NAME), None)
    if floor is not None:
        lines += [
            "",
            f"`{FLOOR_NAME}`: {floor['description']}, scored on the same trials: what a system gets "
            "without learning anything about voices.",
        ]
    lines += [f"\n{line}" for line in report.get("floor_warnings", [])]
    if report["paired_differences"]:
        lines += [
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
                f"{'yes' if d['significant'] else 'no'} |"
            )
    if report["across_seeds"]:
        lines += [
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
    if report.get("seed_averaged_differences"):
        lines += [
            "",
            f"Seed-averaged EER against {report['seed_averaged_differences'][0]['reference']} "
            "(every run of both systems on the same resampled speakers in each bootstrap round):",
            "",
            "| system | seeds | mean EER | reference seeds | reference mean EER | difference | 95% interval | significant |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for d in report["seed_averaged_differences"]:
            low, high = d["interval_95"]
            lines.append(
                f"| {d['system']} | {d['seeds']} | {percent_text(d['eer_mean'])} | {d['reference_seeds']} | "
                f"{percent_text(d['reference_eer_mean'])} | {100 * d['eer_difference']:+.2f} points | "
                f"{100 * low:+.2f} to {100 * high:+.2f} | {'yes' if d['significant'] else 'no'} |"
            )
    lines += [
        "",
        f"Hardware: {report['hardware']}. Date {report['date']}, commit {report['commit']}. "
        f"Training seconds per epoch are medians over the run's epochs (validation excluded); embedding speed is "
        f"measured while embedding the trial utterances. Exact hparams of each system: `hparams/`.",
        "",
        "![DET](det.png)",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiments", nargs="+", help="recipes/train.py output folders")
    parser.add_argument("--name", default="comparison", help="results/<name>/ receives the outputs")
    parser.add_argument("--trials", help="trial list (default: each experiment's data_folder/trials.txt)")
    parser.add_argument("--test_annotation", help="CSV of the trial utterances (default: data_folder/test.csv)")
    parser.add_argument("--data_folder", help="folder the test CSV's relative paths start from")
    parser.add_argument("--score_norm", default="none", choices=list(NORM_METHODS))
    parser.add_argument("--reeval", action="store_true", help="evaluate again even if results exist")
    parser.add_argument("--resamples", type=int, default=1000, help="speaker bootstrap resamples")
    parser.add_argument("--output_root", default=os.path.join(ROOT, "results"))
    parser.add_argument(
        "--no_floor",
        action="store_true",
        help="leave out the no-learning floor row (built from the first system's training data)",
    )
    args = parser.parse_args(argv)
    try:
        compare(args)
    except (ExperimentError, OutputError) as error:
        raise SystemExit(f"error: {error}") from None


def compare(args) -> None:
    """Evaluate (when needed) and compare ``args.experiments``; write results/<name>/."""
    out_folder = os.path.join(args.output_root, args.name)
    read = {f"experiment {number}": folder for number, folder in enumerate(args.experiments, start=1)}
    read.update({"the data folder": args.data_folder})
    refuse_output_over(out_folder, read, "--output_root/--name")
    try:
        os.makedirs(out_folder, exist_ok=True)
    except OSError as error:
        raise OutputError(
            f"cannot create {out_folder}: {error.strerror or error}; pass a writable --output_root"
        ) from None
    try:
        rows = [describe_system(folder, args, out_folder) for folder in args.experiments]
        given_floor = any(is_floor_folder(folder) for folder in args.experiments)  # already a row
        floor = None if args.no_floor or given_floor else floor_row(args.experiments[0], args)
    except ExperimentError as error:
        raise SystemExit(f"error: {error}") from None
    if floor is not None:
        rows.append(floor)
    trial_lists = {r["trials_sha256"]: r for r in rows}
    if len(trial_lists) > 1:
        listed = "; ".join(f"{r['system']}: {r['trials']} (sha256 {digest[:10]})" for digest, r in trial_lists.items())
        raise SystemExit(
            f"error: the systems were evaluated on different trial lists ({listed}); "
            f"pass --trials=<file> to compare them all on one"
        )
    priors = {tuple(r["min_dcf"]) for r in rows}
    if len(priors) > 1:
        raise SystemExit(
            f"error: the systems' evaluations measured minDCF at different p_targets {sorted(priors)}; "
            f"evaluate them with the same hparams/eval.yaml p_targets (--reeval)"
        )
    p_targets = tuple(float(p) for p in rows[0]["min_dcf"])
    with atomic_path(os.path.join(out_folder, "det.png")) as det:
        plot_det({r["system"]: r.pop("_scores") for r in rows}, det, title=args.name)
    differences = paired_differences(rows, args.resamples, p_targets)
    seed_averaged = seed_averaged_differences(rows, args.resamples, p_targets)
    for row in rows:
        row.pop("_trials"), row.pop("_speakers")
    commit = git_commit()
    report = {
        "name": args.name,
        "trials": rows[0]["trials"],
        "trials_sha256": rows[0]["trials_sha256"],
        "n_target": rows[0]["n_target"],
        "n_nontarget": rows[0]["n_nontarget"],
        "score_norm": args.score_norm,
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
    text = markdown(report)
    write_text(os.path.join(out_folder, "comparison.md"), text)
    print(text)
    print(f"outputs in {out_folder}")


if __name__ == "__main__":
    main()
