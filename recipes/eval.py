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
4. Writes to <experiment>/eval/<trials stem>-<sha256 of the trial list, 10 hex>/ (another
   trial list, or the same file edited, gets its own folder): scores_<norm>.txt (enrol test
   label score), results.json (with the trial list's and the test CSV's sha256), summary.md,
   det.png, score_hist.png, embeddings.npz. All are written to a staging folder first and
   moved into place together, results.json last: a failed or killed run leaves the previous
   results as they were and no partial file.
5. Speaker overfitting check (custom_modules/diagnostics/overfitting.py): the no-learning floor system
   (recipes/floor.py with its defaults: 20 MFCCs, the data folder's train.csv) is
   built and scored on the same trials (seconds), and a closed-set accuracy (of the evaluated checkpoint's epoch) above
   90% with a raw-cosine EER within 2 points of the floor's (or worse) gives WARN "speaker
   overfitting" with the remedies; otherwise PASS with the figures. Skipped, with a note, for
   model folders without metrics.jsonl (pretrained, exported, the floor itself).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import sys

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml

from custom_modules.evaluation import EVALUATION_ERRORS, evaluate
from custom_modules.models.allocator import bound_onednn_cache


def main(argv) -> None:
    bound_onednn_cache()  # utterances of every length: one cached oneDNN primitive per shape grows memory
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    with open(hparams_file) as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    try:
        evaluate(hparams, run_opts.get("device") or "cpu")
    except EVALUATION_ERRORS as error:
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    main(sys.argv[1:])
