#!/usr/bin/env python3
"""Embedding speed and memory: torch eager vs onnxruntime (recipes/export.py --format onnx).

    python scripts/benchmark_export.py [--data_folder ../shared/data/dev] [--output results/benchmark_export.md]

Both encoders at their recipe sizes (Res2Net50 from hparams/res2net_am_smalldata.yaml, ECAPA-TDNN
from hparams/ecapa_am_smalldata.yaml; random weights: speed does not depend on them), with the
recipes' feature pipeline (80 fbank, sentence mean normalisation) inside the timed call. Rows:
engine (torch eager, onnxruntime) x threads (1, 2) x utterance (short 1.5 s, long 25 s of dev
speech, one utterance per call). Each row runs in its own subprocess (an onnxruntime row never
imports torch), which reports the median seconds per call after a warm-up, the real-time factor
(seconds of compute per second of audio) and the process's peak resident memory.

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
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_RATE = 16000
LENGTHS = {"short": 1.5, "long": 25.0}


def recipe_sizes() -> dict:
    """Encoder sizes of the two small-data recipes, read from their hparams files."""
    import ruamel.yaml

    yaml = ruamel.yaml.YAML(typ="rt")
    with open(os.path.join(ROOT, "hparams", "res2net_am_smalldata.yaml")) as handle:
        res2net = yaml.load(handle)
    with open(os.path.join(ROOT, "hparams", "ecapa_am_smalldata.yaml")) as handle:
        ecapa = yaml.load(handle)
    return {
        "res2net": {
            "n_features": res2net["n_features"],
            "m_channels": res2net["m_channels"],
            "dim": res2net["embedding_dim"],
        },
        "ecapa": {
            "n_features": ecapa["n_features"],
            "channels": list(ecapa["ecapa_channels"]),
            "dim": ecapa["embedding_dim"],
        },
    }


def build_extractor(kind: str, size: dict):
    """The recipe's feature pipeline and encoder (random weights), in evaluation mode."""
    import torch
    from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN
    from speechbrain.processing.features import InputNormalization

    from custom_modules.models.embedding import EmbeddingExtractor
    from custom_modules.models.features import SpeakerFeatures
    from custom_modules.models.res2net import Res2Net50

    torch.manual_seed(0)
    n = size["n_features"]
    if kind == "res2net":
        encoder = Res2Net50(input_size=n, m_channels=size["m_channels"], embedding_dim=size["dim"])
    else:
        encoder = ECAPA_TDNN(n, channels=size["channels"], kernel_sizes=[5, 3, 3, 3, 1], dilations=[1, 2, 3, 4, 1],
                             attention_channels=128, lin_neurons=size["dim"])  # fmt: skip
    features = SpeakerFeatures("fbank", n, sample_rate=SAMPLE_RATE)
    return EmbeddingExtractor(features, InputNormalization(norm_type="sentence", std_norm=False), encoder).eval()


def speech(data_folder: str, seconds: float) -> np.ndarray:
    """``seconds`` of dev test speech (files concatenated), or noise without the dev data."""
    samples = int(seconds * SAMPLE_RATE)
    csv = os.path.join(data_folder, "test.csv")
    if not os.path.isfile(csv):
        return (0.1 * np.random.default_rng(0).standard_normal(samples)).astype(np.float32)
    import soundfile as sf

    with open(csv) as handle:
        wavs = [line.split(",")[2] for line in handle.read().strip().splitlines()[1:]]
    pieces, total = [], 0
    for wav in wavs:
        pieces.append(sf.read(os.path.join(data_folder, wav), dtype="float32")[0])
        total += pieces[-1].shape[0]
        if total >= samples:
            break
    return np.concatenate(pieces)[:samples]


def child(spec: dict) -> dict:
    """One row, in this process: time one-utterance calls, report the peak resident memory."""
    wav = np.load(spec["audio"])[None]
    lens = np.ones(1, np.float32)
    if spec["engine"] == "onnxruntime":
        from custom_modules.export.onnx_runtime import OnnxEmbedder

        model = OnnxEmbedder(spec["onnx"], threads=spec["threads"])

        def call():
            return model(wav, lens)
    else:
        import torch

        torch.set_num_threads(spec["threads"])
        extractor = build_extractor(spec["kind"], spec["size"])
        extractor.embedding_model.load_state_dict(torch.load(spec["weights"], weights_only=True))
        x, x_lens = torch.from_numpy(wav), torch.from_numpy(lens)

        def call():
            with torch.no_grad():
                return extractor(x, x_lens)

    call()  # warm-up: allocation, kernel selection
    times = []
    deadline = time.perf_counter() + spec["seconds"]
    while len(times) < 2 or (time.perf_counter() < deadline and len(times) < 50):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    with open("/proc/self/status") as handle:  # VmHWM: this process's peak resident set (getrusage's
        # ru_maxrss would carry the parent's peak over the fork)
        peak_mb = next(int(line.split()[1]) for line in handle if line.startswith("VmHWM")) / 1024
    return {"seconds": float(np.median(times)), "calls": len(times), "peak_mb": peak_mb}


def run_row(spec: dict) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(spec["threads"])}
    cmd = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    if result.returncode != 0:
        raise SystemExit(f"error: benchmark row {spec} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def prepare(work: str, data_folder: str) -> tuple:
    """Weights and ONNX file of each encoder, and the two utterances, written under ``work``."""
    import torch

    from custom_modules.export.onnx_export import export_onnx

    sizes = recipe_sizes()
    files = {}
    for kind, size in sizes.items():
        extractor = build_extractor(kind, size)
        weights = os.path.join(work, f"{kind}.ckpt")
        torch.save(extractor.embedding_model.state_dict(), weights)
        onnx = export_onnx(extractor, os.path.join(work, f"{kind}.onnx"))
        files[kind] = {"weights": weights, "onnx": onnx, "size": size}
    audio = {}
    for name, seconds in LENGTHS.items():
        audio[name] = os.path.join(work, f"{name}.npy")
        np.save(audio[name], speech(data_folder, seconds))
    return files, audio


def table(rows: list) -> str:
    lines = [
        "| encoder | engine | threads | utterance | s / utterance | real-time factor | utterances / s | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        rtf = r["seconds"] / LENGTHS[r["length"]]
        lines.append(
            f"| {r['kind']} | {r['engine']} | {r['threads']} | {r['length']} ({LENGTHS[r['length']]:g} s) | "
            f"{r['seconds']:.3f} | {rtf:.4f} | {1 / r['seconds']:.1f} | {r['peak_mb']:.0f} |"
        )
    return "\n".join(lines)


def speedups(rows: list) -> str:
    """onnxruntime vs torch per (encoder, threads, utterance)."""
    by = {(r["kind"], r["threads"], r["length"], r["engine"]): r for r in rows}
    lines = []
    for kind, threads, length, engine in by:
        if engine == "onnxruntime":
            torch_row, onnx_row = by[(kind, threads, length, "torch")], by[(kind, threads, length, engine)]
            ratio = torch_row["seconds"] / onnx_row["seconds"]
            lines.append(
                f"- {kind}, {threads} thread(s), {length}: onnxruntime {ratio:.2f}x "
                f"the speed of torch, peak memory {onnx_row['peak_mb']:.0f} vs {torch_row['peak_mb']:.0f} MB"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_folder", default=os.path.join(ROOT, "..", "shared", "data", "dev"))
    parser.add_argument("--output", default=os.path.join(ROOT, "results", "benchmark_export.md"))
    parser.add_argument("--seconds", type=float, default=4.0, help="timed seconds per row (after a warm-up)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    from custom_modules.outputs.atomic import write_text
    from custom_modules.outputs.provenance import git_commit

    started = time.time()
    work = tempfile.mkdtemp(prefix="benchmark_export_")
    files, audio = prepare(work, args.data_folder)
    rows = []
    for kind in files:
        for length in LENGTHS:
            for threads in (1, 2):
                for engine in ("torch", "onnxruntime"):
                    spec = {"kind": kind, "engine": engine, "threads": threads, "audio": audio[length],
                            "seconds": args.seconds, **files[kind]}  # fmt: skip
                    rows.append({**spec, "length": length, **run_row(spec)})
                    print(table(rows[-1:]).splitlines()[-1], flush=True)
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    text = (
        "# Embedding speed: torch eager vs onnxruntime\n\n"
        f"`python scripts/benchmark_export.py` on {datetime.date.today()}, commit {git_commit()}, {cpu} "
        f"({os.cpu_count()} cores visible), torch eager vs onnxruntime on the CPU. **The machine was shared with a "
        "training job and another engineer's work while this ran**: absolute figures are pessimistic and noisy; the "
        "ratios are the point. Both encoders at their recipe sizes with random weights (Res2Net50 m_channels="
        f"{files['res2net']['size']['m_channels']}, embedding {files['res2net']['size']['dim']}; ECAPA-TDNN channels "
        f"{files['ecapa']['size']['channels']}, embedding {files['ecapa']['size']['dim']}), the feature pipeline "
        "(80 fbank, sentence mean normalisation) inside every call, one utterance per call (real dev speech, "
        "concatenated for the long one). Each row is its own process (onnxruntime rows never import torch): median "
        f"of up to {args.seconds:g} s of calls after a warm-up; real-time factor = compute seconds per second of "
        "audio; peak RSS = the process's maximum resident memory (interpreter, libraries, model and activations).\n\n"
        f"{table(rows)}\n\n{speedups(rows)}\n\nTotal benchmark time {time.time() - started:.0f} s.\n"
    )
    write_text(args.output, text)
    print(text)


if __name__ == "__main__":
    main()
