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

from custom_modules.data.dataio import DataError
from custom_modules.models.floor import build_floor_folder


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
    try:
        count = build_floor_folder(
            args.data_folder, args.output, args.train_annotation, args.n_mfcc, args.n_mels, args.sample_rate
        )
    except DataError as error:
        raise SystemExit(f"error: {error}") from None
    print(f"floor system with the global statistics of {count} utterances written to {args.output}")


if __name__ == "__main__":
    main()
