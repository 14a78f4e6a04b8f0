#!/usr/bin/env python3
"""Why is my accuracy only 0% or 100%? Check a training config, its data and a few real steps.

    python recipes/diagnose.py hparams/res2net_am_demo.yaml --data_folder=../shared/data/dev
    python recipes/diagnose.py hparams/res2net_am.yaml --batch_size=1          # flags batch size 1
    python recipes/diagnose.py hparams/ecapa_aam.yaml --no_probe               # config + data only
    python recipes/diagnose.py --evaluated exp/res2net_am_demo/1986            # after train + eval

Takes the same hparams file and overrides as recipes/train.py, reads and splits the CSVs
as it does, and prints a table of checks (PASS / WARN / FAIL, a reason with the numbers,
a fix): batch size, crops, classes vs speakers, scale and margin, speakers, validation and
test speakers, learning rate; then a probe of a few optimizer steps of the configured
modules on one fixed batch of training audio: accuracy on margin-free vs margin-penalised
logits, loss trend and NaN/Inf, embedding collapse. The config table is printed before the
probe runs. Exit code 1 if any check FAILs, else 0.

Probe options (not hparams): --probe_steps=3 (0 or --no_probe: skip), --probe_batch=N
(default min(max(batch_size, 2), 8)), --probe_crop=1.0 seconds, --probe_seconds=90 (a time
budget: fewer steps for slow models).

--evaluated <experiment folder, its eval/<trials>/ folder or a results.json> runs, instead,
the checks that need a trained and evaluated experiment: worse than no learning (the
raw-cosine EER above the no-learning floor's on the same trials: WARN with the likely causes,
too few epochs, no augmentation, a recipe for many speakers), and speaker overfitting (final-epoch
closed-set accuracy above 90% from metrics.jsonl while the raw-cosine EER of recipes/eval.py
is within 2 points of the no-learning floor's EER on the same trials, or worse). It reads
the floor's EER from results.json (recipes/eval.py computes it); for an evaluation made
before that, pass --floor_eer=<percent> or re-run recipes/eval.py. --margin_points=2 and
--accuracy_threshold=0.9 change the rule. Exit code 0 (the check WARNs at most), 1 when no
results.json is found.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys

from custom_modules.data.dataio import DataError
from custom_modules.diagnostics.floor_check import check_against_floor, training_recipe_facts
from custom_modules.diagnostics.overfitting import (
    OVERFITTING_ACCURACY,
    OVERFITTING_MARGIN_POINTS,
    NotApplicable,
    check_speaker_overfitting,
    read_training_figures,
)
from custom_modules.diagnostics.preflight import (
    read_data_rows,
    read_label_map,
    run_config_checks,
    training_audio_verdict,
)
from custom_modules.diagnostics.probe import probe_checks, probe_training
from custom_modules.diagnostics.verdicts import FAIL, Verdict, exit_code, format_table
from custom_modules.experiment import checkpoint_epoch


def parse_probe_options(argv):
    """Split the diagnose-only options from the SpeechBrain-style arguments."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--probe_steps", type=int, default=3)
    parser.add_argument("--probe_batch", type=int, default=None)
    parser.add_argument("--probe_crop", type=float, default=1.0)
    parser.add_argument("--probe_seconds", type=float, default=90.0)
    parser.add_argument("--no_probe", action="store_true")
    options, rest = parser.parse_known_args(argv)
    if options.no_probe:
        options.probe_steps = 0
    return options, rest


def load(argv):
    """hparams as recipes/train.py loads them."""
    import speechbrain as sb
    from hyperpyyaml import load_hyperpyyaml

    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    with open(hparams_file) as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    return hparams_file, run_opts, hparams


def fail(verdict: Verdict) -> int:
    print(format_table([verdict]))
    print("summary: 0 PASS, 0 WARN, 1 FAIL -> exit 1")
    return 1


def evaluation_results(path: str) -> list:
    """results.json files of recipes/eval.py: ``path`` itself, ``path/results.json``, or
    every ``path/eval/*/results.json`` of an experiment folder (sorted)."""
    if os.path.isfile(path):
        return [path]
    if os.path.isfile(os.path.join(path, "results.json")):
        return [os.path.join(path, "results.json")]
    return sorted(glob.glob(os.path.join(path, "eval", "*", "results.json")))


def evaluated_main(argv) -> int:
    """``--evaluated``: the checks of trained and evaluated experiments (worse than the
    no-learning floor, speaker overfitting)."""
    parser = argparse.ArgumentParser(prog="diagnose.py --evaluated")
    parser.add_argument("--evaluated", required=True, help="experiment folder, eval folder or results.json")
    parser.add_argument("--floor_eer", type=float, help="the floor's EER in percent, when results.json has none")
    parser.add_argument("--margin_points", type=float, default=OVERFITTING_MARGIN_POINTS)
    parser.add_argument("--accuracy_threshold", type=float, default=OVERFITTING_ACCURACY)
    args = parser.parse_args(argv)
    found = evaluation_results(args.evaluated)
    if not found:
        return fail(
            Verdict(
                "evaluation",
                FAIL,
                f"{args.evaluated}: no results.json (nor eval/*/results.json) of recipes/eval.py",
                f"evaluate it first: python recipes/eval.py hparams/eval.yaml --experiment={args.evaluated}",
            )
        )
    verdicts = []
    for path in found:
        with open(path) as handle:
            results = json.load(handle)
        # the folder given, when it is the experiment (results.json paths are absolute and may have moved)
        given = os.path.abspath(args.evaluated)
        experiment = given if os.path.isfile(os.path.join(given, "hyperparams.yaml")) else results["experiment"]
        trials = f"{results['n_target'] + results['n_nontarget']} trials of {results['trials']}"
        print(f"speaker overfitting check of {experiment} on {trials} ({path})")
        section = results.get("speaker_overfitting") or {}
        eer = section.get("eer", results["systems"].get("none", {}).get("eer"))
        floor_eer = args.floor_eer / 100 if args.floor_eer is not None else (results.get("floor") or {}).get("eer")
        found_verdicts = []
        if eer is not None and floor_eer is not None:
            found_verdicts.append(check_against_floor(eer, floor_eer, **training_recipe_facts(experiment)))
        try:
            # the evaluated checkpoint's epoch (results.json names the checkpoint), else the last
            figures = read_training_figures(experiment, checkpoint_epoch(results.get("checkpoint") or ""))
            if eer is None:
                raise NotApplicable("results.json has no raw-cosine EER; re-run recipes/eval.py with --score_norm=none")
            if floor_eer is None:
                raise NotApplicable(
                    "results.json has no floor EER (evaluated before recipes/eval.py computed it): "
                    "re-run recipes/eval.py, or pass --floor_eer=<percent> (recipes/floor.py's "
                    "default 20-MFCC floor gives 21.70 on the dev trials)"
                )
            found_verdicts.append(
                check_speaker_overfitting(
                    figures["train_accuracy"],
                    figures["valid_accuracy"],
                    eer,
                    floor_eer,
                    figures["num_speakers"],
                    margin_points=args.margin_points,
                    accuracy_threshold=args.accuracy_threshold,
                    epoch=figures["epoch"],
                )
            )
        except (NotApplicable, ValueError) as reason:
            print(f"note: speaker overfitting check skipped: {reason}\n")
        if found_verdicts:
            print(format_table(found_verdicts) + "\n")
        verdicts.extend(found_verdicts)
    counts = {status: sum(v.status == status for v in verdicts) for status in ("PASS", "WARN", "FAIL")}
    code = exit_code(verdicts)
    print(f"summary: {counts['PASS']} PASS, {counts['WARN']} WARN, {counts['FAIL']} FAIL -> exit {code}")
    return code


def main(argv) -> int:
    if any(arg == "--evaluated" or arg.startswith("--evaluated=") for arg in argv):
        return evaluated_main(argv)
    options, rest = parse_probe_options(argv)
    try:
        hparams_file, run_opts, hparams = load(rest)
        rows = read_data_rows(hparams)
    except DataError as error:
        return fail(Verdict("data", FAIL, str(error), "fix the CSV or --data_folder"))
    speakers = len({r["spk_id"] for r in rows.train})
    print(
        f"diagnose {hparams_file} on {hparams.get('data_folder')}: {len(rows.train)} training and "
        f"{len(rows.valid)} validation utterances of {speakers} speakers"
    )
    label_map = read_label_map(os.path.join(hparams.get("output_folder", ""), "label_encoder.txt"))
    audio = training_audio_verdict(hparams)  # every file of the CSVs, before anything reads them
    verdicts = run_config_checks(
        hparams,
        rows.train,
        rows.valid,
        rows.test,
        label_map=label_map,
        train_source=rows.train_source,
        valid_source=rows.valid_source,
        test_source=rows.test_source,
    ) + [audio]
    print("\nconfig and data checks\n" + format_table(verdicts), flush=True)

    blocking = [v for v in verdicts if v.status == FAIL and v.name in ("classes", "speakers", "audio")]
    if options.probe_steps <= 0:
        print("\nprobe skipped (--probe_steps=0)")
    elif blocking:
        print(f"\nprobe skipped: fix the {blocking[0].name} FAIL first (training steps would fail on it)")
    else:
        device = run_opts.get("device", "cpu") or "cpu"
        print(
            f"\nprobe: up to {options.probe_steps} optimizer steps on one fixed batch of training audio ({device})",
            flush=True,
        )
        probe = probe_training(
            hparams,
            rows.train,
            steps=options.probe_steps,
            batch_size=options.probe_batch,
            crop_seconds=options.probe_crop,
            max_seconds=options.probe_seconds,
            device=device,
            log=lambda message: print("  " + message, flush=True),
        )
        if not probe.error:
            print(
                f"  batch of {probe.batch_size} utterances of {probe.speakers} speakers, {probe.crop_seconds:g} s "
                f"centre crops, peak lr, margin {probe.margin:g}; {probe.seconds:g} s"
            )
        probe_verdicts = probe_checks(probe)
        print(format_table(probe_verdicts))
        verdicts += probe_verdicts
    counts = {status: sum(v.status == status for v in verdicts) for status in ("PASS", "WARN", "FAIL")}
    code = exit_code(verdicts)
    print(f"\nsummary: {counts['PASS']} PASS, {counts['WARN']} WARN, {counts['FAIL']} FAIL -> exit {code}")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
