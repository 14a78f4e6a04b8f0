#!/usr/bin/env python3
"""Training throughput on this machine: processes, precision, data loading; and what a
VoxCeleb2 epoch costs.

    python scripts/benchmark_throughput.py [--data_folder ../shared/data/dev] [--steps 6]

Rows (demo config, batch 32 x 1 s crops, through the real recipe with --debug):
- 1 process float32, 1 process bf16 autocast, 2 processes (torchrun, gloo) float32:
  training utterances per second = samples of the measured steps (summed over ranks) /
  training seconds of that epoch;
- data loading alone (the training dataset's DataLoader, no model), 0 and 2 workers;
- VoxCeleb2 (1,092,009 utterances) epoch time on 1, 4 and 8 GPUs from a measured GPU step
  of the full-size config (batch 128 x 2 s): filled only from a measurement on a lent GPU
  (``--gpu_step_seconds``), otherwise left empty and marked as not measured.
Output: ``--output`` (results/throughput.md) and stdout.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

from custom_modules.outputs.provenance import git_commit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

VOXCELEB2_UTTERANCES = 1_092_009


def training_row(data: str, steps: int, processes: int, precision: str) -> dict:
    out = tempfile.mkdtemp(prefix="throughput_")
    args = [
        "recipes/train.py",
        "hparams/res2net_am_demo.yaml",
        f"--data_folder={data}",
        f"--output_folder={out}",
        "--debug",
        f"--debug_batches={steps}",
        "--debug_epochs=1",
        "--noprogressbar",
        f"--precision={precision}",
    ]
    if processes > 1:
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            f"--nproc_per_node={processes}",
            "--master_port=29533",
            *args,
            "--distributed_backend=gloo",
        ]
    else:
        cmd = [sys.executable, *args]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"{cmd}: failed\n{run.stderr[-2000:]}")
    with open(os.path.join(out, "metrics.jsonl")) as handle:
        record = json.loads(handle.readline())
    train = record["train"]
    return {
        "samples": train["samples"],
        "seconds": train["seconds"],
        "loss": train["loss"],
        "utterances_per_second": train["samples"] / train["seconds"],
    }


def loading_row(data: str, batches: int, workers: int) -> dict:
    import torch
    from speechbrain.dataio.batch import PaddedBatch

    from custom_modules.data.dataio import speaker_datasets

    out = tempfile.mkdtemp(prefix="loading_")
    sets = speaker_datasets(data, os.path.join(data, "train.csv"), out, crop_seconds=1.0)
    loader = torch.utils.data.DataLoader(
        sets.train, batch_size=32, shuffle=True, num_workers=workers, collate_fn=PaddedBatch
    )
    count, start = 0, time.time()
    for i, batch in enumerate(loader):
        count += batch.sig[0].shape[0]
        if i + 1 == batches:
            break
    return {"utterances_per_second": count / (time.time() - start), "utterances": count}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_folder", default=os.path.join(ROOT, "..", "shared", "data", "dev"))
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument(
        "--gpu_step_seconds",
        type=float,
        help="measured seconds per step of the full-size config, batch 128 x 2 s, on one GPU",
    )
    parser.add_argument("--output", default=os.path.join(ROOT, "results", "throughput.md"))
    args = parser.parse_args()
    rows = []
    for label, processes, precision in (
        ("1 process, float32", 1, "fp32"),
        ("1 process, bf16 autocast", 1, "bf16"),
        ("2 processes (torchrun, gloo), float32", 2, "fp32"),
    ):
        r = training_row(args.data_folder, args.steps, processes, precision)
        rows.append(
            f"| training: {label} | {r['utterances_per_second']:.1f} | {r['samples']} utterances in "
            f"{r['seconds']:.1f} s, loss {r['loss']:.2f} (finite) |"
        )
        print(rows[-1], flush=True)
    for workers in (0, 2):
        r = loading_row(args.data_folder, 2 * args.steps, workers)
        rows.append(
            f"| data loading alone, {workers} workers | {r['utterances_per_second']:.0f} | "
            f"{r['utterances']} utterances, 1 s crops, no model |"
        )
        print(rows[-1], flush=True)
    if args.gpu_step_seconds:
        steps = VOXCELEB2_UTTERANCES / 128
        gpu = "; ".join(
            f"{n} GPU{'s' if n > 1 else ''}: {steps / n * args.gpu_step_seconds / 3600:.1f} h" for n in (1, 4, 8)
        )
        gpu_row = f"| VoxCeleb2 epoch, full-size, batch 128 x 2 s | | {gpu} (from {args.gpu_step_seconds} s per step) |"
    else:
        gpu_row = (
            "| VoxCeleb2 epoch, full-size, batch 128 x 2 s, on 1 / 4 / 8 GPUs | | not yet measured: no GPU "
            "was lent to the session that ran this; rerun with --gpu_step_seconds from a GPU measurement |"
        )
    commit = git_commit()
    text = (
        "\n".join(
            [
                "# Training throughput (Res2Net50 demo config, dev set)",
                "",
                f"Date {datetime.date.today()}, commit {commit}, {platform.machine()} {platform.processor()}, "
                f"{os.cpu_count()} CPU cores, no GPU. {args.steps} training steps of batch 32 x 1 s crops per row through "
                f"recipes/train.py --debug (per process: the 2-process row takes {args.steps} steps on each rank, "
                f"torchrun sets one thread per process). Seconds include the first step.",
                "",
                "| what | utterances / s | notes |",
                "|---|---|---|",
                *rows,
                gpu_row,
            ]
        )
        + "\n"
    )
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as handle:
        handle.write(text)
    print(text)


if __name__ == "__main__":
    main()
