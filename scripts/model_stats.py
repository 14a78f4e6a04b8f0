#!/usr/bin/env python3
"""Print parameters and multiply-accumulates (MACs) per second of audio of an encoder.

    python scripts/model_stats.py                       # Res2Net50 at m_channels 16, 32, 64
    python scripts/model_stats.py --hparams hparams/res2net_am.yaml [--key embedding_model]

MACs are counted exactly from the layer shapes (every Conv1d/Conv2d/Linear output element
costs in_channels/groups x kernel-size MACs) on 10 s of input at 100 frames per second
(10 ms hop), divided by 10. Batch norm, activations and pooling are not counted (< 2%).
"""

from __future__ import annotations

import argparse

import torch.nn as nn

from custom_modules.models.model_cost import count_parameters, macs_per_second


def describe(name: str, model: nn.Module, features: int) -> str:
    params = count_parameters(model)
    macs = macs_per_second(model, features)
    return f"| {name} | {params / 1e6:.2f} M | {macs / 1e9:.2f} G |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hparams", help="hparams file to read the encoder from (overrides data checks)")
    parser.add_argument("--key", default="embedding_model")
    parser.add_argument("--features", type=int, default=80)
    args = parser.parse_args()
    print("| encoder | parameters | MACs per second of audio |\n|---|---|---|")
    if args.hparams:
        from hyperpyyaml import load_hyperpyyaml

        with open(args.hparams) as fin:
            hparams = load_hyperpyyaml(fin)
        print(describe(f"{args.hparams}:{args.key}", hparams[args.key], hparams.get("n_features", args.features)))
        return
    from custom_modules.models.res2net import Res2Net50

    for m in (16, 32, 64):
        print(describe(f"Res2Net50 m_channels={m}, 80 fbank, emb 512", Res2Net50(80, m_channels=m), args.features))


if __name__ == "__main__":
    main()
