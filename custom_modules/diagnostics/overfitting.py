"""After evaluation: speaker overfitting (closed-set accuracy high, trial EER near the floor).

:func:`check_speaker_overfitting` compares the evaluated epoch's closed-set accuracy with
the EER on the trials and the no-learning floor's EER; :func:`read_training_figures` (with
:func:`read_final_accuracies` and :func:`is_floor_folder`) reads what it needs from a
training output folder and raises :class:`NotApplicable` where the check cannot run. Used
at the end of ``recipes/eval.py`` and by ``recipes/diagnose.py --evaluated``.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional

from custom_modules.diagnostics.verdicts import PASS, WARN, Verdict

__all__ = [
    "OVERFITTING_MARGIN_POINTS",
    "OVERFITTING_ACCURACY",
    "FLOOR_MARKERS",
    "NotApplicable",
    "check_speaker_overfitting",
    "read_final_accuracies",
    "is_floor_folder",
    "read_training_figures",
]

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
