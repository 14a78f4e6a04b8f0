"""A trained extractor (waveform -> fbank -> normalisation -> encoder) as one ONNX graph.

The graph has inputs ``wavs`` (batch, samples) float32 and ``wav_lens`` (batch,) float32,
relative lengths as SpeechBrain pads batches, and output ``embeddings`` (batch, dim)
float32; batch and samples are dynamic axes. It is exported with torch's dynamo exporter
(``torch.onnx.export(..., dynamo=True)``, opset :data:`OPSET`), which keeps SpeechBrain's STFT
and filterbank as they are. Two things are made traceable while exporting, with the same
values: the Res2Net encoder builds its masks for every batch (``always_mask``, instead of a
branch on the data that the graph would freeze), and SpeechBrain's ``length_to_mask`` in
ECAPA-TDNN is replaced by a broadcast comparison (its ``len(length)`` would fix the batch
size). SpeechBrain's STFT runs in float64 inside the graph (onnxruntime's float32 STFT is less
exact than torch's FFT, and the log filterbank amplified that in low-energy bins: 2.6e-4
relative on some dev utterances' embeddings, 2e-6 in float64). The file's metadata names the opset, sample rate, embedding size and the model card
(where it came from, thresholds, calibration); :mod:`custom_modules.export.onnx_runtime` runs it
with onnxruntime alone.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any, Dict, Iterator, Optional

import torch
import torch.nn as nn

from custom_modules.outputs.atomic import atomic_path

__all__ = ["OPSET", "METADATA_KEY", "GraphExtractor", "exportable", "export_onnx"]

OPSET = 18
METADATA_KEY = "res2net_sv_model_card"  # JSON model card; marks a file written by export_onnx


class GraphExtractor(nn.Module):
    """An extractor's (batch, 1, dim) embeddings as (batch, dim), the graph's output.

    Example
    -------
    >>> from custom_modules.models.embedding import EmbeddingExtractor
    >>> from custom_modules.models.features import SpeakerFeatures
    >>> from custom_modules.models.res2net import Res2Net50
    >>> from speechbrain.processing.features import InputNormalization
    >>> extractor = EmbeddingExtractor(SpeakerFeatures("fbank", 40),
    ...     InputNormalization(norm_type="sentence", std_norm=False),
    ...     Res2Net50(input_size=40, m_channels=4, embedding_dim=16))
    >>> GraphExtractor(extractor).eval()(torch.randn(2, 8000), torch.tensor([1.0, 0.5])).shape
    torch.Size([2, 16])
    """

    def __init__(self, extractor: nn.Module) -> None:
        super().__init__()
        self.extractor = extractor

    def forward(self, wavs: torch.Tensor, wav_lens: torch.Tensor) -> torch.Tensor:
        return self.extractor(wavs, wav_lens).flatten(1)


def _length_to_mask(
    length: torch.Tensor,
    max_len: Optional[int] = None,
    dtype: Optional[torch.dtype] = None,
    device: Optional[torch.device] = None,
) -> torch.Tensor:
    """SpeechBrain's ``length_to_mask`` with the same values, without ``len(length)``
    (which an exporter reads as a constant batch size)."""
    if max_len is None:
        max_len = int(length.max().long().item())
    steps = torch.arange(max_len, device=length.device, dtype=length.dtype)
    mask = steps[None, :] < length[:, None]
    return mask.to(dtype=dtype or length.dtype, device=device or length.device)


def _float64_stft(original):
    """SpeechBrain's STFT computed in float64 and returned in the input's dtype. onnxruntime's
    float32 STFT is less exact than torch's FFT: the log filterbank of low-energy bins then
    differed by up to 0.15 (relative 4e-4 over an utterance's features); in float64 the graph
    matches torch's float32 features to their own rounding."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        window = self.window
        try:
            self.window = window.double()
            return original(self, x.double()).to(x.dtype)
        finally:
            self.window = window

    return forward


@contextlib.contextmanager
def exportable(module: nn.Module) -> Iterator[nn.Module]:
    """``module`` in evaluation mode with its encoders made traceable (module docstring),
    restored on exit.

    Example
    -------
    >>> from custom_modules.models.res2net import Res2Net50
    >>> encoder = Res2Net50(input_size=40, m_channels=4, embedding_dim=16)
    >>> with exportable(encoder):
    ...     encoder.always_mask
    True
    >>> encoder.always_mask
    False
    """
    import speechbrain.lobes.models.ECAPA_TDNN as ecapa
    from speechbrain.processing.features import STFT

    switched = [m for m in module.modules() if hasattr(m, "always_mask")]
    before = [(m, m.always_mask) for m in switched]
    modes = [(m, m.training) for m in module.modules()]
    original, original_stft = ecapa.length_to_mask, STFT.forward
    try:
        module.eval()
        STFT.forward = _float64_stft(original_stft)
        for m in switched:
            m.always_mask = True
        ecapa.length_to_mask = _length_to_mask
        yield module
    finally:
        ecapa.length_to_mask, STFT.forward = original, original_stft
        for m, value in before:
            m.always_mask = value
        for m, training in modes:
            m.training = training


def _add_metadata(path: str, metadata: Dict[str, str]) -> None:
    """Store ``metadata`` as the ONNX model's metadata_props (rewrites ``path``)."""
    import onnx

    model = onnx.load(path)
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, path)


def export_onnx(
    extractor: nn.Module,
    path: str,
    sample_rate: int = 16000,
    card: Optional[Dict[str, Any]] = None,
    example_seconds: float = 1.0,
) -> str:
    """Export ``extractor`` (``(wavs, wav_lens) -> (batch, 1, dim)``) to the ONNX file ``path``.

    The file is written under a temporary name and renamed into place. ``card`` (JSON data:
    source, checkpoint, thresholds, calibration) is stored in the metadata with the opset,
    sample rate and embedding size. Returns ``path``.
    """
    graph = GraphExtractor(extractor)
    example = (torch.randn(2, int(example_seconds * sample_rate)), torch.tensor([1.0, 0.75]))
    batch, samples = torch.export.Dim("batch"), torch.export.Dim("samples", min=160)
    with exportable(graph), torch.no_grad():
        dim = int(graph(*example).shape[1])
        program = torch.onnx.export(
            graph,
            example,
            input_names=["wavs", "wav_lens"],
            output_names=["embeddings"],
            opset_version=OPSET,
            dynamo=True,
            dynamic_shapes={"wavs": {0: batch, 1: samples}, "wav_lens": {0: batch}},
            verbose=False,
        )
    metadata = {
        "opset": str(OPSET),
        "sample_rate": str(sample_rate),
        "embedding_dim": str(dim),
        "inputs": "wavs: (batch, samples) float32 waveforms; wav_lens: (batch,) float32 relative lengths in (0, 1]",
        "outputs": "embeddings: (batch, embedding_dim) float32",
        METADATA_KEY: json.dumps(card or {}),
    }
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_path(path) as tmp:
        program.save(tmp)
        _add_metadata(tmp, metadata)
    return path
