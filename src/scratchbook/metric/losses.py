"""Proxy-based, softmax-margin and batch-wide pair losses.

A pair or triplet loss compares samples of a batch with each other; the losses here compare every
sample with one learned vector per class (a proxy, or a row of a classifier's weight matrix), so a
batch of n samples costs n × C comparisons and needs no mining. All three work on directions:
embeddings and proxies are scaled to unit length first. Implements Eqs. (fs-proxynca),
(fs-proxyanchor) and (fs-arcface) of the few-shot chapter, with pytorch-metric-learning's
conventions (its ``ProxyNCALoss``, ``ProxyAnchorLoss`` and ``ArcFaceLoss``), which the tests check.

Two pair losses that use the whole batch at once, without proxies, sit next to them: the N-pair loss
(Sohn, 2016; Eq. fs-npair) and the lifted structured loss (Oh Song et al., 2016; Eq. fs-lifted),
checked against pytorch-metric-learning's ``NPairsLoss`` and ``LiftedStructureLoss``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from scratchbook._validation import check_int, check_real

__all__ = [
    "proxy_nca_loss",
    "proxy_anchor_loss",
    "arcface_loss",
    "n_pair_loss",
    "lifted_structure_loss",
    "WithProxies",
]


def _check(embeddings: torch.Tensor, labels: torch.Tensor, proxies: torch.Tensor, name: str):
    """Embeddings n×d, labels n integers in [0, C), proxies C×d; returns the labels as int64."""
    _check_tensor("embeddings", embeddings)
    _check_tensor(name, proxies)
    if proxies.shape[1] != embeddings.shape[1]:
        raise ValueError(
            f"{name} must have shape (n_classes, {embeddings.shape[1]}) to match embeddings, got {tuple(proxies.shape)}"
        )
    labels = torch.as_tensor(labels, device=embeddings.device)
    if labels.shape != (embeddings.shape[0],) or labels.is_floating_point():
        raise ValueError(
            f"labels must be {embeddings.shape[0]} integers, one per embedding, got shape {tuple(labels.shape)}"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= len(proxies)):
        raise ValueError(f"labels must lie in [0, {len(proxies)}), one class per row of {name}")
    return labels.long()


def proxy_nca_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    proxies: torch.Tensor,
    scale: float = 1.0,
    include_positive: bool = True,
) -> torch.Tensor:
    """Proxy-NCA (Eq. fs-proxynca): −log of the softmax, over proxies, of −scale·‖x̂ − p̂‖² at the sample's own proxy.

    ``include_positive=False`` leaves the own proxy out of the denominator, as Movshovitz-Attias et
    al. (2017) write it; the default keeps it (an ordinary softmax cross-entropy), as
    pytorch-metric-learning does. Mean over the batch.
    """
    labels = _check(embeddings, labels, proxies, "proxies")
    scale = check_real("scale", scale, low=0.0, strict_low=True)
    x, p = nn.functional.normalize(embeddings, dim=1), nn.functional.normalize(proxies, dim=1)
    logits = -scale * torch.cdist(x, p) ** 2
    own = logits.gather(1, labels[:, None]).squeeze(1)
    if not include_positive:
        logits = logits.masked_fill(nn.functional.one_hot(labels, len(p)).bool(), -torch.inf)
    return (torch.logsumexp(logits, dim=1) - own).mean()


def proxy_anchor_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    proxies: torch.Tensor,
    margin: float = 0.1,
    alpha: float = 32.0,
) -> torch.Tensor:
    """Proxy-Anchor (Eq. fs-proxyanchor): each proxy is an anchor that pulls the batch's samples of its
    class to cosine above ``margin`` and pushes the others below −``margin``, softly (``alpha``).

    The positive term is averaged over the proxies whose class is in the batch, the negative term
    over all proxies (Kim et al., 2020).
    """
    labels = _check(embeddings, labels, proxies, "proxies")
    margin = check_real("margin", margin)
    alpha = check_real("alpha", alpha, low=0.0, strict_low=True)
    cos = nn.functional.normalize(embeddings, dim=1) @ nn.functional.normalize(proxies, dim=1).T  # n×C
    positive = nn.functional.one_hot(labels, len(proxies)).bool()

    def log1p_sum_exp(z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """log(1 + Σ_i exp z_i) over the samples selected by ``mask``, for each proxy (column)."""
        z = z.masked_fill(~mask, -torch.inf)
        return torch.logsumexp(torch.cat([z, z.new_zeros(1, z.shape[1])]), dim=0)

    pos = log1p_sum_exp(-alpha * (cos - margin), positive)
    neg = log1p_sum_exp(alpha * (cos + margin), ~positive)
    with_positives = positive.any(dim=0)
    return pos[with_positives].sum() / with_positives.sum() + neg.sum() / len(proxies)


def arcface_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    weight: torch.Tensor,
    margin: float = 0.5,
    scale: float = 64.0,
) -> torch.Tensor:
    """ArcFace (Eq. fs-arcface): softmax cross-entropy on scale·cos θ, with the angle θ to the own
    class's weight vector enlarged by ``margin`` radians.

    ``weight`` is C×d, the layout of ``nn.Linear(d, C).weight``. Where θ + margin would pass π the
    target logit continues as cos θ − margin·sin(margin), so it keeps decreasing in θ (Deng et al., 2019).
    """
    labels = _check(embeddings, labels, weight, "weight")
    margin = check_real("margin", margin, low=0.0, high=math.pi / 2)
    scale = check_real("scale", scale, low=0.0, strict_low=True)
    cos = nn.functional.normalize(embeddings, dim=1) @ nn.functional.normalize(weight, dim=1).T
    target = cos.gather(1, labels[:, None]).squeeze(1)
    theta = torch.acos(target.clamp(-1, 1))
    with_margin = torch.where(theta <= math.pi - margin, torch.cos(theta + margin), target - margin * math.sin(margin))
    logits = cos.scatter(1, labels[:, None], with_margin[:, None])
    return nn.functional.cross_entropy(scale * logits, labels)


def _check_tensor(name: str, value: torch.Tensor) -> torch.Tensor:
    """``value`` if it is a finite 2-D tensor (one row per sample), else an error naming ``name``."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if value.ndim != 2:
        raise ValueError(f"{name} must be 2-D of shape (n_samples, n_dims), got shape {tuple(value.shape)}")
    if not torch.isfinite(value).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return value


def n_pair_loss(anchors: torch.Tensor, positives: torch.Tensor, normalize: bool = False) -> torch.Tensor:
    """N-pair loss (Eq. fs-npair): row i of ``anchors`` and row i of ``positives`` share a class, and the N
    rows are N different classes; each anchor must score its own positive above the N − 1 others.

    The score is the inner product f_iᵀ f_j⁺, and the loss is the mean over anchors of
    log(1 + Σ_{j≠i} exp(f_iᵀ f_j⁺ − f_iᵀ f_i⁺)), a softmax cross-entropy over the positives (Sohn, 2016).
    ``normalize=True`` scales the embeddings to unit length first, as pytorch-metric-learning does by
    default; Sohn keeps them unnormalized and penalizes their squared norms instead (not included).
    """
    anchors, positives = _check_tensor("anchors", anchors), _check_tensor("positives", positives)
    if positives.shape != anchors.shape:
        raise ValueError(
            f"positives must have the shape of anchors {tuple(anchors.shape)}, got {tuple(positives.shape)}"
        )
    if len(anchors) < 2:
        raise ValueError(f"anchors must hold at least 2 pairs (classes), got {len(anchors)}")
    if normalize:
        anchors, positives = nn.functional.normalize(anchors, dim=1), nn.functional.normalize(positives, dim=1)
    scores = anchors @ positives.T  # N×N, own positive on the diagonal
    return nn.functional.cross_entropy(scores, torch.arange(len(anchors), device=anchors.device))


def lifted_structure_loss(
    embeddings: torch.Tensor, labels: torch.Tensor, margin: float = 1.0, normalize: bool = False
) -> torch.Tensor:
    """Lifted structured loss (Eq. fs-lifted): every positive pair (i, j) of the batch against all the
    negatives of i and of j at once, through a log-sum-exp of margin − distance.

    J_ij = log(Σ_{k∉y_i} exp(m − D_ik) + Σ_{l∉y_j} exp(m − D_jl)) + D_ij with Euclidean (not squared)
    distances D, and the loss is Σ_{i<j, same class} max(0, J_ij)² / (2|P|), P the positive pairs
    (Oh Song et al., 2016). ``normalize=True`` scales the embeddings to unit length first, as
    pytorch-metric-learning does by default. The batch needs a positive pair and two classes.
    """
    embeddings = _check_tensor("embeddings", embeddings)
    labels = torch.as_tensor(labels, device=embeddings.device)
    if labels.shape != (embeddings.shape[0],) or labels.is_floating_point():
        raise ValueError(
            f"labels must be {embeddings.shape[0]} integers, one per embedding, got shape {tuple(labels.shape)}"
        )
    margin = check_real("margin", margin)
    same = labels[:, None] == labels[None, :]
    positive = same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    if not positive.any() or same.all():
        raise ValueError("labels must contain at least two classes and one class with two or more samples")
    x = nn.functional.normalize(embeddings, dim=1) if normalize else embeddings
    # pairwise Euclidean distances; the clamp keeps the square root differentiable at 0 (the diagonal)
    D = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1).clamp_min(1e-30).sqrt()
    negatives = torch.logsumexp((margin - D).masked_fill(same, -torch.inf), dim=1)  # per sample, over its negatives
    i, j = torch.where(torch.triu(positive, diagonal=1))
    J = torch.logaddexp(negatives[i], negatives[j]) + D[i, j]
    return (torch.relu(J) ** 2).sum() / (2 * len(i))


class WithProxies(nn.Module):
    """An embedding network plus one learned vector per training class (``proxies``, n_classes × out_features).

    ``forward`` is the network's; the proxies (or ArcFace's class weights) train with it, and are
    dropped at test time, when the classes are new.
    """

    def __init__(self, net: nn.Module, n_classes: int, out_features: int, random_state: int = 0) -> None:
        super().__init__()
        self.net = net
        generator = torch.Generator().manual_seed(check_int("random_state", random_state, low=0))
        n_classes = check_int("n_classes", n_classes, low=2)
        out_features = check_int("out_features", out_features, low=1)
        self.proxies = nn.Parameter(torch.randn(n_classes, out_features, generator=generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network's embeddings of x."""
        return self.net(x)
