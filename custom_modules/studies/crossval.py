"""Speaker-fold cross-validation: every speaker of a corpus is a test speaker once.

A trial list of 6 test speakers gives a 15-point-wide EER interval, and a recipe chosen on
those speakers flatters them. Cross-validation spreads the test over all speakers:

- :func:`speaker_folds` puts the speakers (train + test CSVs together) into ``k``
  disjoint folds drawn from a fold seed that does not depend on the recipe, so two recipes
  cross-validated with the same fold seed see the same folds and the same trials;
- :func:`write_fold_folder` writes one fold's data folder: ``train.csv`` (every utterance of
  the other speakers), ``test.csv`` and ``trials.txt`` (a balanced trial list among the
  fold's own speakers, :func:`custom_modules.data.preparation.make_trials`);
- :func:`pool_folds` puts the folds' raw cosine scores into one trial list and measures it:
  pooled EER and minDCF with a speaker-level bootstrap over all test speakers of all folds,
  and each fold's own figures. Pooling scores of several models also charges a recipe for
  thresholds that move between folds, as a deployed system would be charged;
- :func:`paired_comparison` compares two cross-validated recipes on their pooled trials
  (fold-matched: the same trials in the same order) with a paired speaker bootstrap, and
  :func:`seed_averaged_comparison` does so for recipes run with several seeds (the mean over
  each recipe's runs);
- :func:`crossval_markdown` and :func:`comparison_markdown` write the tables.

``recipes/crossval.py`` is the command; it trains and evaluates every fold in-process
(:func:`custom_modules.training.brain.train`, :func:`custom_modules.evaluation.evaluate`).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Sequence

import numpy as np

from custom_modules.data.dataio import read_speaker_csv, write_speaker_csv_if_changed
from custom_modules.data.preparation import make_trials, write_trials
from custom_modules.scoring.bootstrap import seed_averaged_paired_bootstrap, speaker_bootstrap
from custom_modules.scoring.metrics import DEFAULT_P_TARGETS, percent_text, verification_metrics
from custom_modules.scoring.trials import Trial, read_scores
from custom_modules.studies.learning_curve import subset_rows

__all__ = [
    "CrossvalError",
    "speaker_folds",
    "write_fold_folder",
    "FoldScores",
    "read_fold_scores",
    "pool_folds",
    "paired_comparison",
    "seed_averaged_comparison",
    "crossval_markdown",
    "comparison_markdown",
]

Row = Dict[str, str]
MIN_TEST_SPEAKERS = 2  # a fold needs non-target trials


class CrossvalError(ValueError):
    """Bad cross-validation input: the message names the value and the fix."""


def speaker_folds(speakers: Sequence[str], folds: int, seed: int) -> List[List[str]]:
    """Split speakers into ``folds`` disjoint test folds, their sizes differing by at most one.

    One permutation of the sorted speakers is drawn from ``seed``
    (``numpy.random.default_rng``) and dealt out in turn, so the folds depend on the
    speakers and the seed only (not on the recipe or its training seed). Each fold is
    sorted.

    Arguments
    ---------
    speakers : sequence of str
        Every speaker to cross-validate (duplicates are ignored).
    folds : int
        Number of folds, at least 2; every fold needs 2 test speakers (non-target
        trials), which leaves at least 2 training speakers.
    seed : int
        The fold seed.

    Returns
    -------
    list of list of str
        ``folds`` lists of test speakers.

    Raises
    ------
    CrossvalError
        For too few speakers for this many folds, or fewer than 2 folds.

    Example
    -------
    >>> folds = speaker_folds([f"s{i:02d}" for i in range(22)], 4, seed=1986)
    >>> [len(f) for f in folds], sorted(sum(folds, [])) == [f"s{i:02d}" for i in range(22)]
    ([6, 6, 5, 5], True)
    >>> speaker_folds(["a", "b", "c"], 2, seed=0)
    Traceback (most recent call last):
    ...
    custom_modules.studies.crossval.CrossvalError: 3 speakers cannot make 2 folds of at least 2 test speakers; cross-validation needs at least 4 speakers
    """
    unique = sorted(set(speakers))
    folds = int(folds)
    if folds < 2:
        raise CrossvalError(f"--folds {folds}: cross-validation needs at least 2 folds")
    if len(unique) < folds * MIN_TEST_SPEAKERS:  # then every fold also leaves >= 2 training speakers
        most = len(unique) // MIN_TEST_SPEAKERS
        fix = f"use --folds {most} or fewer" if most >= 2 else "cross-validation needs at least 4 speakers"
        raise CrossvalError(
            f"{len(unique)} speakers cannot make {folds} folds of at least {MIN_TEST_SPEAKERS} test speakers; {fix}"
        )
    order = [unique[i] for i in np.random.default_rng(seed).permutation(len(unique))]
    return [sorted(order[f::folds]) for f in range(folds)]


def write_fold_folder(
    folder: str,
    rows: Sequence[Row],
    test_speakers: Sequence[str],
    data_folder: str,
    trials_per_fold: int,
    seed: int,
    extra_train: Sequence[Row] = (),
) -> Dict[str, str]:
    """Write one fold's data folder, a folder ``recipes/train.py`` and ``eval.py`` take as is.

    Arguments
    ---------
    folder : str
        Where to write (created; files are rewritten only when their content changes).
    rows : sequence of dict
        Every utterance of every speaker (speaker-CSV rows).
    test_speakers : sequence of str
        This fold's test speakers; every other speaker of ``rows`` trains.
    data_folder : str
        The folder relative audio paths start from (written paths are absolute).
    trials_per_fold : int
        Trials among the test speakers: half target, half non-target (fewer when fewer
        pairs exist).
    seed : int
        Seed of the trial draw.
    extra_train : sequence of dict
        Rows of other corpora added to the training set (joint training), wav paths
        already absolute; their speakers must not be among ``rows``' speakers.

    Returns
    -------
    dict
        Paths of ``train``, ``test`` and ``trials``.

    Example
    -------
    >>> import tempfile
    >>> rows = [{"ID": f"{s}/{i}", "wav": f"wav/{s}/{i}.wav", "spk_id": s} for s in "abcd" for i in range(3)]
    >>> paths = write_fold_folder(tempfile.mkdtemp(), rows, ["a", "b"], "/data", 8, seed=0)
    >>> sorted({r["spk_id"] for r in read_speaker_csv(paths["train"])}), open(paths["trials"]).read().count("\\n")
    (['c', 'd'], 8)
    >>> read_speaker_csv(paths["test"])[0]["wav"]
    '/data/wav/a/0.wav'
    """
    chosen = set(test_speakers)
    every = {r["spk_id"] for r in rows}
    missing = sorted(chosen - every)
    if missing:
        raise CrossvalError(f"test speakers {missing} have no utterance in the data")
    shared = sorted(every & {r["spk_id"] for r in extra_train})
    if shared:
        raise CrossvalError(
            f"speakers {shared[:3]} are both cross-validated and in an --extra_train CSV: a test "
            f"speaker would be trained on; remove them from the extra CSV"
        )
    train = subset_rows(rows, every - chosen, data_folder) + [dict(r) for r in extra_train]
    test = subset_rows(rows, chosen, data_folder)
    by_speaker: Dict[str, List[str]] = {}
    for row in test:
        by_speaker.setdefault(row["spk_id"], []).append(row["ID"])
    trials = make_trials(by_speaker, count=trials_per_fold, seed=seed)
    os.makedirs(folder, exist_ok=True)
    paths = {name: os.path.join(folder, f"{name}.csv") for name in ("train", "test")}
    write_speaker_csv_if_changed(paths["train"], train)
    write_speaker_csv_if_changed(paths["test"], test)
    paths["trials"] = os.path.join(folder, "trials.txt")
    text = "".join(f"{t.label} {t.enrol}.wav {t.test}.wav\n" for t in trials)
    if not (os.path.isfile(paths["trials"]) and open(paths["trials"], encoding="utf-8").read() == text):
        write_trials(paths["trials"], trials)
    return paths


class FoldScores(dict):
    """One fold's evaluated trials: ``fold`` (int), ``trials`` (list of Trial), ``scores``
    (array), ``speakers`` (utterance ID -> speaker, from the fold's test CSV)."""


def read_fold_scores(fold: int, scores_path: str, test_csv: str) -> FoldScores:
    """One fold's raw cosine scores (``scores_none.txt`` of its evaluation) and the speaker
    of every trial utterance (its test CSV's ``spk_id``, never text of the ID)."""
    trials, scores = read_scores(scores_path)
    speakers = {row["ID"]: row["spk_id"] for row in read_speaker_csv(test_csv)}
    unknown = sorted(({t.enrol for t in trials} | {t.test for t in trials}) - set(speakers))
    if unknown:
        raise CrossvalError(f"{scores_path}: utterances {unknown[:3]} are not in {test_csv}")
    return FoldScores(fold=int(fold), trials=trials, scores=np.asarray(scores, dtype=np.float64), speakers=speakers)


def _pooled_arrays(folds: Sequence[Mapping[str, Any]]):
    trials: List[Trial] = [t for f in folds for t in f["trials"]]
    scores = np.concatenate([np.asarray(f["scores"], dtype=np.float64) for f in folds])
    labels = np.array([t.label for t in trials], dtype=np.int64)
    speakers: Dict[str, str] = {}
    for f in folds:
        speakers.update(f["speakers"])
    return trials, scores, labels, speakers


def pool_folds(
    folds: Sequence[Mapping[str, Any]],
    p_targets: Sequence[float] = DEFAULT_P_TARGETS,
    resamples: int = 1000,
    seed: int = 0,
) -> Dict[str, Any]:
    """Pooled and per-fold verification figures of cross-validated scores.

    Arguments
    ---------
    folds : sequence of FoldScores
        Every fold's trials, raw scores and utterance -> speaker map.
    p_targets : sequence of float
        Priors of the minDCFs (C_miss = C_fa = 1, normalised).
    resamples : int
        Speaker-bootstrap rounds over all test speakers of all folds (0: no interval).
    seed : int
        Bootstrap seed.

    Returns
    -------
    dict
        ``pooled``: ``verification_metrics`` of all trials, plus ``interval`` (the speaker
        bootstrap, or None) and ``n_speakers``; ``folds``: per fold ``fold``, ``speakers``,
        ``eer``, ``min_dcf`` (one per prior), ``n_target``, ``n_nontarget``;
        ``mean_fold_eer`` and ``std_fold_eer`` (population std over folds).

    Example
    -------
    >>> t = [Trial(1, "a/1", "a/2"), Trial(0, "a/1", "b/1"), Trial(1, "b/1", "b/2"), Trial(0, "a/2", "b/2")]
    >>> fold = {"fold": 0, "trials": t, "scores": [0.9, 0.1, 0.8, 0.2],
    ...         "speakers": {"a/1": "a", "a/2": "a", "b/1": "b", "b/2": "b"}}
    >>> report = pool_folds([fold], resamples=0)
    >>> report["pooled"]["eer"], report["folds"][0]["eer"], report["pooled"]["n_speakers"]
    (0.0, 0.0, 2)
    """
    if not folds:
        raise CrossvalError("no fold to pool")
    trials, scores, labels, speakers = _pooled_arrays(folds)
    if labels.min() == labels.max():
        raise CrossvalError("the pooled trials are all of one class; every fold needs target and non-target trials")
    pooled = verification_metrics(scores[labels == 1], scores[labels == 0], p_targets=tuple(p_targets))
    pooled["n_speakers"] = len({speakers[t.enrol] for t in trials} | {speakers[t.test] for t in trials})
    pooled["interval"] = None
    if resamples:
        pooled["interval"] = speaker_bootstrap(
            scores,
            labels,
            [t.enrol for t in trials],
            [t.test for t in trials],
            p_targets=tuple(p_targets),
            resamples=int(resamples),
            seed=seed,
            speaker_map=speakers,
        )
    per_fold = []
    for f in folds:
        s = np.asarray(f["scores"], dtype=np.float64)
        lab = np.array([t.label for t in f["trials"]])
        m = verification_metrics(s[lab == 1], s[lab == 0], p_targets=tuple(p_targets))
        per_fold.append(
            {
                "fold": int(f["fold"]),
                "speakers": sorted(
                    {f["speakers"][t.enrol] for t in f["trials"]} | {f["speakers"][t.test] for t in f["trials"]}
                ),
                "eer": m["eer"],
                "min_dcf": m["min_dcf"],
                "n_target": m["n_target"],
                "n_nontarget": m["n_nontarget"],
            }
        )
    eers = np.array([f["eer"] for f in per_fold])
    return {"pooled": pooled, "folds": per_fold, "mean_fold_eer": float(eers.mean()), "std_fold_eer": float(eers.std())}


def paired_comparison(
    folds_a: Sequence[Mapping[str, Any]],
    folds_b: Sequence[Mapping[str, Any]],
    p_targets: Sequence[float] = DEFAULT_P_TARGETS,
    resamples: int = 1000,
    seed: int = 0,
) -> Dict[str, Any]:
    """Paired, fold-matched comparison of two cross-validated recipes: ``metric(a) - metric(b)``
    on their pooled trials, with a speaker bootstrap that draws the same speakers for both
    (one run of each: :func:`seed_averaged_comparison` with one seed per recipe).

    Raises
    ------
    CrossvalError
        When the two were not cross-validated on the same folds and trials (another fold
        seed, number of folds, data or trial count): the message says where they part.

    Example
    -------
    >>> t = [Trial(1, "a/1", "a/2"), Trial(0, "a/1", "b/1"), Trial(1, "b/1", "b/2"), Trial(0, "a/2", "b/2")]
    >>> spk = {"a/1": "a", "a/2": "a", "b/1": "b", "b/2": "b"}
    >>> a = [{"fold": 0, "trials": t, "scores": [0.9, 0.1, 0.8, 0.2], "speakers": spk}]
    >>> b = [{"fold": 0, "trials": t, "scores": [0.9, 0.95, 0.8, 0.2], "speakers": spk}]
    >>> paired_comparison(a, b, resamples=0)["eer"]["value"]
    -0.5
    """
    return seed_averaged_comparison([folds_a], [folds_b], p_targets=p_targets, resamples=resamples, seed=seed)


def seed_averaged_comparison(
    runs_a: Sequence[Sequence[Mapping[str, Any]]],
    runs_b: Sequence[Sequence[Mapping[str, Any]]],
    p_targets: Sequence[float] = DEFAULT_P_TARGETS,
    resamples: int = 1000,
    seed: int = 0,
) -> Dict[str, Any]:
    """Paired, fold-matched comparison of two cross-validated recipes, each run with one or
    more training seeds: the mean over A's runs of the pooled metric minus the mean over B's.

    Every bootstrap round draws the test speakers once and measures every run of both recipes
    on that draw (:func:`custom_modules.scoring.bootstrap.seed_averaged_paired_bootstrap`), so
    the interval reflects which speakers were tested, with the seed-to-seed variation averaged
    over the runs given; each run's own pooled EER and their spread are returned too.

    Arguments
    ---------
    runs_a, runs_b : sequence of (sequence of FoldScores)
        Per run (seed), every fold's trials, raw scores and speaker map; all runs of both
        recipes on the same folds and trials.
    p_targets : sequence of float
        Priors of the minDCFs.
    resamples : int
        Bootstrap rounds (0: the differences without an interval).
    seed : int
        Seed of the bootstrap draws.

    Returns
    -------
    dict
        ``eer``: ``{value, low, high, significant}`` of A minus B (negative: A is better);
        ``eer_a``, ``eer_b``: the seed-averaged pooled EER with ``per_run`` values and ``std``
        (over runs; None for one run) besides ``low``/``high`` when resampled; ``runs``:
        ``[len(runs_a), len(runs_b)]``; with resamples also ``min_dcf`` (one entry per
        prior), ``n_speakers`` and ``warning``.

    Raises
    ------
    CrossvalError
        When a recipe has no run, or two runs were not cross-validated on the same folds and
        trials: the message names the runs and where they part.

    Example
    -------
    >>> t = [Trial(1, "a/1", "a/2"), Trial(0, "a/1", "b/1"), Trial(1, "b/1", "b/2"), Trial(0, "a/2", "b/2")]
    >>> spk = {"a/1": "a", "a/2": "a", "b/1": "b", "b/2": "b"}
    >>> run = lambda scores: [{"fold": 0, "trials": t, "scores": scores, "speakers": spk}]
    >>> r = seed_averaged_comparison([run([0.9, 0.1, 0.8, 0.2]), run([0.9, 0.85, 0.8, 0.2])],
    ...                              [run([0.9, 0.95, 0.8, 0.2])], resamples=0)
    >>> r["eer"]["value"], r["eer_a"]["per_run"], r["runs"]
    (-0.25, [0.0, 0.5], [2, 1])
    """
    runs = [("A", i, run) for i, run in enumerate(runs_a)] + [("B", i, run) for i, run in enumerate(runs_b)]
    if not runs_a or not runs_b:
        raise CrossvalError(f"each recipe needs at least one run: got {len(runs_a)} for A and {len(runs_b)} for B")
    side, index, reference = runs[0]
    for other_side, other_index, run in runs[1:]:
        where = f"run {index + 1} of {side} and run {other_index + 1} of {other_side}"
        if [f["fold"] for f in reference] != [f["fold"] for f in run]:
            raise CrossvalError(
                f"{where} have different folds ({[f['fold'] for f in reference]} vs {[f['fold'] for f in run]})"
            )
        for fa, fb in zip(reference, run):
            if list(fa["trials"]) != list(fb["trials"]):
                raise CrossvalError(
                    f"fold {fa['fold']} has other trials in {where}: they were not cross-validated "
                    f"on the same folds (use the same data, --folds, --fold_seed and --trials_per_fold)"
                )
    trials, _, labels, speakers = _pooled_arrays(reference)
    scores_a = [_pooled_arrays(run)[1] for run in runs_a]
    scores_b = [_pooled_arrays(run)[1] for run in runs_b]
    counts = [len(scores_a), len(scores_b)]
    if not resamples:
        per_run = [
            [verification_metrics(s[labels == 1], s[labels == 0], p_targets=tuple(p_targets))["eer"] for s in side]
            for side in (scores_a, scores_b)
        ]
        summaries = [{"value": float(np.mean(v)), "per_run": v, "std": _run_std(v)} for v in per_run]
        value = summaries[0]["value"] - summaries[1]["value"]
        return {
            "eer": {"value": value, "low": None, "high": None, "significant": None},
            "eer_a": summaries[0],
            "eer_b": summaries[1],
            "runs": counts,
            "resamples": 0,
        }
    result = seed_averaged_paired_bootstrap(
        scores_a,
        scores_b,
        labels,
        [t.enrol for t in trials],
        [t.test for t in trials],
        p_targets=tuple(p_targets),
        resamples=int(resamples),
        seed=seed,
        speaker_map=speakers,
    )
    return {
        "eer": {**result["eer_difference"], "significant": bool(result["significant"])},
        "min_dcf": result["min_dcf_difference"],
        "eer_a": result["eer_a"],
        "eer_b": result["eer_b"],
        "runs": counts,
        "resamples": int(resamples),
        "n_speakers": result.get("n_speakers"),
        "warning": result.get("warning"),
    }


def _run_std(values: Sequence[float]):
    """Sample standard deviation over runs; None for one run."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else None


def crossval_markdown(report: Mapping[str, Any]) -> str:
    """``crossval.md``: the pooled figures with their interval, then one row per fold.

    Example
    -------
    >>> report = {"name": "x", "configuration": {"hparams_file": "h.yaml", "folds": 2, "fold_seed": 1, "seed": 3,
    ...           "trials_per_fold": 4, "data_folder": "/d", "train_args": []},
    ...           "pooled": {"eer": 0.1, "min_dcf": [{"p_target": 0.01, "min_dcf": 0.5}], "n_target": 4,
    ...                      "n_nontarget": 4, "n_speakers": 4, "interval": None},
    ...           "folds": [{"fold": 0, "speakers": ["a", "b"], "eer": 0.1, "n_target": 2, "n_nontarget": 2,
    ...                      "min_dcf": [{"p_target": 0.01, "min_dcf": 0.5}], "floor_eer": 0.2, "epochs": 3}],
    ...           "mean_fold_eer": 0.1, "std_fold_eer": 0.0, "date": "D", "commit": "C"}
    >>> [line for line in crossval_markdown(report).splitlines() if line.startswith("| pooled")]
    ['| pooled (4 speakers) | 10.00% | - | 0.5000 | 4 / 4 |']
    """
    config = report["configuration"]
    pooled = report["pooled"]
    p_targets = [d["p_target"] for d in pooled["min_dcf"]]
    interval = pooled.get("interval")

    def eer_interval(block) -> str:
        return "-" if not block else f"{percent_text(block['eer']['low'])} - {percent_text(block['eer']['high'])}"

    lines = [
        f"# Cross-validation: {report['name']}",
        "",
        f"`{config['hparams_file']}` (seed {config['seed']}; overrides: `{' '.join(config.get('train_args') or []) or 'none'}`) "
        f"trained {config['folds']} times, each time without the speakers of one fold of `{config['data_folder']}` "
        f"(folds drawn with fold seed {config['fold_seed']}), and scored on up to {config['trials_per_fold']} balanced "
        f"trials among that fold's speakers; raw cosine scores. Pooled: the trials of all folds as one list; its "
        f"interval is a 95% bootstrap over all test speakers. minDCF normalised, C_miss = C_fa = 1.",
        "",
        "| test speakers | EER | EER 95% interval | "
        + " | ".join(f"minDCF p={p}" for p in p_targets)
        + " | target / non-target trials |",
        "|---|---|---|" + "---|" * len(p_targets) + "---|",
        f"| pooled ({pooled['n_speakers']} speakers) | {percent_text(pooled['eer'])} | {eer_interval(interval)} | "
        + " | ".join(f"{d['min_dcf']:.4f}" for d in pooled["min_dcf"])
        + f" | {pooled['n_target']} / {pooled['n_nontarget']} |",
    ]
    floor = report.get("floor")
    if floor:
        lines.append(
            f"| no-learning floor, pooled | {percent_text(floor['eer'])} | {eer_interval(floor.get('interval'))} | "
            + " | ".join(f"{d['min_dcf']:.4f}" for d in floor["min_dcf"])
            + f" | {floor['n_target']} / {floor['n_nontarget']} |"
        )
    for f in report["folds"]:
        lines.append(
            f"| fold {f['fold'] + 1}: {', '.join(f['speakers'])} | {percent_text(f['eer'])} | - | "
            + " | ".join(f"{d['min_dcf']:.4f}" for d in f["min_dcf"])
            + f" | {f['n_target']} / {f['n_nontarget']} |"
        )
    for extra in report.get("extra_test") or []:
        floor = (
            ""
            if extra.get("floor_eer") is None
            else f"; the no-learning floor, fitted on each fold's training set, {percent_text(extra['floor_eer'])} on average"
        )
        lines += [
            "",
            f"Every fold's model on `{extra['trials']}`: EER "
            + ", ".join(percent_text(e) for e in extra["fold_eer"])
            + f" (mean {percent_text(extra['mean_eer'])}){floor}.",
        ]
    lines += [
        "",
        f"Mean of the fold EERs {percent_text(report['mean_fold_eer'])} (std over folds "
        f"{100 * report['std_fold_eer']:.2f} points).",
    ]
    floors = [f.get("floor_eer") for f in report["folds"]]
    if all(v is not None for v in floors):
        lines += [
            "",
            "No-learning floor on each fold's trials (eval's floor row): "
            + ", ".join(f"fold {f['fold'] + 1} {percent_text(f['floor_eer'])}" for f in report["folds"])
            + ".",
        ]
    epochs = [f.get("epochs") for f in report["folds"]]
    if any(e is not None for e in epochs):
        lines += ["", "Epochs trained per fold: " + ", ".join("-" if e is None else str(e) for e in epochs) + "."]
    lines += ["", f"Date {report['date']}, commit {report['commit']}."]
    return "\n".join(lines) + "\n"


def comparison_markdown(
    names_a: Sequence[str],
    names_b: Sequence[str],
    reports_a: Sequence[Mapping[str, Any]],
    reports_b: Sequence[Mapping[str, Any]],
    difference: Mapping[str, Any],
) -> str:
    """``comparison.md`` of two cross-validated recipes, each run with one or more seeds: every
    run's pooled figures and per-fold EERs, the seed mean of a recipe with several runs, and the
    paired difference (A - B) with its interval.

    Example
    -------
    >>> r = {"pooled": {"eer": 0.1, "interval": None}, "folds": [{"fold": 0, "eer": 0.1}], "mean_fold_eer": 0.1,
    ...      "configuration": {"seed": 1}}
    >>> d = {"eer": {"value": -0.02, "low": -0.05, "high": 0.01, "significant": False}}
    >>> comparison_markdown(["a"], ["b"], [r], [r], d).splitlines()[-3]
    'Paired difference A - B (pooled EER): -2.00 points, 95% interval [-5.00, +1.00]: not significant (the interval contains 0).'
    >>> two = comparison_markdown(["a", "a_seed2"], ["b"], [r, r], [r], d).splitlines()
    >>> two[8], two[-3].split(":")[0]
    ('| A: mean of 2 seeds | 10.00% (seed std 0.00) | - | 10.00% | 10.00% |', 'Paired difference A - B (seed-averaged pooled EER)')
    """
    folds = reports_a[0]["folds"]
    lines = [
        f"# Cross-validated comparison: A = {' + '.join(names_a)}, B = {' + '.join(names_b)}",
        "",
        "Same folds, same trials (fold-matched); raw cosine scores pooled over the folds.",
        "",
        "| system | pooled EER | 95% interval | mean of fold EERs | "
        + " | ".join(f"fold {f['fold'] + 1}" for f in folds)
        + " |",
        "|---|---|---|---|" + "---|" * len(folds),
    ]
    several = len(reports_a) > 1 or len(reports_b) > 1
    for label, names, reports in (("A", names_a, reports_a), ("B", names_b, reports_b)):
        for name, report in zip(names, reports):
            interval = report["pooled"].get("interval")
            span = (
                "-"
                if not interval
                else f"{percent_text(interval['eer']['low'])} - {percent_text(interval['eer']['high'])}"
            )
            seed = f" (seed {report['configuration']['seed']})" if several else ""
            lines.append(
                f"| {label}: {name}{seed} | {percent_text(report['pooled']['eer'])} | {span} | "
                f"{percent_text(report['mean_fold_eer'])} | "
                + " | ".join(percent_text(f["eer"]) for f in report["folds"])
                + " |"
            )
        if len(reports) > 1:
            pooled = [r["pooled"]["eer"] for r in reports]
            fold_means = np.mean([[f["eer"] for f in r["folds"]] for r in reports], axis=0)
            lines.append(
                f"| {label}: mean of {len(reports)} seeds | {percent_text(float(np.mean(pooled)))} "
                f"(seed std {100 * float(np.std(pooled, ddof=1)):.2f}) | - | "
                f"{percent_text(float(np.mean([r['mean_fold_eer'] for r in reports])))} | "
                + " | ".join(percent_text(float(v)) for v in fold_means)
                + " |"
            )
    eer = difference["eer"]
    if eer.get("low") is None:
        verdict = "no interval (0 resamples)"
        span = ""
    else:
        span = f", 95% interval [{100 * eer['low']:+.2f}, {100 * eer['high']:+.2f}]"
        verdict = (
            "significant (the interval excludes 0)"
            if eer["significant"]
            else "not significant (the interval contains 0)"
        )
    measure = "seed-averaged pooled EER" if several else "pooled EER"
    lines += [
        "",
        f"Paired difference A - B ({measure}): {100 * eer['value']:+.2f} points{span}: {verdict}.",
        "",
        "A speaker bootstrap over all test speakers, the same speakers drawn for both systems in every round"
        + (" (and for every run of each)." if several else "."),
    ]
    return "\n".join(lines) + "\n"
