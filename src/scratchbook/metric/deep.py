"""Deep metric learning: contrastive and triplet losses, triplet mining, prototypical networks.

Every loss here works on a whole batch: it forms all pairwise distances between the embeddings once
and then picks the pairs or triplets it needs from that matrix. Distances are Euclidean, between
embeddings scaled to unit length when ``normalize=True`` (so they lie in [0, 2]).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from scratchbook._validation import check_array, check_int, check_option, check_real
from scratchbook.training import fit, resolve_device

__all__ = [
    "MINING",
    "embedding_distances",
    "mine_triplets",
    "distance_weighted_sampling",
    "triplet_loss",
    "contrastive_loss",
    "EmbeddingNet",
    "pk_batch",
    "train_embedding",
    "embed",
    "prototypes",
    "prototype_logits",
    "prototypical_loss",
    "sample_episode",
    "train_prototypical",
    "episode_accuracy",
]

MINING = ("batch_all", "batch_hard", "semi_hard", "easy_positive", "distance_weighted", "random")
REDUCTIONS = ("mean_nonzero", "mean", "sum")


def _check_batch(embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Check a batch of embeddings (n×d, finite) and its labels (n integers)."""
    if not isinstance(embeddings, torch.Tensor):
        raise TypeError(f"embeddings must be a torch.Tensor, got {type(embeddings).__name__}")
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings must have shape (n_samples, n_dims), got {tuple(embeddings.shape)}")
    if not torch.isfinite(embeddings).all():
        raise ValueError("embeddings contain NaN or inf")
    labels = torch.as_tensor(labels, device=embeddings.device)
    if labels.ndim != 1 or labels.shape[0] != embeddings.shape[0]:
        raise ValueError(
            f"labels must have shape ({embeddings.shape[0]},) to match embeddings, got {tuple(labels.shape)}"
        )
    return embeddings, labels


def embedding_distances(embeddings: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """Euclidean distances between all rows (n×n), differentiable also where a distance is zero."""
    if normalize:
        embeddings = nn.functional.normalize(embeddings, dim=1)
    sq_norms = (embeddings**2).sum(dim=1)
    sq = (sq_norms[:, None] + sq_norms[None, :] - 2 * embeddings @ embeddings.T).clamp(min=0)
    zero = sq == 0
    # sqrt has an infinite slope at 0: take it of a positive number there, then zero the result
    return torch.sqrt(sq + zero * 1e-16) * ~zero


def _masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean n×n masks of positive pairs (same label, i ≠ j) and negative pairs (different label)."""
    same = labels[:, None] == labels[None, :]
    positive = same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return positive, ~same


def distance_weighted_sampling(
    dist: torch.Tensor,
    labels: torch.Tensor,
    n_dims: int,
    cutoff: float = 0.5,
    nonzero_loss_cutoff: float = 1.4,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One negative per (anchor, positive) pair, drawn with probability ∝ 1/q(d) (Eq. deep-dws).

    ``dist`` are distances between unit vectors in ``n_dims`` dimensions; q is the density of the
    distance between two points drawn uniformly on that sphere. Distances are clipped below at
    ``cutoff`` (so the weights stay bounded) and negatives beyond ``nonzero_loss_cutoff`` get weight 0.
    An anchor whose negatives all lie beyond that cutoff draws among them uniformly.
    """
    n_dims = check_int("n_dims", n_dims, low=2)
    cutoff = check_real("cutoff", cutoff, low=0.0, strict_low=True)
    positive, negative = _masks(labels)
    d = dist.detach().clamp(min=cutoff)
    # log of 1/q(d), up to a constant; the clamp keeps the log finite as d → 2
    log_w = -(n_dims - 2) * torch.log(d) - 0.5 * (n_dims - 3) * torch.log((1 - 0.25 * d**2).clamp(min=1e-8))
    allowed = negative & (dist.detach() < nonzero_loss_cutoff)
    allowed = torch.where(allowed.any(dim=1, keepdim=True), allowed, negative)
    log_w = log_w.masked_fill(~allowed, -torch.inf)
    weights = torch.exp(log_w - log_w.max(dim=1, keepdim=True).values).nan_to_num(0.0)
    anchors, positives = torch.nonzero(positive & negative.any(dim=1, keepdim=True), as_tuple=True)
    negatives = torch.multinomial(weights[anchors], 1, generator=generator).squeeze(1)
    return anchors, positives, negatives


def mine_triplets(
    dist: torch.Tensor,
    labels: torch.Tensor,
    mining: str = "batch_hard",
    generator: torch.Generator | None = None,
    n_dims: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pick triplets (anchor, positive, negative) from a batch's distance matrix; returns three index tensors.

    ``batch_all``: every valid triplet. ``batch_hard``: per anchor, its farthest positive and nearest
    negative. ``easy_positive``: its nearest positive and nearest negative. ``semi_hard``: per
    (anchor, positive) pair, the nearest negative farther than the positive (the farthest negative
    if none is). ``distance_weighted``: per pair, a negative drawn by :func:`distance_weighted_sampling`
    (it needs ``n_dims``, the embedding dimension, and unit-length embeddings).
    ``random``: per anchor, a positive and a negative drawn uniformly. Anchors without a positive or
    without a negative in the batch are skipped.
    """
    check_option("mining", mining, MINING)
    with torch.no_grad():
        d = dist.detach()
        positive, negative = _masks(labels)
        valid_anchor = positive.any(dim=1) & negative.any(dim=1)
        if mining == "batch_all":
            a, p, n = torch.nonzero(positive[:, :, None] & negative[:, None, :], as_tuple=True)
            return a, p, n
        if mining == "distance_weighted":
            if n_dims is None:
                raise ValueError("mining='distance_weighted' needs n_dims, the embedding dimension")
            return distance_weighted_sampling(d, labels, n_dims=n_dims, generator=generator)
        anchors = torch.nonzero(valid_anchor, as_tuple=True)[0]
        inf = torch.tensor(torch.inf, dtype=d.dtype, device=d.device)
        if mining == "semi_hard":
            a, p = torch.nonzero(positive & valid_anchor[:, None], as_tuple=True)
            farther = negative[a] & (d[a] > d[a, p][:, None])  # one row per (anchor, positive) pair
            n_semi = torch.where(farther, d[a], inf).argmin(dim=1)
            n_far = torch.where(negative[a], d[a], -inf).argmax(dim=1)
            return a, p, torch.where(farther.any(dim=1), n_semi, n_far)
        if mining == "random":
            p = torch.multinomial(positive[anchors].to(d.dtype), 1, generator=generator).squeeze(1)
            n = torch.multinomial(negative[anchors].to(d.dtype), 1, generator=generator).squeeze(1)
            return anchors, p, n
        if mining == "batch_hard":
            p = torch.where(positive, d, -inf)[anchors].argmax(dim=1)
        else:  # easy_positive
            p = torch.where(positive, d, inf)[anchors].argmin(dim=1)
        n = torch.where(negative, d, inf)[anchors].argmin(dim=1)
        return anchors, p, n


def _reduce(losses: torch.Tensor, reduction: str) -> torch.Tensor:
    """Sum, mean, or mean over the non-zero terms (zero when every term is zero)."""
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean_nonzero":
        losses = losses[losses > 0]
    return losses.mean() if losses.numel() else losses.sum()


def triplet_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    margin: float = 0.05,
    mining: str = "batch_hard",
    normalize: bool = True,
    reduction: str = "mean_nonzero",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The triplet loss (Eq. deep-triplet) over the triplets that ``mining`` picks from the batch.

    Each triplet costs max(0, d(a, p) − d(a, n) + margin). ``reduction="mean_nonzero"`` (the default)
    averages over the triplets that still violate the margin, as pytorch-metric-learning does;
    ``"mean"`` averages over all mined triplets.
    """
    embeddings, labels = _check_batch(embeddings, labels)
    margin = check_real("margin", margin, low=0.0)
    check_option("mining", mining, MINING)
    check_option("reduction", reduction, REDUCTIONS)
    if mining == "distance_weighted" and not normalize:
        raise ValueError("mining='distance_weighted' assumes unit-length embeddings: use normalize=True")
    dist = embedding_distances(embeddings, normalize=normalize)
    a, p, n = mine_triplets(dist, labels, mining=mining, generator=generator, n_dims=embeddings.shape[1])
    losses = torch.relu(dist[a, p] - dist[a, n] + margin)
    return _reduce(losses, reduction)


def contrastive_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    pos_margin: float = 0.0,
    neg_margin: float = 1.0,
    normalize: bool = True,
    squared: bool = False,
    reduction: str = "mean_nonzero",
) -> torch.Tensor:
    """The contrastive loss (Eq. deep-contrastive) over all pairs of the batch.

    A positive pair costs max(0, d − pos_margin), a negative pair max(0, neg_margin − d), squared
    when ``squared=True`` (Hadsell et al.'s form). Positive and negative terms are reduced separately
    and added, as in pytorch-metric-learning.
    """
    embeddings, labels = _check_batch(embeddings, labels)
    pos_margin = check_real("pos_margin", pos_margin, low=0.0)
    neg_margin = check_real("neg_margin", neg_margin, low=0.0)
    check_option("reduction", reduction, REDUCTIONS)
    dist = embedding_distances(embeddings, normalize=normalize)
    positive, negative = _masks(labels)
    power = 2 if squared else 1
    pos = torch.relu(dist[positive] - pos_margin) ** power
    neg = torch.relu(neg_margin - dist[negative]) ** power
    return _reduce(pos, reduction) + _reduce(neg, reduction)


class EmbeddingNet(nn.Module):
    """A small MLP embedding: ``in_features`` → ``hidden`` (ReLU) → ``out_features``."""

    def __init__(self, in_features: int = 64, hidden: int = 32, out_features: int = 2) -> None:
        super().__init__()
        self.hidden = nn.Linear(check_int("in_features", in_features, low=1), check_int("hidden", hidden, low=1))
        self.out = nn.Linear(hidden, check_int("out_features", out_features, low=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed a batch x (n×in_features) into n×out_features."""
        return self.out(torch.relu(self.hidden(x)))


def pk_batch(y: np.ndarray, n_classes: int, n_per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of a "P×K" batch: ``n_classes`` random classes, ``n_per_class`` random examples of each."""
    classes = rng.choice(np.unique(y), size=n_classes, replace=False)
    return np.concatenate([rng.choice(np.flatnonzero(y == c), size=n_per_class, replace=False) for c in classes])


def train_embedding(
    model: nn.Module,
    X: np.ndarray,
    y: np.ndarray,
    loss: str = "triplet",
    steps: int = 300,
    n_classes: int = 6,
    n_per_class: int = 8,
    lr: float = 1e-2,
    random_state: int = 0,
    progress: bool = True,
    num_threads: int | None = 1,
    device: str | torch.device | None = None,
    **loss_kwargs,
) -> np.ndarray:
    """Train ``model`` with Adam on P×K batches of (X, y) and the triplet or contrastive loss.

    ``loss_kwargs`` go to :func:`triplet_loss` (e.g. ``mining``, ``margin``) or
    :func:`contrastive_loss`. The model is moved to ``device`` (default
    :func:`scratchbook.utils.get_device`). Returns the loss of every step. ``progress`` shows a tqdm
    bar. Small networks train fastest on the CPU with ``num_threads=1``; the previous setting is
    restored (``None`` leaves it alone).
    """
    check_option("loss", loss, ("triplet", "contrastive"))
    steps = check_int("steps", steps, low=1)
    lr = check_real("lr", lr, low=0.0, strict_low=True)
    X, y = np.asarray(X, dtype=np.float32), np.asarray(y)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"X must be 2-D with one row per label in y, got X {X.shape} and y {y.shape}")
    check_int("n_classes", n_classes, low=2, high=len(np.unique(y)))
    device = resolve_device(device)
    Xt, yt = torch.as_tensor(X, device=device), torch.as_tensor(y, device=device)
    fn = triplet_loss if loss == "triplet" else contrastive_loss
    if loss == "triplet":  # random and distance-weighted mining draw from this generator
        loss_kwargs = {**loss_kwargs, "generator": torch.Generator(device=device).manual_seed(random_state)}

    def pk(step: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(pk_batch(y, n_classes, n_per_class, rng), device=device)
        return Xt[idx], yt[idx]

    return fit(
        model,
        lambda m, xb, yb, step: fn(m(xb), yb, **loss_kwargs),
        batches=pk,
        steps=steps,
        lr=lr,
        random_state=np.random.default_rng(random_state),
        progress=progress,
        num_threads=num_threads,
        device=device,
        desc=f"{loss} loss",
    )


def embed(model: nn.Module, X: np.ndarray) -> np.ndarray:
    """The model's embeddings of X as a NumPy array (no gradients)."""
    param = next(model.parameters())
    with torch.no_grad():
        return model(torch.as_tensor(np.asarray(X), dtype=param.dtype, device=param.device)).cpu().numpy()


# --- Prototypical networks -------------------------------------------------------------------


def prototypes(support: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The classes present in ``labels`` (sorted) and their prototypes, the mean support embeddings (Eq. deep-proto)."""
    support, labels = _check_batch(support, labels)
    classes, inverse = torch.unique(labels, sorted=True, return_inverse=True)
    one_hot = nn.functional.one_hot(inverse, len(classes)).to(support.dtype)
    return classes, (one_hot.T @ support) / one_hot.sum(dim=0)[:, None]


def prototype_logits(query: torch.Tensor, protos: torch.Tensor) -> torch.Tensor:
    """Logits −‖f(x) − c_k‖² of each query for each prototype (their softmax is Eq. deep-proto-p)."""
    if query.ndim != 2 or protos.ndim != 2 or query.shape[1] != protos.shape[1]:
        raise ValueError(
            f"query and protos must be 2-D with the same width, got {tuple(query.shape)} and {tuple(protos.shape)}"
        )
    return -(torch.cdist(query, protos) ** 2)


def prototypical_loss(
    support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor, query_labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of the queries under Eq. (deep-proto-p), and their accuracy."""
    classes, protos = prototypes(support, support_labels)
    query, query_labels = _check_batch(query, query_labels)
    target = torch.searchsorted(classes, query_labels)
    if not (classes[target.clamp(max=len(classes) - 1)] == query_labels).all():
        raise ValueError("query_labels contain a class that has no support example")
    logits = prototype_logits(query, protos)
    return nn.functional.cross_entropy(logits, target), (logits.argmax(dim=1) == target).to(logits.dtype).mean()


def sample_episode(
    y: np.ndarray, n_way: int, n_shot: int, n_query: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of one episode: ``n_way`` random classes, ``n_shot`` support and ``n_query`` query examples each."""
    idx = pk_batch(np.asarray(y), n_way, n_shot + n_query, rng).reshape(n_way, n_shot + n_query)
    return idx[:, :n_shot].ravel(), idx[:, n_shot:].ravel()


def train_prototypical(
    model: nn.Module,
    X: np.ndarray,
    y: np.ndarray,
    n_way: int = 5,
    n_shot: int = 5,
    n_query: int = 5,
    episodes: int = 300,
    lr: float = 1e-2,
    random_state: int = 0,
    progress: bool = True,
    num_threads: int | None = 1,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Episodic training of a prototypical network with Adam on ``device``; returns the loss of every episode."""
    episodes = check_int("episodes", episodes, low=1)
    X, y = np.asarray(X, dtype=np.float32), np.asarray(y)
    check_int("n_way", n_way, low=2, high=len(np.unique(y)))
    check_int("n_shot", n_shot, low=1)
    check_int("n_query", n_query, low=1)
    device = resolve_device(device)
    Xt, yt = torch.as_tensor(X, device=device), torch.as_tensor(y, device=device)
    n_support = n_way * n_shot

    def episode(step: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(np.concatenate(sample_episode(y, n_way, n_shot, n_query, rng)), device=device)
        return Xt[idx], yt[idx]  # the support examples, then the queries

    def loss(m: nn.Module, xb: torch.Tensor, yb: torch.Tensor, step: int) -> torch.Tensor:
        s, q = slice(None, n_support), slice(n_support, None)
        return prototypical_loss(m(xb[s]), yb[s], m(xb[q]), yb[q])[0]

    return fit(
        model,
        loss,
        batches=episode,
        steps=episodes,
        lr=check_real("lr", lr, low=0.0, strict_low=True),
        random_state=np.random.default_rng(random_state),
        progress=progress,
        num_threads=num_threads,
        device=device,
        desc="episodes",
    )


def episode_accuracy(
    Z: np.ndarray,
    y: np.ndarray,
    n_way: int,
    n_shot: int,
    n_query: int = 10,
    episodes: int = 200,
    random_state: int = 0,
    rule: str = "prototype",
) -> np.ndarray:
    """Query accuracy of each of ``episodes`` random episodes (:func:`sample_episode`) on the rows of ``Z``.

    ``rule="prototype"``: the nearest class mean of the support set (squared Euclidean, Eq. deep-proto),
    a tie going to the smaller label; ``"nearest_neighbour"``: the label of the nearest support
    example. All episodes are drawn first and classified at once, in NumPy.
    """
    check_option("rule", rule, ("prototype", "nearest_neighbour"))
    Z = check_array("Z", Z, ndim=2)
    y = np.asarray(y)
    if y.shape != (len(Z),):
        raise ValueError(f"y must have shape ({len(Z)},) to match Z, got {y.shape}")
    episodes = check_int("episodes", episodes, low=1)
    rng = np.random.default_rng(random_state)
    draws = [sample_episode(y, n_way, n_shot, n_query, rng) for _ in range(episodes)]
    support = np.stack([s for s, _ in draws])  # (E, n_way·n_shot), class by class
    query = np.stack([q for _, q in draws])  # (E, n_way·n_query)
    S, Q = Z[support], Z[query]
    if rule == "prototype":
        support_labels = y[support[:, ::n_shot]]
        order = np.argsort(support_labels, axis=1, kind="stable")  # classes sorted, as prototypes() sorts them
        S = np.take_along_axis(S.reshape(episodes, n_way, n_shot, -1).mean(axis=2), order[:, :, None], axis=1)
        support_labels = np.take_along_axis(support_labels, order, axis=1)
    else:
        support_labels = y[support]
    d = (Q**2).sum(-1)[:, :, None] - 2 * Q @ S.transpose(0, 2, 1) + (S**2).sum(-1)[:, None, :]
    predicted = np.take_along_axis(support_labels, d.argmin(axis=2), axis=1)
    return (predicted == y[query]).mean(axis=1)
