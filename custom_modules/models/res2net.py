"""Res2Net speaker encoder (2-D, bottleneck) with padding-invariant, length-aware pooling.

Res2Net (Gao et al., 2019, "Res2Net: A New Multi-scale Backbone Architecture") splits the
3x3 stage of a ResNet bottleneck into ``scale`` groups of ``width`` channels, chained
hierarchically (``y_i = K_i(x_i + y_{i-1})``), which widens the receptive field inside a
block. Res2Net-50 is the 26w x 4s variant with bottleneck blocks [3, 4, 6, 3] and
expansion 4. As in the original, the first block of each stage ("stage" block) does not
chain its splits and average-pools its last split (so it matches the stride).

Speaker-embedding layout as in WeSpeaker's ResNet/Res2Net: the input (batch, time,
features) is read as a one-channel image (features x time); a 3x3 stem conv with
``m_channels`` channels; stages of ``m_channels * (1, 2, 4, 8)`` planes with strides
(1, 2, 2, 2) on both axes; statistics pooling over time; a linear embedding layer.

Padding invariance: a time mask built from the SpeechBrain relative ``lengths`` (and
re-derived after each stride-2 layer, whose output length is ``ceil(L / 2)``) zeroes the
padded frames wherever a 3x3 conv or the pool reads them, as the zero padding of an
utterance processed alone would be, so the embedding of a short utterance in a padded
batch equals its embedding alone (in eval mode; batch-norm statistics in training mode do
see the batch). In training every layer's output is masked (the batch statistics then
count padded frames as zeros); in evaluation only the inputs of the frame-mixing layers
are, since 1x1 convs, batch norm and ReLU map each frame to itself. A batch without padding
(the training crops) has nothing to mask, and skips every mask.

Speed on a CPU (``scripts/benchmark_encoders.py``): channels-last activations, in-place
ReLU and shortcut additions, no masks on unpadded batches, heap-kept activation memory
(:mod:`custom_modules.models.allocator`), dense split pieces with dense gradients and a batch norm
for narrow splits (:mod:`custom_modules.models.channels_last`), and in training batch norm, ReLU
and the shortcut addition in C kernels (:mod:`custom_modules.models.batch_norm_act`; PyTorch's
where no C compiler is found) together make a training step 1.5x (one thread) to 1.7x (two)
and the embedding of padded batches 1.4-1.5x faster than the previous plain-layout,
mask-everything code, with the same outputs up to float rounding (``results/benchmark_encoders.md``).

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn as nn

from custom_modules.models.allocator import retain_freed_memory
from custom_modules.models.batch_norm_act import batch_norm_act
from custom_modules.models.channels_last import NarrowBatchNorm2d, cat_channels

__all__ = [
    "Res2NetBottleneck",
    "StatisticsPooling",
    "AttentiveStatisticsPooling",
    "Res2NetSpeakerEncoder",
    "Res2Net50",
    "relative_to_frames",
]


def relative_to_frames(lengths: torch.Tensor | None, max_frames: int, batch: int) -> torch.Tensor:
    """Convert SpeechBrain relative lengths (fractions of the longest) to frame counts.

    Example
    -------
    >>> relative_to_frames(torch.tensor([1.0, 0.5, 0.01]), 120, 3).tolist()
    [120, 60, 1]
    """
    if lengths is None:
        return torch.full((batch,), max_frames, dtype=torch.long)
    frames = torch.round(lengths.float() * max_frames).long()
    return frames.clamp(min=1, max=max_frames)


def _downsampled(frames: torch.Tensor, stride: int) -> torch.Tensor:
    """Output length of a conv/pool with kernel 1 or 3, padding k//2 and this stride."""
    return torch.div(frames + stride - 1, stride, rounding_mode="floor") if stride > 1 else frames


def _at_least_float32(x: torch.Tensor) -> torch.Tensor:
    """Statistics in float32 under autocast (bf16/fp16 inputs); float64 stays float64."""
    return x if x.dtype == torch.float64 else x.float()


def _masked(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``x * mask``, or ``x`` itself when there is no padding to mask."""
    return x if mask is None else x * mask


def _dense_splits(x: torch.Tensor, width: int) -> list[torch.Tensor]:
    """Split channels into pieces of ``width``; in channels-last memory each piece is copied
    to a dense channels-last tensor (a channel slice of NHWC memory is strided, and the
    convolutions and element-wise kernels that read it are much slower on strided memory)."""
    pieces = torch.split(x, width, dim=1)
    if x.is_contiguous() or not x.is_contiguous(memory_format=torch.channels_last):
        return list(pieces)
    return [p.contiguous(memory_format=torch.channels_last) for p in pieces]


def _time_mask(frames: torch.Tensor, max_frames: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(B, 1, 1, T) mask, 1 on valid frames."""
    steps = torch.arange(max_frames, device=device)
    return (steps[None, :] < frames.to(device)[:, None]).to(dtype)[:, None, None, :]


class Res2NetBottleneck(nn.Module):
    """Res2Net bottleneck block: 1x1 -> hierarchical 3x3 splits -> 1x1, plus shortcut.

    Arguments
    ---------
    in_channels : int
        Input channels.
    planes : int
        Bottleneck planes; the output has ``planes * expansion`` channels.
    stride : int
        Stride on both axes (frequency and time) of the 3x3 convs and the shortcut.
    base_width : int
        Width per split for 64 planes (26 in Res2Net-50 26w x 4s).
    scale : int
        Number of splits (4 in Res2Net-50).
    expansion : int
        Output channels per plane (4 for a bottleneck).
    stage_first : bool
        First block of a stage: splits are not chained, the last split is average-pooled.

    Example
    -------
    >>> block = Res2NetBottleneck(32, 16, stride=2, stage_first=True)
    >>> x, mask = torch.randn(2, 32, 10, 20), torch.ones(2, 1, 1, 10)
    >>> block(x, torch.ones(2, 1, 1, 20), mask).shape
    torch.Size([2, 64, 5, 10])
    """

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        base_width: int = 26,
        scale: int = 4,
        expansion: int = 4,
        stage_first: bool = False,
    ) -> None:
        super().__init__()
        if scale < 2:
            raise ValueError(f"Res2Net scale must be >= 2, got {scale}")
        width = max(1, int(math.floor(planes * base_width / 64.0)))
        self.width, self.scale, self.stride, self.stage_first = width, scale, stride, stage_first
        out_channels = planes * expansion
        self.conv1 = nn.Conv2d(in_channels, width * scale, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width * scale)
        self.convs = nn.ModuleList(
            nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False) for _ in range(scale - 1)
        )
        self.bns = nn.ModuleList(NarrowBatchNorm2d(width) for _ in range(scale - 1))
        self.pool = nn.AvgPool2d(3, stride=stride, padding=1) if stage_first else None
        self.conv3 = nn.Conv2d(width * scale, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor, in_mask: torch.Tensor | None, out_mask: torch.Tensor | None) -> torch.Tensor:
        """x: (B, C, F, T); masks (B, 1, 1, T_in) and (B, 1, 1, T_out), or None for a batch
        without padding (every frame valid: nothing to mask).

        Training: every output is masked, so batch-norm statistics see zeros on padded frames.
        Evaluation: only what a 3x3 conv or the pool reads across frames is masked (the split
        convs' and the pool's inputs): 1x1 convs, batch norm, ReLU and the stride-2 shortcut
        map each frame to itself, so values left on padded frames never reach a valid one.
        The valid frames get the same values either way, in fewer passes.
        """
        train = self.training
        out = batch_norm_act(self.bn1, self.conv1(x), relu=True)
        if train:
            out = _masked(out, in_mask)
        splits = _dense_splits(out, self.width)
        outputs = []
        previous = None
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            piece = splits[i] if self.stage_first or previous is None else previous + splits[i]
            previous = batch_norm_act(bn, conv(piece if train else _masked(piece, in_mask)), relu=True)
            if train:
                previous = _masked(previous, out_mask)
            outputs.append(previous)
        last = splits[-1]
        if self.pool is not None:
            last = _masked(self.pool(last), out_mask) if train else self.pool(_masked(last, in_mask))
        outputs.append(last)
        out = batch_norm_act(self.bn3, self.conv3(cat_channels(outputs)), relu=True, residual=self._shortcut(x))
        return _masked(out, out_mask) if train else out

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        """The block's input, or its projection (1x1 conv + batch norm) to the output's shape."""
        if isinstance(self.shortcut, nn.Identity):
            return x
        conv, bn = self.shortcut
        return batch_norm_act(bn, conv(x))


class StatisticsPooling(nn.Module):
    """Mean and standard deviation over the valid frames only (population std).

    Example
    -------
    >>> x = torch.tensor([[[1.0, 3.0, 0.0]]])
    >>> StatisticsPooling()(x, torch.tensor([2])).tolist()
    [[2.0, 1.0]]
    """

    def __init__(self, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps

    @staticmethod
    def _mask(x: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        steps = torch.arange(x.shape[-1], device=x.device)
        return (steps[None, :] < frames.to(x.device)[:, None]).to(x.dtype).unsqueeze(1)

    def weighted_stats(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Weighted mean and std over the last axis; weights sum to 1 per row."""
        mean = (x * weights).sum(dim=-1)
        var = ((x - mean.unsqueeze(-1)).pow(2) * weights).sum(dim=-1)
        return torch.cat([mean, var.clamp(min=self.eps).sqrt()], dim=1)

    def forward(self, x: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T); frames: (B,) valid frame counts. Returns (B, 2C), float32 (float64 for
        float64 input)."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = _at_least_float32(x)
            mask = self._mask(x, frames)
            return self.weighted_stats(x, mask / mask.sum(dim=-1, keepdim=True))


class AttentiveStatisticsPooling(StatisticsPooling):
    """Channel-dependent attentive statistics pooling (Okabe et al. 2018; ECAPA's variant).

    The attention softmax runs over valid frames only, so padding has no weight.

    Example
    -------
    >>> pool = AttentiveStatisticsPooling(6, attention_channels=4)
    >>> pool(torch.randn(3, 6, 11), torch.tensor([11, 7, 1])).shape
    torch.Size([3, 12])
    """

    def __init__(self, channels: int, attention_channels: int = 128, eps: float = 1e-5) -> None:
        super().__init__(eps)
        self.attention = nn.Sequential(
            nn.Conv1d(channels, attention_channels, 1),
            nn.ReLU(),
            nn.BatchNorm1d(attention_channels),
            nn.Tanh(),
            nn.Conv1d(attention_channels, channels, 1),
        )

    def forward(self, x: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = _at_least_float32(x)
            mask = self._mask(x, frames)
            scores = self.attention(x).to(x.dtype).masked_fill(mask == 0, float("-inf"))
            return self.weighted_stats(x, torch.softmax(scores, dim=-1))


class Res2NetSpeakerEncoder(nn.Module):
    """Res2Net speaker encoder: (batch, time, features) + relative lengths -> (batch, 1, emb).

    Arguments
    ---------
    input_size : int
        Number of input features per frame (80 Fbank bins by default).
    m_channels : int
        Stem channels; stage planes are ``m_channels * (1, 2, 4, 8)``.
        32 by default, 16 for CPU demos, 64 for large runs.
    num_blocks : sequence of int
        Blocks per stage: (3, 4, 6, 3) is Res2Net-50. With ``expansion=1`` the blocks stay
        bottlenecks (1x1, split 3x3, 1x1) with narrower outputs: that is not Res2Net-34, whose
        blocks are basic (two 3x3 convolutions), which this encoder does not build.
    base_width, scale, expansion : int
        Res2Net width per split (for 64 planes), number of splits, bottleneck expansion.
    strides : sequence of int
        Stride of each stage on both axes.
    embedding_dim : int
        Embedding size (512 by default).
    pooling : str
        ``"stats"`` (mean + std over valid frames) or ``"attentive"``.
    channels_last : bool
        Keep conv weights and activations in channels-last (NHWC) memory: on a CPU the
        oneDNN convolutions then skip a layout conversion on every call (about 1.3x
        faster per training step; the values are the same up to float rounding).
    keep_freed_memory : bool
        On Linux/glibc, keep freed activation memory in the process
        (:func:`custom_modules.models.allocator.retain_freed_memory`): without it every training
        step page-faults the first stage's activations (66 MB each at batch 32) in again.

    Example
    -------
    >>> encoder = Res2NetSpeakerEncoder(input_size=40, m_channels=8, embedding_dim=64).eval()
    >>> encoder(torch.randn(3, 50, 40), torch.tensor([1.0, 0.6, 0.3])).shape
    torch.Size([3, 1, 64])
    """

    def __init__(
        self,
        input_size: int = 80,
        m_channels: int = 32,
        num_blocks: Sequence[int] = (3, 4, 6, 3),
        base_width: int = 26,
        scale: int = 4,
        expansion: int = 4,
        strides: Sequence[int] = (1, 2, 2, 2),
        embedding_dim: int = 512,
        pooling: str = "stats",
        attention_channels: int = 128,
        channels_last: bool = True,
        keep_freed_memory: bool = True,
    ) -> None:
        super().__init__()
        if len(num_blocks) != len(strides):
            raise ValueError(f"num_blocks {list(num_blocks)} and strides {list(strides)} differ in length")
        self.input_size, self.embedding_dim = int(input_size), int(embedding_dim)
        self.stem = nn.Sequential(nn.Conv2d(1, m_channels, 3, padding=1, bias=False), nn.BatchNorm2d(m_channels))
        blocks, channels, freq = [], m_channels, input_size
        for stage, (count, stride) in enumerate(zip(num_blocks, strides)):
            planes = m_channels * 2**stage
            for i in range(count):
                blocks.append(
                    Res2NetBottleneck(
                        channels,
                        planes,
                        stride if i == 0 else 1,
                        base_width,
                        scale,
                        expansion,
                        stage_first=(i == 0),
                    )
                )
                channels = planes * expansion
            freq = math.ceil(freq / stride)
        self.blocks = nn.ModuleList(blocks)
        pooled = channels * freq
        if pooling == "stats":
            self.pooling: StatisticsPooling = StatisticsPooling()
        elif pooling == "attentive":
            self.pooling = AttentiveStatisticsPooling(pooled, attention_channels)
        else:
            raise ValueError(f"pooling must be 'stats' or 'attentive', got {pooling!r}")
        self.embedding = nn.Linear(2 * pooled, embedding_dim)
        # True for graph export (custom_modules/export/onnx_export.py): masks are built for every batch
        # instead of skipped when no frame is padded (a branch on data, which a traced graph would
        # freeze); an all-ones mask leaves every value as it is.
        self.always_mask = False
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.to(memory_format=self.memory_format)  # conv weights; activations follow in forward
        if keep_freed_memory:
            retain_freed_memory()

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Embed a batch.

        Arguments
        ---------
        x : torch.Tensor
            (batch, time, features).
        lengths : torch.Tensor, optional
            Relative lengths in (0, 1] as SpeechBrain pads batches; None means all full.

        Returns
        -------
        torch.Tensor
            (batch, 1, embedding_dim) float32.
        """
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(
                f"Res2NetSpeakerEncoder expects (batch, time, {self.input_size}) features, got {tuple(x.shape)}"
            )
        batch, time = x.shape[0], x.shape[1]
        frames = relative_to_frames(lengths, time, batch).to(x.device)
        # A batch without padding (training crops) needs no masks: skip them all. The
        # property holds through every stride-2 layer (ceil(T / 2) of ceil(T / 2) frames).
        # ``always_mask`` (graph export) masks every batch: a graph has no data-dependent branch.
        skip = not self.always_mask and bool((frames == time).all())
        mask = None if skip else _time_mask(frames, time, x.device, x.dtype)
        out = _masked(x.transpose(1, 2).unsqueeze(1), mask)  # (B, 1, F, T)
        stem_conv, stem_bn = self.stem
        # in evaluation the blocks mask what their 3x3 convs read
        out = batch_norm_act(stem_bn, stem_conv(out), relu=True)
        out = (_masked(out, mask) if self.training else out).contiguous(memory_format=self.memory_format)
        for block in self.blocks:
            out_frames = _downsampled(frames, block.stride)
            out_mask = mask
            if block.stride > 1 and mask is not None:
                out_mask = _time_mask(out_frames, math.ceil(mask.shape[-1] / block.stride), x.device, out.dtype)
            out = block(out, mask, out_mask)
            frames, mask = out_frames, out_mask
        out = out.flatten(1, 2)  # (B, C*F, T)
        stats = self.pooling(out, frames)
        return self.embedding(stats).unsqueeze(1)


class Res2Net50(Res2NetSpeakerEncoder):
    """Res2Net-50 (26w x 4s, bottleneck blocks [3, 4, 6, 3], expansion 4) speaker encoder.

    Same arguments as :class:`Res2NetSpeakerEncoder`, with Res2Net-50's depth fixed.

    Example
    -------
    >>> encoder = Res2Net50(input_size=80, m_channels=16, embedding_dim=512).eval()
    >>> encoder(torch.randn(2, 40, 80), torch.tensor([1.0, 0.5])).shape
    torch.Size([2, 1, 512])
    >>> sum(isinstance(m, nn.Conv2d) for m in encoder.modules())
    85
    """

    def __init__(self, input_size: int = 80, m_channels: int = 32, embedding_dim: int = 512, **kwargs) -> None:
        for fixed in ("num_blocks", "expansion"):
            if fixed in kwargs:
                raise ValueError(f"Res2Net50 fixes {fixed}; use Res2NetSpeakerEncoder to change it")
        super().__init__(
            input_size=input_size,
            m_channels=m_channels,
            num_blocks=(3, 4, 6, 3),
            expansion=4,
            embedding_dim=embedding_dim,
            **kwargs,
        )
