"""Checks that explain degenerate training metrics ("why is my accuracy only 0% or 100%?").

Each check is a plain function that returns a :class:`Verdict` ``(name, status, reason,
fix)`` with ``status`` in ``PASS``/``WARN``/``FAIL`` and a one-line reason that names the
numbers involved. Three entry points put them together:

- :func:`preflight` (hparams only): reads the CSVs itself and runs the config and data
  checks; no model is run. Cheap: meant for the start of ``recipes/train.py``.
- :func:`run_config_checks` (hparams + already-read rows): the same checks, pure enough for
  exact tests.
- :func:`probe_training` + :func:`probe_checks`: a few real optimizer steps of the hparams'
  own modules on one fixed batch of training audio, then the loss trend, NaN/Inf, accuracy
  counted on margin-free vs margin-penalised logits, and embedding collapse.

:func:`format_table` prints verdicts; ``recipes/diagnose.py`` is the command line.
After evaluation, :func:`check_speaker_overfitting` (the evaluated epoch's accuracies from
:func:`read_training_figures`, the EER and the no-learning floor's EER on the same trials)
runs at the end of ``recipes/eval.py`` and in ``recipes/diagnose.py --evaluated``.

What is checked, and the rule behind each status:

=====================  ==========================================================================
batch size             batch 1: any per-batch accuracy is 0 or 100 (WARN; FAIL if the head gives
                       no counts, so the epoch figure cannot be correct / samples); last batch of 1
crop                   crop_seconds missing or <= 0 (FAIL); most utterances shorter than the crop
                       (WARN: they are repeat-padded)
classes                num_classes vs speakers in the training CSV; label indices out of range or
                       not contiguous (label_encoder.txt)
scale/margin           s below ``minimum_scale(C, 0.99, m)`` (WARN); margin that no scale can
                       overcome (FAIL); saturation: s*m >= 20 without a margin warm-up (WARN)
speakers               < 2 speakers (FAIL), < 10 (WARN: chance level is high, 100% is easy);
                       speakers with a single utterance (WARN)
validation             validation speakers absent from training (FAIL: closed-set accuracy is
                       meaningless there, use EER on trials)
test leak              test speakers that are also training speakers (FAIL)
learning rate          lr outside the optimiser's sane range (Adam family 1e-5..1e-2, SGD 1e-4..1)
margin accuracy        (probe) accuracy from argmax(cos) vs argmax(margin logits) vs the head's
                       own count
probe loss             (probe) NaN/Inf (FAIL); loss on a fixed batch not down by 1% (WARN)
embeddings             (probe) mean cosine between different speakers >= 0.999 (WARN: collapsed)
speaker overfitting    (after training and evaluation) closed-set accuracy > 90% while the EER
                       on the trials is within 2 points of the no-learning floor's, or worse
                       (WARN, with the remedies)
=====================  ==========================================================================

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import ast
import json
import math
import os
import textwrap
import time
from collections import Counter
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

__all__ = [
    "PASS",
    "WARN",
    "FAIL",
    "Verdict",
    "batch_accuracies",
    "check_batch_size",
    "check_crop",
    "check_classes",
    "check_scale_margin",
    "check_speakers",
    "check_validation_speakers",
    "check_test_overlap",
    "check_learning_rate",
    "check_accuracy_counts",
    "check_probe_loss",
    "check_embedding_collapse",
    "check_speaker_overfitting",
    "NotApplicable",
    "read_final_accuracies",
    "is_floor_folder",
    "read_training_figures",
    "utterance_seconds",
    "read_label_map",
    "DataRows",
    "read_data_rows",
    "run_config_checks",
    "preflight",
    "training_audio_verdict",
    "ProbeResult",
    "probe_training",
    "probe_checks",
    "format_verdict",
    "format_table",
    "exit_code",
]

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"

MIN_SPEAKERS = 10  # below this, chance level 1/C is high and 100% accuracy is easy
TARGET_PROBABILITY = 0.99  # the posterior the scale bound is computed for
SATURATION = 20.0  # s * m at or above this without margin warm-up: saturated start
COLLAPSE_COSINE = 0.999  # mean cosine between different speakers' embeddings: collapsed
MIN_LOSS_DROP = 0.01  # relative loss drop over the probe steps on one fixed batch
LR_RANGES = {  # sane peak learning rates per optimiser class name
    "Adam": (1e-5, 1e-2),
    "AdamW": (1e-5, 1e-2),
    "Adamax": (1e-5, 1e-2),
    "NAdam": (1e-5, 1e-2),
    "RAdam": (1e-5, 1e-2),
    "RMSprop": (1e-5, 1e-2),
    "SGD": (1e-4, 1.0),
}


class Verdict(NamedTuple):
    """The outcome of one check.

    Attributes
    ----------
    name : str
        Short name of the check (``"batch size"``).
    status : str
        ``"PASS"``, ``"WARN"`` or ``"FAIL"``.
    reason : str
        One line with the numbers involved.
    fix : str
        What to change ("" when nothing needs changing).
    """

    name: str
    status: str
    reason: str
    fix: str = ""


def _pct(count: float, total: float) -> str:
    return f"{100.0 * count / total:.1f}%" if total else "n/a"


# ---------------------------------------------------------------------------------------
# 1. batch size: accuracy that can only be 0 or 100
# ---------------------------------------------------------------------------------------


def batch_accuracies(correct: Sequence[bool], batch_size: int) -> List[float]:
    """Per-batch accuracies in percent of consecutive batches of ``batch_size`` samples.

    The mechanism behind "accuracy is only 0% or 100%": with batches of one sample every
    per-batch value is 0 or 100, so a figure read off one batch (a progress bar, the last
    batch of an epoch) can be nothing else. The epoch figure must be
    ``sum(correct) / samples`` (what ``AMSoftmax``'s counts give).

    Example
    -------
    >>> batch_accuracies([True, False, False, True], 1)
    [100.0, 0.0, 0.0, 100.0]
    >>> batch_accuracies([True, False, False, True, True], 2)
    [50.0, 50.0, 100.0]
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    flags = [bool(c) for c in correct]
    return [
        100.0 * sum(flags[i : i + batch_size]) / len(flags[i : i + batch_size])
        for i in range(0, len(flags), batch_size)
    ]


def check_batch_size(
    batch_size: int, num_train: int, drop_last: bool = False, counts_samples: Optional[bool] = True
) -> Verdict:
    """Batch size 1 (every per-batch accuracy is 0 or 100) and a last batch of one sample.

    ``counts_samples``: whether the head returns ``(loss, correct, total)`` counts, so the
    epoch accuracy is ``correct / samples`` (True for this project's ``AMSoftmax``); False
    or None (unknown) with batch size 1 is a FAIL.

    Example
    -------
    >>> check_batch_size(1, 912).status
    'WARN'
    >>> check_batch_size(1, 912, counts_samples=False).status
    'FAIL'
    >>> check_batch_size(32, 912)
    Verdict(name='batch size', status='PASS', reason='batch_size=32: 29 steps per epoch over 912 training utterances; the last batch holds 16', fix='')
    >>> check_batch_size(4, 9).status   # 9 = 2 x 4 + 1
    'WARN'
    """
    name = "batch size"
    batch_size, num_train = int(batch_size), int(num_train)
    if batch_size < 1:
        return Verdict(name, FAIL, f"batch_size={batch_size}", "set --batch_size to 32 (or the largest that fits)")
    steps = num_train // batch_size if drop_last else -(-num_train // batch_size)
    last = batch_size if drop_last or num_train % batch_size == 0 else num_train % batch_size
    if batch_size == 1:
        if counts_samples:
            reason = (
                f"batch_size=1: each of the {num_train} steps per epoch sees one utterance, so any "
                f"per-batch accuracy (a progress bar, the last batch's value, a batch metric) is "
                f"exactly 0% or 100%; this recipe's epoch accuracy sums the head's counts "
                f"(correct / {num_train} samples), so the logged figure is a real fraction, but "
                f"BatchNorm statistics come from a single utterance and an epoch takes {num_train} steps"
            )
            status = WARN
        else:
            reason = (
                "batch_size=1 and the head returns no (correct, total) counts: every per-batch "
                "accuracy is exactly 0% or 100%, and an epoch figure built from batch values is "
                "not correct / samples"
            )
            status = FAIL
        fix = (
            "train on fixed-length crops (crop_seconds) so batches are dense and use --batch_size=32 "
            "(or the largest that fits); report accuracy as sum(correct) / sum(samples) over the epoch"
        )
        return Verdict(name, status, reason, fix)
    if batch_size > num_train:
        return Verdict(
            name,
            WARN,
            f"batch_size={batch_size} exceeds the {num_train} training utterances: one partial batch per epoch",
            f"--batch_size={max(2, min(32, num_train // 4))}",
        )
    if last == 1:
        return Verdict(
            name,
            WARN,
            f"batch_size={batch_size} with {num_train} training utterances ({num_train} = "
            f"{steps - 1} x {batch_size} + 1): the last batch of every epoch holds 1 sample, whose "
            f"per-batch accuracy is 0% or 100% (and BatchNorm1d layers fail on it in training mode)",
            "set train_dataloader_options: drop_last: True, or change --batch_size by one",
        )
    return Verdict(
        name,
        PASS,
        f"batch_size={batch_size}: {steps} steps per epoch over {num_train} training utterances; "
        f"the last batch holds {last}",
    )


# ---------------------------------------------------------------------------------------
# 2. crops: variable-length inputs
# ---------------------------------------------------------------------------------------


def check_crop(
    crop_seconds: Optional[float], durations: Sequence[float], sampled_from: Optional[int] = None
) -> Verdict:
    """Training crops: missing or non-positive (FAIL); longer than most utterances (WARN).

    ``durations`` are utterance lengths in seconds (all training utterances, or a sample of
    ``sampled_from``). Utterances shorter than the crop are repeat-padded to it.

    Example
    -------
    >>> check_crop(2.0, [1.0] * 912).reason.split(":")[0]
    '912 of 912 training utterances (100.0%) are shorter than crop_seconds=2.0 (median 1.00 s)'
    >>> check_crop(1.0, [1.0] * 912).status, check_crop(None, [1.0]).status
    ('PASS', 'FAIL')
    """
    name = "crop"
    durations = sorted(float(d) for d in durations)
    n = len(durations)
    median = durations[n // 2] if n else float("nan")
    spread = f"min {durations[0]:.2f} s, median {median:.2f} s, max {durations[-1]:.2f} s" if n else "no durations"
    of = f" (a sample of {n} of {sampled_from})" if sampled_from and sampled_from > n else ""
    if crop_seconds is None or not float(crop_seconds) > 0:
        return Verdict(
            name,
            FAIL,
            f"crop_seconds={crop_seconds}: no training crops, so batches of variable-length utterances "
            f"({spread}) need padding, the usual reason people fall back to batch size 1",
            f"set crop_seconds to about the median duration (--crop_seconds={max(0.5, round(median, 1)) if n else 2.0}); "
            "shorter files are repeated, so every batch is dense",
        )
    crop = float(crop_seconds)
    shorter = sum(d < crop - 1e-6 for d in durations)
    if n and shorter > n / 2:
        return Verdict(
            name,
            WARN,
            f"{shorter} of {n} training utterances{of} ({_pct(shorter, n)}) are shorter than "
            f"crop_seconds={crop_seconds} (median {median:.2f} s): they are repeat-padded, so the model "
            f"sees each of them ~{crop / max(median, 1e-3):.1f}x repeated",
            f"--crop_seconds={max(0.2, math.floor(median * 10) / 10):g} (at most the median duration)",
        )
    return Verdict(
        name,
        PASS,
        f"crop_seconds={crop_seconds}: {shorter} of {n} training utterances{of} ({_pct(shorter, n)}) are "
        f"shorter and repeat-padded ({spread}); batches are dense",
    )


# ---------------------------------------------------------------------------------------
# 3. accuracy counted on margin-free cosines or on margin-penalised logits
# ---------------------------------------------------------------------------------------


def check_accuracy_counts(
    head_correct: int, cos_correct: int, margin_correct: Optional[int], total: int, margin: float
) -> Verdict:
    """Does the head count ``argmax(cos)`` (right) or ``argmax(margin logits)`` (under-reports)?

    Example
    -------
    >>> check_accuracy_counts(5, 5, 2, 8, 0.2).reason
    'the head counts the margin-free argmax(cos): 5/8 (62.5%) on the probe batch; argmax of the margin-penalised logits (m=0.2) would give 2/8 (25.0%), under-reporting by 37.5 points'
    >>> check_accuracy_counts(2, 5, 2, 8, 0.2).status
    'WARN'
    """
    name = "margin accuracy"
    total = int(total)
    head_correct, cos_correct = int(head_correct), int(cos_correct)
    cos_text = f"{cos_correct}/{total} ({_pct(cos_correct, total)})"
    if margin_correct is None:
        return Verdict(
            name,
            WARN if head_correct != cos_correct else PASS,
            f"the head counts {head_correct}/{total}; argmax(cos) gives {cos_text}; the head has no "
            f"margin_logits() to compare with",
            "" if head_correct == cos_correct else "count accuracy as argmax(cos) == label, without the margin",
        )
    margin_correct = int(margin_correct)
    gap = 100.0 * (cos_correct - margin_correct) / total if total else 0.0
    margin_text = (
        f"argmax of the margin-penalised logits (m={margin:g}) would give {margin_correct}/{total} "
        f"({_pct(margin_correct, total)}), under-reporting by {gap:.1f} points"
    )
    if head_correct == cos_correct:
        return Verdict(
            name,
            PASS,
            f"the head counts the margin-free argmax(cos): {cos_text} on the probe batch; {margin_text}",
        )
    which = (
        "the margin-penalised logits" if head_correct == margin_correct else "neither argmax(cos) nor the margin logits"
    )
    return Verdict(
        name,
        WARN,
        f"the head counts {head_correct}/{total} ({_pct(head_correct, total)}) on the probe batch, "
        f"which matches {which}; argmax(cos) gives {cos_text}; {margin_text}",
        "count accuracy as argmax(cos) == label (what a classifier predicts at test time), never on "
        "the logits with the margin subtracted",
    )


# ---------------------------------------------------------------------------------------
# 4. classes and labels
# ---------------------------------------------------------------------------------------


def check_classes(
    num_classes: int,
    train_speakers: Sequence[str],
    label_map: Optional[Dict[str, int]] = None,
    source: str = "the training CSV",
) -> Verdict:
    """``num_classes`` vs the training speakers, and the label indices (``label_map``).

    Example
    -------
    >>> check_classes(7, ["a", "b", "c", "d"], source="train.csv").reason
    'num_classes=7 but train.csv has 4 training speakers: labels 4..6 have no examples (not contiguous)'
    >>> check_classes(3, ["a", "b", "c", "d"]).status, check_classes(4, "abcd").status
    ('FAIL', 'PASS')
    >>> check_classes(3, "abc", {"a": 0, "b": 2, "c": 3}).reason
    'label indices [3] are outside [0, 3) and [1] are unused (not contiguous)'
    """
    name = "classes"
    speakers = sorted(set(train_speakers))
    count, num_classes = len(speakers), int(num_classes)
    if num_classes != count:
        detail = (
            f"labels {num_classes}..{count - 1} would be out of range (a device-side assert on GPU)"
            if num_classes < count
            else f"labels {count}..{num_classes - 1} have no examples (not contiguous)"
        )
        return Verdict(
            name,
            FAIL,
            f"num_classes={num_classes} but {source} has {count} training speakers: {detail}",
            f"Remove the num_classes override (it is derived from the CSV) or set --num_classes={count}",
        )
    if label_map is not None:
        known = set(label_map)
        if known != set(speakers):
            missing, extra = sorted(set(speakers) - known), sorted(known - set(speakers))
            return Verdict(
                name,
                FAIL,
                f"the label encoder maps {len(known)} speakers that differ from the {count} of {source} "
                f"({len(missing)} missing, e.g. {missing[:3]}; {len(extra)} unknown, e.g. {extra[:3]})",
                "use a new --output_folder (its label_encoder.txt belongs to another dataset)",
            )
        indices = sorted(label_map.values())
        outside = sorted(i for i in set(indices) if not 0 <= i < num_classes)
        unused = sorted(set(range(num_classes)) - set(indices))
        duplicated = sorted(i for i, c in Counter(indices).items() if c > 1)
        if outside or unused or duplicated:
            parts = []
            if outside:
                parts.append(f"label indices {outside[:5]} are outside [0, {num_classes})")
            if unused:
                parts.append(f"{unused[:5]} are unused (not contiguous)")
            if duplicated:
                parts.append(f"{duplicated[:5]} are shared by several speakers")
            return Verdict(
                name,
                FAIL,
                " and ".join(parts),
                "encode speakers as 0..C-1 (SpeechBrain's CategoricalEncoder does); delete the stale "
                "label_encoder.txt or use a new --output_folder",
            )
    return Verdict(
        name,
        PASS,
        f"num_classes={num_classes} = speakers in {source}; labels 0..{num_classes - 1}, contiguous",
    )


# ---------------------------------------------------------------------------------------
# 5. scale and margin
# ---------------------------------------------------------------------------------------


def check_scale_margin(
    scale: float,
    margin: float,
    num_classes: int,
    target_probability: float = TARGET_PROBABILITY,
    warmup: bool = False,
) -> Verdict:
    """Scale too small to reach ``target_probability``; margin or ``s*m`` that saturate the loss.

    Bound: ``s >= (C-1)/C * ln((C-1) P / (1-P)) / (1 - m (C-1)/C)``
    (:func:`custom_modules.models.am_softmax.minimum_scale`). Saturation rule: at the start every
    cosine is about 0, so the target posterior is about ``exp(-s*m) / (C-1)``; with
    ``s*m >= 20`` (posterior below 2e-9 / (C-1)) every sample starts deep in the saturated
    region and training often stalls unless the margin is warmed up. A margin no scale can
    overcome (``m >= C/(C-1)``, or ``m >= 1`` for a cosine margin) is a FAIL.

    Example
    -------
    >>> check_scale_margin(30, 0.2, 16).reason
    's=30 >= 8.43, the smallest scale at which C=16 classes with margin m=0.2 can reach a target posterior of 0.99 (6.85 without margin); s*m=6 < 20'
    >>> check_scale_margin(5, 0.2, 16).status, check_scale_margin(30, 1.0, 16).status
    ('WARN', 'FAIL')
    >>> check_scale_margin(64, 0.35, 16).status, check_scale_margin(64, 0.35, 16, warmup=True).status
    ('WARN', 'PASS')
    """
    from custom_modules.models.am_softmax import minimum_scale

    name = "scale/margin"
    scale, margin, c = float(scale), float(margin), int(num_classes)
    if c < 2:
        return Verdict(
            name, FAIL, f"num_classes={c}: a softmax needs at least 2 classes", "train on 2 or more speakers"
        )
    if scale <= 0 or margin < 0:
        return Verdict(
            name,
            FAIL,
            f"s={scale:g}, m={margin:g}: the scale must be > 0 and the margin >= 0",
            "--scale=30 --margin=0.2",
        )
    bound = minimum_scale(c, target_probability, margin)
    plain = minimum_scale(c, target_probability, 0.0)
    if margin >= 1.0 or math.isinf(bound):
        return Verdict(
            name,
            FAIL,
            f"m={margin:g}: the margin-penalised target cosine cos-m can never exceed the other classes' "
            f"enough (no scale reaches a posterior of {target_probability:g} with C={c}); the loss saturates",
            "--margin=0.2 (CosFace/AM-Softmax margins are 0.1..0.4)",
        )
    sm = scale * margin
    if scale < bound:
        return Verdict(
            name,
            WARN,
            f"s={scale:g} < {bound:.2f}, the smallest scale at which C={c} classes with margin m={margin:g} "
            f"can reach a target posterior of {target_probability:g} ({plain:.2f} without margin): the loss "
            f"cannot approach 0 and the gradients never vanish",
            f"--scale={max(30, math.ceil(bound * 1.5))}",
        )
    if sm >= SATURATION and not warmup:
        return Verdict(
            name,
            WARN,
            f"s*m={sm:g} >= {SATURATION:g} without margin warm-up: at the start the target posterior is "
            f"about exp(-s*m)/(C-1) = {math.exp(-sm) / (c - 1):.1e} and the loss about "
            f"{math.log1p((c - 1) * math.exp(sm)):.1f}, saturated for every sample",
            "warm the margin up (margin_warmup_end > margin_warmup_start) or use s=30, m=0.2",
        )
    return Verdict(
        name,
        PASS,
        f"s={scale:g} >= {bound:.2f}, the smallest scale at which C={c} classes with margin m={margin:g} "
        f"can reach a target posterior of {target_probability:g} ({plain:.2f} without margin); "
        f"s*m={sm:g} < {SATURATION:g}" + (" with margin warm-up" if sm >= SATURATION else ""),
    )


# ---------------------------------------------------------------------------------------
# 6. speakers and utterances per speaker
# ---------------------------------------------------------------------------------------


def check_speakers(utterances_per_speaker: Dict[str, int], min_speakers: int = MIN_SPEAKERS) -> Verdict:
    """Too few speakers for a meaningful closed-set accuracy; speakers with one utterance.

    Example
    -------
    >>> check_speakers({"a": 6, "b": 6, "c": 6, "d": 6}).reason.split(";")[0]
    '4 training speakers (< 10): chance level is 1/4 = 25.0%'
    >>> check_speakers({str(i): 63 for i in range(16)}).status
    'PASS'
    >>> check_speakers({str(i): 1 if i < 3 else 5 for i in range(12)}).status
    'WARN'
    """
    name = "speakers"
    counts = {spk: int(n) for spk, n in utterances_per_speaker.items()}
    c = len(counts)
    if c < 2:
        return Verdict(
            name,
            FAIL,
            f"{c} training speaker(s): a classifier needs at least 2 (accuracy is trivially 100%)",
            "train on many speakers (hundreds for useful embeddings)",
        )
    ordered = sorted(counts.values())
    single = sorted(s for s, n in counts.items() if n < 2)
    summary = f"utterances per speaker: min {ordered[0]}, median {ordered[c // 2]}, max {ordered[-1]}"
    if c < min_speakers:
        return Verdict(
            name,
            WARN,
            f"{c} training speakers (< {min_speakers}): chance level is 1/{c} = {100.0 / c:.1f}%; with so "
            f"few classes a closed-set accuracy near 100% is easy and says nothing about verification; {summary}",
            "train on more speakers, and judge the model by EER on trials of unseen speakers (recipes/eval.py)",
        )
    if single:
        return Verdict(
            name,
            WARN,
            f"{len(single)} of {c} speakers have fewer than 2 utterances (e.g. {single[:3]}): they get no "
            f"held-out utterance and one example each; {summary}",
            "drop those speakers or add utterances (2+ each, 10+ preferably)",
        )
    return Verdict(name, PASS, f"{c} training speakers, chance level {100.0 / c:.1f}%; {summary}")


# ---------------------------------------------------------------------------------------
# 7. validation speakers and test leaks
# ---------------------------------------------------------------------------------------


def check_validation_speakers(
    train_speakers: Sequence[str],
    valid_speakers: Sequence[str],
    valid_utterances: int,
    source: str = "the validation split",
) -> Verdict:
    """Closed-set validation accuracy needs validation utterances of training speakers only.

    Example
    -------
    >>> check_validation_speakers("abcd", "ab", 2).status
    'PASS'
    >>> print(check_validation_speakers("abcd", "abxy", 4).reason.split(":")[0])
    2 of 4 validation speakers are not training speakers (e.g. ['x', 'y'])
    """
    name = "validation"
    train_set, valid_set = set(train_speakers), set(valid_speakers)
    unseen = sorted(valid_set - train_set)
    if not valid_set:
        return Verdict(
            name,
            WARN,
            "no validation utterances: no speaker has 2 or more utterances",
            "give --valid_annotation with utterances of the training speakers",
        )
    if unseen:
        return Verdict(
            name,
            FAIL,
            f"{len(unseen)} of {len(valid_set)} validation speakers are not training speakers (e.g. {unseen[:3]}): "
            f"classification accuracy on them is meaningless (their classes do not exist, so every one counts as wrong)",
            "validate on held-out utterances of training speakers (leave valid_annotation null), and measure "
            "unseen speakers by EER on trials (recipes/eval.py)",
        )
    return Verdict(
        name,
        PASS,
        f"closed-set: {valid_utterances} utterances of {len(valid_set)} training speakers in {source}; unseen "
        f"speakers are measured by EER on trials",
    )


def check_test_overlap(
    train_speakers: Sequence[str], test_speakers: Optional[Sequence[str]], source: str = "test.csv"
) -> Verdict:
    """Test speakers must not be training speakers (a leak makes EER optimistic).

    Example
    -------
    >>> check_test_overlap("abcd", "ef").status, check_test_overlap("abcd", "de").status
    ('PASS', 'FAIL')
    """
    name = "test leak"
    if test_speakers is None:
        return Verdict(name, PASS, f"no {source} to compare with")
    train_set, test_set = set(train_speakers), set(test_speakers)
    shared = sorted(train_set & test_set)
    if shared:
        return Verdict(
            name,
            FAIL,
            f"{len(shared)} of {len(test_set)} speakers of {source} are training speakers (e.g. {shared[:3]}): "
            f"test scores on them are optimistic",
            "prepare the data with disjoint train and test speakers (recipes/prepare.py)",
        )
    return Verdict(
        name, PASS, f"the {len(test_set)} speakers of {source} are disjoint from the {len(train_set)} training speakers"
    )


# ---------------------------------------------------------------------------------------
# 9. learning rate
# ---------------------------------------------------------------------------------------


def check_learning_rate(lr: Optional[float], optimizer: str) -> Verdict:
    """Peak learning rate vs a sane range for the optimiser (Adam family 1e-5..1e-2, SGD 1e-4..1).

    Example
    -------
    >>> check_learning_rate(0.001, "Adam").status, check_learning_rate(0.5, "Adam").status
    ('PASS', 'WARN')
    >>> check_learning_rate(0.1, "SGD").status, check_learning_rate(0, "SGD").status
    ('PASS', 'FAIL')
    """
    name = "learning rate"
    if lr is None:
        return Verdict(name, WARN, f"no learning rate found for {optimizer}", "set lr in the hparams")
    lr = float(lr)
    if not lr > 0 or math.isinf(lr):
        return Verdict(name, FAIL, f"lr={lr:g} for {optimizer}: nothing is learned", "--lr=0.001 for Adam")
    if optimizer not in LR_RANGES:
        return Verdict(name, PASS, f"lr={lr:g} for {optimizer} (no sane range known for this optimiser)")
    low, high = LR_RANGES[optimizer]
    if not low <= lr <= high:
        side = "below" if lr < low else "above"
        return Verdict(
            name,
            WARN,
            f"lr={lr:g} is {side} the sane range {low:g}..{high:g} for {optimizer}: "
            + ("the loss barely moves" if lr < low else "the loss can diverge (NaN) or the embeddings collapse"),
            f"--lr={1e-3 if optimizer != 'SGD' else 0.1:g}",
        )
    return Verdict(name, PASS, f"lr={lr:g} is within {low:g}..{high:g} for {optimizer}")


# ---------------------------------------------------------------------------------------
# 8. probe: loss, NaN/Inf, collapse
# ---------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------
# 9. after evaluation: speaker overfitting (closed-set accuracy high, EER near the floor)
# ---------------------------------------------------------------------------------------

OVERFITTING_MARGIN_POINTS = 2.0  # EER within this many points of the floor's (or worse)...
OVERFITTING_ACCURACY = 0.9  # ...while the closed-set accuracy is above this: WARN
# in a floor system's hyperparams.yaml (floors written before the modules were grouped name the old path)
FLOOR_MARKERS = ("custom_modules.models.floor.CepstralStatistics", "custom_modules.floor.CepstralStatistics")
OVERFITTING_REMEDIES = (
    "add variety, not epochs: speed perturbation (0.9x/1.1x copies as new speakers), random crops "
    "shorter than the utterance, time/frequency masking, additive noise, babble and reverberation "
    "(custom_modules/data/augmentation.py, hparams/res2net_am_smalldata.yaml); select the model by EER on "
    "held-out validation speakers and stop early, not by closed-set accuracy; AS-norm score "
    "normalisation (recipes/eval.py --score_norm=as); more training speakers (recipes/learning_curve.py "
    "measures EER against their number)"
)


class NotApplicable(Exception):
    """A check that cannot run on this folder; the message says why (printed as a note)."""


def check_speaker_overfitting(
    train_accuracy: Optional[float],
    valid_accuracy: Optional[float],
    eer: float,
    floor_eer: float,
    num_speakers: int,
    margin_points: float = OVERFITTING_MARGIN_POINTS,
    accuracy_threshold: float = OVERFITTING_ACCURACY,
    epoch: Optional[int] = None,
) -> Verdict:
    """Closed-set accuracy above ``accuracy_threshold`` while the trial EER is within
    ``margin_points`` of the no-learning floor's EER, or worse: the model tells its training
    speakers apart but has not learned voices (WARN ``speaker overfitting``).

    The closed-set accuracy is the evaluated epoch's validation accuracy (held-out utterances
    of the training speakers) when there is one, else the training accuracy; both are
    reported. The floor (:mod:`custom_modules.models.floor`: cepstral mean + std, cosine) is what
    a system gets without learning anything; a model within a few points of it has learned
    little that generalises to unseen speakers, however well it classifies its own.

    Arguments
    ---------
    train_accuracy : float, optional
        Final-epoch training accuracy, a fraction (correct / samples).
    valid_accuracy : float, optional
        Final-epoch closed-set validation accuracy, a fraction; None when not measured.
    eer : float
        The model's EER on the trial list (raw cosine scores), a fraction.
    floor_eer : float
        The floor system's EER on the same trials, a fraction.
    num_speakers : int
        Training speakers (named in the message).
    margin_points : float
        WARN when ``eer >= floor_eer - margin_points / 100`` (percentage points).
    accuracy_threshold : float
        ... and the closed-set accuracy is strictly above this fraction.
    epoch : int, optional
        The epoch the accuracies are from (only for the message).

    Returns
    -------
    Verdict
        ``speaker overfitting``: WARN with the remedies, or PASS with the figures.

    Example
    -------
    >>> v = check_speaker_overfitting(0.998, 0.979, 0.205, 0.217, 16, epoch=12)
    >>> print(v.status, v.reason)
    WARN closed-set accuracy 97.9% (validation, epoch 12; training 99.8%) on 16 training speakers, but the EER on the trials is 20.50%, only 1.20 points below the no-learning floor's 21.70% (within 2 points): the model separates its 16 training speakers but has learned little about unseen voices, and training longer on the same speakers will not change that
    >>> print(check_speaker_overfitting(1.0, None, 0.1883, 0.217, 16).reason)   # 2.87 points below
    closed-set accuracy 100.0% (training, last epoch; no closed-set validation) on 16 training speakers; EER on the trials 18.83%, 2.87 points below the no-learning floor's 21.70%: more than 2 points better than the floor, so not the overfitting signature
    >>> check_speaker_overfitting(0.768, 0.594, 0.236, 0.217, 16).status   # undertrained, not overfitted
    'PASS'
    """
    name = "speaker overfitting"
    for label, value in (
        ("train_accuracy", train_accuracy),
        ("valid_accuracy", valid_accuracy),
        ("eer", eer),
        ("floor_eer", floor_eer),
    ):
        if value is not None and not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"{label}={value}: accuracies and EERs are fractions in [0, 1], not percentages")
    if train_accuracy is None and valid_accuracy is None:
        raise ValueError("no closed-set accuracy: give train_accuracy or valid_accuracy")
    which, accuracy = ("validation", valid_accuracy) if valid_accuracy is not None else ("training", train_accuracy)
    parts = [which + (f", epoch {epoch}" if epoch is not None else ", last epoch")]
    if which == "validation" and train_accuracy is not None:
        parts.append(f"training {100 * float(train_accuracy):.1f}%")
    elif which == "training":
        parts.append("no closed-set validation")
    accuracy_text = f"closed-set accuracy {100 * float(accuracy):.1f}% ({'; '.join(parts)}) on {int(num_speakers)} training speakers"
    gap = 100.0 * (float(floor_eer) - float(eer))  # points the model is below (better than) the floor
    same = abs(gap) < 0.005  # the same to the two decimals shown
    position = "the same as" if same else f"{gap:.2f} points below" if gap > 0 else f"{-gap:.2f} points above"
    floor_text = f"the no-learning floor's {100 * float(floor_eer):.2f}%"
    near_floor = gap <= float(margin_points) + 1e-9
    high_accuracy = round(float(accuracy), 12) > float(accuracy_threshold)
    if near_floor and high_accuracy:
        closeness = f"within {margin_points:g} points" if gap > 0 and not same else "no better than learning nothing"
        return Verdict(
            name,
            WARN,
            f"{accuracy_text}, but the EER on the trials is {100 * float(eer):.2f}%, "
            f"{'only ' if gap > 0 and not same else ''}{position} {floor_text} ({closeness}): "
            f"the model separates its {int(num_speakers)} training speakers but has learned little about "
            f"unseen voices, and training longer on the same speakers will not change that",
            OVERFITTING_REMEDIES,
        )
    if near_floor:
        verdict = (
            f"accuracy is not above {100 * accuracy_threshold:g}%, so this is not speaker overfitting "
            f"(more likely under-training)"
        )
    elif high_accuracy:
        verdict = f"more than {margin_points:g} points better than the floor, so not the overfitting signature"
    else:
        verdict = (
            f"more than {margin_points:g} points better than the floor, and accuracy not above "
            f"{100 * accuracy_threshold:g}%"
        )
    return Verdict(
        name,
        PASS,
        f"{accuracy_text}; EER on the trials {100 * float(eer):.2f}%, {position} {floor_text}: {verdict}",
    )


def read_final_accuracies(metrics_file: str, epoch: Optional[int] = None) -> Dict[str, Any]:
    """The last epoch's (or the given ``epoch``'s) accuracies from a ``metrics.jsonl`` of
    ``recipes/train.py``; an epoch that is not in the file falls back to the last one.

    Each line is ``{"epoch": e, ..., "train": {"acc": ...} | null, "valid": {"acc": ..., "samples": n}}``;
    the line with the highest epoch wins (the last of equals, for a re-run). A split with
    no samples counts as not measured (None).

    Returns
    -------
    dict
        ``{"epoch", "train_accuracy", "valid_accuracy"}``; raises :class:`NotApplicable`
        when the file is missing or holds no epoch.

    Example
    -------
    >>> import json, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "metrics.jsonl")
    >>> lines = [{"epoch": 1, "train": {"acc": 0.5, "samples": 8}, "valid": {"acc": 0.25, "samples": 4}},
    ...          {"epoch": 2, "train": {"acc": 0.75, "samples": 8}, "valid": {"acc": 0.0, "samples": 0}}]
    >>> _ = open(path, "w").write("".join(json.dumps(line) + "\\n" for line in lines))
    >>> read_final_accuracies(path)
    {'epoch': 2, 'train_accuracy': 0.75, 'valid_accuracy': None}
    >>> read_final_accuracies(path, epoch=1)
    {'epoch': 1, 'train_accuracy': 0.5, 'valid_accuracy': 0.25}
    """
    if not os.path.isfile(metrics_file):
        raise NotApplicable(
            f"{metrics_file} not found: no closed-set accuracy to compare with the EER "
            f"(a pretrained or exported model folder, or a run that finished no epoch)"
        )
    final = chosen = None
    with open(metrics_file) as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as error:
                raise NotApplicable(f"{metrics_file}, line {number}: not JSON ({error})") from None
            if not isinstance(record, dict):
                raise NotApplicable(f"{metrics_file}, line {number}: not an epoch record")
            if final is None or int(record.get("epoch") or 0) >= int(final.get("epoch") or 0):
                final = record
            if epoch is not None and int(record.get("epoch") or 0) == int(epoch):
                chosen = record
    final = chosen or final

    def accuracy(stats: Optional[dict]) -> Optional[float]:
        if not stats or stats.get("acc") is None or not stats.get("samples", 1):
            return None
        return float(stats["acc"])

    if final is None:
        raise NotApplicable(f"{metrics_file} holds no epoch yet")
    return {
        "epoch": final.get("epoch"),
        "train_accuracy": accuracy(final.get("train")),
        "valid_accuracy": accuracy(final.get("valid")),
    }


def is_floor_folder(folder: str) -> bool:
    """Whether ``folder`` holds the no-learning floor system (``recipes/floor.py`` output)."""
    path = os.path.join(folder, "hyperparams.yaml")
    if not os.path.isfile(path):
        return False
    with open(path) as handle:
        text = handle.read()
        return any(marker in text for marker in FLOOR_MARKERS)


def read_training_figures(folder: str, epoch: Optional[int] = None) -> Dict[str, Any]:
    """What :func:`check_speaker_overfitting` needs from a training output folder: the
    accuracies of ``epoch`` (the evaluated checkpoint's; default the final epoch) from
    ``metrics.jsonl``, and the number of training speakers.

    The speakers are counted in the training split that ``experiment.json`` names
    (``train_csv``), else taken from its ``num_classes`` (which counts classes: more than
    the speakers when speed-perturbed copies are trained as new speakers).

    Returns
    -------
    dict
        ``{"epoch", "train_accuracy", "valid_accuracy", "num_speakers"}``; raises
        :class:`NotApplicable` (with the reason) for the floor system itself, a pretrained
        model folder (no ``metrics.jsonl``), or a run without a finished epoch.
    """
    from custom_modules.data.dataio import DataError, read_speaker_csv
    from custom_modules.experiment import RECORD

    if is_floor_folder(folder):
        raise NotApplicable(f"{folder} is the no-learning floor system itself: nothing to compare it with")
    figures = read_final_accuracies(os.path.join(folder, "metrics.jsonl"), epoch)
    if figures["train_accuracy"] is None and figures["valid_accuracy"] is None:
        raise NotApplicable(f"{os.path.join(folder, 'metrics.jsonl')}: epoch {figures['epoch']} has no accuracy")
    record_path = os.path.join(folder, RECORD)
    try:
        with open(record_path) as handle:
            record = json.load(handle)
    except (OSError, ValueError) as error:
        raise NotApplicable(f"{record_path}: cannot be read ({error}), so the training speakers are unknown") from None
    try:
        figures["num_speakers"] = len({row["spk_id"] for row in read_speaker_csv(record["train_csv"])})
    except (DataError, KeyError, TypeError):
        if not isinstance(record.get("num_classes"), int):
            raise NotApplicable(f"{record_path}: neither a readable train_csv nor num_classes") from None
        figures["num_speakers"] = record["num_classes"]
    return figures


# ---------------------------------------------------------------------------------------
# data reading
# ---------------------------------------------------------------------------------------


def utterance_seconds(
    rows: Sequence[Dict[str, str]], data_folder: str, sample_rate: int = 16000, max_files: int = 1000
) -> List[float]:
    """Utterance durations in seconds: ``stop - start`` (samples), else the ``duration``
    column, else the file header (soundfile) for an evenly spaced sample of ``max_files``.

    Example
    -------
    >>> utterance_seconds([{"start": "0", "stop": "16000"}, {"duration": "2.5"}], "/data")
    [1.0, 2.5]
    """
    seconds: List[float] = []
    unknown = []
    for row in rows:
        start, stop, duration = row.get("start"), row.get("stop"), row.get("duration")
        if stop not in (None, ""):
            seconds.append((float(stop) - float(start or 0)) / sample_rate)
        elif duration not in (None, ""):
            seconds.append(float(duration))
        else:
            unknown.append(row)
    if unknown:
        import soundfile as sf

        from custom_modules.data.dataio import resolve_audio_path

        step = max(1, len(unknown) // max_files)
        for row in unknown[::step][:max_files]:
            try:
                info = sf.info(resolve_audio_path(row["wav"], data_folder))
            except Exception:  # noqa: BLE001 - the audio verdict names unreadable files
                continue
            seconds.append(info.frames / info.samplerate)
    return seconds


def read_label_map(path: str) -> Optional[Dict[str, int]]:
    """Speaker -> index from a SpeechBrain ``label_encoder.txt`` (None if the file is absent).

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "label_encoder.txt")
    >>> _ = open(path, "w").write("'a' => 0\\n'b' => 1\\n================\\n'starting_index' => 0\\n")
    >>> read_label_map(path)
    {'a': 0, 'b': 1}
    """
    if not os.path.isfile(path):
        return None
    mapping: Dict[str, int] = {}
    with open(path) as handle:
        for line in handle:
            if line.startswith("====="):
                break
            if " => " in line:
                label, index = line.rstrip("\n").split(" => ", 1)
                mapping[str(ast.literal_eval(label))] = int(index)
    return mapping


class DataRows(NamedTuple):
    """The rows a run trains, validates and tests on, as the recipe will split them."""

    train: List[Dict[str, str]]
    valid: List[Dict[str, str]]
    test: Optional[List[Dict[str, str]]]
    valid_source: str
    test_source: str
    train_source: str


def read_data_rows(hparams: dict) -> DataRows:
    """Read the training CSV (and validation/test CSVs) and split them as the recipe does.

    Splits: :func:`custom_modules.data.dataio.resolve_splits`, the function train.py uses (a prepared
    folder's valid.csv included). Test: ``test_annotation`` if set, else
    ``<data_folder>/test.csv`` if it exists. Raises ``DataError`` for unreadable CSVs.
    """
    from custom_modules.data.dataio import read_speaker_csv, resolve_splits

    train_csv = hparams["train_annotation"]
    train, valid, _, valid_source = resolve_splits(
        train_csv,
        hparams.get("valid_annotation"),
        float(hparams.get("valid_fraction", 0.1)),
        int(hparams.get("seed", 1986)),
        int(hparams.get("valid_speakers", 0) or 0),
        hparams.get("data_folder"),
    )
    test_csv = hparams.get("test_annotation") or os.path.join(hparams.get("data_folder", ""), "test.csv")
    test = read_speaker_csv(test_csv) if os.path.isfile(test_csv) else None
    return DataRows(train, valid, test, valid_source, test_csv, train_csv)


# ---------------------------------------------------------------------------------------
# entry points
# ---------------------------------------------------------------------------------------


def _batch_size(hparams: dict) -> int:
    options = hparams.get("train_dataloader_options") or {}
    return int(options.get("batch_size", hparams.get("batch_size", 1)))


def _optimizer(hparams: dict):
    opt_class = hparams.get("opt_class")
    func = getattr(opt_class, "func", opt_class)
    name = getattr(func, "__name__", type(func).__name__)
    lr = hparams.get("lr")
    if lr is None:
        lr = (getattr(opt_class, "keywords", None) or {}).get("lr")
    return name, lr


def _head_settings(hparams: dict):
    """num_classes, scale, final margin, margin warm-up and whether the head returns counts."""
    head = hparams.get("classifier")
    num_classes = hparams.get("num_classes", getattr(head, "num_classes", None))
    scale = getattr(head, "scale", hparams.get("scale"))
    margin = getattr(head, "final_margin", getattr(head, "margin", hparams.get("margin", 0.0)))
    schedule = getattr(head, "margin_schedule", None)
    if schedule is not None:
        warmup = schedule.end_epoch > schedule.start_epoch
    else:
        warmup = float(hparams.get("margin_warmup_end", 0) or 0) > float(hparams.get("margin_warmup_start", 0) or 0)
    from custom_modules.models.am_softmax import AMSoftmax

    counts = True if isinstance(head, AMSoftmax) else None
    return num_classes, scale, margin, warmup, counts


def run_config_checks(
    hparams: dict,
    train_rows: Sequence[Dict[str, str]],
    valid_rows: Sequence[Dict[str, str]],
    test_rows: Optional[Sequence[Dict[str, str]]] = None,
    durations: Optional[Sequence[float]] = None,
    label_map: Optional[Dict[str, int]] = None,
    train_source: str = "the training CSV",
    valid_source: str = "the validation split",
    test_source: str = "test.csv",
) -> List[Verdict]:
    """Config and data checks (no model is run), in the order of the table.

    ``hparams`` is the loaded hyperpyyaml dict (``train_dataloader_options`` or
    ``batch_size``, ``crop_seconds``, ``num_classes``, ``classifier`` or ``scale``/``margin``,
    ``lr``, ``opt_class``, ``data_folder``, ``sample_rate``); ``train_rows``/``valid_rows``
    the split the recipe trains on; ``durations`` (seconds of the training utterances) are
    read from the rows when omitted; ``label_map`` is an existing label encoder's mapping.
    """
    train_speakers = sorted({r["spk_id"] for r in train_rows})
    valid_speakers = sorted({r["spk_id"] for r in valid_rows})
    per_speaker = Counter(r["spk_id"] for r in train_rows)
    for r in valid_rows:
        if r["spk_id"] in per_speaker:
            per_speaker[r["spk_id"]] += 1
    num_classes, scale, margin, warmup, counts = _head_settings(hparams)
    per_speaker_classes = int(hparams.get("classes_per_speaker", 1) or 1)  # speed perturbation: 3
    speaker_classes = num_classes
    if num_classes is not None and per_speaker_classes > 1 and int(num_classes) % per_speaker_classes == 0:
        speaker_classes = int(num_classes) // per_speaker_classes
    opt_name, lr = _optimizer(hparams)
    if durations is None:
        durations = utterance_seconds(
            train_rows, hparams.get("data_folder", ""), int(hparams.get("sample_rate", 16000))
        )
    verdicts = [
        check_batch_size(
            _batch_size(hparams),
            len(train_rows),
            bool((hparams.get("train_dataloader_options") or {}).get("drop_last", False)),
            counts,
        ),
        check_crop(hparams.get("crop_seconds"), durations, sampled_from=len(train_rows)),
        check_classes(
            speaker_classes if speaker_classes is not None else len(train_speakers),
            train_speakers,
            label_map,
            train_source,
        ),
    ]
    if scale is not None:
        verdicts.append(check_scale_margin(scale, margin or 0.0, num_classes or len(train_speakers), warmup=warmup))
    verdicts += [
        check_speakers(dict(per_speaker)),
        check_validation_speakers(train_speakers, valid_speakers, len(valid_rows), valid_source),
        check_test_overlap(
            train_speakers, None if test_rows is None else [r["spk_id"] for r in test_rows], test_source
        ),
        check_learning_rate(lr, opt_name),
    ]
    return verdicts


def training_audio_verdict(hparams: dict) -> Verdict:
    """The ``audio`` verdict over the CSVs a run trains and validates on (every row's file
    read once: :mod:`custom_modules.data.audio_check`)."""
    from custom_modules.data.audio_check import audio_verdict
    from custom_modules.data.dataio import effective_valid_annotation

    valid_csv = effective_valid_annotation(hparams.get("valid_annotation"), hparams.get("data_folder"))
    csvs = [hparams["train_annotation"]] + ([valid_csv] if valid_csv else [])
    return audio_verdict(csvs, hparams.get("data_folder", ""), hparams.get("sample_rate"))


def preflight(hparams: dict) -> List[Verdict]:
    """The config and data checks for the start of ``recipes/train.py``: reads the CSVs
    named by the hparams (and ``<output_folder>/label_encoder.txt`` when resuming), runs
    no model; a CSV that cannot be read gives one FAIL verdict named ``data``."""
    from custom_modules.data.dataio import DataError

    try:
        rows = read_data_rows(hparams)
        label_map = read_label_map(os.path.join(hparams.get("output_folder", ""), "label_encoder.txt"))
        audio = training_audio_verdict(hparams)  # every file first: a bad one would crash the others
        if audio.status == FAIL:
            return [audio]
        verdicts = run_config_checks(
            hparams,
            rows.train,
            rows.valid,
            rows.test,
            label_map=label_map,
            train_source=rows.train_source,
            valid_source=rows.valid_source,
            test_source=rows.test_source,
        )
        return verdicts + [audio]
    except DataError as error:
        return [Verdict("data", FAIL, str(error), "fix the CSV or --data_folder")]


# ---------------------------------------------------------------------------------------
# probe
# ---------------------------------------------------------------------------------------


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
    import torch.nn.functional as F

    from custom_modules.data.dataio import read_crop, resolve_audio_path
    from custom_modules.models.embedding import compute_embeddings

    started = time.time()
    say = log or (lambda message: None)
    size = int(batch_size or min(max(_batch_size(hparams), 2), 8))
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
        modules = [hparams["compute_features"], hparams["mean_var_norm"], hparams["embedding_model"], head]
        for module in modules:
            module.to(device).train()
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
        with torch.no_grad():
            embeddings = compute_embeddings(*modules[:3], wavs, lens)
            out = head(embeddings, labels)
            losses.append(float(out.loss))
            head_correct = int(out.correct)
            mean_cos, pairs = _mean_cross_speaker_cosine(embeddings, labels)
            cos_correct, margin_correct = head_correct, None
            if hasattr(head, "cosine"):
                cos = head.cosine(embeddings)
                cos_correct = int((cos.argmax(dim=1) == labels).sum())
                if hasattr(head, "margin_logits"):
                    onehot = F.one_hot(labels, cos.shape[1]).to(cos.dtype)
                    margin_correct = int((head.margin_logits(cos, onehot).argmax(dim=1) == labels).sum())
        return ProbeResult(
            losses,
            len(rows),
            len(set(labels.tolist())),
            crop,
            round(time.time() - started, 1),
            head_correct,
            cos_correct,
            margin_correct,
            int(out.total),
            margin,
            mean_cos,
            initial,
            pairs,
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


# ---------------------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------------------


def format_verdict(verdict: Verdict) -> str:
    """One line: ``STATUS name: reason [fix: ...]`` (for logs and error messages).

    Example
    -------
    >>> format_verdict(Verdict("crop", "WARN", "too long", "shorter"))
    'WARN crop: too long (fix: shorter)'
    """
    fix = f" (fix: {verdict.fix})" if verdict.fix else ""
    return f"{verdict.status} {verdict.name}: {verdict.reason}{fix}"


def format_table(verdicts: Sequence[Verdict], width: int = 110) -> str:
    """A table with one row per verdict: status, check, reason, and the fix below it.

    Example
    -------
    >>> print(format_table([Verdict("batch size", "WARN", "batch_size=1", "use 32")]))
    STATUS  CHECK            REASON
    WARN    batch size       batch_size=1
                             fix: use 32
    """
    column = max([17] + [len(v.name) + 2 for v in verdicts])  # 17 unless a name is longer
    indent = " " * (8 + column)
    lines = [f"{'STATUS':<8}{'CHECK':<{column}}REASON"]
    for verdict in verdicts:
        body = textwrap.wrap(verdict.reason, width=max(40, width - len(indent))) or [""]
        lines.append(f"{verdict.status:<8}{verdict.name:<{column}}{body[0]}")
        lines += [indent + line for line in body[1:]]
        if verdict.fix:
            fix = textwrap.wrap("fix: " + verdict.fix, width=max(40, width - len(indent)))
            lines += [indent + line for line in fix]
    return "\n".join(lines)


def exit_code(verdicts: Sequence[Verdict]) -> int:
    """1 if any verdict is a FAIL, else 0.

    Example
    -------
    >>> exit_code([Verdict("a", "PASS", ""), Verdict("b", "WARN", "")]), exit_code([Verdict("c", "FAIL", "")])
    (0, 1)
    """
    return int(any(v.status == FAIL for v in verdicts))
