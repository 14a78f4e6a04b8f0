"""Verification of a trained model on a trial list as a library function: what
``recipes/eval.py`` runs.

:func:`evaluate` embeds every utterance of a trial list once, scores the trials by cosine
(optionally z/t/s/adaptive-s normalised), measures EER, minDCF and min Cllr with speaker
bootstrap intervals, builds the no-learning floor on the same trials, runs the floor and
speaker-overfitting checks and writes results.json, summary.md, scores and plots through a
staging folder. :func:`load_eval_hparams` reads ``hparams/eval.yaml`` with overrides, so other
commands (``recipes/crossval.py``) evaluate in-process. The outputs are described in
``recipes/eval.py``.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Optional, Tuple

import numpy as np
from hyperpyyaml import load_hyperpyyaml

from custom_modules.data.dataio import DataError, read_speaker_csv, row_segments, write_speaker_csv
from custom_modules.diagnostics.floor_check import check_against_floor, training_recipe_facts
from custom_modules.diagnostics.overfitting import (
    OVERFITTING_ACCURACY,
    OVERFITTING_MARGIN_POINTS,
    NotApplicable,
    check_speaker_overfitting,
    is_floor_folder,
    read_training_figures,
)
from custom_modules.diagnostics.verdicts import Verdict, format_verdict
from custom_modules.experiment import (
    Experiment,
    ExperimentError,
    checkpoint_epoch,
    default_eval_folder,
    file_sha256,
    load_experiment,
    load_pretrained,
    trials_digest,
)
from custom_modules.models.embedding import embed_utterances, segment_length
from custom_modules.models.floor import build_floor_folder
from custom_modules.outputs.atomic import OutputError, ensure_writable_folder, staged_outputs, write_json, write_text
from custom_modules.outputs.output_safety import refuse_output_over
from custom_modules.outputs.provenance import PROJECT_ROOT, git_commit, timestamp
from custom_modules.outputs.run_lock import FolderBusy, hold_folder_lock
from custom_modules.scoring.bootstrap import speaker_bootstrap_trials
from custom_modules.scoring.calibration import actual_dcf, cllr, fit_linear_calibration, min_cllr
from custom_modules.scoring.cosine import cosine_trial_scores
from custom_modules.scoring.metrics import equal_error_rate, verification_metrics
from custom_modules.scoring.normalisation import NORM_METHODS, cohort_statistics, normalise_scores, speaker_mean_cohort
from custom_modules.scoring.plots import plot_det, plot_score_histogram
from custom_modules.scoring.trials import check_trial_ids, parse_trials, read_scores, require_scoreable, write_scores

EVALUATION_ERRORS = (DataError, ExperimentError, FolderBusy, OutputError, ValueError)
"""What :func:`evaluate` raises for input the user can fix (the message names it); the
commands that call it end with that message in one line."""

NORMS = NORM_METHODS  # scoring.NORM_METHODS: the one list of score normalisations
FLOOR_SCORES = "scores_floor.txt"  # the floor's cosine scores on the same trials
# what an evaluation writes: a rerun into the same folder replaces all of them at once
EVAL_OUTPUTS = (
    "scores_*.txt",
    "results.json",
    "summary.md",
    "det.png",
    "score_hist.png",
    "embeddings.npz",
    "calibration.json",
)
FLOOR_MAX_UTTERANCES = 2000  # training utterances the floor's global mean and std are taken from


def experiment_name(folder: str) -> str:
    """``exp/res2net_am_demo/1986`` -> ``res2net_am_demo/1986``."""
    parts = os.path.normpath(os.path.abspath(folder)).split(os.sep)
    return "/".join(parts[-2:])


def resolve_settings(hparams: dict, record: dict) -> dict:
    """Fill the null data settings from the experiment and validate the rest."""
    data_folder = hparams["data_folder"] or record["data_folder"]
    if data_folder is None:
        raise SystemExit("error: a pretrained model folder has no data folder of its own; pass --data_folder")
    settings = {
        "data_folder": data_folder,
        "trials": hparams["trials"] or os.path.join(data_folder, "trials.txt"),
        "test_annotation": hparams["test_annotation"] or os.path.join(data_folder, "test.csv"),
    }
    norms = [n.strip() for n in str(hparams["score_norm"]).split(",") if n.strip()]
    unknown = [n for n in norms if n not in NORMS]
    if not norms or unknown:
        raise SystemExit(f"error: score_norm {hparams['score_norm']!r}: use one or more of {', '.join(NORMS)}")
    if hparams["cohort"] not in ("speakers", "utterances"):
        raise SystemExit(f"error: cohort must be 'speakers' or 'utterances', got {hparams['cohort']!r}")
    settings["norms"] = norms
    settings["trials_sha256"] = trials_digest(settings["trials"])  # hashed once: folder name and results
    settings["output_folder"] = hparams["output_folder"] or default_eval_folder(
        hparams["experiment"], settings["trials"], settings["trials_sha256"]
    )
    return settings


def embed_rows(experiment, rows, data_folder, hparams, device, what):
    """Embeddings of CSV rows, and the timing: (embeddings, {audio_seconds, seconds})."""
    segments = row_segments(rows, data_folder)
    rate = experiment.record["sample_rate"]
    start = time.time()
    emb = embed_utterances(
        experiment.extractor, segments, sample_rate=rate, batch_size=hparams["batch_size"], device=device, progress=True
    )
    timing = {"audio_seconds": sum(segment_length(*s) for s in segments) / rate, "seconds": time.time() - start}
    print(f"embedded {len(rows)} {what} ({timing['audio_seconds']:.0f} s of audio) in {timing['seconds']:.1f} s")
    return emb, timing


def calibration_scores(path: str) -> Tuple[np.ndarray, np.ndarray]:
    """The scores and labels of ``--calibrate_on``, checked before anything is embedded:
    readable, with target and non-target trials (errors name the file)."""
    try:
        trials_cal, scores_cal = read_scores(path)
        require_scoreable(trials_cal, path)
    except ValueError as error:
        raise ValueError(f"--calibrate_on: {error}") from None
    return scores_cal, np.array([t.label for t in trials_cal])


def calibrate(
    hparams: dict, raw: np.ndarray, labels: np.ndarray, scores_cal: np.ndarray, labels_cal: np.ndarray
) -> dict:
    """Fit a linear calibration on another trial list's raw scores and measure it here."""
    p_target = float(hparams["calibration_p_target"])
    model = fit_linear_calibration(scores_cal[labels_cal == 1], scores_cal[labels_cal == 0], p_target=p_target)
    llr = model.apply(raw)
    return {
        **model.to_dict(),
        "trials": os.path.abspath(hparams["calibrate_on"]),
        "cllr": cllr(llr[labels == 1], llr[labels == 0]),
        "min_cllr": min_cllr(raw[labels == 1], raw[labels == 0]),
        "act_dcf": {str(p): actual_dcf(llr[labels == 1], llr[labels == 0], p_target=p) for p in hparams["p_targets"]},
    }


def floor_eer(
    experiment: Experiment,
    trials: list,
    rows: list,
    index: dict,
    labels: np.ndarray,
    data_folder: str,
    hparams: dict,
    device: str,
) -> Tuple[dict, np.ndarray]:
    """EER of the no-learning floor system on the same trials, with how it was built, and
    its trial scores.

    :func:`custom_modules.models.floor.build_floor_folder` with its defaults (20 MFCCs over 40 Mel bins, global mean and std
    of ``<data_folder>/train.csv``) on the experiment's data folder, as the README's floor
    figures were made; the experiment's own training split when the data folder has no
    train.csv; an evenly spaced subset of at most ``FLOOR_MAX_UTTERANCES`` utterances of
    a bigger CSV. It is written into a temporary folder, loaded like any model folder, and
    its embeddings of the trial utterances are scored by cosine like the model's.
    Raises ``DataError``/``ExperimentError`` when the
    training CSV cannot be read.
    """
    start = time.time()
    record = experiment.record
    source = os.path.join(record["data_folder"], "train.csv")
    if not os.path.isfile(source):
        source = record["train_csv"]
    train_rows = read_speaker_csv(source)
    step = max(1, -(-len(train_rows) // FLOOR_MAX_UTTERANCES))
    subset = train_rows[::step]
    with tempfile.TemporaryDirectory(prefix="floor_") as folder:
        csv = source
        if len(subset) < len(train_rows):
            csv = os.path.join(folder, "train_subset.csv")
            write_speaker_csv(csv, subset)
        build_floor_folder(record["data_folder"], os.path.join(folder, "floor"), csv, sample_rate=record["sample_rate"])
        floor = load_pretrained(os.path.join(folder, "floor"), device, sample_rate=record["sample_rate"])
        embeddings, _ = embed_rows(floor, rows, data_folder, hparams, device, "trial utterances with the floor system")
    scores = cosine_trial_scores(trials, embeddings, index)
    eer = equal_error_rate(scores[labels == 1], scores[labels == 0])
    print(
        f"no-learning floor: EER {100 * eer.eer:.2f}% on the same trials (global statistics of {len(subset)} "
        f"training utterances; {time.time() - start:.1f} s in all)"
    )
    figures = {
        "eer": eer.eer,
        "eer_threshold": eer.threshold,
        "system": f"{floor.extractor.embedding_model.input_size} MFCC mean + std per utterance, standardised, cosine",
        "n_mfcc": int(floor.extractor.embedding_model.input_size),
        "train_csv": os.path.abspath(source),
        "train_utterances": len(subset),
        "seconds": round(time.time() - start, 1),
    }
    return figures, scores


def training_overlap(experiment: Experiment, rows: list, data_folder: str) -> Optional[dict]:
    """Trial utterances that the model was trained on (the same audio segment as a row of its
    training split), with a printed WARN: their scores say how well it remembers, not how it
    verifies new voices. None when the folder names no training split."""
    train_csv = experiment.record.get("train_csv")
    if not train_csv or not os.path.isfile(train_csv):
        return None
    trained = set(row_segments(read_speaker_csv(train_csv), experiment.record.get("data_folder") or ""))
    reused = [row["ID"] for row, segment in zip(rows, row_segments(rows, data_folder)) if segment in trained]
    section = {"utterances": len(reused), "of": len(rows), "examples": reused[:5], "train_csv": train_csv}
    if reused:
        print(
            f"WARN: {len(reused)} of the {len(rows)} trial utterances are in the model's training split "
            f"({train_csv}), e.g. {reused[:3]}: their trials measure memory, not verification of new speakers; "
            f"score trials of held-out speakers"
        )
    return section


def no_learning_floor(
    experiment: Experiment,
    trials: list,
    rows: list,
    index: dict,
    labels: np.ndarray,
    data_folder: str,
    hparams: dict,
    device: str,
) -> Tuple[Optional[dict], Optional[np.ndarray], str]:
    """The floor's figures and trial scores, or (None, None, why not) for the floor system
    itself or when it cannot be built (a diagnostic never costs the evaluation)."""
    if is_floor_folder(hparams["experiment"]):
        return None, None, f"{hparams['experiment']} is the no-learning floor system itself"
    if not experiment.record.get("data_folder"):
        return None, None, "the floor is built from training data, and this model folder names none"
    try:
        floor, scores = floor_eer(experiment, trials, rows, index, labels, data_folder, hparams, device)
    except (DataError, ExperimentError, OSError) as error:
        return None, None, f"the floor system could not be built ({error})"
    return floor, scores, ""


def speaker_overfitting(
    hparams: dict, experiment: Experiment, eer: float, floor: Optional[dict], why_no_floor: str
) -> dict:
    """The speaker overfitting check of an evaluated experiment (results.json section).
    Skipped, with a note and no verdict, for folders without a training record
    (pretrained, exported, the floor itself) or without a floor."""
    try:
        figures = read_training_figures(hparams["experiment"], checkpoint_epoch(experiment.checkpoint))
    except (NotApplicable, ValueError) as reason:
        return {"verdict": None, "note": f"speaker overfitting check skipped: {reason}"}
    if floor is None:
        return {"verdict": None, "note": f"speaker overfitting check skipped: {why_no_floor}"}
    try:
        verdict = check_speaker_overfitting(
            figures["train_accuracy"],
            figures["valid_accuracy"],
            eer,
            floor["eer"],
            figures["num_speakers"],
            margin_points=OVERFITTING_MARGIN_POINTS,
            accuracy_threshold=OVERFITTING_ACCURACY,
            epoch=figures["epoch"],
        )
    except ValueError as error:  # e.g. accuracies in metrics.jsonl that are not fractions
        return {"verdict": None, "note": f"speaker overfitting check skipped: {error}"}
    return {
        "verdict": verdict._asdict(),
        "note": None,
        "eer": eer,
        "floor_eer": floor["eer"],
        "scores": "none",
        **figures,
        "margin_points": OVERFITTING_MARGIN_POINTS,
        "accuracy_threshold": OVERFITTING_ACCURACY,
    }


def floor_comparison(hparams: dict, eer: float, floor: Optional[dict], why_no_floor: str) -> dict:
    """results.json's ``floor_comparison``: WARN when the raw-cosine EER is above the floor's."""
    if floor is None:
        return {"verdict": None, "note": f"floor comparison skipped: {why_no_floor}"}
    facts = training_recipe_facts(hparams["experiment"])
    verdict = check_against_floor(eer, floor["eer"], **facts)
    return {
        "verdict": verdict._asdict(),
        "note": None,
        "eer": eer,
        "floor_eer": floor["eer"],
        "scores": "none",
        **facts,
    }


def overfitting_text(section: dict) -> str:
    """A check's line for summary.md (printed with it): the verdict as format_verdict writes
    it, or the note saying why it was skipped."""
    if section.get("verdict"):
        v = section["verdict"]
        return format_verdict(Verdict(v["name"], v["status"], v["reason"], v["fix"]))
    return f"Note: {section.get('note')}"


def interval_text(system: dict, key: str, index: int = 0) -> str:
    """' [low, high]' of a bootstrap interval, empty when there is none."""
    interval = system.get("interval")
    if not interval:
        return ""
    part = interval["eer"] if key == "eer" else interval["min_dcf"][index]
    scale, fmt = (100, "{:.2f}%") if key == "eer" else (1, "{:.3f}")
    return f" [{fmt.format(scale * part['low'])}, {fmt.format(scale * part['high'])}]"


def summary_markdown(results: dict) -> str:
    lines = [
        f"# Verification results: {results['experiment']}",
        "",
        f"Trials `{results['trials']}`: {results['n_target']} target, {results['n_nontarget']} non-target; "
        f"checkpoint `{os.path.basename(results['checkpoint'])}`; cosine scoring.",
        "",
        "| score norm | EER | EER threshold | "
        + " | ".join(f"minDCF (p_target={p}, C_miss=C_fa=1, normalised)" for p in results["p_targets"])
        + " |",
        "|---|---|---|" + "---|" * len(results["p_targets"]),
    ]
    for norm, m in results["systems"].items():
        dcfs = " | ".join(f"{d['min_dcf']:.4f}{interval_text(m, 'dcf', i)}" for i, d in enumerate(m["min_dcf"]))
        lines.append(f"| {norm} | {100 * m['eer']:.2f}%{interval_text(m, 'eer')} | {m['eer_threshold']:.4f} | {dcfs} |")
    first = next(iter(results["systems"].values()))
    if first.get("interval"):
        i = first["interval"]
        lines += [
            "",
            f"[brackets]: 95% interval from a bootstrap over the {i['n_speakers']} speakers of the trial list "
            f"({i['resamples']} resamples, {i['n_target']} target / {i['n_nontarget']} non-target trials); "
            "trials sharing a speaker are not independent, so speakers, not trials, are resampled."
            + (f" Warning: {i['warning']}" if i.get("warning") else ""),
        ]
    cal = results.get("calibration")
    if cal:
        act = ", ".join(f"actDCF(p={p}) {v:.4f}" for p, v in cal["act_dcf"].items())
        lines += [
            "",
            f"Calibration (linear, fitted at p_target={cal['p_target']} on `{cal['trials']}`): "
            f"Cllr {cal['cllr']:.4f} bits, min Cllr {cal['min_cllr']:.4f}; {act}.",
        ]
    overlap = results.get("training_overlap") or {}
    if overlap.get("utterances"):
        lines += [
            "",
            f"WARN: {overlap['utterances']} of the {overlap['of']} trial utterances are in the model's "
            f"training split ({overlap['train_csv']}): those trials measure memory, not verification.",
        ]
    if results.get("cohort"):
        c = results["cohort"]
        lines += ["", f"Cohort: {c['size']} {c['kind']} of the training split; adaptive s-norm top_k={c['top_k']}."]
    floor = results.get("floor")
    if floor:
        lines += [
            "",
            f"No-learning floor on the same trials ({floor['system']}; global statistics of "
            f"{floor['train_utterances']} training utterances, {floor['seconds']:g} s): EER {100 * floor['eer']:.2f}%.",
        ]
    for section in ("floor_comparison", "speaker_overfitting"):
        if results.get(section):
            lines += ["", overfitting_text(results[section])]
    lines += ["", f"Date {results['date']}, commit {results['commit']}."]
    return "\n".join(lines) + "\n"


def evaluate(hparams: dict, device: str) -> dict:
    """Embed, score, normalise, measure and write the outputs; returns results.json's content."""
    experiment = load_experiment(
        hparams["experiment"],
        hparams["checkpoint"],
        device,
        trust_model_code=bool(hparams.get("trust_model_code", False)),
    )
    settings = resolve_settings(hparams, experiment.record)
    if experiment.record.get("pretrained") and settings["norms"] != ["none"]:
        raise DataError(
            f"{hparams['experiment']}: score normalisation needs a cohort from the training split, "
            f"and a pretrained model folder has none; use --score_norm=none"
        )
    trials = parse_trials(settings["trials"])
    require_scoreable(trials, settings["trials"])  # before anything is embedded or written
    calibration_set = calibration_scores(hparams["calibrate_on"]) if hparams["calibrate_on"] else None
    if not os.path.isfile(settings["test_annotation"]):
        raise DataError(f"{settings['test_annotation']}: test CSV not found; pass --test_annotation=<csv>")
    by_id = {r["ID"]: r for r in read_speaker_csv(settings["test_annotation"])}
    check_trial_ids(trials, by_id.keys(), source=settings["test_annotation"])
    out = settings["output_folder"]
    protected = {"the data folder": settings["data_folder"]}
    if hparams["output_folder"]:  # an explicit output: not the experiment itself, nor a folder holding it
        protected["the experiment"] = hparams["experiment"]
    refuse_output_over(out, protected, "--output_folder", inside_allowed=["the experiment"])
    ensure_writable_folder(out)
    hold_folder_lock(out)  # one evaluation per output folder at a time
    with staged_outputs(out, last=["results.json"], replaces=EVAL_OUTPUTS) as stage:
        results, summary = _evaluate_into(stage, hparams, device, experiment, settings, trials, by_id, calibration_set)
    print(summary)
    print(f"outputs in {out}")
    return results


def _normalised_scores(experiment, hparams: dict, device: str, settings: dict, trials, embeddings, index, raw):
    """The raw cosine scores and each normalisation asked for (cohort: the training speakers'
    embeddings); returns ``({norm: scores}, cohort description or None)``."""
    scores = {"none": raw}
    if all(n == "none" for n in settings["norms"]):
        return scores, None
    train_rows = read_speaker_csv(experiment.record["train_csv"])
    cohort_emb, _ = embed_rows(
        experiment, train_rows, experiment.record["data_folder"], hparams, device, "cohort utterances"
    )
    if hparams["cohort"] == "speakers":
        cohort_emb, _ = speaker_mean_cohort(cohort_emb, [r["spk_id"] for r in train_rows])
    top_k = min(int(hparams["top_k"]), len(cohort_emb))
    full = cohort_statistics(embeddings, cohort_emb, None)
    top = cohort_statistics(embeddings, cohort_emb, top_k)
    for norm in settings["norms"]:
        if norm != "none":
            mean, std = top if norm == "as" else full
            scores[norm] = normalise_scores(raw, trials, index, mean, std, norm)
    return scores, {"kind": hparams["cohort"], "size": int(len(cohort_emb)), "top_k": top_k}


def _measure_systems(stage: str, hparams: dict, norms, trials, scores: dict, labels, speaker_map) -> dict:
    """Each system's scores file, EER/minDCF/min Cllr and (when asked) speaker-bootstrap intervals."""
    systems = {}
    for norm in norms:
        s = scores[norm]
        write_scores(os.path.join(stage, f"scores_{norm}.txt"), trials, s)
        systems[norm] = verification_metrics(s[labels == 1], s[labels == 0], p_targets=tuple(hparams["p_targets"]))
        systems[norm]["min_cllr"] = min_cllr(s[labels == 1], s[labels == 0])
        if hparams["bootstrap_resamples"]:
            systems[norm]["interval"] = speaker_bootstrap_trials(
                trials,
                s,
                p_targets=tuple(hparams["p_targets"]),
                resamples=hparams["bootstrap_resamples"],
                seed=0,
                speaker_map=speaker_map,
            )
    return systems


def _plots(stage: str, hparams: dict, norms, scores: dict, labels, systems: dict) -> None:
    """det.png (every system) and score_hist.png (the headline system, its EER threshold)."""
    plot_det(
        {n: (scores[n][labels == 1], scores[n][labels == 0]) for n in norms},
        os.path.join(stage, "det.png"),
        title=experiment_name(hparams["experiment"]),
    )
    headline = norms[0]
    s = scores[headline]
    plot_score_histogram(
        s[labels == 1],
        s[labels == 0],
        os.path.join(stage, "score_hist.png"),
        threshold=systems[headline]["eer_threshold"],
        title=f"scores ({headline})",
    )


def _evaluate_into(
    stage: str, hparams: dict, device: str, experiment, settings: dict, trials, by_id, calibration_set
) -> Tuple[dict, str]:
    """Embed, score, normalise and measure, every output written into ``stage`` (which the
    caller moves into the output folder once all of them are written)."""
    needed = sorted({t.enrol for t in trials} | {t.test for t in trials})
    rows = [by_id[i] for i in needed]
    speaker_map = {i: by_id[i]["spk_id"] for i in needed}  # bootstrap speakers: the CSV's spk_id, never ID text
    overlap = training_overlap(experiment, rows, settings["data_folder"])
    embeddings, timing = embed_rows(experiment, rows, settings["data_folder"], hparams, device, "trial utterances")
    index = {utt: row for row, utt in enumerate(needed)}
    np.savez(os.path.join(stage, "embeddings.npz"), ids=np.array(needed), embeddings=embeddings)
    raw = cosine_trial_scores(trials, embeddings, index)
    labels = np.array([t.label for t in trials])
    scores, cohort_info = _normalised_scores(experiment, hparams, device, settings, trials, embeddings, index, raw)
    systems = _measure_systems(stage, hparams, settings["norms"], trials, scores, labels, speaker_map)
    floor, floor_scores, why_no_floor = no_learning_floor(
        experiment, trials, rows, index, labels, settings["data_folder"], hparams, device
    )
    if floor_scores is not None:  # compare.py makes the floor a row of its table from these
        write_scores(os.path.join(stage, FLOOR_SCORES), trials, floor_scores)
        floor["scores_file"] = FLOOR_SCORES
    raw_eer = equal_error_rate(raw[labels == 1], raw[labels == 0]).eer  # both checks judge the raw cosine
    calibration = None
    if calibration_set is not None:
        calibration = calibrate(hparams, raw, labels, *calibration_set)
        write_json(os.path.join(stage, "calibration.json"), calibration)
    results = {
        "experiment": os.path.abspath(hparams["experiment"]),
        "checkpoint": experiment.checkpoint,
        "trials": os.path.abspath(settings["trials"]),
        "trials_sha256": settings["trials_sha256"],
        "test_annotation": os.path.abspath(settings["test_annotation"]),
        "test_annotation_sha256": file_sha256(settings["test_annotation"]),
        "n_target": int((labels == 1).sum()),
        "n_nontarget": int((labels == 0).sum()),
        "p_targets": list(hparams["p_targets"]),
        "headline": settings["norms"][0],
        "systems": systems,
        "cohort": cohort_info,
        "calibration": calibration,
        "floor": floor,
        "speaker_overfitting": speaker_overfitting(hparams, experiment, raw_eer, floor, why_no_floor),
        "floor_comparison": floor_comparison(hparams, raw_eer, floor, why_no_floor),
        "training_overlap": overlap,
        "embedding": {
            **timing,
            "utterances": len(needed),
            "device": device,
            "audio_seconds_per_second": timing["audio_seconds"] / max(timing["seconds"], 1e-9),
        },
        "date": timestamp(),
        "commit": git_commit(),
    }
    write_json(os.path.join(stage, "results.json"), results)
    summary = summary_markdown(results)
    write_text(os.path.join(stage, "summary.md"), summary)
    _plots(stage, hparams, settings["norms"], scores, labels, systems)
    return results, summary


DEFAULT_EVAL_HPARAMS = os.path.join(PROJECT_ROOT, "hparams", "eval.yaml")


def load_eval_hparams(overrides: Optional[dict] = None, hparams_file: str = DEFAULT_EVAL_HPARAMS) -> dict:
    """``hparams/eval.yaml`` (or another evaluation hparams file) with ``overrides``
    (``{"experiment": folder, "trials": path, ...}``), as ``recipes/eval.py`` loads it.

    Example
    -------
    >>> hparams = load_eval_hparams({"experiment": "exp/x", "score_norm": "none"})
    >>> hparams["experiment"], hparams["score_norm"], hparams["checkpoint"]
    ('exp/x', 'none', 'auto')
    """
    with open(hparams_file) as fin:
        return load_hyperpyyaml(fin, dict(overrides or {}))
