"""Bring your own data: read a speaker dataset, validate every file, split it, write trials.

Used by ``recipes/prepare.py``. The output folder holds what ``recipes/train.py`` and
``recipes/eval.py`` read as they are:

- ``train.csv``, ``valid.csv`` (held-out utterances of the training speakers, closed set),
  ``test.csv`` (speakers disjoint from training, open set), all with the columns
  ``ID,duration,wav,start,stop,spk_id`` (``start``/``stop`` in samples, ``wav`` an absolute
  path, or relative to the output folder for copies written under ``audio/``);
- ``trials.txt`` in the VoxCeleb format ``1|0 <enrol ID>.wav <test ID>.wav``;
- ``data_report.md``: speakers, utterances, durations, sample rates, what was dropped and why.

Sources (:func:`detect_format` picks one; ``format`` forces it):

``csv``
    A CSV with a speaker column (``speaker``, else ``spk_id``) and an audio-path column
    (``path``, else ``wav``); paths relative to the CSV's folder (or ``$data_root/...``) or
    absolute; optional ``ID``, ``start``, ``stop`` (samples) and ``split`` columns.
``folder``
    One sub-folder per speaker, ``.wav``/``.flac`` files found recursively below it.
``kaldi``
    A Kaldi data dir: ``wav.scp`` (plain paths; piped commands are refused), ``utt2spk``
    and optionally ``segments``.
``voxceleb``
    ``<root>/wav/<spk>/<video>/<utt>.wav`` (read like a folder source below ``wav/``).

Utterance IDs are ``<spk>/<path below the speaker folder, without extension>`` (so
``<spk>/<video>/<utt>`` for VoxCeleb, as in its official trial lists), ``<spk>/<utt>`` for
Kaldi, and for a CSV the ``ID`` column (prefixed with ``<spk>/`` unless it already starts so)
or the audio path below the CSV's folder (below the speaker's folder when the path has one).

Every problem is collected before anything is decided, and reported at once grouped by kind
(:data:`PROBLEM_KINDS`), each with its file and reason. Problems of a single utterance
(missing, corrupt, silent, NaN/Inf, wrong rate, ...) stop the preparation unless
``drop_bad`` is set, in which case those utterances are left out and listed in the report;
problems of the dataset as a whole (whitespace in names, duplicate IDs, overlapping
splits, too few speakers) always stop it. The input is only read; the output folder is
written into a temporary sibling and renamed into place.

The package, one concern per module: :mod:`~custom_modules.data.preparation.records` (options,
utterances, problems, result), :mod:`~custom_modules.data.preparation.sources` (reading the
input formats), :mod:`~custom_modules.data.preparation.inspection` (audio checks and copies),
:mod:`~custom_modules.data.preparation.splits` (test speakers, splits, trials),
:mod:`~custom_modules.data.preparation.report` (messages and ``data_report.md``),
:mod:`~custom_modules.data.preparation.output` (output checks, writing, atomic publish) and
:mod:`~custom_modules.data.preparation.core` (:func:`prepare`, the phases in order). The
public names are importable from here.

Authors: the res2net-sv developers.
"""

import soundfile as sf  # noqa: F401 - tests patch custom_modules.data.preparation.sf

from custom_modules.data.dataio import DataError
from custom_modules.data.preparation.core import prepare
from custom_modules.data.preparation.inspection import inspect_audio
from custom_modules.data.preparation.output import is_inside, publish_folder
from custom_modules.data.preparation.records import (
    AUDIO_EXTENSIONS,
    CSV_COLUMNS,
    FORMATS,
    PROBLEM_KINDS,
    AudioInfo,
    PreparationError,
    PrepareOptions,
    PrepareResult,
    Problem,
    Utterance,
)
from custom_modules.data.preparation.report import format_problems, render_report
from custom_modules.data.preparation.sources import (
    detect_format,
    read_csv_source,
    read_folder_source,
    read_kaldi_source,
    read_source,
    read_voxceleb_source,
)
from custom_modules.data.preparation.splits import choose_test_speakers, make_trials, spread_evenly, write_trials

__all__ = [
    "FORMATS",
    "PROBLEM_KINDS",
    "AUDIO_EXTENSIONS",
    "CSV_COLUMNS",
    "Utterance",
    "AudioInfo",
    "Problem",
    "PrepareOptions",
    "PrepareResult",
    "PreparationError",
    "DataError",
    "detect_format",
    "read_source",
    "read_csv_source",
    "read_folder_source",
    "read_kaldi_source",
    "read_voxceleb_source",
    "inspect_audio",
    "choose_test_speakers",
    "is_inside",
    "publish_folder",
    "spread_evenly",
    "make_trials",
    "write_trials",
    "format_problems",
    "render_report",
    "prepare",
]
