#!/usr/bin/env python3
"""Build the no-learning floor system (cepstral mean + std, standardised) as a model folder.

    python recipes/floor.py --data_folder ../shared/data/dev --output exp/floor
    python recipes/eval.py hparams/eval.yaml --experiment=exp/floor --data_folder=../shared/data/dev
    python recipes/compare.py exp/floor exp/res2net_am_demo/1986 ... --data_folder ../shared/data/dev

The global mean and std are computed on the training CSV's utterances (never on the test
set). The
folder has SpeechBrain's pretrained-model layout, so every recipe takes it as a model.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from custom_modules.dataio import DataError, load_audio, read_speaker_csv, row_segments  # noqa: E402
from custom_modules.embedding import pad_batch  # noqa: E402
from custom_modules.features import SpeakerFeatures  # noqa: E402
from custom_modules.floor import CepstralStatistics  # noqa: E402

HPARAMS = """# No-learning floor system written by recipes/floor.py: static MFCC mean + std per
# utterance, standardised with the global mean and std of {n} training utterances of {csv}.
sample_rate: {rate}
compute_features: !new:custom_modules.features.SpeakerFeatures
    kind: mfcc
    n_features: {n_mfcc}
    n_mels: {n_mels}
    sample_rate: {rate}
mean_var_norm: !new:custom_modules.floor.NoNormalization
embedding_model: !new:custom_modules.floor.CepstralStatistics
    input_size: {n_mfcc}
modules:
    compute_features: !ref <compute_features>
    embedding_model: !ref <embedding_model>
pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        embedding_model: !ref <embedding_model>
"""


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_folder", required=True)
    parser.add_argument("--train_annotation", help="default: <data_folder>/train.csv")
    parser.add_argument("--output", required=True)
    parser.add_argument("--n_mfcc", type=int, default=20)
    parser.add_argument("--n_mels", type=int, help="Mel bins behind the MFCCs (default: 2 x n_mfcc)")
    parser.add_argument("--sample_rate", type=int, default=16000)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    if os.path.isdir(args.output) and os.listdir(args.output) and not args.overwrite:
        raise SystemExit(f"error: {args.output} exists and is not empty; choose another --output or pass --overwrite")
    csv = args.train_annotation or os.path.join(args.data_folder, "train.csv")
    try:
        rows = read_speaker_csv(csv)
        n_mels = args.n_mels or 2 * args.n_mfcc
        features = SpeakerFeatures("mfcc", args.n_mfcc, args.sample_rate, n_mels=n_mels)
        floor = CepstralStatistics(args.n_mfcc)
        stats = []
        with torch.no_grad():
            for start in range(0, len(rows), 64):
                segments = row_segments(rows[start : start + 64], args.data_folder)
                wavs, lens = pad_batch([load_audio(*segment, sample_rate=args.sample_rate) for segment in segments])
                stats.append(floor.statistics(features(wavs), lens))
    except DataError as error:
        raise SystemExit(f"error: {error}") from None
    floor.fit_global_statistics(torch.cat(stats))
    os.makedirs(args.output, exist_ok=True)
    with open(os.path.join(args.output, "hyperparams.yaml"), "w") as handle:
        handle.write(HPARAMS.format(n=len(rows), csv=os.path.abspath(csv), rate=args.sample_rate, n_mfcc=args.n_mfcc,
                                     n_mels=n_mels))
    torch.save(floor.state_dict(), os.path.join(args.output, "embedding_model.ckpt"))
    print(f"floor system with the global statistics of {len(rows)} utterances written to {args.output}")


if __name__ == "__main__":
    main()
