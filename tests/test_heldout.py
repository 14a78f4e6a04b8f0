"""Held-out-speaker validation: speaker hold-out, all-pairs EER, class counts."""

import itertools

import numpy as np
import pytest

from custom_modules.data.dataio import DataError, count_speakers, hold_out_speakers
from custom_modules.scoring.heldout import pairwise_eer
from custom_modules.scoring.metrics import equal_error_rate


def rows(speakers="abcdefgh", per=4):
    return [{"ID": f"{s}/{i}", "wav": f"{s}/{i}.wav", "spk_id": s} for s in speakers for i in range(per)]


def test_hold_out_is_whole_speakers_reproducible_and_seed_dependent():
    train, held = hold_out_speakers(rows(), 3, seed=7)
    held_speakers = {r["spk_id"] for r in held}
    assert len(held_speakers) == 3 and len(held) == 12 and len(train) == 20
    assert held_speakers.isdisjoint({r["spk_id"] for r in train})
    shuffled = list(reversed(rows()))
    assert {r["spk_id"] for r in hold_out_speakers(shuffled, 3, seed=7)[1]} == held_speakers  # row order irrelevant
    choices = {frozenset(r["spk_id"] for r in hold_out_speakers(rows(), 3, seed=s)[1]) for s in range(10)}
    assert len(choices) > 1


def test_hold_out_zero_is_off_and_bad_counts_name_the_range():
    train, held = hold_out_speakers(rows(), 0, seed=1)
    assert len(train) == 32 and held == []
    for bad in (1, 7, 9):
        with pytest.raises(
            DataError, match=rf"valid_speakers={bad} with 8 training speakers: hold out 0 \(off\) or 2..6"
        ):
            hold_out_speakers(rows(), bad, seed=1)


def test_count_speakers_subtracts_held_out_and_multiplies_speed_classes(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("ID,wav,spk_id\n" + "".join(f"{r['ID']},{r['wav']},{r['spk_id']}\n" for r in rows()))
    assert count_speakers(str(path)) == 8
    assert count_speakers(str(path), 2) == 6
    assert count_speakers(str(path), 2, 3) == 18
    with pytest.raises(DataError, match="leaves 1 of its 8 speakers"):
        count_speakers(str(path), 7)


def test_pairwise_eer_equals_eer_of_explicitly_enumerated_pairs():
    rng = np.random.default_rng(0)
    speakers = [s for s in "abcd" for _ in range(5)]
    centres = {s: rng.normal(size=8) for s in "abcd"}
    emb = np.stack([centres[s] + 1.5 * rng.normal(size=8) for s in speakers])
    target, nontarget = [], []
    for i, j in itertools.combinations(range(len(speakers)), 2):
        score = emb[i] @ emb[j] / np.linalg.norm(emb[i]) / np.linalg.norm(emb[j])
        (target if speakers[i] == speakers[j] else nontarget).append(score)
    result = pairwise_eer(emb, speakers)
    assert result.target_trials == 4 * 10 and result.nontarget_trials == 190 - 40
    assert result.eer == pytest.approx(equal_error_rate(target, nontarget).eer, abs=1e-12)
    assert 0.0 < result.eer < 0.5


def test_pairwise_eer_needs_two_speakers_and_a_same_speaker_pair():
    with pytest.raises(ValueError, match="at least 2 held-out speakers"):
        pairwise_eer(np.ones((3, 2)), ["a", "a", "a"])
    with pytest.raises(ValueError, match="2 or more utterances"):
        pairwise_eer(np.eye(2), ["a", "b"])
