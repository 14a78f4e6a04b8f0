#!/usr/bin/env python3
"""Res2Net50 against ECAPA-TDNN on this CPU, side by side in one run: training step and
embedding time, utterances per second and peak resident memory, at 1 and 2 threads.

    python scripts/benchmark_encoders.py                      # writes results/benchmark_encoders.md
    python scripts/benchmark_encoders.py --repeats 5 --output /tmp/bench.md

Encoders: the project's Res2Net50 (m_channels=16, the size of the small-data and demo
recipes, 512-d), the same encoder as it was before the speed work ("before": the module at
commit BEFORE_COMMIT, read with git; skipped where git or that commit is missing), the
current encoder with its C batch-norm kernels switched off (``RES2NET_SV_C_KERNELS=0``:
PyTorch's batch norm, additions and ReLU; ``custom_modules/models/batch_norm_act.py``), and
SpeechBrain's ECAPA-TDNN (C=512, 192-d, the baseline). Each measurement runs in its own
process (peak memory and the allocator setting are per process), in turn, on the same
inputs:

- train step: forward + backward of a batch of 32 crops of 1 s (101 frames x 80 fbank), as
  the recipes train (no padding), loss = mean square of the embeddings;
- embedding: eval mode, no gradients, a padded batch of 32 utterances of 1 to 6 s (601
  frames for the longest), as recipes/eval.py embeds length-sorted batches;
- convolutions alone: every convolution of the training step timed by itself (forward +
  backward on an input of its shape and layout) and summed, for the two current encoders:
  the part of the step that is convolution arithmetic, and what is left for the rest.

Times are the best of ``--repeats`` after ``--warmup`` calls (3: the heap settles over the
first steps of a process; in scratch runs, not kept, Res2Net50's two-thread steps 2-4 took
1.34-1.41 s and later ones 1.20; the median is reported too);
utterances/s = 32 / best time; peak memory is the worker's maximum resident set size
(``ru_maxrss``), Python and libraries included. Every worker keeps freed memory in its heap
(:func:`custom_modules.models.allocator.retain_freed_memory`, which Res2Net50 applies when it
is built), ECAPA's included.

Authors: the res2net-sv developers.
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

from custom_modules.outputs.atomic import write_text
from custom_modules.outputs.provenance import git_commit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BEFORE_COMMIT = "92ba226"  # the last commit before Res2Net50's CPU speed work
ENCODERS = ("res2net50_before", "res2net50_no_c_kernels", "res2net50", "ecapa")
NO_C_KERNELS = {"res2net50_no_c_kernels": {"RES2NET_SV_C_KERNELS": "0"}}  # the worker's environment
BATCH, FEATURES = 32, 80


def build(encoder: str, before_path: str | None):
    import torch

    if encoder == "ecapa":
        from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN

        return ECAPA_TDNN(FEATURES, channels=[512, 512, 512, 512, 1536], lin_neurons=192)
    if encoder in ("res2net50", "res2net50_no_c_kernels"):  # the latter's worker runs with NO_C_KERNELS
        from custom_modules.models.res2net import Res2Net50

        return Res2Net50(input_size=FEATURES, m_channels=16, embedding_dim=512)
    import importlib.util

    spec = importlib.util.spec_from_file_location("res2net_before", before_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    return module.Res2Net50(input_size=FEATURES, m_channels=16, embedding_dim=512)


def worker(encoder: str, threads: int, mode: str, repeats: int, before_path: str | None, warmup: int = 3) -> dict:
    """One measurement in this process; returns its figures."""
    import resource
    import statistics
    import time

    import torch

    torch.set_num_threads(threads)
    from custom_modules.models.allocator import retain_freed_memory

    # the heap setting that constructing the project's Res2Net50 applies to its whole process,
    # given to every encoder, so that ECAPA is measured as the acceptance check measures it (in
    # one process with Res2Net50): without it ECAPA's step was 15-20% slower
    retain_freed_memory()
    torch.manual_seed(0)
    model = build(encoder, before_path)
    if mode in ("train", "convs"):
        model.train()
        x, lens = torch.randn(BATCH, 101, FEATURES), torch.ones(BATCH)
    else:
        model.eval()
        frames = torch.linspace(101, 601, BATCH).round().long()
        x, lens = torch.randn(BATCH, int(frames.max()), FEATURES), frames.float() / frames.max()
        x = x * (torch.arange(x.shape[1])[None, :, None] < frames[:, None, None])

    from custom_modules.models.c_kernels import batch_norm_library, kernel_status

    batch_norm_library()
    kernels = kernel_status() if encoder.startswith("res2net50") and encoder != "res2net50_before" else "-"
    if mode == "convs":
        return {
            "encoder": encoder,
            "threads": threads,
            "mode": mode,
            "best_s": convolutions_alone(model, x, lens, repeats),
            "c_kernels": kernels,
        }

    def call() -> float:
        start = time.perf_counter()
        if mode == "train":
            model(x, lens).float().pow(2).mean().backward()
            model.zero_grad(set_to_none=True)
        else:
            with torch.no_grad():
                model(x, lens)
        return time.perf_counter() - start

    for _ in range(warmup):
        call()
    times = [call() for _ in range(repeats)]
    return {
        "encoder": encoder,
        "threads": threads,
        "mode": mode,
        "best_s": min(times),
        "median_s": statistics.median(times),
        "utterances_per_s": BATCH / min(times),
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
        "c_kernels": kernels,
    }


def recorded_convolutions(model, x, lens) -> list:
    """Every convolution one training step calls: ``(module, input shape, memory format,
    input needs a gradient)``, in call order."""
    import torch

    from custom_modules.models.channels_last import memory_format_of

    calls = []

    def record(module, inputs, _output):
        sample = inputs[0]
        calls.append((module, tuple(sample.shape), memory_format_of(sample), sample.requires_grad))

    kinds = (torch.nn.Conv1d, torch.nn.Conv2d)
    hooks = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, kinds)]
    try:
        model(x, lens).float().pow(2).mean().backward()
    finally:
        for hook in hooks:
            hook.remove()
    model.zero_grad(set_to_none=True)
    return calls


def convolutions_alone(model, x, lens, repeats: int) -> float:
    """The sum, over every convolution of one training step, of its forward + backward timed
    alone on an input of the shape and memory layout it gets in the step (best of
    ``repeats``): what the step would cost if nothing but the convolutions took time."""
    import time

    import torch

    total = 0.0
    for module, shape, layout, needs_grad in recorded_convolutions(model, x, lens):
        inp = torch.randn(shape).contiguous(memory_format=layout).requires_grad_(needs_grad)
        grad = torch.randn_like(module(inp))
        best = float("inf")
        for i in range(repeats + 1):
            start = time.perf_counter()
            module(inp).backward(grad)
            elapsed = time.perf_counter() - start
            module.zero_grad(set_to_none=True)
            inp.grad = None
            if i:  # the first call warms up
                best = min(best, elapsed)
        total += best
    return total


def before_module(folder: str) -> str | None:
    """The Res2Net module of BEFORE_COMMIT written into ``folder``, or None without git."""
    try:
        text = subprocess.run(
            ["git", "show", f"{BEFORE_COMMIT}:custom_modules/res2net.py"],  # its path at that commit
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = os.path.join(folder, "res2net_before.py")
    with open(path, "w") as handle:
        handle.write(text)
    return path


def markdown(rows: list, repeats: int, warmup: int = 3) -> str:
    by_key = {(r["encoder"], r["threads"], r["mode"]): r for r in rows}
    names = {
        "res2net50_before": f"Res2Net50 m16, before (commit {BEFORE_COMMIT})",
        "res2net50_no_c_kernels": "Res2Net50 m16, now, without the C kernels",
        "res2net50": "Res2Net50 m16, now",
        "ecapa": "ECAPA-TDNN C=512 (SpeechBrain)",
    }
    lines = [
        "# Encoder speed on this CPU: Res2Net50 against ECAPA-TDNN",
        "",
        f"Made by `scripts/benchmark_encoders.py` (best of {repeats} after {warmup} warm-up calls; median in brackets; "
        f"each row its own process). Train step: forward + backward, batch {BATCH} x 1 s (101 frames x 80 fbank, "
        f"no padding). Embedding: eval mode, no gradients, a padded batch of {BATCH} utterances of 1 to 6 s. "
        "Peak memory: the process's maximum resident set (Python and libraries included). Convolutions alone: "
        "every convolution of one training step timed by itself (forward + backward, its input's shape and "
        "layout, best of the repeats) and summed; the rest of the step is batch norm, activations, copies, "
        "pooling and the loss.",
        "",
        "| encoder | threads | train step s | train utt/s | train peak GB | embed batch s | embed utt/s | "
        "embed peak GB | train ratio to ECAPA | embed ratio to ECAPA | convolutions alone s | share of the step |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for threads in sorted({r["threads"] for r in rows}):
        ecapa_train, ecapa_embed = by_key.get(("ecapa", threads, "train")), by_key.get(("ecapa", threads, "embed"))
        for encoder in ENCODERS:
            train, embed = by_key.get((encoder, threads, "train")), by_key.get((encoder, threads, "embed"))
            if train is None or embed is None:
                continue
            ratio_t = train["best_s"] / ecapa_train["best_s"] if ecapa_train else float("nan")
            ratio_e = embed["best_s"] / ecapa_embed["best_s"] if ecapa_embed else float("nan")
            convs = by_key.get((encoder, threads, "convs"))
            conv_cells = f"{convs['best_s']:.2f} | {100 * convs['best_s'] / train['best_s']:.0f}%" if convs else "- | -"
            lines.append(
                f"| {names[encoder]} | {threads} | {train['best_s']:.2f} ({train['median_s']:.2f}) | "
                f"{train['utterances_per_s']:.1f} | {train['peak_rss_gb']:.2f} | {embed['best_s']:.2f} "
                f"({embed['median_s']:.2f}) | {embed['utterances_per_s']:.1f} | {embed['peak_rss_gb']:.2f} | "
                f"{ratio_t:.2f} | {ratio_e:.2f} | {conv_cells} |"
            )
    commit = git_commit()
    import torch

    statuses = sorted({r["c_kernels"] for r in rows if r["encoder"] == "res2net50"})
    lines += [
        "",
        'C batch-norm kernels (`custom_modules/models/batch_norm_act.py`) in the "now" rows: '
        + "; ".join(s.split(":")[0] for s in statuses)
        + '. The "without" rows run the same code with `RES2NET_SV_C_KERNELS=0` (PyTorch\'s batch norm, '
        "additions and ReLU).",
        "",
        f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}; "
        f"date {datetime.date.today().isoformat()}, commit {commit}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=os.path.join(ROOT, "results", "benchmark_encoders.md"))
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls first (training steps or embeddings)")
    parser.add_argument(
        "--worker", nargs=4, metavar=("ENCODER", "THREADS", "MODE", "BEFORE_PATH"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.worker:
        encoder, threads, mode, before_path = args.worker
        print(json.dumps(worker(encoder, int(threads), mode, args.repeats, before_path, args.warmup)))
        return
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        before_path = before_module(folder)
        encoders = [e for e in ENCODERS if e != "res2net50_before" or before_path]
        for threads in (int(t) for t in args.threads.split(",")):
            for mode in ("train", "embed", "convs"):
                for encoder in encoders if mode != "convs" else ["res2net50", "ecapa"]:
                    env = {**os.environ, "OMP_NUM_THREADS": str(threads), **NO_C_KERNELS.get(encoder, {})}
                    run = subprocess.run(
                        [
                            sys.executable,
                            __file__,
                            "--repeats",
                            str(args.repeats),
                            "--warmup",
                            str(args.warmup),
                            "--worker",
                            encoder,
                            str(threads),
                            mode,
                            before_path or "-",
                        ],
                        capture_output=True,
                        text=True,
                        env=env,
                        cwd=ROOT,
                    )
                    if run.returncode != 0:
                        raise SystemExit(f"error: {encoder} {mode} at {threads} threads failed:\n{run.stderr[-2000:]}")
                    rows.append(json.loads(run.stdout.strip().splitlines()[-1]))
                    r = rows[-1]
                    print(
                        f"{encoder:17s} {threads} thread(s) {mode:5s}: best {r['best_s']:.2f} s"
                        + (
                            f", median {r['median_s']:.2f} s, peak {r['peak_rss_gb']:.2f} GB" if mode != "convs" else ""
                        ),
                        flush=True,
                    )
    text = markdown(rows, args.repeats, args.warmup)
    write_text(args.output, text)  # creates the folder; never a half-written report
    print(text)


if __name__ == "__main__":
    main()
