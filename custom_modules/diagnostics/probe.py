"""The training probe: a few real optimizer steps on one fixed batch, and its verdicts.

:func:`probe_training` trains the hparams' own modules in place for a few steps on a fixed
batch of training audio and returns a :class:`ProbeResult` (losses, accuracy counts on
margin-free and margin-penalised logits, mean cosine between different speakers);
:func:`probe_checks` turns it into verdicts with :func:`check_probe_loss`,
:func:`check_embedding_collapse` and
:func:`~custom_modules.diagnostics.config_checks.check_accuracy_counts`.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import math
import time
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

from custom_modules.diagnostics.config_checks import check_accuracy_counts
from custom_modules.diagnostics.preflight import train_batch_size
from custom_modules.diagnostics.verdicts import FAIL, PASS, WARN, Verdict

__all__ = [
    "check_probe_loss",
    "check_embedding_collapse",
    "ProbeResult",
    "probe_training",
    "probe_checks",
]

COLLAPSE_COSINE = 0.999  # mean cosine between different speakers' embeddings: collapsed
MIN_LOSS_DROP = 0.01  # relative loss drop over the probe steps on one fixed batch


def check_probe_loss(losses: Sequence[float], min_drop: float = MIN_LOSS_DROP) -> Verdict:
    """Loss on one fixed batch over a few steps: finite, and down by at least ``min_drop``.

    Example
    -------
    >>> check_probe_loss([9.5, 8.0, 7.7, 7.0]).status
    'PASS'
    >>> check_probe_loss([9.5, 9.5, 9.5]).status, check_probe_loss([9.5, float("nan")]).status
    ('WARN', 'FAIL')
    """
    name = "probe loss"
    values = [float(v) for v in losses]
    shown = ", ".join(f"{v:.3f}" for v in values)
    if not values:
        return Verdict(name, WARN, "no probe steps were run", "")
    if not all(math.isfinite(v) for v in values):
        return Verdict(
            name,
            FAIL,
            f"non-finite loss on the probe batch ({shown})",
            "lower the learning rate or the scale; check the audio for NaN/Inf and the features for log(0)",
        )
    if len(values) < 2:
        return Verdict(name, PASS, f"loss {shown} (one step: no trend)")
    drop = (values[0] - values[-1]) / max(abs(values[0]), 1e-12)
    if drop < min_drop:
        return Verdict(
            name,
            WARN,
            f"loss on one fixed batch did not decrease over {len(values) - 1} updates ({shown}; "
            f"{100 * drop:+.1f}% vs at least {100 * min_drop:g}%)",
            "check the learning rate and that the optimiser holds every module's parameters",
        )
    return Verdict(
        name, PASS, f"loss on one fixed batch fell by {100 * drop:.1f}% over {len(values) - 1} updates ({shown})"
    )


def check_embedding_collapse(
    mean_cosine: Optional[float], pairs: int, initial_cosine: Optional[float] = None, threshold: float = COLLAPSE_COSINE
) -> Verdict:
    """Mean cosine between embeddings of different speakers at or above ``threshold``.

    Early in training a common component dominates: on the dev set the mean cosine between
    different speakers is about 0.87 at initialisation and 0.98 to 0.995 after 1 to 3 steps
    of a healthy run, so 0.9 would flag every healthy run; 0.999 (identical to three
    decimals) is the collapse this check reports.

    Example
    -------
    >>> check_embedding_collapse(0.99, 28, 0.87).status, check_embedding_collapse(0.9999, 28).status
    ('PASS', 'WARN')
    """
    name = "embeddings"
    if mean_cosine is None or pairs == 0:
        return Verdict(name, PASS, "no pair of different speakers in the probe batch: not measured")
    start = f" ({initial_cosine:.3f} before the first update)" if initial_cosine is not None else ""
    if not math.isfinite(mean_cosine):
        return Verdict(
            name, FAIL, "non-finite embeddings on the probe batch", "lower the learning rate; check the data"
        )
    if mean_cosine >= threshold:
        return Verdict(
            name,
            WARN,
            f"mean cosine between different speakers' embeddings is {mean_cosine:.4f} over {pairs} pairs{start}, "
            f">= {threshold:g}: the embeddings have collapsed to one direction",
            "lower the learning rate, warm the margin up, and check that labels line up with the rows",
        )
    return Verdict(
        name,
        PASS,
        f"mean cosine between different speakers' embeddings {mean_cosine:.3f} over {pairs} pairs{start}, "
        f"< {threshold:g} (values up to ~0.99 are normal in the first steps)",
    )


class ProbeResult(NamedTuple):
    """What :func:`probe_training` measured on its fixed batch."""

    losses: List[float]  # loss before each update, then after the last one
    batch_size: int
    speakers: int  # distinct speakers in the probe batch
    crop_seconds: float
    seconds: float
    head_correct: int  # the head's own count, after the updates
    cos_correct: int  # argmax(cos) == label
    margin_correct: Optional[int]  # argmax(margin-penalised logits) == label
    total: int
    margin: float
    mean_cosine: Optional[float]  # different-speaker pairs, after the updates
    initial_cosine: Optional[float]
    pairs: int
    error: Optional[str] = None


def _probe_rows(train_rows: Sequence[Dict[str, str]], size: int, seed: int) -> List[Dict[str, str]]:
    """``size`` rows from as many different speakers as possible (deterministic)."""
    import numpy as np

    by_speaker: Dict[str, List[Dict[str, str]]] = {}
    for row in sorted(train_rows, key=lambda r: r["ID"]):
        by_speaker.setdefault(row["spk_id"], []).append(row)
    speakers = sorted(by_speaker)
    order = [speakers[i] for i in np.random.default_rng(seed).permutation(len(speakers))]
    chosen: List[Dict[str, str]] = []
    depth = 0
    while len(chosen) < size and depth < max(len(v) for v in by_speaker.values()):
        for spk in order:
            if len(chosen) < size and depth < len(by_speaker[spk]):
                chosen.append(by_speaker[spk][depth])
        depth += 1
    return chosen


def _mean_cross_speaker_cosine(embeddings, labels):
    import torch.nn.functional as F

    unit = F.normalize(embeddings.reshape(embeddings.shape[0], -1).float(), dim=1)
    cos = unit @ unit.t()
    different = labels[:, None] != labels[None, :]
    pairs = int(different.sum()) // 2
    return (float(cos[different].mean()) if pairs else None), pairs


def _probe_batch(
    hparams: dict, rows: Sequence[Dict[str, str]], index: Dict[str, int], crop: float, sample_rate: int, device: str
):
    """Centre crops of ``crop`` seconds of ``rows`` (stacked), their relative lengths and labels."""
    import torch

    from custom_modules.data.dataio import read_crop, resolve_audio_path

    data_folder = hparams.get("data_folder", "")
    num_samples = int(round(crop * sample_rate))
    wavs = torch.stack(
        [
            read_crop(
                resolve_audio_path(r["wav"], data_folder),
                num_samples,
                int(float(r["start"])) if r.get("start") not in (None, "") else None,
                int(float(r["stop"])) if r.get("stop") not in (None, "") else None,
                random=False,
                sample_rate=sample_rate,
            )
            for r in rows
        ]
    ).to(device)
    lens = torch.ones(len(rows), device=device)
    labels = torch.tensor([index[r["spk_id"]] for r in rows], device=device)
    return wavs, lens, labels


def _probe_updates(hparams: dict, modules, wavs, lens, labels, steps: int, started: float, max_seconds: float, say):
    """Run the optimizer steps; return the loss before each update and the initial cross-speaker cosine."""
    import torch

    from custom_modules.models.embedding import compute_embeddings

    head = modules[3]
    params = [p for module in modules for p in module.parameters() if p.requires_grad]
    optimizer = hparams["opt_class"](params)
    max_norm = float(hparams.get("max_grad_norm", 5.0) or 0)
    losses: List[float] = []
    initial = None
    for step in range(max(1, int(steps))):
        tick = time.time()
        embeddings = compute_embeddings(*modules[:3], wavs, lens)
        if initial is None:
            initial, _ = _mean_cross_speaker_cosine(embeddings.detach(), labels)
        out = head(embeddings, labels)
        losses.append(float(out.loss.detach()))
        optimizer.zero_grad()
        out.loss.backward()
        if max_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, max_norm)
        optimizer.step()
        spent = time.time() - tick
        say(f"probe step {step + 1}: loss {losses[-1]:.3f} ({spent:.1f} s)")
        if time.time() - started + 1.4 * spent > max_seconds and step + 1 < steps:
            say(f"probe stopped after {step + 1} of {steps} steps (--probe_seconds={max_seconds:g})")
            break
    return losses, initial


def _probe_measure(modules, wavs, lens, labels) -> Dict[str, Any]:
    """One forward without gradients after the updates: loss, accuracy counts, cross-speaker cosine."""
    import torch
    import torch.nn.functional as F

    from custom_modules.models.embedding import compute_embeddings

    head = modules[3]
    with torch.no_grad():
        embeddings = compute_embeddings(*modules[:3], wavs, lens)
        out = head(embeddings, labels)
        loss = float(out.loss)
        head_correct = int(out.correct)
        mean_cos, pairs = _mean_cross_speaker_cosine(embeddings, labels)
        cos_correct, margin_correct = head_correct, None
        if hasattr(head, "cosine"):
            cos = head.cosine(embeddings)
            cos_correct = int((cos.argmax(dim=1) == labels).sum())
            if hasattr(head, "margin_logits"):
                onehot = F.one_hot(labels, cos.shape[1]).to(cos.dtype)
                margin_correct = int((head.margin_logits(cos, onehot).argmax(dim=1) == labels).sum())
    return {
        "loss": loss,
        "head_correct": head_correct,
        "cos_correct": cos_correct,
        "margin_correct": margin_correct,
        "total": int(out.total),
        "mean_cosine": mean_cos,
        "pairs": pairs,
    }


def probe_training(
    hparams: dict,
    train_rows: Sequence[Dict[str, str]],
    steps: int = 3,
    batch_size: Optional[int] = None,
    crop_seconds: float = 1.0,
    max_seconds: float = 90.0,
    device: str = "cpu",
    log=None,
) -> ProbeResult:
    """A few real optimizer steps of the hparams' own modules on one fixed batch.

    Builds nothing new: ``hparams["compute_features"]``, ``["mean_var_norm"]``,
    ``["embedding_model"]`` and ``["classifier"]`` are trained in place (train mode) with
    ``hparams["opt_class"]`` at the peak learning rate (no warm-up) and the classifier's final
    margin, on centre crops of ``min(crop_seconds, hparams crop)`` seconds of
    ``batch_size`` (default ``min(max(hparams batch, 2), 8)``) training utterances from as
    many speakers as possible, labelled as the recipe labels them (sorted speakers -> 0..C-1).
    After ``steps`` updates (fewer if ``max_seconds`` would be exceeded; at least 1) one more
    forward measures the loss, the accuracy counts (head, argmax(cos), argmax(margin logits))
    and the mean cosine between different speakers' embeddings. Errors are returned in
    ``error``, not raised.
    """
    import torch

    started = time.time()
    say = log or (lambda message: None)
    size = int(batch_size or min(max(train_batch_size(hparams), 2), 8))
    crop = hparams.get("crop_seconds")
    crop = min(float(crop), crop_seconds) if crop and float(crop) > 0 else crop_seconds
    sample_rate = int(hparams.get("sample_rate", 16000))
    head = hparams["classifier"]
    margin = float(getattr(head, "margin", 0.0))
    empty = ProbeResult([], size, 0, crop, 0.0, 0, 0, None, 0, margin, None, None, 0)
    try:
        torch.manual_seed(int(hparams.get("seed", 1986)))
        speakers = sorted({r["spk_id"] for r in train_rows})
        index = {spk: i for i, spk in enumerate(speakers)}
        rows = _probe_rows(train_rows, size, int(hparams.get("seed", 1986)))
        wavs, lens, labels = _probe_batch(hparams, rows, index, crop, sample_rate, device)
        modules = [hparams["compute_features"], hparams["mean_var_norm"], hparams["embedding_model"], head]
        for module in modules:
            module.to(device).train()
        losses, initial = _probe_updates(hparams, modules, wavs, lens, labels, steps, started, max_seconds, say)
        measured = _probe_measure(modules, wavs, lens, labels)
        losses.append(measured["loss"])
        return ProbeResult(
            losses,
            len(rows),
            len(set(labels.tolist())),
            crop,
            round(time.time() - started, 1),
            measured["head_correct"],
            measured["cos_correct"],
            measured["margin_correct"],
            measured["total"],
            margin,
            measured["mean_cosine"],
            initial,
            measured["pairs"],
        )
    except Exception as error:  # reported as a FAIL verdict, with its type
        return empty._replace(error=f"{type(error).__name__}: {error}", seconds=round(time.time() - started, 1))


def probe_checks(probe: ProbeResult) -> List[Verdict]:
    """Verdicts from a :class:`ProbeResult`: accuracy counts, loss trend, collapse."""
    if probe.error:
        return [
            Verdict(
                "probe",
                FAIL,
                f"training steps on a batch of {probe.batch_size} failed: {probe.error}",
                "fix the error above; recipes/train.py would fail the same way",
            )
        ]
    return [
        check_accuracy_counts(probe.head_correct, probe.cos_correct, probe.margin_correct, probe.total, probe.margin),
        check_probe_loss(probe.losses),
        check_embedding_collapse(probe.mean_cosine, probe.pairs, probe.initial_cosine),
    ]
