"""Where a preparation writes: output-folder checks, the atomic publish, and the writing phase.

:func:`is_inside` and :func:`check_output` refuse an output that would overwrite the input
or cannot be created, before any audio is read; :func:`write_output` writes the copies, the
CSVs, ``trials.txt`` and ``data_report.md`` into a temporary sibling and
:func:`publish_folder` renames it into place.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Callable, Mapping, Tuple

import soundfile as sf

from custom_modules.data.dataio import DataError, read_speaker_csv, write_speaker_csv
from custom_modules.data.preparation.inspection import convert_audio
from custom_modules.data.preparation.records import AudioInfo, PrepareOptions, PrepareResult, Utterance
from custom_modules.data.preparation.splits import write_trials
from custom_modules.scoring.trials import check_trial_ids, parse_trials


def is_inside(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or lies inside it (links resolved)."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_output(opts: PrepareOptions) -> None:
    output = os.path.abspath(opts.output)
    source = os.path.abspath(opts.source)
    if os.path.isdir(source) and is_inside(output, source):
        raise DataError(
            f"--output {output} is inside the source folder {source}: the input is never "
            f"modified, so write the output elsewhere"
        )
    if os.path.exists(output):
        if not os.path.isdir(output):
            raise DataError(f"--output {output} exists and is not a folder")
        if os.listdir(output):
            if not opts.overwrite:
                raise DataError(
                    f"--output {output} exists and is not empty; pass --overwrite to replace it "
                    f"(it is replaced only once the new output is complete)"
                )
            if is_inside(source, output):
                raise DataError(f"--overwrite would delete the source {source}, which is inside --output {output}")
    # the output is published by renaming a folder made beside it: check that place now, not
    # after every audio file was read
    parent = os.path.dirname(output)
    existing = parent
    while existing and not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if existing and (not os.path.isdir(existing) or not os.access(existing, os.W_OK | os.X_OK)):
        raise DataError(
            f"--output {output}: cannot create it, {existing} is not a writable folder; choose another --output"
        )


def publish_folder(staging: str, output: str) -> None:
    """Move a fully written ``staging`` folder (a sibling of ``output``, from mkdtemp) into
    place: ordinary permissions, and an existing ``output`` is renamed aside first and only
    then removed, so a crash never leaves a half-written folder at ``output``."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)
    if os.path.isdir(output) and os.listdir(output):
        old = tempfile.mkdtemp(prefix=f".{os.path.basename(output)}.old-", dir=os.path.dirname(os.path.abspath(output)))
        os.rename(output, os.path.join(old, "previous"))
        os.rename(staging, output)
        shutil.rmtree(old, ignore_errors=True)
    else:
        if os.path.isdir(output):
            os.rmdir(output)
        os.rename(staging, output)


def _copy_segment(utt: Utterance, info: AudioInfo, target: str, whole: bool) -> None:
    """--copy_audio: the whole file as is, or its segment as a WAV of the same rate."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if whole:
        shutil.copyfile(utt.path, target)
    else:
        data, rate = sf.read(utt.path, start=info.start, stop=info.stop, dtype="float32")
        sf.write(target, data, rate, subtype="PCM_16" if info.subtype == "PCM_16" else "FLOAT", format="WAV")


def write_output(
    opts: PrepareOptions,
    result: PrepareResult,
    utterances: Mapping[str, Utterance],
    infos: Mapping[str, AudioInfo],
    converted: Mapping[str, Tuple[str, int]],
    copied: Mapping[str, Tuple[str, bool]],
    render_report: Callable[[], str],
) -> None:
    """Write the audio copies, the CSVs (read back as the recipes read them), ``trials.txt``
    and ``data_report.md`` into a temporary sibling of the output, then publish it; the
    temporary folder is removed on any error."""
    output = os.path.abspath(opts.output)
    parent = os.path.dirname(output)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(output)}.tmp-", dir=parent)
    try:
        for uid, (rel, _) in converted.items():
            convert_audio(utterances[uid], infos[uid], os.path.join(tmp, rel), opts.sample_rate)
        for uid, (rel, whole) in copied.items():
            _copy_segment(utterances[uid], infos[uid], os.path.join(tmp, rel), whole)
        written = {}
        for name, split_rows in (("train", result.train), ("valid", result.valid), ("test", result.test)):
            if split_rows:
                write_speaker_csv(os.path.join(tmp, f"{name}.csv"), split_rows)
                written[name] = read_speaker_csv(os.path.join(tmp, f"{name}.csv"))  # self-check: the recipes read it
        if result.trials:
            write_trials(os.path.join(tmp, "trials.txt"), result.trials)
            check_trial_ids(parse_trials(os.path.join(tmp, "trials.txt")), {r["ID"] for r in result.test}, "test.csv")
        report = render_report()
        with open(os.path.join(tmp, "data_report.md"), "w", encoding="utf-8") as handle:
            handle.write(report)
        publish_folder(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
