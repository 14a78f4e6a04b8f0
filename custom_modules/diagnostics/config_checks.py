"""Configuration and data checks: the causes of closed-set accuracy stuck at 0% or 100%.

Each check is a pure function of numbers already read (batch size, crop and utterance
durations, head settings, speakers per split, learning rate) that returns a
:class:`~custom_modules.diagnostics.verdicts.Verdict`; :mod:`custom_modules.diagnostics.preflight`
reads the hparams and CSVs and runs them in order. Also holds :func:`check_accuracy_counts`
(margin-free vs margin-penalised accuracy, fed by the probe) and :func:`batch_accuracies`.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Dict, List, Optional, Sequence

from custom_modules.diagnostics.verdicts import FAIL, PASS, WARN, Verdict, percent

__all__ = [
    "batch_accuracies",
    "check_batch_size",
    "check_crop",
    "check_accuracy_counts",
    "check_classes",
    "check_scale_margin",
    "check_speakers",
    "check_validation_speakers",
    "check_test_overlap",
    "check_learning_rate",
]

MIN_SPEAKERS = 10  # below this, chance level 1/C is high and 100% accuracy is easy
TARGET_PROBABILITY = 0.99  # the posterior the scale bound is computed for
SATURATION = 20.0  # s * m at or above this without margin warm-up: saturated start
LR_RANGES = {  # sane peak learning rates per optimiser class name
    "Adam": (1e-5, 1e-2),
    "AdamW": (1e-5, 1e-2),
    "Adamax": (1e-5, 1e-2),
    "NAdam": (1e-5, 1e-2),
    "RAdam": (1e-5, 1e-2),
    "RMSprop": (1e-5, 1e-2),
    "SGD": (1e-4, 1.0),
}


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
            f"{shorter} of {n} training utterances{of} ({percent(shorter, n)}) are shorter than "
            f"crop_seconds={crop_seconds} (median {median:.2f} s): they are repeat-padded, so the model "
            f"sees each of them ~{crop / max(median, 1e-3):.1f}x repeated",
            f"--crop_seconds={max(0.2, math.floor(median * 10) / 10):g} (at most the median duration)",
        )
    return Verdict(
        name,
        PASS,
        f"crop_seconds={crop_seconds}: {shorter} of {n} training utterances{of} ({percent(shorter, n)}) are "
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
    cos_text = f"{cos_correct}/{total} ({percent(cos_correct, total)})"
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
        f"({percent(margin_correct, total)}), under-reporting by {gap:.1f} points"
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
        f"the head counts {head_correct}/{total} ({percent(head_correct, total)}) on the probe batch, "
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
