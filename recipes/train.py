#!/usr/bin/env python3
"""Train speaker embeddings (Res2Net50 or ECAPA) with AM-Softmax in SpeechBrain's Brain loop.

    python recipes/train.py hparams/res2net_am.yaml --data_folder=../shared/data/dev
    python recipes/train.py hparams/res2net_am_demo.yaml --debug        # a few steps
    torchrun --nproc_per_node=2 recipes/train.py hparams/res2net_am_demo.yaml --distributed_backend=gloo

What is logged, each epoch (train_log.txt and metrics.jsonl in the output folder):
train loss (sample-weighted), train accuracy = correct / samples over the whole epoch,
counted on the margin-free cosines, and closed-set validation accuracy on held-out
utterances of the training speakers. Accuracy on training speakers says little about
verification of new speakers: use recipes/eval.py (EER, minDCF on trials) for that.
metrics.jsonl also holds a sha256 of the parameters and the process's peak resident memory
so far (peak_rss_gib).

With valid_speakers: N, N whole training speakers are held out and the EER of all pairs of
their utterances is logged each epoch (heldout_eer), stored with the checkpoint (eval's
checkpoint=auto takes the lowest) and, with EpochCounterWithStopper, stops training early.
Training-only augmentation comes from the hparams when present: min_crop_seconds (one
random crop length per batch), augmentation (waveforms and labels: speed classes, noise,
babble, reverberation) and feature_masking (normalised features); see
hparams/res2net_am_smalldata.yaml.

Interrupted runs resume from the last checkpoint in <output_folder>/save: rerun the same
command. Checkpoints are written at the end of each epoch, so a run killed anywhere repeats
the interrupted epoch from its start (its statistics cover the whole epoch; a checkpoint left
half-written is set aside and named; metrics.jsonl lines of epochs after the checkpoint are
dropped). With SpeechBrain's --ckpt_interval_minutes an epoch can resume mid-way: its train
statistics then cover the remaining steps only, and say so (resumed_after_step).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import sys

from custom_modules.training.brain import train
from custom_modules.training.worker_exit import run_recipe

if __name__ == "__main__":
    run_recipe(train, sys.argv[1:])  # a torchrun worker leaves without interpreter shutdown
