"""The records of a preparation: utterances, audio facts, problems, options and result.

Holds the source formats and problem kinds (:data:`FORMATS`, :data:`PROBLEM_KINDS`), the
output columns, :class:`Utterance`, :class:`AudioInfo`, :class:`Problem`,
:class:`PreparationError`, :class:`PrepareOptions` and :class:`PrepareResult`, shared by the
other modules of :mod:`custom_modules.data.preparation`.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, NamedTuple, Optional, Sequence, Set, Tuple

from custom_modules.data.dataio import DataError
from custom_modules.scoring.trials import Trial

FORMATS = ("csv", "folder", "kaldi", "voxceleb")
AUDIO_EXTENSIONS = (".wav", ".flac")
CSV_COLUMNS = ("ID", "duration", "wav", "start", "stop", "spk_id")
SPLIT_NAMES = {
    "train": "train",
    "valid": "valid",
    "validation": "valid",
    "dev": "valid",
    "test": "test",
    "eval": "test",
}

#: kind -> (heading, droppable). Droppable problems concern one utterance (or trial) and are
#: left out with ``drop_bad``; the others concern the dataset and always stop preparation.
PROBLEM_KINDS: Dict[str, Tuple[str, bool]] = {
    "whitespace": ("ID or speaker name with whitespace (trial lists are whitespace-separated; rename them)", False),
    "duplicate_id": ("duplicate utterance ID", False),
    "source": ("unusable source entry", True),
    "missing": ("missing file", True),
    "unreadable": ("unreadable or corrupt audio", True),
    "empty": ("empty audio", True),
    "silent": ("all-silent audio", True),
    "nonfinite": ("NaN/Inf samples", True),
    "segment": ("start/stop outside the file", True),
    "sample_rate": ("sample rate (pass --resample to write converted copies)", True),
    "channels": ("multi-channel audio (pass --downmix to write mono copies)", True),
    "duplicate_audio": ("same audio under two speakers (every copy is affected)", True),
    "split_value": ("unknown split value (use train, valid or test)", True),
    "trials": ("trial list entry not in the prepared test set", True),
    "split": ("inconsistent splits", False),
    "speakers": ("too few speakers", False),
}


class Utterance(NamedTuple):
    """One utterance of the source: where its audio is and who speaks.

    ``origin`` (e.g. ``data.csv line 5``) says where it was listed, for messages.
    """

    id: str
    spk_id: str
    path: str
    start: Optional[int] = None
    stop: Optional[int] = None
    split: Optional[str] = None
    origin: str = ""


class AudioInfo(NamedTuple):
    """What :func:`inspect_audio` found in a readable, non-empty, non-silent segment."""

    sample_rate: int
    channels: int
    start: int
    stop: int
    peak: float
    sha1: str
    subtype: str

    @property
    def samples(self) -> int:
        return self.stop - self.start

    @property
    def seconds(self) -> float:
        return self.samples / self.sample_rate


class Problem(NamedTuple):
    """One problem: its kind (a key of :data:`PROBLEM_KINDS`), the file and the reason."""

    kind: str
    file: str
    reason: str

    @property
    def droppable(self) -> bool:
        return PROBLEM_KINDS[self.kind][1]


class PreparationError(DataError):
    """The input has problems that stop the preparation; ``problems`` lists them all."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()):
        super().__init__(message)
        self.problems = list(problems)


@dataclass
class PrepareOptions:
    """Settings of :func:`prepare` (the command-line options of ``recipes/prepare.py``)."""

    source: str
    output: str
    format: Optional[str] = None
    speaker_column: Optional[str] = None
    path_column: Optional[str] = None
    id_column: Optional[str] = None
    split_column: str = "split"
    trials: Optional[str] = None
    keep_splits: bool = False
    valid_fraction: float = 0.1
    test_speakers: Optional[int] = None
    test_fraction: Optional[float] = None
    trials_count: int = 6000
    all_pairs: bool = False
    seed: int = 1986
    sample_rate: int = 16000
    resample: bool = False
    downmix: bool = False
    min_seconds: float = 1.0
    drop_short: bool = False
    drop_bad: bool = False
    silence_peak: float = 1e-4
    copy_audio: bool = False
    overwrite: bool = False
    jobs: int = 1


@dataclass
class PrepareResult:
    """What :func:`prepare` wrote: the rows of each CSV, the trials, problems and notes."""

    output: str
    format: str
    train: List[Dict[str, str]]
    valid: List[Dict[str, str]]
    test: List[Dict[str, str]]
    trials: List[Trial]
    dropped: List[Problem] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)


class Findings:
    """What the checks of a preparation found so far: every problem (in the order found),
    the notes for the report, and the IDs of utterances with a droppable problem."""

    def __init__(self, problems: List[Problem], notes: List[str]):
        self.problems = problems
        self.notes = notes
        self.bad_ids: Set[str] = set()

    def flag(self, utt: Utterance, kind: str, reason: str, file: Optional[str] = None) -> None:
        """Record a problem of ``utt`` (its origin appended unless ``file`` names another file)."""
        where = f" ({utt.origin})" if utt.origin and file is None else ""
        self.problems.append(Problem(kind, file or utt.path, reason + where))
        if PROBLEM_KINDS[kind][1]:
            self.bad_ids.add(utt.id)
