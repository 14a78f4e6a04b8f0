"""Worse than learning nothing: a trained system whose EER is above the no-learning floor's.

The floor (:mod:`custom_modules.models.floor`: cepstral mean + std per utterance, cosine) is what
a system scores without learning anything about voices. A trained model above it on the
same trials has learned less than that, whatever its closed-set accuracy says; on few
training speakers the usual causes are too few epochs, no augmentation, or a recipe made
for many speakers. :func:`check_against_floor` says so (WARN) with those causes and the
fix; ``recipes/eval.py`` writes the verdict into ``results.json`` (``floor_comparison``)
and ``summary.md``, and ``recipes/diagnose.py --evaluated`` prints it again.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional

import yaml

from custom_modules.diagnostics.verdicts import PASS, WARN, Verdict

__all__ = ["check_against_floor", "training_recipe_facts", "FLOOR_CHECK_NAME"]

FLOOR_CHECK_NAME = "worse than no learning"
SMALL_DATA_RECIPE = "hparams/<system>_smalldata.yaml"


class _IgnoreTags(yaml.SafeLoader):
    """A YAML loader that reads hyperpyyaml files as plain data: every ``!tag`` is None,
    so nothing in the file is executed."""


_IgnoreTags.add_multi_constructor("!", lambda loader, suffix, node: None)


def training_recipe_facts(folder: str) -> Dict[str, Any]:
    """What a training output folder says about its recipe: ``{"epochs", "recipe",
    "augmented"}`` (epochs trained from ``metrics.jsonl``; the experiment name and whether
    waveform augmentation was configured from ``hyperparams.yaml``, read without executing
    it). Unknown facts are None (pretrained or exported folders have none of them).

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> _ = open(os.path.join(folder, "hyperparams.yaml"), "w").write(
    ...     "experiment_name: res2net_am_demo\\nmodel: !new:torch.nn.Identity\\n")
    >>> _ = open(os.path.join(folder, "metrics.jsonl"), "w").write('{"epoch": 1}\\n{"epoch": 2}\\n')
    >>> training_recipe_facts(folder)
    {'epochs': 2, 'recipe': 'res2net_am_demo', 'augmented': False}
    """
    facts: Dict[str, Any] = {"epochs": None, "recipe": None, "augmented": None}
    metrics = os.path.join(folder, "metrics.jsonl")
    if os.path.isfile(metrics):
        with open(metrics) as handle:
            epochs = [json.loads(line).get("epoch") for line in handle if line.strip()]
        facts["epochs"] = max((e for e in epochs if isinstance(e, int)), default=len(epochs))
    path = os.path.join(folder, "hyperparams.yaml")
    if os.path.isfile(metrics) and os.path.isfile(path):  # a training run, not a model folder
        try:
            with open(path) as handle:
                hparams = yaml.load(handle, Loader=_IgnoreTags) or {}
        except yaml.YAMLError:
            hparams = {}
        if isinstance(hparams, dict):
            facts["recipe"] = hparams.get("experiment_name")
            facts["augmented"] = "augmentation" in hparams
    return facts


def check_against_floor(
    eer: float,
    floor_eer: float,
    epochs: Optional[int] = None,
    recipe: Optional[str] = None,
    augmented: Optional[bool] = None,
) -> Verdict:
    """WARN when the system's EER is above the no-learning floor's on the same trials.

    Arguments
    ---------
    eer, floor_eer : float
        The system's and the floor's EER on the same trials (raw cosine), fractions.
    epochs : int, optional
        Epochs the system was trained (named among the causes).
    recipe : str, optional
        The experiment name of its hparams (named when it is not a small-data recipe).
    augmented : bool, optional
        Whether waveform augmentation was configured.

    Returns
    -------
    Verdict
        ``worse than no learning``: WARN (EER strictly above the floor's) with the likely
        causes and the fix, else PASS with the distance to the floor. A run of the augmented
        small-data recipe is not told to use it: its causes are speakers unlike the training
        ones and too few speakers, its fix joint training or fine-tuning.

    Example
    -------
    >>> v = check_against_floor(0.3033, 0.2157, epochs=4, recipe="res2net_am_demo", augmented=False)
    >>> v.status, v.reason.split(": ")[0]
    ('WARN', "EER 30.33% on the trials is 8.76 points above the no-learning floor's 21.57% (cepstral mean + std, cosine)")
    >>> check_against_floor(0.2157, 0.2157).status   # equal is not worse
    'PASS'
    """
    for label, value in (("eer", eer), ("floor_eer", floor_eer)):
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"{label}={value}: EERs are fractions in [0, 1], not percentages")
    gap = 100.0 * (float(eer) - float(floor_eer))
    figures = f"EER {100 * float(eer):.2f}% on the trials"
    floor = f"the no-learning floor's {100 * float(floor_eer):.2f}% (cepstral mean + std, cosine)"
    if float(eer) <= float(floor_eer):
        return Verdict(FLOOR_CHECK_NAME, PASS, f"{figures}, {-gap:.2f} points below {floor}")
    reason = f"{figures} is {gap:.2f} points above {floor}: the model is worse than learning nothing. Likely causes: "
    epochs_text = "too few epochs" + (f" ({epochs} trained)" if epochs is not None else "")
    if augmented and recipe and "smalldata" in str(recipe):  # the small-data recipe is in use already
        causes = [
            "trial speakers unlike the training speakers (another language, set of words or recording channel: "
            f"a model trained on a few speakers of one corpus does not carry over, as the small-data recipe "
            f"{recipe} did on other corpora)",
            "too few training speakers",
            epochs_text,
        ]
        fix = (
            "train on speakers of the trials' own corpus or on many more speakers: joint training (python "
            "recipes/crossval.py <hparams> --extra_train <their corpus's train.csv>, or one training CSV with both "
            "corpora), or fine-tuning a model trained on many speakers (python recipes/train.py <hparams> "
            "--init_from=<model folder> --freeze_encoder_epochs=1); compare over seeds and speaker folds "
            "(recipes/crossval.py) before trusting a gain"
        )
        return Verdict(FLOOR_CHECK_NAME, WARN, reason + "; ".join(causes), fix)
    causes = [
        epochs_text,
        "no augmentation"
        + (" (this run had none)" if augmented is False else " (this run had some)" if augmented else ""),
        "a recipe made for many speakers" + (f" ({recipe})" if recipe and "smalldata" not in str(recipe) else ""),
    ]
    return Verdict(
        FLOOR_CHECK_NAME,
        WARN,
        reason + "; ".join(causes),
        f"train with the small-data recipe ({SMALL_DATA_RECIPE}: crops, speed classes, noise, babble, "
        f"reverberation, masking) for more epochs, e.g. python recipes/train.py hparams/res2net_am_smalldata.yaml "
        f"--data_folder=<data>; compare over seeds (one seed moves the EER by several points)",
    )
