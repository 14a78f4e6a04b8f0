#!/usr/bin/env python3
"""Batch norm on 1 and 2 threads: does it scale, would the narrow batch norm help wider layers,
and what do the C kernels (batch norm + addition + ReLU) save?

    python scripts/benchmark_batch_norm.py [--repeats 5] [--output results/benchmark_batch_norm.md]

Four measurements, each thread count in its own process (the heap setting of
``retain_freed_memory`` on, as in training):

1. PyTorch's training-mode batch norm, forward and backward, on channels-last tensors of the
   shapes of Res2Net50 (m16, batch 32 x 1 s): best of ``--repeats`` calls, in ms.
2. A whole Res2Net50 training step (batch 32 x 1 s), with the stem's and the ``bn1`` layers'
   ``nn.BatchNorm2d`` (16, 24, 52 channels: wider than ``NarrowBatchNorm2d.narrow_channels``)
   as they are, and as ``NarrowBatchNorm2d`` with its limit raised to take them; both settings
   alternate in one process, best of ``--repeats`` steps each. Both run PyTorch's kernels
   (the C kernels off: with them these modules' own forward is not called in training).
3. Every ``batch_norm_act`` call of one training step, grouped by shape, ReLU and residual:
   forward + backward of one call through the C kernels and through PyTorch's batch norm,
   ``+=`` and ``relu_``, best of ``--repeats``, ms, and summed over the step's calls.
4. Whole training steps with the C kernels and without, alternating in one process.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

SHAPES = [(32, 24, 80, 101), (32, 52, 80, 101), (32, 64, 80, 101), (32, 128, 40, 51)]
WIDE_LIMIT = 63  # takes the stem (16) and bn1 (24, 52) layers; bn3 and wider stay native


def best_ms(call, repeats: int) -> float:
    call()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return 1e3 * best


def time_batch_norm(shape, repeats: int) -> dict:
    """PyTorch's training batch norm of a channels-last tensor of ``shape``: forward and
    backward, best of ``repeats`` calls, in ms."""
    import torch

    x = torch.randn(shape).contiguous(memory_format=torch.channels_last)
    grad = torch.randn(shape).contiguous(memory_format=torch.channels_last)
    weight, bias = torch.ones(shape[1]), torch.zeros(shape[1])
    _, mean, invstd = torch.native_batch_norm(x, weight, bias, None, None, True, 0.1, 1e-5)
    forward = best_ms(lambda: torch.native_batch_norm(x, weight, bias, None, None, True, 0.1, 1e-5), repeats)
    backward = best_ms(
        lambda: torch.ops.aten.native_batch_norm_backward(
            grad, x, weight, None, None, mean, invstd, True, 1e-5, [True, True, True]
        ),
        repeats,
    )
    return {"shape": list(shape), "forward_ms": forward, "backward_ms": backward}


def narrow_wide_layers(model, limit: int = WIDE_LIMIT) -> list:
    """Replace every plain ``nn.BatchNorm2d`` of at most ``limit`` channels by a
    ``NarrowBatchNorm2d`` with the same state; returns their channel counts."""
    import torch.nn as nn

    from custom_modules.models.channels_last import NarrowBatchNorm2d

    swapped = []
    for module in list(model.modules()):
        for name, child in module.named_children():
            if type(child) is nn.BatchNorm2d and child.num_features <= limit:
                narrow = NarrowBatchNorm2d(child.num_features, eps=child.eps, momentum=child.momentum)
                narrow.load_state_dict(child.state_dict())
                setattr(module, name, narrow)
                swapped.append(child.num_features)
    return swapped


def worker(threads: int, repeats: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    from custom_modules.models.allocator import retain_freed_memory
    from custom_modules.models.c_kernels import kernel_status, kernels_disabled
    from custom_modules.models.channels_last import NarrowBatchNorm2d
    from custom_modules.res2net import Res2Net50

    retain_freed_memory()
    torch.manual_seed(0)
    ops = [time_batch_norm(shape, repeats) for shape in SHAPES]
    model = Res2Net50(input_size=80, m_channels=16, embedding_dim=512).train()
    feats, lens = torch.randn(32, 101, 80), torch.ones(32)

    def step():
        model(feats, lens).pow(2).mean().backward()
        model.zero_grad(set_to_none=True)

    swapped = sorted(set(narrow_wide_layers(model)))
    limit = NarrowBatchNorm2d.narrow_channels
    settings = (("native", limit), ("narrow", WIDE_LIMIT))  # swapped layers wider than the limit fall back
    steps = {name: [] for name, _ in settings}
    with kernels_disabled():
        for round_ in range(repeats + 1):  # alternate, so that both settings share the machine's drift
            for name, channels in settings:
                NarrowBatchNorm2d.narrow_channels = channels
                start = time.perf_counter()
                step()
                if round_:  # the first round warms both up
                    steps[name].append(time.perf_counter() - start)
    NarrowBatchNorm2d.narrow_channels = limit

    model = Res2Net50(input_size=80, m_channels=16, embedding_dim=512).train()
    calls = batch_norm_act_calls(model, feats, lens)
    fused = [dict(call, **time_batch_norm_act(call, repeats)) for call in calls]
    kernel_steps = {"C kernels": [], "PyTorch": []}
    for round_ in range(repeats + 3):  # alternate; the first three rounds warm both up
        for name in kernel_steps:
            with contextlib.nullcontext() if name == "C kernels" else kernels_disabled():
                start = time.perf_counter()
                model(feats, lens).pow(2).mean().backward()
                model.zero_grad(set_to_none=True)
                if round_ >= 3:
                    kernel_steps[name].append(time.perf_counter() - start)
    return {
        "threads": threads,
        "ops": ops,
        "swapped": swapped,
        "steps": steps,
        "fused": fused,
        "kernel_steps": kernel_steps,
        "kernels": kernel_status(),
    }


def batch_norm_act_calls(model, feats, lens) -> list:
    """The ``batch_norm_act`` calls of one training step of ``model``, grouped:
    ``{"shape", "relu", "residual", "module", "count"}`` in order of first call (``module``: the
    batch-norm class, ``NarrowBatchNorm2d`` for the split layers, whose PyTorch path differs)."""
    import custom_modules.models.res2net as res2net

    original, seen = res2net.batch_norm_act, {}

    def record(bn, x, relu=False, residual=None):
        key = (tuple(x.shape), bool(relu), residual is not None, type(bn).__name__)
        seen[key] = seen.get(key, 0) + 1
        return original(bn, x, relu=relu, residual=residual)

    res2net.batch_norm_act = record
    try:
        model(feats, lens).pow(2).mean().backward()
    finally:
        res2net.batch_norm_act = original
    model.zero_grad(set_to_none=True)
    return [{"shape": list(k[0]), "relu": k[1], "residual": k[2], "module": k[3], "count": n} for k, n in seen.items()]


def time_batch_norm_act(call: dict, repeats: int) -> dict:
    """Forward + backward of one ``batch_norm_act`` call of this kind, through the C kernels
    and through PyTorch (best of ``repeats``, ms)."""
    import torch
    import torch.nn as nn

    from custom_modules.models.batch_norm_act import batch_norm_act
    from custom_modules.models.c_kernels import kernels_disabled
    from custom_modules.models.channels_last import NarrowBatchNorm2d

    shape = call["shape"]
    bn = (NarrowBatchNorm2d if call["module"] == "NarrowBatchNorm2d" else nn.BatchNorm2d)(shape[1]).train()
    x = torch.randn(shape).contiguous(memory_format=torch.channels_last).requires_grad_()
    residual = (
        torch.randn(shape).contiguous(memory_format=torch.channels_last).requires_grad_() if call["residual"] else None
    )
    grad = torch.randn(shape).contiguous(memory_format=torch.channels_last)

    def once():
        batch_norm_act(bn, x, relu=call["relu"], residual=residual).backward(grad)
        x.grad = None
        bn.zero_grad(set_to_none=True)
        if residual is not None:
            residual.grad = None

    c_ms = best_ms(once, repeats)
    with kernels_disabled():
        pytorch_ms = best_ms(once, repeats)
    return {"c_ms": c_ms, "pytorch_ms": pytorch_ms}


def steps_cell(seconds: list) -> str:
    """A table cell of step times: the best, then every step.

    Example
    -------
    >>> steps_cell([1.512, 1.4166, 1.43])
    '1.417 (1.51, 1.42, 1.43)'
    """
    return f"{min(seconds):.3f} ({', '.join(f'{t:.2f}' for t in seconds)})"


def markdown(results: list, commit: str) -> str:
    lines = [
        "# Batch norm on 1 and 2 threads (Res2Net50 m16, batch 32 x 1 s)",
        "",
        "Made by `scripts/benchmark_batch_norm.py`. PyTorch's training batch norm on channels-last tensors,",
        "best of the repeats, ms; then whole training steps with the stem and `bn1` layers as",
        "`nn.BatchNorm2d` (native) or as `NarrowBatchNorm2d` with its limit raised to take them (narrow),",
        "the two alternating in one process, both with PyTorch's kernels. Then every `batch_norm_act`",
        "call of a training step (batch norm, optional residual addition and ReLU), forward + backward,",
        "through the C kernels and through PyTorch, and whole steps with and without the kernels.",
        "",
        "| shape (N, C, H, W) | "
        + " | ".join(f"forward {r['threads']}t | backward {r['threads']}t" for r in results)
        + " |",
        "|---|" + "---|---|" * len(results),
    ]
    for k, shape in enumerate(SHAPES):
        cells = " | ".join(f"{r['ops'][k]['forward_ms']:.1f} | {r['ops'][k]['backward_ms']:.1f}" for r in results)
        lines.append(f"| {tuple(shape)} | {cells} |")
    lines += [
        "",
        "| threads | layers swapped (channels) | native step s (best, all) | narrow step s (best, all) |",
        "|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['threads']} | {r['swapped']} | {steps_cell(r['steps']['native'])} | {steps_cell(r['steps']['narrow'])} |"
        )
    lines += [
        "",
        "`batch_norm_act` calls of one training step, forward + backward of one call, ms (best of the repeats):",
        "",
        "| shape (N, C, H, W) | ReLU | residual | module (its PyTorch path) | calls per step | "
        + " | ".join(f"PyTorch {r['threads']}t | C {r['threads']}t" for r in results)
        + " |",
        "|---|---|---|---|---|" + "---|---|" * len(results),
    ]
    for k, call in enumerate(results[0]["fused"]):
        cells = " | ".join(f"{r['fused'][k]['pytorch_ms']:.2f} | {r['fused'][k]['c_ms']:.2f}" for r in results)
        lines.append(
            f"| {tuple(call['shape'])} | {'yes' if call['relu'] else 'no'} | {'yes' if call['residual'] else 'no'} "
            f"| {call['module']} | {call['count']} | {cells} |"
        )
    totals = " | ".join(
        f"{sum(c['count'] * c['pytorch_ms'] for c in r['fused']):.0f} | {sum(c['count'] * c['c_ms'] for c in r['fused']):.0f}"
        for r in results
    )
    lines += [f"| all calls of a step, summed | | | | {sum(c['count'] for c in results[0]['fused'])} | {totals} |", ""]
    lines += [
        "| threads | step with the C kernels s (best, all) | step with PyTorch's s (best, all) |",
        "|---|---|---|",
    ]
    for r in results:
        steps = r["kernel_steps"]
        lines.append(f"| {r['threads']} | {steps_cell(steps['C kernels'])} | {steps_cell(steps['PyTorch'])} |")
    lines += [
        "",
        f"C kernels: {results[0]['kernels'].split(':')[0] if results[0]['kernels'].startswith('loaded') else results[0]['kernels']}.",
        "",
        f"{platform.machine()}, {os.cpu_count()} CPU cores; commit {commit}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--output", default=os.path.join(ROOT, "results", "benchmark_batch_norm.md"))
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.repeats)))
        return
    results = []
    for threads in (int(t) for t in args.threads.split(",")):
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        run = subprocess.run(
            [sys.executable, __file__, "--worker", str(threads), "--repeats", str(args.repeats)],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            check=False,
        )
        if run.returncode:
            raise SystemExit(f"error: the {threads}-thread worker failed:\n{run.stderr[-2000:]}")
        results.append(json.loads(run.stdout.strip().splitlines()[-1]))
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    text = markdown(results, commit or "unknown")
    with open(args.output, "w") as handle:
        handle.write(text)
    print(text)


if __name__ == "__main__":
    main()
