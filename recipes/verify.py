#!/usr/bin/env python3
"""Do two recordings share a speaker? Cosine score, calibrated LLR and decision.

    python recipes/verify.py --model models/res2net_am_demo --enrol a.wav [b.wav ...] --test c.wav
    python recipes/verify.py --model <dir> --enrol a.wav --test c.wav --operating_point eer

Several enrolment files are averaged after length normalisation. The decision uses the
threshold stored with the model (recipes/export.py --eval_results): by default the minDCF
threshold at p_target 0.01 of the trial list it was measured on, or the EER threshold with
--operating_point eer; the operating point is printed with the decision. With a stored
calibration (recipes/export.py --calibration), the calibrated log-likelihood ratio is
printed too. Memory is bounded: a recording longer than 30 s is scored by the mean
embedding of 30 s windows with half overlap (recipes/embed.py --help). A --model ending in
.onnx (recipes/export.py --format onnx) runs on onnxruntime alone, without torch; its
thresholds and calibration are read from the file's metadata.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from custom_modules.data.audio_check import audio_warnings
from custom_modules.data.dataio import read_samples
from custom_modules.export.onnx_runtime import OnnxEmbedder, load_model, model_card, model_errors


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def verification_score(model, enrol: list, test: str, batch_size: int = 8) -> float:
    """Cosine between the mean of the unit-length enrolment embeddings and the test embedding.
    ``model``: an :class:`OnnxEmbedder` or a torch experiment (custom_modules/experiment.py)."""
    onnx = isinstance(model, OnnxEmbedder)
    rate = model.sample_rate if onnx else model.record.get("sample_rate", 16000)
    for path in [*enrol, test]:
        read_samples(path, sample_rate=rate)  # one-line error naming a bad file before any work
        for warning in audio_warnings(path):  # readable, but its embedding would say little
            print(f"WARN {path}: {warning}", file=sys.stderr)
    segments = [(p, None, None) for p in [*enrol, test]]
    if onnx:
        emb = model.embed(segments, batch_size=batch_size)
    else:
        from custom_modules.models.embedding import embed_utterances  # torch: only for torch models

        emb = embed_utterances(model.extractor, segments, sample_rate=rate, batch_size=batch_size)
    return float(unit(unit(emb[:-1]).mean(axis=0)) @ unit(emb[-1]))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model", required=True, help="an exported model folder or .onnx file, or a training output folder"
    )
    parser.add_argument("--enrol", nargs="+", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument(
        "--operating_point", default="min_dcf_0.01", help="min_dcf_<p_target> or eer: which stored threshold decides"
    )
    parser.add_argument(
        "--trust_model_code",
        action="store_true",
        help="load a model folder whose hyperparams.yaml calls code beyond the known model classes "
        "(it runs while loading: only for folders from people you trust)",
    )
    args = parser.parse_args(argv)
    try:
        model = load_model(args.model, trust_model_code=args.trust_model_code)
        score = verification_score(model, args.enrol, args.test)
    except model_errors(args.model) as error:
        raise SystemExit(f"error: {error}") from None
    card = model_card(model, args.model)
    print(f"score (cosine): {score:.4f}")
    calibration = card.get("calibration")
    if calibration:
        llr = calibration["a"] * score + calibration["b"]
        print(
            f"calibrated log-likelihood ratio: {llr:.3f} (calibrated at p_target {calibration['p_target']} "
            f"on {calibration.get('trials', 'its trial list')})"
        )
    thresholds = card.get("thresholds") or {}
    chosen = thresholds.get(args.operating_point)
    if chosen is None:
        print(
            f"decision: none (no '{args.operating_point}' threshold stored with the model; export it with "
            f"--eval_results <results.json> to store the EER and minDCF thresholds)"
        )
        return
    same = score >= chosen["threshold"]
    print(
        f"decision: {'same speaker' if same else 'different speakers'} "
        f"(score {'>=' if same else '<'} {chosen['threshold']:.4f}, the {args.operating_point} threshold "
        f"measured on {chosen['trials']})"
    )


if __name__ == "__main__":
    main()
