#!/usr/bin/env python3
"""Embed audio with a trained or exported model: one float32 embedding per utterance.

    python recipes/embed.py --model models/res2net_am_demo --input data/mine/test.csv --output emb.npz
    python recipes/embed.py --model exp/res2net_am_demo/1986 --input some/folder --output emb.npz
    python recipes/embed.py --model <dir> --input a.wav b.flac --output emb.npz

--input is a speaker CSV (ID,wav[,start,stop]; paths relative to the CSV's folder), a folder
(every .wav/.flac below it; IDs are paths below the folder without the extension) or audio
files (IDs: file names without extension). The .npz holds ``ids`` and ``embeddings``
(N x D, float32, in input order). Utterances are embedded in length-sorted padded batches;
the length-aware encoder makes padding harmless.

Memory is bounded: an utterance of at most 30 s (--max_seconds) is embedded whole; a longer
one is the mean embedding of 30 s windows with half overlap (with --per_window, one embedding
per window instead, IDs ``<id>@<start>-<end>`` in seconds of the file), and a batch holds at
most 120 s of padded audio. A 10-minute file peaked at 2.5 GB of resident memory with Res2Net50 m16
(8.8 GB when it was embedded whole).

A --model ending in .onnx (recipes/export.py --format onnx) runs on onnxruntime alone: torch
is then never imported.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional, Tuple

import numpy as np

from custom_modules.data.audio import segment_length, windows
from custom_modules.data.audio_check import audio_warnings
from custom_modules.data.dataio import DataError, read_speaker_csv, row_segments
from custom_modules.export.onnx_runtime import OnnxEmbedder, load_model, model_errors

AUDIO = (".wav", ".flac")
Segment = Tuple[str, Optional[int], Optional[int]]


def list_inputs(inputs: List[str]) -> Tuple[List[str], List[Segment]]:
    """IDs and (path, start, stop) segments for a CSV, a folder or a list of files."""
    if len(inputs) == 1 and inputs[0].endswith(".csv"):
        rows = read_speaker_csv(inputs[0])
        return [r["ID"] for r in rows], row_segments(rows, os.path.dirname(os.path.abspath(inputs[0])))
    if len(inputs) == 1 and os.path.isdir(inputs[0]):
        root = inputs[0]
        paths = sorted(os.path.join(d, f) for d, _, files in os.walk(root) for f in files if f.lower().endswith(AUDIO))
        if not paths:
            raise DataError(f"{root}: no .wav or .flac files below this folder")
        return [os.path.splitext(os.path.relpath(p, root))[0] for p in paths], [(p, None, None) for p in paths]
    missing = [p for p in inputs if not os.path.isfile(p)]
    if missing:
        raise DataError(
            f"{missing[0]}: audio file not found" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    ids = [os.path.splitext(os.path.basename(p))[0] for p in inputs]
    if len(set(ids)) != len(ids):
        ids = [os.path.splitext(p)[0] for p in inputs]
    return ids, [(p, None, None) for p in inputs]


def per_window(
    ids: List[str], segments: List[Segment], max_seconds: float, sample_rate: int
) -> Tuple[List[str], List[Segment]]:
    """Every segment longer than ``max_seconds`` cut into its half-overlapping windows (the
    windows the averaged embedding uses), each its own item: ``<id>@<start>-<end>`` (seconds)."""
    window = int(round(max_seconds * sample_rate))
    out_ids, out_segments = [], []
    for uid, (path, start, stop) in zip(ids, segments):
        first = int(start or 0)
        pieces = windows(first, first + segment_length(path, start, stop), window)
        if len(pieces) == 1:
            out_ids.append(uid)
            out_segments.append((path, start, stop))
            continue
        for a, b in pieces:
            out_ids.append(f"{uid}@{a / sample_rate:.2f}-{b / sample_rate:.2f}")
            out_segments.append((path, a, b))
    return out_ids, out_segments


def embed_segments(args: argparse.Namespace, segments: List[Segment], model=None) -> np.ndarray:
    """Embed with the loaded ``model``: an :class:`OnnxEmbedder` or a torch experiment."""
    if isinstance(model, OnnxEmbedder):
        return model.embed(segments, batch_size=args.batch_size, max_seconds=args.max_seconds or None, progress=True)
    from custom_modules.models.embedding import embed_utterances  # torch: only for torch models

    return embed_utterances(
        model.extractor,
        segments,
        sample_rate=model.record.get("sample_rate", 16000),
        batch_size=args.batch_size,
        device=args.device,
        progress=True,
        max_seconds=args.max_seconds or None,
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model", required=True, help="an exported model folder or .onnx file, or a training output folder"
    )
    parser.add_argument("--input", nargs="+", required=True, help="a CSV, a folder, or audio files")
    parser.add_argument("--output", required=True, help="the .npz to write (.npz is added when missing)")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--max_seconds",
        type=float,
        default=30.0,
        help="longer utterances: the mean embedding of windows this long, half overlapping (bounds "
        "memory; 0: embed whole)",
    )
    parser.add_argument(
        "--per_window",
        action="store_true",
        help="longer utterances: one embedding per window (IDs <id>@<start>-<end> seconds) instead of their mean",
    )
    parser.add_argument(
        "--trust_model_code",
        action="store_true",
        help="load a model folder whose hyperparams.yaml calls code beyond the known model classes "
        "(it runs while loading: only for folders from people you trust)",
    )
    args = parser.parse_args(argv)
    output = args.output if args.output.endswith(".npz") else args.output + ".npz"  # what np.savez writes
    if os.path.exists(output):
        raise SystemExit(f"error: {output} exists; choose another --output (nothing is overwritten)")
    try:
        model = load_model(args.model, device=args.device, trust_model_code=args.trust_model_code)
        ids, segments = list_inputs(args.input)
        if args.per_window and args.max_seconds:
            rate = model.sample_rate if isinstance(model, OnnxEmbedder) else model.record.get("sample_rate", 16000)
            ids, segments = per_window(ids, segments, args.max_seconds, rate)
        warned = [
            (path, w)
            for path in dict.fromkeys(p for p, _, _ in segments)
            if os.path.isfile(path)
            for w in audio_warnings(path)
        ]
        for path, warning in warned[:10]:  # readable files whose embeddings would say little
            print(f"WARN {path}: {warning}", file=sys.stderr)
        if len(warned) > 10:
            print(f"WARN ... and {len(warned) - 10} more such files", file=sys.stderr)
        embeddings = embed_segments(args, segments, model)
    except model_errors(args.model) as error:
        raise SystemExit(f"error: {error}") from None
    partial = output[: -len(".npz")] + ".partial.npz"  # renamed into place once complete
    np.savez(partial, ids=np.array(ids), embeddings=embeddings)
    os.replace(partial, output)
    print(f"wrote {len(ids)} embeddings of dimension {embeddings.shape[1]} to {output}")


if __name__ == "__main__":
    main()
