"""Running a speaker-fold cross-validation, and comparing two of them fold by fold.

``recipes/crossval.py`` is the command; this module is what it runs. The building blocks
(folds, fold folders, pooling, the paired comparison, the tables) are in
:mod:`custom_modules.studies.crossval`; here they are put together in the order of a run:

- :func:`resolve_configuration` checks the inputs (name, hparams file, data folder, train
  overrides, ``--extra_train`` CSVs, ``--extra_test`` folders) and builds the configuration
  that defines the run (:class:`CrossvalSetup`);
- :func:`start_study` refuses another configuration under the same name, before anything is
  trained or written, and records this one;
- :func:`run_fold` runs one fold: writes its data folder, trains in this process
  (:func:`custom_modules.training.brain.train`), evaluates (:func:`custom_modules.evaluation.evaluate`)
  and scores the ``--extra_test`` trial lists; a finished fold is kept;
- :func:`pool_report` and :func:`write_report` pool every fold's raw scores and write
  ``scores.txt``, ``crossval.md`` and ``crossval.json``;
- :func:`run_crossval` is all of it; :func:`compare_runs` is the ``compare`` subcommand.

Input the user can fix raises :class:`CrossvalRunError`, whose message the command prints as
``error: <message>`` in one line.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from custom_modules.data.dataio import DataError, read_speaker_csv
from custom_modules.diagnostics.floor_check import training_recipe_facts
from custom_modules.experiment import file_sha256
from custom_modules.outputs.atomic import write_json, write_text
from custom_modules.outputs.provenance import git_commit, project_path, timestamp
from custom_modules.scoring.metrics import DEFAULT_P_TARGETS
from custom_modules.scoring.trials import Trial
from custom_modules.studies.crossval import (
    CrossvalError,
    FoldScores,
    comparison_markdown,
    crossval_markdown,
    pool_folds,
    read_fold_scores,
    seed_averaged_comparison,
    speaker_folds,
    write_fold_folder,
)
from custom_modules.studies.learning_curve import LearningCurveError, subset_rows
from custom_modules.studies.train_overrides import (
    RUN_ONLY_OPTIONS,
    check_train_overrides,
    hparams_seed,
    override_args,
    parse_overrides,
    refuse_changed_configuration,
)

__all__ = [
    "CrossvalRunError",
    "CrossvalOptions",
    "CrossvalSetup",
    "FoldResult",
    "all_rows",
    "extra_training_rows",
    "extra_test_paths",
    "fold_done",
    "write_pooled_scores",
    "read_pooled_scores",
    "evaluate_fold",
    "resolve_configuration",
    "start_study",
    "run_fold",
    "pool_report",
    "write_report",
    "run_crossval",
    "compare_runs",
]

Row = Dict[str, str]
CONFIG_FILE = "configuration.json"
P_TARGETS = DEFAULT_P_TARGETS
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]*"

say = functools.partial(print, flush=True)
"""The default progress line writer: standard output, flushed (training prints there too)."""


class CrossvalRunError(CrossvalError):
    """Input of a cross-validation run the user can fix: the command prints ``error: <message>``."""


@dataclass(frozen=True)
class CrossvalOptions:
    """What a cross-validation run is asked for (``recipes/crossval.py``'s arguments).

    ``train_options`` are the arguments the command does not know: train overrides and run
    options, passed on to every fold's training.
    """

    hparams: str
    data_folder: str
    name: str
    exp_root: str
    output_root: str
    folds: int = 4
    fold_seed: int = 1986
    trials_per_fold: int = 3000
    extra_train: Sequence[str] = ()
    extra_test: Sequence[str] = ()
    resamples: int = 1000
    train_options: Sequence[str] = ()
    init_from_study: Optional[str] = None


@dataclass
class CrossvalSetup:
    """A resolved run: the options, the data (``rows``, ``extra_rows``), the folds, the
    configuration that defines the run, and its folders."""

    options: CrossvalOptions
    data_folder: str
    overrides: Dict[str, Optional[str]]
    seed: int
    rows: List[Row]
    folds: List[List[str]]
    extra_rows: List[Row]
    extra_tests: List[Dict[str, str]]
    init_study: Optional[Dict[str, Any]] = None
    config: Dict[str, Any] = field(default_factory=dict)
    exp_folder: str = ""
    results_folder: str = ""


@dataclass
class FoldResult:
    """One fold evaluated: its scores, its floor's scores (``None`` without a floor), the facts
    of its training, and ``(eer, floor_eer)`` on every ``--extra_test`` trial list."""

    scores: FoldScores
    floor: Optional[FoldScores]
    facts: Dict[str, Any]
    extra: List[Tuple[float, Optional[float]]]


def all_rows(data_folder: str) -> List[Row]:
    """train.csv (+ valid.csv) + test.csv: every utterance of every speaker, checked to have
    no utterance ID twice."""
    rows = []
    for name in ("train.csv", "valid.csv", "test.csv"):
        path = os.path.join(data_folder, name)
        if os.path.isfile(path):
            rows += read_speaker_csv(path)
        elif name != "valid.csv":
            raise CrossvalRunError(
                f"{path} not found: cross-validation takes the speakers of train.csv and test.csv "
                f"(recipes/prepare.py writes both)"
            )
    seen, twice = set(), []
    for row in rows:
        if row["ID"] in seen:
            twice.append(row["ID"])
        seen.add(row["ID"])
    if twice:
        raise CrossvalRunError(
            f"{data_folder}: utterance IDs {twice[:3]} appear in more than one of train/valid/test.csv"
        )
    return rows


def extra_training_rows(paths: Sequence[str]) -> List[Row]:
    """The rows of every --extra_train CSV, audio paths made absolute (relative ones start from
    the CSV's folder), each tagged with its corpus (the folder's name)."""
    rows = []
    for path in paths:
        folder = os.path.dirname(os.path.abspath(path))
        found = read_speaker_csv(path)
        rows += [
            {**r, "corpus": os.path.basename(folder)} for r in subset_rows(found, {r["spk_id"] for r in found}, folder)
        ]
    return rows


def extra_test_paths(folder: str) -> Dict[str, str]:
    """trials.txt and test.csv of an --extra_test folder, checked to exist.

    Example
    -------
    >>> import tempfile
    >>> extra_test_paths(tempfile.mkdtemp(prefix="other"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    custom_modules.studies.crossval_run.CrossvalRunError: --extra_test .../trials.txt not found (a folder of recipes/prepare.py has trials.txt and test.csv)
    """
    folder = os.path.abspath(folder)
    paths = {
        "folder": folder,
        "trials": os.path.join(folder, "trials.txt"),
        "test": os.path.join(folder, "test.csv"),
        "name": "extra_" + re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.basename(folder)),
    }
    for key in ("trials", "test"):
        if not os.path.isfile(paths[key]):
            raise CrossvalRunError(
                f"--extra_test {folder}: {paths[key]} not found (a folder of recipes/prepare.py "
                f"has trials.txt and test.csv)"
            )
    return paths


def fold_done(results_path: str, trials_path: str) -> bool:
    """Whether ``results_path`` (an evaluation's results.json) exists and scored this trial list."""
    if not os.path.isfile(results_path):
        return False
    with open(results_path) as handle:
        return json.load(handle).get("trials_sha256") == file_sha256(trials_path)


def write_pooled_scores(path: str, folds: Sequence[FoldScores]) -> None:
    """Every fold's raw scores, one trial a line: ``fold enrol spk test spk label score``."""
    lines = [
        f"{f['fold']} {t.enrol} {f['speakers'][t.enrol]} {t.test} {f['speakers'][t.test]} {t.label} {s:.6f}\n"
        for f in folds
        for t, s in zip(f["trials"], f["scores"])
    ]
    write_text(path, "".join(lines))


def read_pooled_scores(path: str) -> List[Dict[str, Any]]:
    """The folds of a ``scores.txt`` written by a cross-validation run.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "scores.txt")
    >>> _ = open(path, "w").write("0 u1 a u2 b 0 0.250000\\n1 u3 c u4 c 1 0.900000\\n")
    >>> [(f["fold"], f["trials"], f["speakers"]) for f in read_pooled_scores(path)][1]
    (1, [Trial(label=1, enrol='u3', test='u4')], {'u3': 'c', 'u4': 'c'})
    """
    folds: Dict[int, Dict[str, Any]] = {}
    with open(path) as handle:
        for number, line in enumerate(handle, 1):
            parts = line.split()
            if len(parts) != 7:
                raise CrossvalRunError(
                    f"{path}:{number}: expected 7 fields (fold enrol spk test spk label score), got {len(parts)}"
                )
            fold = folds.setdefault(int(parts[0]), {"fold": int(parts[0]), "trials": [], "scores": [], "speakers": {}})
            fold["trials"].append(Trial(int(parts[5]), parts[1], parts[3]))
            fold["scores"].append(float(parts[6]))
            fold["speakers"][parts[1]], fold["speakers"][parts[3]] = parts[2], parts[4]
    return [folds[k] for k in sorted(folds)]


def evaluate_fold(overrides: Dict[str, str], device: str) -> None:
    """Raw cosine scores of one fold's model on one trial list, in this process (what
    recipes/eval.py runs); input errors raise :class:`CrossvalRunError`."""
    from custom_modules.evaluation import EVALUATION_ERRORS, evaluate, load_eval_hparams

    try:
        evaluate(load_eval_hparams({**overrides, "score_norm": "none", "bootstrap_resamples": 0}), device)
    except EVALUATION_ERRORS as error:
        raise CrossvalRunError(
            f"evaluating {overrides['experiment']}: {error} (rerun the same command: finished folds are kept)"
        ) from None


def _checked_data_folder(options: CrossvalOptions) -> str:
    """The absolute data folder, after the name and the hparams file are checked."""
    if not re.fullmatch(NAME_PATTERN, options.name):
        raise CrossvalRunError(f"--name {options.name!r}: use a plain folder name (letters, digits, _ . -)")
    if not os.path.isfile(options.hparams):
        raise CrossvalRunError(f"hparams file {options.hparams!r} not found (e.g. hparams/res2net_am_smalldata.yaml)")
    data_folder = os.path.abspath(options.data_folder)
    if not os.path.isdir(data_folder):
        raise CrossvalRunError(f"data folder {options.data_folder!r} not found (the dev set is ../shared/data/dev)")
    return data_folder


def _configuration(setup: CrossvalSetup) -> Dict[str, Any]:
    """What defines the run; paths relative to the project, so that the committed report stays
    true on another checkout."""
    options = setup.options
    return {
        "hparams_file": project_path(options.hparams),
        "hparams_sha256": file_sha256(options.hparams),
        "data_folder": project_path(setup.data_folder),
        "folds": options.folds,
        "fold_seed": options.fold_seed,
        "fold_speakers": setup.folds,
        "trials_per_fold": options.trials_per_fold,
        "seed": setup.seed,
        "extra_train": {project_path(p): file_sha256(p) for p in options.extra_train},
        "extra_test": {project_path(t["trials"]): file_sha256(t["trials"]) for t in setup.extra_tests},
        "train_args": override_args(
            {k: v for k, v in setup.overrides.items() if k not in RUN_ONLY_OPTIONS + ("seed",)}
        ),
        **({"init_from_study": setup.init_study} if setup.init_study else {}),
    }


def _init_study(options: CrossvalOptions, data_folder: str, folds: List[List[str]], overrides) -> Dict[str, Any]:
    """``--init_from_study NAME``: every fold starts from the model that study trained on the
    same fold (a later stage of one training, e.g. large-margin fine-tuning). The study must
    have drawn the same folds of the same data; what it was is recorded in this run's
    configuration."""
    name = options.init_from_study
    if not re.fullmatch(NAME_PATTERN, name):
        raise CrossvalRunError(f"--init_from_study {name!r}: use the --name of a cross-validation run")
    if "init_from" in overrides:
        raise CrossvalRunError(
            "--init_from and --init_from_study both say where the folds start: --init_from_study NAME starts "
            "every fold from that study's model of the same fold; pass one of them"
        )
    path = os.path.join(os.path.abspath(options.exp_root), name, CONFIG_FILE)
    if not os.path.isfile(path):
        raise CrossvalRunError(
            f"--init_from_study {name}: {path} not found; run that cross-validation first (same folds, "
            f"--exp_root {options.exp_root})"
        )
    with open(path) as handle:
        study = json.load(handle)
    if study.get("fold_speakers") != folds or study.get("data_folder") != project_path(data_folder):
        raise CrossvalRunError(
            f"--init_from_study {name}: its folds are not this run's ({path} holds data folder "
            f"{study.get('data_folder')!r} and other fold speakers); use the same --data_folder, --folds and "
            f"--fold_seed as that study"
        )
    return {key: study.get(key) for key in ("hparams_file", "hparams_sha256", "seed", "train_args")} | {"name": name}


def resolve_configuration(options: CrossvalOptions) -> CrossvalSetup:
    """Check the inputs and resolve the run: the data, the folds, the seed, the configuration
    and the folders (``<exp_root>/<name>``, ``<output_root>/<name>``). Nothing is written."""
    data_folder = _checked_data_folder(options)
    try:
        overrides = parse_overrides(list(options.train_options))
        check_train_overrides(overrides)
        with open(options.hparams) as handle:
            seed = hparams_seed(handle.read(), overrides)
        rows = all_rows(data_folder)
        folds = speaker_folds([r["spk_id"] for r in rows], options.folds, options.fold_seed)
        extra_rows = extra_training_rows(options.extra_train)
        if extra_rows:  # joint training: every row names its corpus
            rows = [{**r, "corpus": os.path.basename(data_folder)} for r in rows]
        extra_tests = [extra_test_paths(folder) for folder in options.extra_test]
    except (LearningCurveError, CrossvalError, DataError) as error:
        raise CrossvalRunError(str(error)) from None
    init_study = _init_study(options, data_folder, folds, overrides) if options.init_from_study else None
    setup = CrossvalSetup(options, data_folder, overrides, seed, rows, folds, extra_rows, extra_tests, init_study)
    setup.config = _configuration(setup)
    setup.exp_folder = os.path.join(os.path.abspath(options.exp_root), options.name)
    setup.results_folder = os.path.join(os.path.abspath(options.output_root), options.name)
    return setup


def start_study(setup: CrossvalSetup) -> None:
    """Refuse (``SystemExit``) another configuration under the same name, before anything is
    written, then record this one in ``<exp folder>/configuration.json``."""
    config_path = os.path.join(setup.exp_folder, CONFIG_FILE)
    for path in (config_path, os.path.join(setup.results_folder, "crossval.json")):
        refuse_changed_configuration(
            setup.config,
            path,
            "a cross-validation",
            "Choose another --name, or delete that folder to start this one afresh.",
        )
    os.makedirs(setup.exp_folder, exist_ok=True)
    write_json(config_path, setup.config)


def _fold_overrides(experiment: str, data_folder: str, trials: str, test: str, output: str) -> Dict[str, str]:
    return {
        "experiment": experiment,
        "data_folder": data_folder,
        "trials": trials,
        "test_annotation": test,
        "output_folder": output,
    }


def _extra_test_eers(out_k: str, extra_tests: Sequence[Dict[str, str]], device: str) -> List[Tuple[float, Any]]:
    """The fold's model on every other trial list (cheap: no training): ``(eer, floor_eer)``."""
    eers = []
    for t in extra_tests:
        extra_eval = os.path.join(out_k, "eval", t["name"])
        if not fold_done(os.path.join(extra_eval, "results.json"), t["trials"]):
            evaluate_fold(_fold_overrides(out_k, t["folder"], t["trials"], t["test"], extra_eval), device)
        with open(os.path.join(extra_eval, "results.json")) as handle:
            extra = json.load(handle)
        eers.append((extra["systems"]["none"]["eer"], (extra.get("floor") or {}).get("eer")))
    return eers


def run_fold(setup: CrossvalSetup, k: int, progress: Callable[[str], None] = say) -> FoldResult:
    """Fold ``k`` (from 0): write its data folder, train on the other speakers and evaluate on
    its own (unless done already for this trial list), then score the ``--extra_test`` lists."""
    from custom_modules.training.brain import train

    options, test_speakers = setup.options, setup.folds[k]
    data_k = os.path.join(setup.exp_folder, f"data_fold{k + 1}")
    out_k = os.path.join(setup.exp_folder, f"fold{k + 1}", str(setup.seed))
    eval_k = os.path.join(out_k, "eval", "trials")
    try:
        paths = write_fold_folder(
            data_k,
            setup.rows,
            test_speakers,
            setup.data_folder,
            options.trials_per_fold,
            seed=options.fold_seed + k,
            extra_train=setup.extra_rows,
        )
    except CrossvalError as error:
        raise CrossvalRunError(str(error)) from None
    results_path = os.path.join(eval_k, "results.json")
    if fold_done(results_path, paths["trials"]):
        progress(f"fold {k + 1}/{options.folds}: done already ({results_path})")
    else:
        progress(f"fold {k + 1}/{options.folds}: test speakers {', '.join(test_speakers)}; training -> {out_k}")
        train_args = override_args({**setup.overrides, "seed": str(setup.seed)}) + _fold_init(setup, k)
        train([os.path.abspath(options.hparams), f"--data_folder={data_k}", f"--output_folder={out_k}", *train_args])
        evaluate_fold(_fold_overrides(out_k, data_k, paths["trials"], paths["test"], eval_k), _device(setup))
    with open(results_path) as handle:
        results = json.load(handle)
    scores = read_fold_scores(k, os.path.join(eval_k, "scores_none.txt"), paths["test"])
    extra = _extra_test_eers(out_k, setup.extra_tests, _device(setup))
    floor_path = os.path.join(eval_k, "scores_floor.txt")
    floor = read_fold_scores(k, floor_path, paths["test"]) if os.path.isfile(floor_path) else None
    facts = {
        "floor_eer": (results.get("floor") or {}).get("eer"),
        "epochs": training_recipe_facts(out_k)["epochs"],
        "experiment": project_path(out_k),
        "checkpoint": os.path.basename(results.get("checkpoint") or ""),
    }
    return FoldResult(scores, floor, facts, extra)


def _fold_init(setup: CrossvalSetup, k: int) -> List[str]:
    """``--init_from=<the init study's model of fold k>``, or nothing without an init study."""
    if not setup.init_study:
        return []
    study = setup.init_study
    folder = os.path.join(os.path.abspath(setup.options.exp_root), study["name"], f"fold{k + 1}", str(study["seed"]))
    if not os.path.isdir(os.path.join(folder, "save")):
        raise CrossvalRunError(
            f"--init_from_study {study['name']}: fold {k + 1} has no trained model ({folder}/save not found); "
            f"finish that cross-validation first (rerun its command: finished folds are kept)"
        )
    return [f"--init_from={folder}"]


def _device(setup: CrossvalSetup) -> str:
    return setup.overrides.get("device") or "cpu"


def _extra_test_summary(trials: str, eers: Sequence[Tuple[float, Any]]) -> Dict[str, Any]:
    """One ``--extra_test`` trial list over the folds: every fold's EER and floor, their means."""
    fold_eer = [eer for eer, _ in eers]
    fold_floor_eer = [floor for _, floor in eers]
    return {
        "trials": project_path(trials),
        "fold_eer": fold_eer,
        "mean_eer": sum(fold_eer) / len(fold_eer),
        "fold_floor_eer": fold_floor_eer,  # each fold's floor: its own training set
        "floor_eer": None if None in fold_floor_eer else sum(fold_floor_eer) / len(fold_floor_eer),
    }


def pool_report(setup: CrossvalSetup, results: Sequence[FoldResult]) -> Dict[str, Any]:
    """The report: pooled and per-fold figures (with each fold's training facts), the pooled
    no-learning floor when every fold has one, the ``--extra_test`` lists, the configuration."""
    resamples = setup.options.resamples
    fold_scores = [r.scores for r in results]
    report = pool_folds(fold_scores, p_targets=P_TARGETS, resamples=resamples)
    for fold, result in zip(report["folds"], results):
        fold.update(result.facts)
    floor_scores = [r.floor for r in results if r.floor is not None]
    if len(floor_scores) == len(fold_scores):  # the no-learning floor pooled over the same trials
        report["floor"] = pool_folds(floor_scores, p_targets=P_TARGETS, resamples=resamples)["pooled"]
    if setup.extra_tests:
        report["extra_test"] = [
            _extra_test_summary(t["trials"], [r.extra[i] for r in results]) for i, t in enumerate(setup.extra_tests)
        ]
    report.update(
        {
            "name": setup.options.name,
            "configuration": setup.config,
            "scores": "scores.txt",
            "date": timestamp(),
            "commit": git_commit(),
        }
    )
    return report


def write_report(setup: CrossvalSetup, results: Sequence[FoldResult], report: Dict[str, Any]) -> str:
    """Write ``scores.txt``, ``crossval.md`` and ``crossval.json`` into the results folder;
    returns the markdown."""
    os.makedirs(setup.results_folder, exist_ok=True)
    write_pooled_scores(os.path.join(setup.results_folder, "scores.txt"), [r.scores for r in results])
    text = crossval_markdown(report)
    write_text(os.path.join(setup.results_folder, "crossval.md"), text)
    write_json(os.path.join(setup.results_folder, "crossval.json"), report)
    return text


def run_crossval(options: CrossvalOptions, progress: Callable[[str], None] = say) -> Tuple[str, str]:
    """Cross-validate a training recipe (resumable: finished folds are kept); returns the
    report's markdown and the results folder. ``progress`` receives one line per fold."""
    setup = resolve_configuration(options)
    start_study(setup)
    results = [run_fold(setup, k, progress) for k in range(len(setup.folds))]
    report = pool_report(setup, results)
    return write_report(setup, results, report), setup.results_folder


def compare_runs(a: str, b: str, name: str, resamples: int, output_root: str) -> Tuple[str, str]:
    """Fold-matched comparison of two cross-validation result folders (A - B, paired speaker
    bootstrap): writes ``<output_root>/<name>/comparison.md`` and ``.json``; returns the
    markdown and that folder. ``a`` or ``b`` may name several runs of one recipe with other
    seeds, comma-separated (``results/crossval/x,results/crossval/x_seed1987``): the
    difference is then that of the seed means (:func:`seed_averaged_comparison`)."""
    sides = []
    for side, folders in (("A", a), ("B", b)):
        runs = [_read_run(folder) for folder in folders.split(",") if folder]
        if not runs:
            raise CrossvalRunError(f"{side}: {folders!r} names no result folder")
        _check_seeds_of_one_recipe(side, runs)
        sides.append(runs)
    try:
        difference = seed_averaged_comparison(
            [run["folds"] for run in sides[0]],
            [run["folds"] for run in sides[1]],
            p_targets=P_TARGETS,
            resamples=resamples,
        )
    except CrossvalError as error:
        raise CrossvalRunError(f"{a} and {b}: {error}") from None
    names = [[run["report"]["name"] for run in runs] for runs in sides]
    reports = [[run["report"] for run in runs] for runs in sides]
    out = os.path.join(os.path.abspath(output_root), name)
    os.makedirs(out, exist_ok=True)
    text = comparison_markdown(names[0], names[1], reports[0], reports[1], difference)
    write_text(os.path.join(out, "comparison.md"), text + f"\nDate {timestamp()}, commit {git_commit()}.\n")
    single = len(names[0]) == len(names[1]) == 1
    write_json(
        os.path.join(out, "comparison.json"),
        {
            "a": names[0][0] if single else names[0],
            "b": names[1][0] if single else names[1],
            "difference": difference,
            "pooled_eer": [r[0]["pooled"]["eer"] for r in reports]
            if single
            else [[run["pooled"]["eer"] for run in side] for side in reports],
        },
    )
    return text, out


def _read_run(folder: str) -> Dict[str, Any]:
    """One cross-validation result folder: its report (crossval.json) and every fold's scores."""
    for file_name in ("crossval.json", "scores.txt"):
        if not os.path.isfile(os.path.join(folder, file_name)):
            raise CrossvalRunError(f"{folder} has no {file_name}: pass a folder written by recipes/crossval.py")
    with open(os.path.join(folder, "crossval.json")) as handle:
        report = json.load(handle)
    return {"folder": folder, "report": report, "folds": read_pooled_scores(os.path.join(folder, "scores.txt"))}


def _check_seeds_of_one_recipe(side: str, runs: List[Dict[str, Any]]) -> None:
    """The runs averaged as one recipe differ in their seed and in nothing else."""
    first = runs[0]
    seeds = [run["report"]["configuration"].get("seed") for run in runs]
    reference = {k: v for k, v in first["report"]["configuration"].items() if k != "seed"}
    for run in runs[1:]:
        config = {k: v for k, v in run["report"]["configuration"].items() if k != "seed"}
        differing = sorted(k for k in set(config) | set(reference) if config.get(k) != reference.get(k))
        if differing:
            raise CrossvalRunError(
                f"{side}: {run['folder']} is not {first['folder']} with another seed: they differ in "
                f"{', '.join(differing)}; average only runs of one recipe"
            )
    if len(set(seeds)) != len(seeds):
        raise CrossvalRunError(
            f"{side}: two of its runs have the same seed ({seeds}): each run must be another seed of the recipe"
        )
