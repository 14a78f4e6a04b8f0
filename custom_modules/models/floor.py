"""A verification system that learns nothing: cepstral mean + std per utterance.

Every comparison should show how far learning moved past this floor. The "embedding" of
an utterance is the mean and standard deviation over its valid frames of static MFCCs
(log-Mel cepstra), standardised per dimension with the global mean and standard deviation
of training utterances; trials are scored by cosine like every other system. On the dev
trials (6000 trials, 6 unseen speakers): 20 MFCCs over 40 Mel bins give 21.7% EER with
this standardisation and 36.8% with the global mean removed alone (the std statistics and
c0 then dominate the cosine); 40 MFCCs over 80 bins give 18.0%. A model that does worse has
learned less about voices than simple channel and spectral statistics already carry.

``CepstralStatistics`` has the interface of an embedding model (``(batch, time, features)``
plus relative lengths in, ``(batch, 1, 2 * features)`` out), so :func:`build_floor_folder`
(``recipes/floor.py``, and evaluation's floor row) writes it in SpeechBrain's
pretrained-model layout and every recipe treats it as one more system.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import os
from typing import Optional

import torch
import torch.nn as nn

from custom_modules.models.res2net import StatisticsPooling, relative_to_frames
from custom_modules.outputs.atomic import atomic_path, write_text

__all__ = ["CepstralStatistics", "NoNormalization", "build_floor_folder"]

FLOOR_HPARAMS = """# No-learning floor system (custom_modules.models.floor.build_floor_folder): static MFCC mean + std
# per utterance, standardised with the global mean and std of {n} training utterances of {csv}.
sample_rate: {rate}
compute_features: !new:custom_modules.models.features.SpeakerFeatures
    kind: mfcc
    n_features: {n_mfcc}
    n_mels: {n_mels}
    sample_rate: {rate}
mean_var_norm: !new:custom_modules.models.floor.NoNormalization
embedding_model: !new:custom_modules.models.floor.CepstralStatistics
    input_size: {n_mfcc}
modules:
    compute_features: !ref <compute_features>
    embedding_model: !ref <embedding_model>
pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        embedding_model: !ref <embedding_model>
"""


class CepstralStatistics(nn.Module):
    """Mean and standard deviation of the features over valid frames, standardised with
    global statistics of training utterances.

    Arguments
    ---------
    input_size : int
        Features per frame.

    Example
    -------
    >>> floor = CepstralStatistics(3)
    >>> x = torch.tensor([[[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [9.0, 9.0, 9.0]]])
    >>> floor(x, torch.tensor([2 / 3])).tolist()
    [[[2.0, 2.0, 2.0, 1.0, 0.0, 1.0]]]
    """

    def __init__(self, input_size: int = 20) -> None:
        super().__init__()
        self.input_size = int(input_size)
        self.pooling = StatisticsPooling(eps=0.0)
        self.register_buffer("global_mean", torch.zeros(2 * self.input_size))
        self.register_buffer("global_std", torch.ones(2 * self.input_size))

    def statistics(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 2 * features) mean and std over the valid frames, before mean removal."""
        frames = relative_to_frames(lengths, x.shape[1], x.shape[0]).to(x.device)
        return self.pooling(x.transpose(1, 2), frames)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return ((self.statistics(x, lengths) - self.global_mean) / self.global_std).unsqueeze(1)

    @torch.no_grad()
    def fit_global_statistics(self, statistics: torch.Tensor) -> None:
        """Set the global mean and std from (N, 2 * features) statistics of training utterances."""
        self.global_mean.copy_(statistics.mean(dim=0))
        self.global_std.copy_(statistics.std(dim=0).clamp(min=1e-8))


class NoNormalization(nn.Module):
    """Stands where a feature normalisation would (``(features, lengths) -> features``)."""

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return x


def build_floor_folder(
    data_folder: str,
    output: str,
    train_annotation: Optional[str] = None,
    n_mfcc: int = 20,
    n_mels: Optional[int] = None,
    sample_rate: int = 16000,
) -> int:
    """Fit the floor on a training CSV and write it as a model folder; returns the number of
    training utterances its global statistics come from.

    Arguments
    ---------
    data_folder : str
        Folder the CSV's relative audio paths start from.
    output : str
        Model folder to write (``hyperparams.yaml`` and ``embedding_model.ckpt``).
    train_annotation : str, optional
        Speaker CSV of training utterances (default ``<data_folder>/train.csv``); never the
        test set.
    n_mfcc, n_mels, sample_rate : int
        20 MFCCs over ``2 * n_mfcc`` Mel bins at 16 kHz by default.

    Raises
    ------
    custom_modules.data.dataio.DataError
        When the CSV or its audio cannot be read (the message names the file).
    """
    from custom_modules.data.dataio import load_audio, read_speaker_csv, row_segments
    from custom_modules.models.embedding import pad_batch
    from custom_modules.models.features import SpeakerFeatures

    csv = train_annotation or os.path.join(data_folder, "train.csv")
    rows = read_speaker_csv(csv)
    n_mels = n_mels or 2 * n_mfcc
    features = SpeakerFeatures("mfcc", n_mfcc, sample_rate, n_mels=n_mels)
    floor = CepstralStatistics(n_mfcc)
    stats = []
    with torch.no_grad():
        for start in range(0, len(rows), 64):
            segments = row_segments(rows[start : start + 64], data_folder)
            wavs, lens = pad_batch([load_audio(*segment, sample_rate=sample_rate) for segment in segments])
            stats.append(floor.statistics(features(wavs), lens))
    floor.fit_global_statistics(torch.cat(stats))
    os.makedirs(output, exist_ok=True)
    with atomic_path(os.path.join(output, "embedding_model.ckpt")) as path:  # no half-written file on a kill
        torch.save(floor.state_dict(), path)
    write_text(
        os.path.join(output, "hyperparams.yaml"),
        FLOOR_HPARAMS.format(n=len(rows), csv=os.path.abspath(csv), rate=sample_rate, n_mfcc=n_mfcc, n_mels=n_mels),
    )
    return len(rows)
