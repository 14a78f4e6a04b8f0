"""The report of a learning curve: one point per subset, the table, the JSON and the figure.

:func:`curve_point` reads one subset's ``results.json`` (recipes/eval.py), ``metrics.jsonl``
and ``experiment.json`` (recipes/train.py); :func:`build_report`, :func:`curve_markdown` and
:func:`plot_learning_curve` write the table, JSON and figure (see
:mod:`custom_modules.studies.learning_curve` for the subsets).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import json
import os
import textwrap
from typing import Any, Dict, List, Mapping, Sequence

import numpy as np

from custom_modules.scoring.metrics import percent_text
from custom_modules.studies.learning_curve import LearningCurveError

__all__ = ["curve_point", "build_report", "curve_markdown", "plot_learning_curve"]


def _read_json(path: str) -> Dict[str, Any]:
    with open(path) as handle:
        return json.load(handle)


def _metrics_lines(path: str) -> List[Dict[str, Any]]:
    if not os.path.isfile(path):
        return []
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def curve_point(
    count: int,
    speakers: Sequence[str],
    experiment: str,
    results_path: str,
    score_norm: str = "none",
) -> Dict[str, Any]:
    """One point of the curve from the files of a trained and evaluated subset.

    Parameters
    ----------
    count : int
        Number of training speakers.
    speakers : sequence of str
        Those speakers.
    experiment : str
        The training output folder (``experiment.json`` and ``metrics.jsonl`` of
        ``recipes/train.py``; either may be missing).
    results_path : str
        The subset's ``results.json`` from ``recipes/eval.py``.
    score_norm : str
        Which of the evaluated systems to report.

    Returns
    -------
    dict
        ``speakers``, ``speaker_ids``, ``train_utterances``, ``valid_utterances``, ``epochs``,
        ``train_acc``, ``valid_acc`` (the last logged epoch), ``eer``,
        ``eer_interval_95`` (``[low, high]`` or ``None``), ``min_dcf`` and
        ``min_dcf_interval_95`` (keyed by ``str(p_target)``), ``trials``, ``n_target``,
        ``n_nontarget``, ``experiment``, ``results``.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> results = {"trials": "/t.txt", "n_target": 2, "n_nontarget": 2, "systems": {"none": {
    ...     "eer": 0.25, "min_dcf": [{"p_target": 0.01, "min_dcf": 0.9}], "interval": None}}}
    >>> _ = open(os.path.join(folder, "results.json"), "w").write(json.dumps(results))
    >>> point = curve_point(2, ["a", "b"], folder, os.path.join(folder, "results.json"))
    >>> point["eer"], point["min_dcf"], point["eer_interval_95"], point["train_acc"]
    (0.25, {'0.01': 0.9}, None, None)
    """
    results = _read_json(results_path)
    if score_norm not in results["systems"]:
        raise LearningCurveError(
            f"{results_path}: no {score_norm!r} scores (has {sorted(results['systems'])}); evaluate again with "
            f"--score_norm={score_norm}"
        )
    system = results["systems"][score_norm]
    interval = system.get("interval")
    record_path = os.path.join(experiment, "experiment.json")
    record = _read_json(record_path) if os.path.isfile(record_path) else {}
    logged = [m for m in _metrics_lines(os.path.join(experiment, "metrics.jsonl")) if m.get("train")]
    last = logged[-1] if logged else {}
    return {
        "speakers": int(count),
        "speaker_ids": list(speakers),
        "train_utterances": record.get("train_utterances"),
        "valid_utterances": record.get("valid_utterances"),
        "epochs": last.get("epoch"),
        "train_acc": (last.get("train") or {}).get("acc"),
        "valid_acc": (last.get("valid") or {}).get("acc"),
        "eer": system["eer"],
        "eer_interval_95": [interval["eer"]["low"], interval["eer"]["high"]] if interval else None,
        "min_dcf": {str(d["p_target"]): d["min_dcf"] for d in system["min_dcf"]},
        "min_dcf_interval_95": (
            {str(d["p_target"]): [d["low"], d["high"]] for d in interval["min_dcf"]} if interval else None
        ),
        "trials": results["trials"],
        "n_target": results["n_target"],
        "n_nontarget": results["n_nontarget"],
        "experiment": os.path.abspath(experiment),
        "results": os.path.abspath(results_path),
    }


def build_report(
    name: str,
    configuration: Mapping[str, Any],
    points: Sequence[Mapping[str, Any]],
    date: str,
    commit: str,
) -> Dict[str, Any]:
    """The content of ``learning_curve.json``.

    Parameters
    ----------
    name : str
        The ``--name`` of the curve.
    configuration : mapping
        Everything that defines the curve except the counts (hparams file and its hash,
        data folder, seed, speaker order, overrides, trials, test CSV, score norm).
    points : sequence of dict
        From :func:`curve_point`, in increasing speaker count.
    date, commit : str
        When and from which commit.

    Raises
    ------
    LearningCurveError
        When the points were evaluated on different trial lists.

    Examples
    --------
    >>> p = {"speakers": 2, "trials": "/t.txt", "n_target": 3, "n_nontarget": 4}
    >>> r = build_report("x", {"seed": 1, "score_norm": "none"}, [p], "2024-01-01", "abc")
    >>> r["speaker_counts"], r["trials"], r["n_target"], r["score_norm"]
    ([2], '/t.txt', 3, 'none')
    """
    trials = sorted({p["trials"] for p in points})
    if len(trials) != 1:
        raise LearningCurveError(f"the subsets were evaluated on different trial lists {trials}")
    return {
        "name": name,
        "speaker_counts": [p["speakers"] for p in points],
        "trials": trials[0],
        "n_target": points[0]["n_target"],
        "n_nontarget": points[0]["n_nontarget"],
        "score_norm": configuration.get("score_norm", "none"),
        "configuration": dict(configuration),
        "points": [dict(p) for p in points],
        "date": date,
        "commit": commit,
    }


def curve_markdown(report: Mapping[str, Any]) -> str:
    """``learning_curve.md``: one table row per subset, and what the figures mean.

    Parameters
    ----------
    report : mapping
        From :func:`build_report`.

    Returns
    -------
    str
        The Markdown text (EER in %, its 95% interval or ``-``, minDCF per p_target with its
        interval when the evaluation had one, ``-`` for anything the run did not record).

    Examples
    --------
    >>> point = {"speakers": 2, "train_utterances": 10, "epochs": 1, "train_acc": 0.5, "eer": 0.25,
    ...          "eer_interval_95": [0.1, 0.4], "min_dcf": {"0.01": 0.9}, "min_dcf_interval_95": None}
    >>> config = {"hparams_file": "/h.yaml", "data_folder": "/d", "seed": 1, "train_args": [],
    ...           "speaker_order": ["b", "a", "c"], "score_norm": "none"}
    >>> report = {"name": "x", "trials": "/t.txt", "n_target": 2, "n_nontarget": 2, "score_norm": "none",
    ...           "configuration": config, "points": [point], "date": "D", "commit": "C"}
    >>> print(curve_markdown(report).splitlines()[6])
    | 2 | 10 | 1 | 50.00% | 25.00% | 10.00% - 40.00% | 0.9000 |
    """
    config = report["configuration"]
    points = report["points"]
    p_targets = list(points[0]["min_dcf"]) if points else []
    args = " ".join(config.get("train_args") or []) or "none"
    order = config.get("speaker_order") or []
    lines = [
        f"# Learning curve: {report['name']}",
        "",
        f"`{config.get('hparams_file')}` trained on nested subsets of the {len(order)} training speakers of "
        f"`{config.get('data_folder')}`: the same recipe, epochs and seed ({config.get('seed')}) for every subset; "
        f"overrides: `{args}`. Each model is evaluated on `{report['trials']}` ({report['n_target']} target, "
        f"{report['n_nontarget']} non-target trials), cosine scoring, score normalisation: {report['score_norm']}. "
        f"minDCF normalised, C_miss = C_fa = 1; intervals: 95%, from a bootstrap over the speakers of the trial "
        f"list. Training accuracy is closed-set on each subset's own speakers (chance level 1/speakers), so it is "
        f"not comparable across rows.",
        "",
        "| training speakers | training utterances | epochs | final train acc | EER | EER 95% interval | "
        + " | ".join(f"minDCF p={p}" for p in p_targets)
        + " |",
        "|---|---|---|---|---|---|" + "---|" * len(p_targets),
    ]
    for point in points:
        interval = point.get("eer_interval_95")
        eer_interval = "-" if not interval else f"{percent_text(interval[0])} - {percent_text(interval[1])}"
        dcfs = []
        for p in p_targets:
            text = f"{point['min_dcf'][p]:.4f}"
            bounds = (point.get("min_dcf_interval_95") or {}).get(p)
            dcfs.append(text + (f" [{bounds[0]:.3f}, {bounds[1]:.3f}]" if bounds else ""))
        utterances = "-" if point.get("train_utterances") is None else str(point["train_utterances"])
        epochs = "-" if point.get("epochs") is None else str(point["epochs"])
        lines.append(
            f"| {point['speakers']} | {utterances} | {epochs} | {percent_text(point.get('train_acc'))} | "
            f"{percent_text(point['eer'])} | {eer_interval} | " + " | ".join(dcfs) + " |"
        )
    lines += [
        "",
        f"Speaker order (drawn from seed {config.get('seed')}; the first k speakers form the k-speaker subset): "
        + ", ".join(order)
        + ".",
        "",
        f"Date {report['date']}, commit {report['commit']}.",
        "",
        "![learning curve](learning_curve.png)",
    ]
    return "\n".join(lines) + "\n"


def plot_learning_curve(points: Sequence[Mapping[str, Any]], path: str, title: str = "learning curve") -> str:
    """Plot EER (%) against the number of training speakers into ``path`` (PNG), with the
    bootstrap 95% interval as error bars where the points have one.

    Parameters
    ----------
    points : sequence of dict
        ``speakers``, ``eer`` (fraction) and ``eer_interval_95`` (``[low, high]`` or ``None``).
    path : str
        The PNG to write.
    title : str
        The figure title.

    Returns
    -------
    str
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "curve.png")
    >>> _ = plot_learning_curve([{"speakers": 2, "eer": 0.3, "eer_interval_95": [0.2, 0.4]},
    ...                          {"speakers": 4, "eer": 0.2, "eer_interval_95": None}], path)
    >>> open(path, "rb").read(4) == b"\\x89PNG"
    True
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.array([p["speakers"] for p in points], dtype=float)
    y = np.array([100 * p["eer"] for p in points])
    low = np.array(
        [y[i] - 100 * p["eer_interval_95"][0] if p.get("eer_interval_95") else 0.0 for i, p in enumerate(points)]
    )
    high = np.array(
        [100 * p["eer_interval_95"][1] - y[i] if p.get("eer_interval_95") else 0.0 for i, p in enumerate(points)]
    )
    fig, ax = plt.subplots(figsize=(5.5, 4))
    has_interval = any(p.get("eer_interval_95") for p in points)
    ax.errorbar(
        x,
        y,
        yerr=np.vstack([low, high]) if has_interval else None,
        marker="o",
        capsize=4,
        label="EER" + (" (95% speaker-bootstrap interval)" if has_interval else ""),
    )
    for xi, yi in zip(x, y):
        ax.annotate(f"{yi:.1f}%", (xi, yi), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xticks(x, [str(int(v)) for v in x])
    ax.set_xlabel("training speakers")
    ax.set_ylabel("EER (%)")
    ax.set_title(textwrap.fill(title, 60), fontsize=10)
    ax.grid(True, lw=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
