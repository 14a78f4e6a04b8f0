#!/usr/bin/env python3
"""Training speed and peak memory of the Res2Net50 configs on the dev set.

    python scripts/benchmark_training.py [--data_folder ../shared/data/dev] [--steps 6]

For each config, runs the real recipe (recipes/train.py --debug) for ``--steps`` training
steps of one epoch in a fresh process, and reports seconds per step (the first step,
which warms up the allocator, is included in the mean of steps 1..N), the projected
seconds per training epoch (steps per epoch x seconds per step; validation excluded),
and the process's peak resident memory. Where a full epoch was measured by a real run
(``--measured exp/<name>/<seed>/metrics.jsonl``), its time is reported beside it.
Output: a markdown table on stdout and in ``--output``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile

from custom_modules.outputs.provenance import git_commit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONFIGS = [
    ("demo", "hparams/res2net_am_demo.yaml"),
    ("full-size", "hparams/res2net_am.yaml"),
]


def run_config(hparams: str, data_folder: str, steps: int) -> dict:
    out = tempfile.mkdtemp(prefix="bench_")
    cmd = [
        sys.executable,
        os.path.join(ROOT, "recipes/train.py"),
        hparams,
        f"--data_folder={data_folder}",
        f"--output_folder={out}",
        "--debug",
        f"--debug_batches={steps}",
        "--debug_epochs=1",
        "--noprogressbar",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if run.returncode != 0:
        raise SystemExit(f"{hparams} failed:\n{run.stderr[-2000:]}")
    with open(os.path.join(out, "metrics.jsonl")) as handle:
        record = json.loads(handle.readline())
    steps_line = [line for line in run.stdout.splitlines() if "steps per epoch" in line][0]
    steps_per_epoch = int(steps_line.split(",")[-1].split()[0])
    seconds = record["train"]["seconds"]
    return {
        "seconds_per_step": seconds / steps,
        "steps_per_epoch": steps_per_epoch,
        "projected_epoch_seconds": seconds / steps * steps_per_epoch,
        # ru_maxrss of children is the max over all children so far: report only when it grew
        "peak_rss_gib": peak_kib / 2**20 if peak_kib > before else None,
        "samples": record["train"]["samples"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_folder", default=os.path.join(ROOT, "..", "shared", "data", "dev"))
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--measured", default=os.path.join(ROOT, "exp/res2net_am_demo/1986/metrics.jsonl"))
    parser.add_argument("--output", default=os.path.join(ROOT, "results/benchmark_training.md"))
    args = parser.parse_args()
    commit = git_commit()
    lines = [
        "# Training speed and peak memory (Res2Net50 + AM-Softmax, dev set)",
        "",
        f"Date {datetime.date.today()}, commit {commit}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPU cores, no GPU, torch threads default. {args.steps} training steps per config "
        f"through recipes/train.py --debug; projected epoch = steps per epoch x mean seconds per step "
        f"(validation excluded). Peak memory: maximum resident set of the training process.",
        "",
        "| config | batch x crop | seconds / step | steps / epoch | seconds / epoch (projected) | peak memory |",
        "|---|---|---|---|---|---|",
    ]
    for name, hparams in CONFIGS:
        stats = run_config(hparams, args.data_folder, args.steps)
        crop = "1 s" if "demo" in hparams else "2 s"
        peak = f"{stats['peak_rss_gib']:.2f} GiB" if stats["peak_rss_gib"] else "n/a"
        lines.append(
            f"| {name} (`{hparams}`) | 32 x {crop} | {stats['seconds_per_step']:.2f} | {stats['steps_per_epoch']} | "
            f"{stats['projected_epoch_seconds']:.0f} | {peak} |"
        )
        print(lines[-1], flush=True)
    if os.path.isfile(args.measured):
        with open(args.measured) as handle:
            epochs = [json.loads(line) for line in handle]
        seconds = [e["train"]["seconds"] for e in epochs]
        lines += [
            "",
            f"Measured full demo epochs ({os.path.relpath(args.measured, ROOT)}): "
            + ", ".join(f"{s:.0f} s" for s in seconds)
            + " of training per epoch.",
        ]
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as handle:
        handle.write(text)
    print(text)


if __name__ == "__main__":
    main()
