"""Speaker CSVs -> SpeechBrain datasets: reading, validation, splits and labels (audio reading and
crops: :mod:`custom_modules.data.audio`, imported here for the callers).

One module shared by ``recipes/train.py`` (and later eval and diagnose) so that every
recipe reads audio and labels the same way.

CSV format (SpeechBrain's VoxCeleb style): ``ID,duration,wav,start,stop,spk_id``.
``wav`` is absolute, relative to the data folder, or starts with ``$data_root``;
``start``/``stop`` (samples) are optional. Only ``ID``, ``wav`` and ``spk_id`` are required.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from typing import TYPE_CHECKING, Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from custom_modules.data.audio import crop_or_repeat, load_audio, read_crop, read_samples, resolve_audio_path
from custom_modules.data.errors import DataError
from custom_modules.outputs.atomic import atomic_path

if TYPE_CHECKING:  # imported lazily: SpeechBrain is slow to import; torch only where a function needs it
    import torch  # (reading CSVs and audio as NumPy works without it: the ONNX runtime path)
    from speechbrain.dataio.dataset import DynamicItemDataset
    from speechbrain.dataio.encoder import CategoricalEncoder

__all__ = [
    "DataError",
    "read_speaker_csv",
    "write_speaker_csv",
    "count_speakers",
    "hold_out_speakers",
    "split_train_valid",
    "Splits",
    "effective_valid_annotation",
    "resolve_splits",
    "resolve_audio_path",
    "read_samples",
    "load_audio",
    "crop_or_repeat",
    "read_crop",
    "row_segments",
    "SpeakerData",
    "speaker_datasets",
]

REQUIRED_COLUMNS = ("ID", "wav", "spk_id")


def read_speaker_csv(path: str) -> List[Dict[str, str]]:
    """Read a speaker CSV into a list of row dicts, validating columns and IDs.

    Raises :class:`DataError` naming the file and line for a missing file, missing
    columns, empty cells, duplicate IDs, or speaker IDs containing whitespace.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "train.csv")
    >>> _ = open(path, "w").write("ID,wav,spk_id\\na/1,a/1.wav,a\\nb/1,b/1.wav,b\\n")
    >>> [row["spk_id"] for row in read_speaker_csv(path)]
    ['a', 'b']
    """
    if not os.path.isfile(path):
        raise DataError(
            f"{path}: CSV not found. Point --data_folder at a prepared folder (with train.csv), "
            f"or pass --train_annotation=<your csv> with columns ID,wav,spk_id"
        )
    rows: List[Dict[str, str]] = []
    seen: Dict[str, int] = {}
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise DataError(
                f"{path}: missing column(s) {missing}; found {columns}. A speaker CSV needs "
                f"{list(REQUIRED_COLUMNS)} (optionally duration,start,stop)"
            )
        for line, row in enumerate(reader, start=2):
            for column in REQUIRED_COLUMNS:
                if not (row.get(column) or "").strip():
                    raise DataError(f"{path}, line {line}: empty {column!r}")
            if any(ch.isspace() for ch in row["spk_id"]) or any(ch.isspace() for ch in row["ID"]):
                raise DataError(
                    f"{path}, line {line}: whitespace in ID {row['ID']!r} or spk_id "
                    f"{row['spk_id']!r}; trial lists are whitespace-separated, so rename it"
                )
            if row["ID"] in seen:
                raise DataError(f"{path}, line {line}: duplicate ID {row['ID']!r} (first on line {seen[row['ID']]})")
            seen[row["ID"]] = line
            rows.append(dict(row))
    if not rows:
        raise DataError(f"{path}: no rows")
    return rows


def write_speaker_csv(path: str, rows: List[Dict[str, str]]) -> None:
    """Write rows (as read by :func:`read_speaker_csv`) to ``path``, columns in first-row order."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)


def write_speaker_csv_if_changed(path: str, rows: List[Dict[str, str]]) -> None:
    """Write a speaker CSV unless the file already holds exactly these rows (its modification
    time then stays, and resumable commands see nothing new)."""
    if os.path.isfile(path):
        try:
            if read_speaker_csv(path) == list(rows):
                return
        except ValueError:
            pass
    write_speaker_csv(path, list(rows))


def count_speakers(csv_path: str, held_out: int = 0, classes_per_speaker: int = 1) -> int:
    """Number of classifier classes for a speaker CSV (used by the hparams files).

    The distinct ``spk_id`` values, less the ``held_out`` speakers kept apart for
    validation by EER (:func:`hold_out_speakers`), times ``classes_per_speaker`` (3 when
    every speed of a speed perturbation is a new speaker).

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "train.csv")
    >>> _ = open(path, "w").write("ID,wav,spk_id\\n1,1.wav,a\\n2,2.wav,b\\n3,3.wav,a\\n4,4.wav,c\\n")
    >>> count_speakers(path), count_speakers(path, held_out=1), count_speakers(path, 1, 3)
    (3, 2, 6)
    """
    count = len({row["spk_id"] for row in read_speaker_csv(csv_path)})
    held_out = int(held_out or 0)
    if held_out and count - held_out < 2:
        raise DataError(
            f"{csv_path}: valid_speakers={held_out} leaves {count - held_out} of its {count} speakers "
            f"for training; lower valid_speakers (at least 2 speakers must remain)"
        )
    return (count - held_out) * int(classes_per_speaker)


def hold_out_speakers(
    rows: List[Dict[str, str]], count: int, seed: int
) -> Tuple[List[Dict[str, str]], List[Dict[str, str]]]:
    """Set ``count`` whole speakers apart (never trained on) for validation by EER.

    Speakers are drawn with a generator seeded by ``seed`` from the sorted speaker list,
    so the choice is reproducible and independent of row order. Returns
    ``(training rows, held-out rows)``. ``count`` must be 0 (nothing held out) or at least
    2 (an EER needs different-speaker pairs), and leave at least 2 training speakers.

    Example
    -------
    >>> rows = [{"ID": f"{s}/{i}", "spk_id": s} for s in "abcde" for i in range(3)]
    >>> train, held = hold_out_speakers(rows, 2, seed=1)
    >>> len(train), len(held), len({r["spk_id"] for r in held})
    (9, 6, 2)
    >>> {r["spk_id"] for r in train} & {r["spk_id"] for r in held}
    set()
    """
    count = int(count or 0)
    if count == 0:
        return list(rows), []
    speakers = sorted({r["spk_id"] for r in rows})
    if count < 2 or count > len(speakers) - 2:
        raise DataError(
            f"valid_speakers={count} with {len(speakers)} training speakers: hold out 0 (off) or "
            f"2..{max(len(speakers) - 2, 2)} speakers (an EER needs 2 held-out speakers, and 2 must remain "
            f"for training)"
        )
    chosen = {speakers[i] for i in np.random.default_rng(seed).permutation(len(speakers))[:count]}
    return [r for r in rows if r["spk_id"] not in chosen], [r for r in rows if r["spk_id"] in chosen]


def split_train_valid(
    rows: List[Dict[str, str]], valid_fraction: float, seed: int
) -> Tuple[List[Dict[str, str]], List[Dict[str, str]]]:
    """Split off held-out utterances of every training speaker (closed-set validation).

    Deterministic for a given seed and row set (independent of row order). Each speaker
    with at least 2 utterances gives ``round(n * valid_fraction)`` of them (at least 1,
    and always keeps at least 1 for training); a speaker with 1 utterance stays in train.

    Example
    -------
    >>> rows = [{"ID": f"{s}/{i}", "spk_id": s} for s in "ab" for i in range(10)]
    >>> train, valid = split_train_valid(rows, 0.2, seed=1)
    >>> len(train), len(valid), sorted({r["spk_id"] for r in valid})
    (16, 4, ['a', 'b'])
    """
    if not 0.0 < valid_fraction < 1.0:
        raise DataError(f"valid_fraction must be in (0, 1), got {valid_fraction}")
    by_speaker: Dict[str, List[Dict[str, str]]] = defaultdict(list)
    for row in rows:
        by_speaker[row["spk_id"]].append(row)
    rng = np.random.default_rng(seed)
    valid_ids = set()
    for speaker in sorted(by_speaker):
        utterances = sorted(by_speaker[speaker], key=lambda r: r["ID"])
        if len(utterances) < 2:
            continue
        count = min(len(utterances) - 1, max(1, int(round(len(utterances) * valid_fraction))))
        for index in rng.permutation(len(utterances))[:count]:
            valid_ids.add(utterances[index]["ID"])
    train = [r for r in rows if r["ID"] not in valid_ids]
    valid = [r for r in rows if r["ID"] in valid_ids]
    return train, valid


class Splits(NamedTuple):
    """Training, closed-set validation and held-out-speaker rows, as the recipe splits them."""

    train: List[Dict[str, str]]
    valid: List[Dict[str, str]]
    heldout: List[Dict[str, str]]
    valid_source: str


def effective_valid_annotation(valid_annotation: Optional[str], data_folder: Optional[str]) -> Optional[str]:
    """The validation CSV a run uses: ``valid_annotation`` when given, else the prepared split
    ``<data_folder>/valid.csv`` when the folder has one (recipes/prepare.py writes it), else
    None (utterances of each training speaker are held out).

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> effective_valid_annotation(None, folder) is None
    True
    >>> _ = open(os.path.join(folder, "valid.csv"), "w").write("ID,wav,spk_id\\n")
    >>> effective_valid_annotation(None, folder) == os.path.join(folder, "valid.csv")
    True
    >>> effective_valid_annotation("mine.csv", folder)
    'mine.csv'
    """
    if valid_annotation:
        return valid_annotation
    prepared = os.path.join(data_folder, "valid.csv") if data_folder else None
    return prepared if prepared and os.path.isfile(prepared) else None


def resolve_splits(
    train_annotation: str,
    valid_annotation: Optional[str],
    valid_fraction: float,
    seed: int,
    valid_speakers: int = 0,
    data_folder: Optional[str] = None,
) -> Splits:
    """The one place the training, validation and held-out-speaker rows are decided, for
    ``recipes/train.py``, its preflight and ``recipes/diagnose.py`` alike.

    ``valid_speakers`` whole speakers are set apart first (:func:`hold_out_speakers`); the
    validation rows are those of :func:`effective_valid_annotation` (without the held-out
    speakers), or, without one, ``valid_fraction`` of each remaining speaker's utterances
    (:func:`split_train_valid`).

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> _ = open(os.path.join(folder, "train.csv"), "w").write(
    ...     "ID,wav,spk_id\\n" + "".join(f"{s}/{i},{s}/{i}.wav,{s}\\n" for s in "ab" for i in range(5)))
    >>> splits = resolve_splits(os.path.join(folder, "train.csv"), None, 0.2, 1, data_folder=folder)
    >>> len(splits.train), len(splits.valid), splits.valid_source
    (8, 2, 'the held-out split of train.csv')
    >>> _ = open(os.path.join(folder, "valid.csv"), "w").write("ID,wav,spk_id\\na/9,a/9.wav,a\\n")
    >>> splits = resolve_splits(os.path.join(folder, "train.csv"), None, 0.2, 1, data_folder=folder)
    >>> len(splits.train), len(splits.valid), os.path.basename(splits.valid_source)
    (10, 1, 'valid.csv')
    """
    train_rows, heldout_rows = hold_out_speakers(read_speaker_csv(train_annotation), int(valid_speakers or 0), seed)
    valid_csv = effective_valid_annotation(valid_annotation, data_folder)
    if valid_csv:
        heldout_ids = {r["spk_id"] for r in heldout_rows}
        valid_rows = [r for r in read_speaker_csv(valid_csv) if r["spk_id"] not in heldout_ids]
        return Splits(train_rows, valid_rows, heldout_rows, valid_csv)
    train_rows, valid_rows = split_train_valid(train_rows, valid_fraction, seed)
    return Splits(train_rows, valid_rows, heldout_rows, f"the held-out split of {os.path.basename(train_annotation)}")


class SpeakerData(NamedTuple):
    """The datasets and label encoder a recipe trains on."""

    train: "DynamicItemDataset"
    valid: "DynamicItemDataset"
    label_encoder: "CategoricalEncoder"
    train_csv: str
    valid_csv: str
    heldout: Optional["DynamicItemDataset"] = None  # whole utterances of held-out speakers (EER)
    heldout_csv: Optional[str] = None


def _optional_int(value: Optional[str]) -> Optional[int]:
    return int(float(value)) if value not in (None, "") else None


def row_segments(rows: List[Dict[str, str]], data_folder: str) -> List[Tuple[str, Optional[int], Optional[int]]]:
    """``(path, start, stop)`` of speaker-CSV rows, as the audio readers take them.

    Example
    -------
    >>> row_segments([{"wav": "wav/a.wav", "start": "0", "stop": "16000"}, {"wav": "/x/b.wav"}], "/data")
    [('/data/wav/a.wav', 0, 16000), ('/x/b.wav', None, None)]
    """
    return [
        (resolve_audio_path(r["wav"], data_folder), _optional_int(r.get("start")), _optional_int(r.get("stop")))
        for r in rows
    ]


def _dataset_items(rows: List[Dict[str, str]], data_folder: str) -> Dict[str, Dict[str, object]]:
    """``DynamicItemDataset`` items of speaker-CSV rows: audio path resolved against ``data_folder``."""
    return {
        r["ID"]: {
            "wav": resolve_audio_path(r["wav"], data_folder),
            "start": _optional_int(r.get("start")),
            "stop": _optional_int(r.get("stop")),
            "spk_id": r["spk_id"],
        }
        for r in rows
    }


def _load_label_encoder(label_encoder, output_folder: str, train_speakers: set, train_annotation: str) -> None:
    """Fill ``label_encoder`` from ``output_folder/label_encoder.txt``, which the main process
    first writes (atomically) from the sorted ``train_speakers`` when it is missing; a file of
    other speakers (another dataset's output folder) raises :class:`DataError`."""
    import speechbrain as sb
    from speechbrain.dataio.encoder import CategoricalEncoder

    encoder_path = os.path.join(output_folder, "label_encoder.txt")
    if sb.utils.distributed.if_main_process() and not os.path.isfile(encoder_path):
        fresh = CategoricalEncoder()  # SpeechBrain's load_or_create, written atomically
        fresh.update_from_iterable(sorted(train_speakers))
        with atomic_path(encoder_path) as tmp:
            fresh.save(tmp)
    sb.utils.distributed.ddp_barrier()
    label_encoder.load(encoder_path)
    if set(label_encoder.lab2ind) != train_speakers:
        raise DataError(
            f"{os.path.join(output_folder, 'label_encoder.txt')} holds {len(label_encoder)} speakers "
            f"that differ from the {len(train_speakers)} of {train_annotation}: this output folder "
            f"belongs to another dataset; use a new --output_folder"
        )
    label_encoder.expect_len(len(train_speakers))


def speaker_datasets(
    data_folder: str,
    train_annotation: str,
    output_folder: str,
    valid_annotation: Optional[str] = None,
    valid_fraction: float = 0.1,
    seed: int = 1986,
    sample_rate: int = 16000,
    crop_seconds: float = 2.0,
    valid_max_seconds: float = 6.0,
    valid_speakers: int = 0,
) -> SpeakerData:
    """Build the training and closed-set validation datasets with a label encoder.

    Training items are random ``crop_seconds`` crops (short files repeated), so batches
    are dense; validation items are the whole utterance up to ``valid_max_seconds``
    (centre crop), padded in the batch (the encoder's pooling ignores padding). When
    ``valid_annotation`` is None, held-out utterances of each training speaker are split
    off deterministically (:func:`split_train_valid`); both splits are written to
    ``output_folder`` (``train_split.csv``, ``valid_split.csv``) for the record.
    The label encoder is built from the training split and saved as
    ``output_folder/label_encoder.txt`` (reloaded on resume). Every item provides
    ``id``, ``sig`` (waveform) and ``spk_id_encoded`` (a 1-element LongTensor).
    With ``valid_speakers`` > 0, that many whole speakers are first set apart
    (:func:`hold_out_speakers`, written to ``heldout_speakers.csv``) and returned as the
    ``heldout`` dataset (``id``, ``sig``, ``spk_id``; whole utterances up to
    ``valid_max_seconds``) for model selection by EER on unseen speakers.
    """
    import speechbrain as sb
    import torch
    from speechbrain.dataio.dataset import DynamicItemDataset
    from speechbrain.dataio.encoder import CategoricalEncoder

    train_rows, valid_rows, heldout_rows, _ = resolve_splits(
        train_annotation, valid_annotation, valid_fraction, seed, valid_speakers, data_folder
    )
    valid_annotation = effective_valid_annotation(valid_annotation, data_folder)
    if not valid_annotation:
        if not valid_rows:
            raise DataError(
                f"{train_annotation}: no speaker has 2 or more utterances, so no closed-set "
                f"validation split is possible; give --valid_annotation"
            )
    train_csv = os.path.join(output_folder, "train_split.csv")
    valid_csv = os.path.join(output_folder, "valid_split.csv")
    if sb.utils.distributed.if_main_process():
        write_speaker_csv(train_csv, train_rows)
        write_speaker_csv(valid_csv, valid_rows)
    train_speakers = {r["spk_id"] for r in train_rows}
    unknown = sorted({r["spk_id"] for r in valid_rows} - train_speakers)
    if unknown:
        raise DataError(
            f"{valid_annotation}: speakers {unknown[:5]}{'...' if len(unknown) > 5 else ''} are not in "
            f"{train_annotation}; closed-set validation needs training speakers only (use trials "
            f"and recipes/eval.py for unseen speakers)"
        )
    train = DynamicItemDataset(_dataset_items(train_rows, data_folder))
    valid = DynamicItemDataset(_dataset_items(valid_rows, data_folder))
    crop = int(round(crop_seconds * sample_rate))
    valid_max = int(round(valid_max_seconds * sample_rate))

    @sb.utils.data_pipeline.takes("wav", "start", "stop")
    @sb.utils.data_pipeline.provides("sig")
    def train_audio(wav: str, start: Optional[int], stop: Optional[int]) -> torch.Tensor:
        return read_crop(wav, crop, start, stop, random=True, sample_rate=sample_rate)

    @sb.utils.data_pipeline.takes("wav", "start", "stop")
    @sb.utils.data_pipeline.provides("sig")
    def valid_audio(wav: str, start: Optional[int], stop: Optional[int]) -> torch.Tensor:
        signal = load_audio(wav, start, stop, sample_rate)
        return crop_or_repeat(signal, valid_max, random=False) if signal.shape[0] > valid_max else signal

    label_encoder = CategoricalEncoder()

    @sb.utils.data_pipeline.takes("spk_id")
    @sb.utils.data_pipeline.provides("spk_id_encoded")
    def label_pipeline(spk_id: str) -> torch.Tensor:
        return torch.LongTensor([label_encoder.encode_label(spk_id)])

    train.add_dynamic_item(train_audio)
    valid.add_dynamic_item(valid_audio)
    for dataset in (train, valid):
        dataset.add_dynamic_item(label_pipeline)
        dataset.set_output_keys(["id", "sig", "spk_id_encoded"])
    _load_label_encoder(label_encoder, output_folder, train_speakers, train_annotation)
    heldout, heldout_csv = None, None
    if heldout_rows:
        heldout_csv = os.path.join(output_folder, "heldout_speakers.csv")
        if sb.utils.distributed.if_main_process():
            write_speaker_csv(heldout_csv, heldout_rows)
        heldout = DynamicItemDataset(_dataset_items(heldout_rows, data_folder))
        heldout.add_dynamic_item(valid_audio)
        heldout.set_output_keys(["id", "sig", "spk_id"])
    return SpeakerData(train, valid, label_encoder, train_csv, valid_csv, heldout, heldout_csv)
