"""Additive-margin softmax (AM-Softmax, CosFace) with margin-free accuracy counts.

The loss of Wang et al. (2018) "Additive Margin Softmax for Face Verification" and
Wang et al. (2018) "CosFace":

    cos_ij = <x_i / |x_i|, w_j / |w_j|>
    logits = s * (cos - m * onehot(y))
    loss   = cross_entropy(logits, y)

This module fixes the traps that make a hand-written version report an "average
accuracy" of exactly 0% or 100%:

- the class weights are an ``nn.Parameter`` (they follow ``.to(device)``), and the
  margin is a Python float, so nothing is moved between devices inside ``forward``;
- embeddings may be ``(B, D)`` or ``(B, 1, D)``, labels ``(B,)`` or ``(B, 1)``; labels
  are never repeated, so rows and labels always line up;
- wrong shapes or labels outside ``[0, num_classes)`` raise a ``ValueError`` naming them
  (instead of a device-side assert deep inside CUDA);
- accuracy comes from the margin-free cosines (``argmax(cos)``, which is what a
  classifier predicts at test time) and is returned as integer counts
  ``(correct, total)``: the epoch accuracy is ``sum(correct) / sum(total)``, correct
  for any batch size including 1;
- cosines and logits are computed in float32 even under autocast.

Authors: the res2net-sv developers.
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["AMSoftmax", "AAMSoftmax", "AMSoftmaxOutput", "MarginSchedule", "minimum_scale"]


class AMSoftmaxOutput(NamedTuple):
    """What :class:`AMSoftmax` returns.

    Attributes
    ----------
    loss : torch.Tensor
        Mean cross-entropy of the margin-penalised, scaled logits (0-dim, float32).
    correct : torch.Tensor
        Number of samples whose margin-free cosine argmax equals the label (0-dim, int64).
    total : torch.Tensor
        Number of samples in the batch (0-dim, int64).
    """

    loss: torch.Tensor
    correct: torch.Tensor
    total: torch.Tensor


class MarginSchedule:
    """Margin warm-up from 0 to ``final_margin``, as WeSpeaker's MarginScheduler does.

    The margin is 0 before ``start_epoch``, grows to ``final_margin`` until
    ``end_epoch`` (linearly, or exponentially: fast at first, then levelling off), and
    stays there. Epochs are training progress: 0 at the first step, 1.5 half-way
    through the second epoch (the recipe updates the margin every step).
    ``start_epoch == end_epoch`` means no warm-up.

    Arguments
    ---------
    final_margin : float
        The margin after warm-up.
    start_epoch : float
        Last epoch trained with margin 0.
    end_epoch : float
        First epoch trained with the full margin.
    kind : str
        ``"linear"`` or ``"exp"``.

    Example
    -------
    >>> schedule = MarginSchedule(0.2, start_epoch=1, end_epoch=5)
    >>> [round(schedule(e), 3) for e in (1, 3, 5, 9)]
    [0.0, 0.1, 0.2, 0.2]
    >>> round(MarginSchedule(0.2, 1, 5, kind="exp")(3), 4)
    0.1939
    """

    def __init__(
        self,
        final_margin: float,
        start_epoch: float = 0,
        end_epoch: float = 0,
        kind: str = "linear",
    ) -> None:
        if kind not in ("linear", "exp"):
            raise ValueError(f"MarginSchedule kind must be 'linear' or 'exp', got {kind!r}")
        if end_epoch < start_epoch:
            raise ValueError(f"MarginSchedule end_epoch ({end_epoch}) is before start_epoch ({start_epoch})")
        self.final_margin = float(final_margin)
        self.start_epoch = float(start_epoch)
        self.end_epoch = float(end_epoch)
        self.kind = kind

    def __call__(self, epoch: float) -> float:
        if epoch >= self.end_epoch:
            return self.final_margin
        if epoch <= self.start_epoch:
            return 0.0
        progress = (epoch - self.start_epoch) / (self.end_epoch - self.start_epoch)
        if self.kind == "exp":
            floor = 1e-3  # the residual left after the warm-up, as in WeSpeaker
            progress = (1.0 - floor**progress) / (1.0 - floor)
        return self.final_margin * progress


class AMSoftmax(nn.Module):
    """AM-Softmax (CosFace) classification head and loss for speaker embeddings.

    Arguments
    ---------
    input_size : int
        Embedding dimension D.
    num_classes : int
        Number of training speakers C.
    margin : float
        Additive cosine margin m (0.2 is the usual choice; 0 gives a normalised softmax).
    scale : float
        Logit scale s. With C classes a target posterior P needs roughly
        ``s > (C-1)/C * ln((C-1) P / (1-P))``; s=30 suits up to thousands of speakers.
    margin_schedule : MarginSchedule, optional
        Margin warm-up; the recipe calls :meth:`set_epoch` with the training progress.

    Example
    -------
    >>> head = AMSoftmax(input_size=8, num_classes=5, margin=0.2, scale=30)
    >>> emb, spk = torch.randn(4, 1, 8), torch.tensor([[0], [1], [4], [2]])
    >>> out = head(emb, spk)
    >>> out.loss.shape, int(out.total), 0 <= int(out.correct) <= 4
    (torch.Size([]), 4, True)
    >>> head.cosine(emb).shape
    torch.Size([4, 5])
    """

    def __init__(
        self,
        input_size: int,
        num_classes: int,
        margin: float = 0.2,
        scale: float = 30.0,
        margin_schedule: MarginSchedule | None = None,
    ) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral):
            raise TypeError(
                f"num_classes={num_classes!r}: give a whole number of classes (training speakers x "
                f"speeds), e.g. --num_classes=48, or leave it out to count them in the CSV"
            )
        if num_classes < 2:
            raise ValueError(f"AMSoftmax needs at least 2 classes, got num_classes={num_classes}")
        if scale <= 0:
            raise ValueError(f"AMSoftmax scale must be positive, got {scale}")
        self.input_size = int(input_size)
        self.num_classes = int(num_classes)
        self.scale = float(scale)
        self.final_margin = float(margin)
        self.margin = float(margin)
        self.margin_schedule = margin_schedule
        self.weight = nn.Parameter(torch.empty(self.num_classes, self.input_size))
        nn.init.xavier_normal_(self.weight)

    def set_epoch(self, epoch: float) -> float:
        """Set the margin for training progress ``epoch`` (see :class:`MarginSchedule`)
        from the schedule, if any, and return it."""
        if self.margin_schedule is not None:
            self.margin = self.margin_schedule(epoch)
        return self.margin

    def _flatten_embeddings(self, embeddings: torch.Tensor) -> torch.Tensor:
        if embeddings.dim() == 3 and embeddings.shape[1] == 1:
            embeddings = embeddings.squeeze(1)
        if embeddings.dim() != 2 or embeddings.shape[1] != self.input_size:
            raise ValueError(
                f"AMSoftmax expects embeddings shaped (batch, {self.input_size}) or "
                f"(batch, 1, {self.input_size}), got {tuple(embeddings.shape)}"
            )
        return embeddings

    def cosine(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Cosine similarity of each embedding to each class weight, float32, (B, C)."""
        embeddings = self._flatten_embeddings(embeddings)
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            return F.linear(
                F.normalize(embeddings.float(), dim=1),
                F.normalize(self.weight.float(), dim=1),
            )

    def _flatten_labels(self, labels: torch.Tensor, batch: int) -> torch.Tensor:
        if labels.dim() == 2 and labels.shape[1] == 1:
            labels = labels.squeeze(1)
        if labels.dim() != 1 or labels.shape[0] != batch:
            raise ValueError(
                f"AMSoftmax expects labels shaped ({batch},) or ({batch}, 1) for {batch} "
                f"embeddings, got {tuple(labels.shape)}"
            )
        if labels.dtype.is_floating_point:
            raise ValueError(f"AMSoftmax labels must be integer class indices, got {labels.dtype}")
        labels = labels.long()
        bad = (labels < 0) | (labels >= self.num_classes)
        if bool(bad.any()):
            offending = int(labels[bad][0])
            raise ValueError(
                f"label {offending} is outside [0, {self.num_classes}) for num_classes="
                f"{self.num_classes}: the head has fewer outputs than the data has speakers; "
                f"set num_classes to the number of training speakers"
            )
        return labels

    def margin_logits(self, cos: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        """Scaled logits with the additive cosine margin on the target class."""
        return self.scale * (cos - self.margin * onehot)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> AMSoftmaxOutput:
        """Loss and margin-free accuracy counts for a batch.

        Arguments
        ---------
        embeddings : torch.Tensor
            (B, D) or (B, 1, D).
        labels : torch.Tensor
            (B,) or (B, 1) integer class indices in ``[0, num_classes)``.

        Returns
        -------
        AMSoftmaxOutput
            ``(loss, correct, total)``.
        """
        cos = self.cosine(embeddings)
        labels = self._flatten_labels(labels, cos.shape[0])
        onehot = F.one_hot(labels, self.num_classes).to(cos.dtype)
        loss = F.cross_entropy(self.margin_logits(cos, onehot), labels)
        with torch.no_grad():
            correct = (cos.argmax(dim=1) == labels).sum()
        total = torch.tensor(labels.shape[0], device=labels.device)
        return AMSoftmaxOutput(loss, correct, total)

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, num_classes={self.num_classes}, margin={self.margin}, scale={self.scale}"


class AAMSoftmax(AMSoftmax):
    """Additive angular margin softmax (ArcFace), the loss of SpeechBrain's ECAPA recipe.

    The target logit is ``s * cos(theta + m)``; beyond ``theta > pi - m``, where
    ``cos(theta + m)`` would stop decreasing, it is ``s * (cos(theta) - m sin(m))``
    (the same definition as SpeechBrain's ``AdditiveAngularMargin`` with
    ``easy_margin=False``). Everything else (weights, checks, margin-free accuracy
    counts, float32, margin schedule) is :class:`AMSoftmax`'s.

    Example
    -------
    >>> head = AAMSoftmax(input_size=8, num_classes=5, margin=0.2, scale=30)
    >>> out = head(torch.randn(4, 8), torch.tensor([0, 1, 4, 2]))
    >>> out.loss.shape, int(out.total)
    (torch.Size([]), 4)
    """

    def margin_logits(self, cos: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        m = self.margin
        cos = cos.clamp(-1 + 1e-7, 1 - 1e-7)
        sin = torch.sqrt(1.0 - cos * cos)
        phi = cos * math.cos(m) - sin * math.sin(m)
        phi = torch.where(cos > math.cos(math.pi - m), phi, cos - math.sin(math.pi - m) * m)
        return self.scale * (onehot * phi + (1.0 - onehot) * cos)


def minimum_scale(num_classes: int, target_probability: float = 0.99, margin: float = 0.0) -> float:
    """Smallest scale s at which the target posterior can reach ``target_probability``.

    With the target cosine at 1 and every other class at ``-1/(C-1)`` (the best case),
    the bound of Wang et al. (NormFace) is ``s >= (C-1)/C * ln((C-1) P / (1-P))``; the
    margin shrinks the attainable gap by m, so the bound grows by ``1/(1 - m*(C-1)/C)``.

    Example
    -------
    >>> round(minimum_scale(16, 0.99), 3)
    6.847
    >>> minimum_scale(16, 0.99, margin=0.2) > minimum_scale(16, 0.99)
    True
    """
    c = float(num_classes)
    if c < 2 or not 0.0 < target_probability < 1.0:
        raise ValueError("minimum_scale needs num_classes >= 2 and 0 < target_probability < 1")
    base = (c - 1.0) / c * math.log((c - 1.0) * target_probability / (1.0 - target_probability))
    gap_fraction = 1.0 - margin * (c - 1.0) / c
    if gap_fraction <= 0:
        return math.inf
    return base / gap_fraction
