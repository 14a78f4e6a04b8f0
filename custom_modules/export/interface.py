"""SpeechBrain's ``SpeakerRecognition`` deciding with the thresholds an export measured.

``SpeakerRecognition.verify_files`` / ``verify_batch`` decide "same speaker" when the cosine
score exceeds a fixed 0.25, whatever the model: for the small-data models of this project a
non-target pair at 0.66 came out "same speaker". A folder written by ``recipes/export.py
--eval_results <results.json> [--calibration <calibration.json>]`` stores, as plain data in
its ``hyperparams.yaml`` (key ``verification``), the thresholds on raw cosine scores measured
on a named trial list (EER and minDCF operating points) and the linear calibration
score -> log-likelihood ratio. Loaded through :class:`CalibratedSpeakerRecognition`,
``verify_files`` and ``verify_batch`` return the calibrated LLR (the cosine when no
calibration was stored) and the decision at the stored threshold of ``operating_point``:

    from custom_modules.export.interface import CalibratedSpeakerRecognition
    model = CalibratedSpeakerRecognition.from_hparams(source="models/res2net_am_demo", savedir="/tmp/m")
    llr, same = model.verify_files("a.wav", "b.wav")
    model.operating_point, model.decision_source()   # which threshold, measured on which trials

Authors: the res2net-sv developers.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch
from speechbrain.inference.speaker import SpeakerRecognition

__all__ = ["CalibratedSpeakerRecognition"]


class CalibratedSpeakerRecognition(SpeakerRecognition):
    """``SpeakerRecognition`` whose decisions use the export's stored threshold and whose
    scores are calibrated log-likelihood ratios when the export stored a calibration."""

    operating_point = "min_dcf_0.01"  # or "eer", "min_dcf_0.05": a key of the stored thresholds

    def _verification(self) -> Dict[str, Any]:
        stored = getattr(self.hparams, "verification", None)
        if not stored or not stored.get("thresholds"):
            raise ValueError(
                "this model folder stores no decision thresholds: export it with recipes/export.py "
                "--eval_results <eval results.json> (SpeechBrain's own SpeakerRecognition decides at "
                "a fixed cosine of 0.25)"
            )
        return stored

    def decision_source(self) -> str:
        """Which threshold decides, and the trial list it was measured on."""
        chosen = self._threshold()
        return (
            f"{self.operating_point} threshold {chosen['threshold']:.4f} on raw cosine scores, measured on "
            f"{chosen.get('trials', 'an unnamed trial list')}"
        )

    def _threshold(self) -> Dict[str, Any]:
        thresholds = self._verification()["thresholds"]
        if self.operating_point not in thresholds:
            raise ValueError(
                f"operating point {self.operating_point!r} is not stored with this model; it has {sorted(thresholds)}"
            )
        return thresholds[self.operating_point]

    def verify_batch(
        self,
        wavs1: torch.Tensor,
        wavs2: torch.Tensor,
        wav1_lens: Optional[torch.Tensor] = None,
        wav2_lens: Optional[torch.Tensor] = None,
        threshold: Optional[float] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """(score, decision): the calibrated LLR (or the cosine without a stored calibration)
        and ``cosine >= threshold`` at the stored threshold (``threshold`` overrides it)."""
        emb1 = self.encode_batch(wavs1, wav1_lens, normalize=False)
        emb2 = self.encode_batch(wavs2, wav2_lens, normalize=False)
        cosine = self.similarity(emb1, emb2)
        limit = float(self._threshold()["threshold"]) if threshold is None else float(threshold)
        calibration = self._verification().get("calibration")
        score = cosine if not calibration else calibration["a"] * cosine + calibration["b"]
        return score, cosine >= limit
