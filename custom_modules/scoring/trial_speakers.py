"""The speakers of the two sides of every trial, for the speaker-level bootstrap.

The speaker of a trial side is ``speaker_map[id]`` when a mapping is given, else the part of
the utterance ID before the first ``/`` (``id10270/x6uYqmx31kE/00001`` -> ``id10270``, the
``<speaker>/<utt>`` IDs of this project); an ID without ``/`` is its own speaker, so plain
speaker labels work too (see :mod:`custom_modules.scoring.bootstrap`).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

from typing import Dict, Hashable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

__all__ = ["speaker_of"]


def speaker_of(utterance_id: Hashable, speaker_map: Optional[Mapping[Hashable, Hashable]] = None) -> Hashable:
    """Speaker of one trial side: ``speaker_map[utterance_id]``, else the ID up to the first ``/``.

    Arguments
    ---------
    utterance_id : str or hashable
        An utterance ID ``<speaker>/<utt>`` or a speaker label. Non-string labels (e.g.
        integers) are their own speaker.
    speaker_map : mapping or None
        Explicit utterance-to-speaker mapping; every ID must be in it.

    Returns
    -------
    str or hashable
        The speaker.

    Raises
    ------
    ValueError
        If ``speaker_map`` is given and lacks the ID.

    Example
    -------
    >>> speaker_of("id10270/x6uYqmx31kE/00001")
    'id10270'
    >>> speaker_of("spk3"), speaker_of(7)
    ('spk3', 7)
    >>> speaker_of("u1", {"u1": "alice"})
    'alice'
    """
    if speaker_map is not None:
        try:
            return speaker_map[utterance_id]
        except KeyError:
            raise ValueError(f"utterance {utterance_id!r} is not in speaker_map") from None
    if isinstance(utterance_id, str):
        return utterance_id.split("/", 1)[0]
    return utterance_id


def _speaker_indices(
    enrol: Sequence[Hashable],
    test: Sequence[Hashable],
    n: int,
    speaker_map: Optional[Mapping[Hashable, Hashable]],
) -> Tuple[np.ndarray, np.ndarray, List[Hashable]]:
    """Speaker index (into the sorted speaker list) of both sides of every trial."""
    if (
        speaker_map is None
        and isinstance(enrol, np.ndarray)
        and isinstance(test, np.ndarray)
        and enrol.dtype.kind in "biu"
        and test.dtype.kind in "biu"
        and enrol.shape == test.shape == (n,)
    ):
        # Integer speaker labels: no string handling needed.
        labels, inverse = np.unique(np.concatenate([enrol, test]), return_inverse=True)
        inverse = inverse.ravel().astype(np.intp)
        return inverse[:n], inverse[n:], labels.tolist()
    sides = []
    for name, ids in (("enrol_speakers", enrol), ("test_speakers", test)):
        if isinstance(ids, np.ndarray):
            if ids.ndim != 1:
                raise ValueError(f"{name} must be 1-D, got shape {ids.shape}")
            ids = ids.tolist()
        elif isinstance(ids, (str, bytes)) or not hasattr(ids, "__len__"):
            raise ValueError(f"{name} must be a sequence of utterance IDs or speaker labels")
        if len(ids) != n:
            raise ValueError(f"{name} has {len(ids)} entries for {n} scores: give one per trial")
        sides.append(ids)
    codes: Dict[Hashable, int] = {}  # utterance ID -> speaker code
    speakers: Dict[Hashable, int] = {}  # speaker -> code (first appearance)
    missing: List[Hashable] = []
    out = []
    for ids in sides:
        side = []
        for x in ids:
            c = codes.get(x)
            if c is None:
                if speaker_map is not None and x not in speaker_map:
                    missing.append(x)
                    c = -1
                else:
                    c = speakers.setdefault(speaker_of(x, speaker_map), len(speakers))
                codes[x] = c
            side.append(c)
        out.append(side)
    if missing:
        raise ValueError(f"{len(missing)} utterance ID(s) are not in speaker_map, e.g. {missing[:5]}")
    # Number the speakers in sorted order, so the draws do not depend on the trial order.
    names = list(speakers)
    try:
        rank = sorted(range(len(names)), key=lambda i: names[i])
    except TypeError:  # labels of mixed types
        rank = sorted(range(len(names)), key=lambda i: (type(names[i]).__name__, str(names[i])))
    remap = np.empty(len(names), dtype=np.intp)
    remap[rank] = np.arange(len(names))
    e = remap[np.asarray(out[0], dtype=np.intp)]
    t = remap[np.asarray(out[1], dtype=np.intp)]
    return e, t, [names[i] for i in rank]
