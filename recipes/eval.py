#!/usr/bin/env python3
"""Verification figures (EER, minDCF) of a trained experiment on a trial list.

    python recipes/eval.py hparams/eval.yaml --experiment=exp/res2net_am_demo/1986
    python recipes/eval.py hparams/eval.yaml --experiment=<folder> --score_norm=none,s,as \
        --data_folder=<dir> --trials=<file> --test_annotation=<csv> --device=cuda:0

1. Loads the experiment's feature pipeline and encoder from its hyperparams.yaml and
   checkpoint (nothing is configured twice).
2. Embeds every unique utterance of the trial list once, on full-length audio, in
   length-sorted padded batches (the encoder's pooling ignores padding).
3. Scores trials by cosine; optionally normalises scores (z, t, s, adaptive s-norm) with
   cohort statistics computed once per utterance from the training split.
4. Writes to <experiment>/eval/<trials stem>/: scores_<norm>.txt (enrol test label
   score), results.json, summary.md, det.png, score_hist.png, embeddings.npz.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time

import numpy as np
import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from custom_modules.dataio import DataError, read_speaker_csv, resolve_audio_path  # noqa: E402
from custom_modules.embedding import embed_utterances, segment_length  # noqa: E402
from custom_modules.experiment import ExperimentError, default_eval_folder, load_experiment  # noqa: E402
from custom_modules.metrics import verification_metrics  # noqa: E402
from custom_modules.plots import plot_det, plot_score_histogram  # noqa: E402
from custom_modules.scoring import (  # noqa: E402
    check_trial_ids,
    cohort_statistics,
    cosine_trial_scores,
    normalise_scores,
    parse_trials,
    speaker_mean_cohort,
    write_scores,
)

NORMS = ("none", "z", "t", "s", "as")


def segments_of(rows, data_folder):
    """(path, start, stop) of CSV rows, as the audio reader takes them."""
    def optional(value):
        return int(float(value)) if value not in (None, "") else None

    return [(resolve_audio_path(r["wav"], data_folder), optional(r.get("start")), optional(r.get("stop"))) for r in rows]


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
    stem = os.path.splitext(os.path.basename(settings["trials"]))[0]
    settings["output_folder"] = hparams["output_folder"] or default_eval_folder(hparams["experiment"], stem)
    return settings


def embed_rows(experiment, rows, data_folder, hparams, device, what):
    """Embeddings of CSV rows, and the timing: (embeddings, {audio_seconds, seconds})."""
    segments = segments_of(rows, data_folder)
    rate = experiment.record["sample_rate"]
    start = time.time()
    emb = embed_utterances(experiment.extractor, segments, sample_rate=rate, batch_size=hparams["batch_size"],
                           device=device, progress=True)
    timing = {"audio_seconds": sum(segment_length(*s) for s in segments) / rate, "seconds": time.time() - start}
    print(f"embedded {len(rows)} {what} ({timing['audio_seconds']:.0f} s of audio) in {timing['seconds']:.1f} s")
    return emb, timing


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
        dcfs = " | ".join(f"{d['min_dcf']:.4f}" for d in m["min_dcf"])
        lines.append(f"| {norm} | {100 * m['eer']:.2f}% | {m['eer_threshold']:.4f} | {dcfs} |")
    if results.get("cohort"):
        c = results["cohort"]
        lines += ["", f"Cohort: {c['size']} {c['kind']} of the training split; adaptive s-norm top_k={c['top_k']}."]
    lines += ["", f"Date {results['date']}, commit {results['commit']}."]
    return "\n".join(lines) + "\n"


def evaluate(hparams: dict, device: str) -> dict:
    """Embed, score, normalise, measure and write the outputs; returns results.json's content."""
    experiment = load_experiment(hparams["experiment"], hparams["checkpoint"], device)
    settings = resolve_settings(hparams, experiment.record)
    if experiment.record.get("pretrained") and settings["norms"] != ["none"]:
        raise DataError(f"{hparams['experiment']}: score normalisation needs a cohort from the training split, "
                        f"and a pretrained model folder has none; use --score_norm=none")
    trials = parse_trials(settings["trials"])
    if not os.path.isfile(settings["test_annotation"]):
        raise DataError(f"{settings['test_annotation']}: test CSV not found; pass --test_annotation=<csv>")
    by_id = {r["ID"]: r for r in read_speaker_csv(settings["test_annotation"])}
    check_trial_ids(trials, by_id.keys(), source=settings["test_annotation"])
    out = settings["output_folder"]
    os.makedirs(out, exist_ok=True)

    needed = sorted({t.enrol for t in trials} | {t.test for t in trials})
    rows = [by_id[i] for i in needed]
    embeddings, timing = embed_rows(experiment, rows, settings["data_folder"], hparams, device, "trial utterances")
    index = {utt: row for row, utt in enumerate(needed)}
    np.savez(os.path.join(out, "embeddings.npz"), ids=np.array(needed), embeddings=embeddings)

    raw = cosine_trial_scores(trials, embeddings, index)
    labels = np.array([t.label for t in trials])
    scores = {"none": raw}
    cohort_info = None
    if any(n != "none" for n in settings["norms"]):
        train_rows = read_speaker_csv(experiment.record["train_csv"])
        cohort_emb, _ = embed_rows(experiment, train_rows, experiment.record["data_folder"], hparams, device,
                                   "cohort utterances")
        if hparams["cohort"] == "speakers":
            cohort_emb, _ = speaker_mean_cohort(cohort_emb, [r["spk_id"] for r in train_rows])
        top_k = min(int(hparams["top_k"]), len(cohort_emb))
        full = cohort_statistics(embeddings, cohort_emb, None)
        top = cohort_statistics(embeddings, cohort_emb, top_k)
        for norm in settings["norms"]:
            if norm != "none":
                mean, std = top if norm == "as" else full
                scores[norm] = normalise_scores(raw, trials, index, mean, std, norm)
        cohort_info = {"kind": hparams["cohort"], "size": int(len(cohort_emb)), "top_k": top_k}

    systems = {}
    for norm in settings["norms"]:
        s = scores[norm]
        write_scores(os.path.join(out, f"scores_{norm}.txt"), trials, s)
        systems[norm] = verification_metrics(s[labels == 1], s[labels == 0], p_targets=tuple(hparams["p_targets"]))
    headline = settings["norms"][0]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    results = {
        "experiment": os.path.abspath(hparams["experiment"]),
        "checkpoint": experiment.checkpoint,
        "trials": os.path.abspath(settings["trials"]),
        "n_target": int((labels == 1).sum()),
        "n_nontarget": int((labels == 0).sum()),
        "p_targets": list(hparams["p_targets"]),
        "headline": headline,
        "systems": systems,
        "cohort": cohort_info,
        "embedding": {**timing, "utterances": len(needed), "device": device,
                      "audio_seconds_per_second": timing["audio_seconds"] / max(timing["seconds"], 1e-9)},
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "commit": commit or "unknown",
    }
    with open(os.path.join(out, "results.json"), "w") as handle:
        json.dump(results, handle, indent=2)
    summary = summary_markdown(results)
    with open(os.path.join(out, "summary.md"), "w") as handle:
        handle.write(summary)
    plot_det({n: (scores[n][labels == 1], scores[n][labels == 0]) for n in settings["norms"]},
             os.path.join(out, "det.png"), title=experiment_name(hparams["experiment"]))
    s = scores[headline]
    plot_score_histogram(s[labels == 1], s[labels == 0], os.path.join(out, "score_hist.png"),
                         threshold=systems[headline]["eer_threshold"], title=f"scores ({headline})")
    print(summary)
    print(f"outputs in {out}")
    return results


def main(argv) -> None:
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    with open(hparams_file) as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    try:
        evaluate(hparams, run_opts.get("device") or "cpu")
    except (DataError, ExperimentError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    main(sys.argv[1:])
