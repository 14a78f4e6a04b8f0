"""Speaker embeddings from an exported ONNX model with onnxruntime, NumPy and soundfile only.

No torch: a machine that runs :class:`OnnxEmbedder` needs ``onnxruntime``, ``numpy`` and
``soundfile`` (and this package's torch-free modules). Segments are embedded as
:func:`custom_modules.models.embedding.embed_utterances` does: an utterance of at most
``max_seconds`` whole, a longer one as the mean embedding of half-overlapping windows, in
length-sorted padded batches of at most ``batch_size`` pieces and ``batch_seconds`` of
padded audio.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from custom_modules.data.audio import batch_plan, read_samples

__all__ = ["OnnxModelError", "is_onnx_model", "pad_batch", "OnnxEmbedder", "load_model", "model_errors", "model_card"]

METADATA_KEY = "res2net_sv_model_card"  # as custom_modules.export.onnx_export writes it
Segment = Tuple[str, Optional[int], Optional[int]]


class OnnxModelError(ValueError):
    """A file that is not an ONNX speaker model exported by this project."""


def is_onnx_model(path: str) -> bool:
    """Whether ``--model`` names an ONNX file (by its extension).

    Example
    -------
    >>> is_onnx_model("models/res2net.onnx"), is_onnx_model("models/res2net")
    (True, False)
    """
    return path.lower().endswith(".onnx")


def pad_batch(signals: Sequence[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """Zero-pad 1-D signals to a (B, T) float32 batch with SpeechBrain relative lengths.

    Example
    -------
    >>> wavs, lens = pad_batch([np.ones(4), np.ones(2)])
    >>> wavs.tolist(), lens.tolist()
    ([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 0.0, 0.0]], [1.0, 0.5])
    """
    longest = max(s.shape[0] for s in signals)
    wavs = np.zeros((len(signals), longest), dtype=np.float32)
    for row, signal in enumerate(signals):
        wavs[row, : signal.shape[0]] = signal
    return wavs, np.array([s.shape[0] / longest for s in signals], dtype=np.float32)


class OnnxEmbedder:
    """An exported ONNX speaker model (:func:`custom_modules.export.onnx_export.export_onnx`).

    Arguments
    ---------
    path : str
        The ``.onnx`` file.
    threads : int, optional
        onnxruntime intra-op threads (default: onnxruntime's choice).

    Attributes: ``sample_rate``, ``embedding_dim``, ``opset`` and ``card`` (the model card:
    source experiment, checkpoint, stored thresholds and calibration) from the metadata.

    Example
    -------
    >>> import tempfile, torch
    >>> from custom_modules.models.embedding import EmbeddingExtractor
    >>> from custom_modules.models.features import SpeakerFeatures
    >>> from custom_modules.export.onnx_export import export_onnx
    >>> from custom_modules.models.res2net import Res2Net50
    >>> from speechbrain.processing.features import InputNormalization
    >>> extractor = EmbeddingExtractor(SpeakerFeatures("fbank", 40),
    ...     InputNormalization(norm_type="sentence", std_norm=False),
    ...     Res2Net50(input_size=40, m_channels=4, embedding_dim=16))
    >>> path = export_onnx(extractor, os.path.join(tempfile.mkdtemp(), "m.onnx"))
    >>> model = OnnxEmbedder(path, threads=1)
    >>> model(np.zeros((3, 8000), np.float32), np.array([1.0, 0.5, 0.25], np.float32)).shape
    (3, 16)
    """

    def __init__(self, path: str, threads: Optional[int] = None) -> None:
        import onnxruntime as ort

        if not os.path.isfile(path):
            raise OnnxModelError(f"{path}: ONNX model not found; export one with recipes/export.py --format onnx")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        except Exception as error:
            raise OnnxModelError(f"{path}: not a readable ONNX model ({error})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in meta:
            raise OnnxModelError(
                f"{path}: an ONNX file without this project's metadata; export the model with "
                f"recipes/export.py --format onnx"
            )
        self.path = path
        self.card: Dict[str, Any] = json.loads(meta[METADATA_KEY])
        self.sample_rate = int(meta.get("sample_rate", 16000))
        self.embedding_dim = int(meta["embedding_dim"])
        self.opset = int(meta["opset"])

    def __call__(self, wavs: np.ndarray, wav_lens: np.ndarray) -> np.ndarray:
        """(B, T) float32 waveforms and (B,) relative lengths -> (B, D) float32 embeddings."""
        feeds = {"wavs": np.ascontiguousarray(wavs, np.float32), "wav_lens": np.asarray(wav_lens, np.float32)}
        return self.session.run(["embeddings"], feeds)[0]

    def embed(
        self,
        segments: Sequence[Segment],
        batch_size: int = 16,
        max_seconds: Optional[float] = 30.0,
        batch_seconds: Optional[float] = 120.0,
        progress: bool = False,
    ) -> np.ndarray:
        """Embed audio segments ``(path, start, stop)``: (N, D) float32 in input order,
        batched and windowed as :func:`custom_modules.models.embedding.embed_utterances`."""
        batches = batch_plan(segments, self.sample_rate, batch_size, max_seconds, batch_seconds, progress)
        sums = np.zeros((len(segments), self.embedding_dim), np.float64)
        counts = np.zeros(len(segments), np.int64)
        for chosen in batches:
            signals = [read_samples(path, a, b, sample_rate=self.sample_rate) for _, path, a, b, _ in chosen]
            emb = self(*pad_batch(signals))
            for row, (index, *_rest) in enumerate(chosen):
                sums[index] += emb[row]
                counts[index] += 1
        return (sums / counts[:, None]).astype(np.float32)


def load_model(path: str, device: str = "cpu", trust_model_code: bool = False):
    """What a recipe's ``--model`` names: an :class:`OnnxEmbedder` for a ``.onnx`` file (torch
    never imported), else :func:`custom_modules.experiment.load_experiment` (a training output,
    exported or SpeechBrain model folder)."""
    if is_onnx_model(path):
        return OnnxEmbedder(path)
    from custom_modules.experiment import load_experiment

    return load_experiment(path, device=device, trust_model_code=trust_model_code)


def model_errors(path: str) -> tuple:
    """The exception types that are the user's mistake (a one-line error) for the model at
    ``path``; torch's module is imported only for a torch model.

    Example
    -------
    >>> [e.__name__ for e in model_errors("m.onnx")]
    ['DataError', 'OnnxModelError']
    """
    from custom_modules.data.dataio import DataError

    if is_onnx_model(path):
        return (DataError, OnnxModelError)
    from custom_modules.experiment import ExperimentError

    return (DataError, OnnxModelError, ExperimentError)


def model_card(model, path: str) -> Dict[str, Any]:
    """The stored card (thresholds, calibration) of a loaded model: an ONNX file's metadata,
    or an exported folder's model_card.json (empty when there is none)."""
    if isinstance(model, OnnxEmbedder):
        return model.card
    from custom_modules.export.speechbrain_folder import read_model_card

    return read_model_card(path)
