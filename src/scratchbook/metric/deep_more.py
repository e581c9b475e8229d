"""More deep metric learners: autoencoders, Deep LDA, cross-modal contrastive learning, an SPD network.

* :class:`Autoencoder` learns a code by reconstruction alone, without labels (chapter 2.7, Eq. ae-loss).
* :func:`fisher_eigenvalues` and :func:`deep_lda_loss` are the Fisher criterion of Deep LDA on a batch of
  embeddings: the eigenvalues of the generalized problem S_b v = λ (S_w + rI) v (Eq. dlda-eig), and minus
  the mean of the smallest of the leading C − 1 of them (Eq. dlda-loss).
* :func:`cross_modal_loss` is the symmetric contrastive loss of two modalities embedded in one space
  (Eq. xm-loss).
* :class:`SPDNet` maps symmetric positive definite (SPD) matrices with a BiMap layer WᵀSW, rectifies
  their eigenvalues (ReEig) and takes the matrix logarithm (LogEig), so that Euclidean distances of the
  outputs are log-Euclidean distances of learned SPD matrices (Eqs. spd-bimap, spd-logeig).
* :class:`NetTransformer` wraps the training of such networks as a scikit-learn transformer, so that
  they run under the part's protocol (:func:`scratchbook.metric.experiments.evaluate`).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from torch import nn

from scratchbook._validation import check_int, check_option, check_real, check_X
from scratchbook.metric.deep import EmbeddingNet, embed, pk_batch, triplet_loss
from scratchbook.metric.losses import _check_tensor
from scratchbook.training import fit

__all__ = [
    "Autoencoder",
    "scatter_matrices",
    "fisher_eigenvalues",
    "deep_lda_loss",
    "cross_modal_loss",
    "spd_log",
    "SPDNet",
    "NetTransformer",
    "make_two_modalities",
    "cross_modal_recall",
    "TwoTowers",
    "train_two_towers",
    "make_spd_classes",
    "CROSS_MODAL",
    "SPD",
    "cross_modal_run",
    "spd_run",
]


# --- Reconstruction autoencoder ---------------------------------------------------------------


class Autoencoder(nn.Module):
    """``in_features`` → ``hidden`` → ``code`` (encoder) and back (decoder, sigmoid output in [0, 1]).

    ``linear=True`` drops the ReLUs and the sigmoid: encoder and decoder are then affine maps, and a
    minimizer of the squared error spans the leading ``code`` principal directions of the data
    (Baldi & Hornik, 1989), which the tests check against PCA.
    """

    def __init__(self, in_features: int = 64, hidden: int = 32, code: int = 16, linear: bool = False) -> None:
        super().__init__()
        in_features = check_int("in_features", in_features, low=1)
        hidden, code = check_int("hidden", hidden, low=1), check_int("code", code, low=1)
        if not isinstance(linear, bool):
            raise TypeError(f"linear must be a bool, got {type(linear).__name__}")
        act = nn.Identity if linear else nn.ReLU
        self.encoder = nn.Sequential(nn.Linear(in_features, hidden), act(), nn.Linear(hidden, code))
        self.decoder = nn.Sequential(
            nn.Linear(code, hidden), act(), nn.Linear(hidden, in_features), nn.Identity() if linear else nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The code of x (the embedding used as a metric space)."""
        return self.encoder(x)

    def reconstruction_loss(self, x: torch.Tensor) -> torch.Tensor:
        """Mean squared reconstruction error ‖x − g(f(x))‖² / n (Eq. ae-loss, averaged over pixels too)."""
        return ((self.decoder(self.encoder(x)) - x) ** 2).mean()


# --- Deep LDA -------------------------------------------------------------------------------------


def scatter_matrices(Z: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Within-class and between-class scatter of a batch (Eq. dlda-scatter), each divided by n."""
    Z = _check_tensor("Z", Z)
    labels = torch.as_tensor(labels, device=Z.device)
    if labels.shape != (Z.shape[0],):
        raise ValueError(f"labels must have shape ({Z.shape[0]},), got {tuple(labels.shape)}")
    mean = Z.mean(0)
    Sw = torch.zeros(Z.shape[1], Z.shape[1], dtype=Z.dtype, device=Z.device)
    Sb = torch.zeros_like(Sw)
    for c in torch.unique(labels):
        Zc = Z[labels == c]
        Dc = Zc - Zc.mean(0)
        Sw = Sw + Dc.T @ Dc
        m = (Zc.mean(0) - mean)[:, None]
        Sb = Sb + len(Zc) * (m @ m.T)
    return Sw / len(Z), Sb / len(Z)


def fisher_eigenvalues(Z: torch.Tensor, labels: torch.Tensor, reg: float = 1e-3) -> torch.Tensor:
    """Eigenvalues of S_b v = λ (S_w + reg·I) v, in ascending order (Eq. dlda-eig), differentiable.

    With the Cholesky factor S_w + reg·I = LLᵀ they are the eigenvalues of the symmetric L⁻¹ S_b L⁻ᵀ.
    """
    reg = check_real("reg", reg, low=0.0, strict_low=True)
    Sw, Sb = scatter_matrices(Z, labels)
    L = torch.linalg.cholesky(Sw + reg * torch.eye(len(Sw), dtype=Z.dtype, device=Z.device))
    A = torch.linalg.solve_triangular(L, Sb, upper=False)
    A = torch.linalg.solve_triangular(L, A.T, upper=False)
    return torch.linalg.eigvalsh((A + A.T) / 2)


def deep_lda_loss(Z: torch.Tensor, labels: torch.Tensor, reg: float = 1e-3, margin: float = 1.0) -> torch.Tensor:
    """Deep LDA's loss: minus the mean of the leading C − 1 Fisher eigenvalues within ``margin`` of their smallest.

    Dorfer et al. optimize only the smallest of the C − 1 discriminant eigenvalues (those below
    λ_min + margin), so that the network spreads separation over all C − 1 directions instead of
    inflating the one that is easiest (Eq. dlda-loss).
    """
    margin = check_real("margin", margin, low=0.0)
    lam = fisher_eigenvalues(Z, labels, reg)
    n_classes = len(torch.unique(torch.as_tensor(labels)))
    top = lam[-min(n_classes - 1, len(lam)) :]
    return -top[top <= top.min() + margin].mean()


# --- Cross-modal contrastive loss -----------------------------------------------------------------


def cross_modal_loss(za: torch.Tensor, zb: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Symmetric contrastive loss of paired embeddings of two modalities (Eq. xm-loss).

    Row i of ``za`` and row i of ``zb`` describe the same object; after scaling every row to unit length
    the cosine similarities divided by ``temperature`` are logits, and the loss is the mean of the
    cross-entropies of picking the right partner from a to b and from b to a.
    """
    za, zb = _check_tensor("za", za), _check_tensor("zb", zb)
    if za.shape != zb.shape:
        raise ValueError(f"za and zb must have the same shape, got {tuple(za.shape)} and {tuple(zb.shape)}")
    temperature = check_real("temperature", temperature, low=0.0, strict_low=True)
    logits = nn.functional.normalize(za, dim=1) @ nn.functional.normalize(zb, dim=1).T / temperature
    target = torch.arange(len(za), device=za.device)
    return (nn.functional.cross_entropy(logits, target) + nn.functional.cross_entropy(logits.T, target)) / 2


# --- A network on SPD matrices ------------------------------------------------------------------


def spd_log(S: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    """Matrix logarithm of a batch of SPD matrices (…×d×d) through their eigendecomposition.

    ``eps`` > 0 first clips the eigenvalues at eps (the ReEig rectification).
    """
    if not isinstance(S, torch.Tensor) or S.ndim < 2 or S.shape[-1] != S.shape[-2]:
        raise ValueError(f"S must be a tensor of square matrices (..., d, d), got {getattr(S, 'shape', S)}")
    lam, U = torch.linalg.eigh(S)
    if eps > 0:
        lam = lam.clamp(min=eps)
    elif (lam <= 0).any():
        raise ValueError("S must be positive definite (an eigenvalue is <= 0); pass eps > 0 to clip them")
    return U @ torch.diag_embed(torch.log(lam)) @ U.transpose(-1, -2)


class SPDNet(nn.Module):
    """BiMap (S ↦ WᵀSW, W with orthonormal columns), ReEig (eigenvalues clipped at ``eps``), LogEig.

    W is kept on the Stiefel manifold by taking the Q factor of a free parameter (a retraction by QR),
    so every output WᵀSW is SPD. The output is the upper triangle of log(WᵀSW), off-diagonal entries
    times √2, so that Euclidean distances of outputs equal Frobenius distances of the logarithms.
    """

    def __init__(self, in_size: int, out_size: int, eps: float = 1e-4) -> None:
        super().__init__()
        in_size = check_int("in_size", in_size, low=1)
        out_size = check_int("out_size", out_size, low=1, high=in_size)
        self.eps = check_real("eps", eps, low=0.0, strict_low=True)
        self.weight = nn.Parameter(torch.eye(in_size)[:, :out_size].clone())
        rows, cols = torch.triu_indices(out_size, out_size)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)
        self.register_buffer("scale", torch.where(rows == cols, 1.0, 2**0.5), persistent=False)

    def stiefel(self) -> torch.Tensor:
        """The orthonormal W = Q of the QR factorization of the parameter (signs fixed by R's diagonal)."""
        Q, R = torch.linalg.qr(self.weight)
        return Q * torch.sign(torch.diagonal(R)).where(torch.diagonal(R) != 0, torch.ones(()))

    def forward(self, S: torch.Tensor) -> torch.Tensor:
        """Vectorized log(ReEig(WᵀSW)) of a batch S (n×d×d) → n × out(out+1)/2."""
        W = self.stiefel().to(S.dtype)
        logs = spd_log(W.T @ S @ W, eps=self.eps)
        return logs[:, self.rows, self.cols] * self.scale.to(S.dtype)


# --- A network as a scikit-learn transformer --------------------------------------------------------

METHODS = ("autoencoder", "triplet", "deep_lda")


class NetTransformer(TransformerMixin, BaseEstimator):
    """Train a small network on (X, y) with one of three objectives; ``transform`` embeds with it.

    ``method``: "autoencoder" (reconstruction, labels unused), "triplet" (batch-hard triplet loss of
    chapter 2.4), "deep_lda" (:func:`deep_lda_loss`). Every method trains the same in → 32 → ``out``
    encoder with :func:`scratchbook.training.fit`: Adam, ``lr``, ``steps`` batches of 8 classes × 8 images.
    """

    def __init__(
        self, method: str = "autoencoder", out: int = 16, steps: int = 300, lr: float = 1e-2, random_state: int = 0
    ) -> None:
        self.method = method
        self.out = out
        self.steps = steps
        self.lr = lr
        self.random_state = random_state

    def fit(self, X, y=None):
        """Train the network on X (and y, except for the autoencoder)."""
        method = check_option("method", self.method, METHODS)
        out = check_int("out", self.out, low=1)
        steps = check_int("steps", self.steps, low=1)
        if method == "autoencoder":
            X = check_X(self, X, reset=True, dtype=np.float32)
            y = np.zeros(len(X), dtype=int)  # unused
        else:
            if y is None:
                raise ValueError(f"method {method!r} needs y")
            X, y = check_X(self, X, y, reset=True, dtype=np.float32)
            check_classification_targets(y)
            y = LabelEncoder().fit_transform(y)  # labels as 0 … c−1, as the metric learners read them
            if y.max() < 1:
                raise ValueError(f"method {method!r} needs at least 2 classes in y, got 1 class")
        torch.manual_seed(self.random_state)
        if method == "autoencoder":
            model = Autoencoder(X.shape[1], 32, out)
            net = model.encoder
        else:
            net = model = EmbeddingNet(X.shape[1], 32, out)
        # 8 classes × 8 images (64 rows for the autoencoder), fewer where the data have fewer
        n_cls, n_per = min(8, y.max() + 1), min(8, np.bincount(y).min())

        def batches(step, rng):
            if method == "autoencoder":
                idx = rng.choice(len(X), min(64, len(X)), replace=False)
            else:
                idx = pk_batch(y, n_cls, n_per, rng)
            return torch.as_tensor(X[idx]), torch.as_tensor(y[idx])

        def loss_fn(m, xb, yb, step):
            if method == "autoencoder":
                return m.reconstruction_loss(xb)
            if method == "triplet":
                return triplet_loss(m(xb), yb, mining="batch_hard", margin=0.2)
            return deep_lda_loss(m(xb).double(), yb)

        self.history_ = fit(
            model,
            loss_fn,
            batches=batches,
            steps=steps,
            lr=self.lr,
            random_state=self.random_state,
            progress=False,
            device="cpu",
        )
        self.net_ = net.eval()
        return self

    def transform(self, X):
        """Embeddings of X (n × ``out``)."""
        check_is_fitted(self)
        X = check_X(self, X, reset=False, dtype=np.float32)
        return embed(self.net_, X).astype(np.float64)


# --- Data for the cross-modal and SPD experiments ---------------------------------------------------


def make_two_modalities(
    n_objects: int = 300, n_classes: int = 5, dims: tuple[int, int] = (10, 12), random_state: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paired views of the same objects in two modalities of different dimension and nonlinearity.

    Each object has a class and a 3-D latent point (its class mean plus noise); modality A is
    tanh(Wₐz) plus noise, modality B is sin(W_b z) plus noise, with random Wₐ, W_b. Returns (XA, XB, y).
    """
    n_objects = check_int("n_objects", n_objects, low=n_classes)
    n_classes = check_int("n_classes", n_classes, low=2)
    rng = np.random.default_rng(random_state)
    y = np.arange(n_objects) % n_classes
    z = 1.5 * rng.normal(size=(n_classes, 3))[y] + 0.6 * rng.normal(size=(n_objects, 3))
    XA = np.tanh(z @ rng.normal(size=(3, dims[0]))) + 0.1 * rng.normal(size=(n_objects, dims[0]))
    XB = np.sin(z @ rng.normal(size=(3, dims[1]))) + 0.1 * rng.normal(size=(n_objects, dims[1]))
    return XA, XB, y


def cross_modal_recall(ZA: np.ndarray, ZB: np.ndarray, y: np.ndarray, k: int = 1) -> dict[str, float]:
    """Retrieval from modality A into modality B by Euclidean distance between unit-length embeddings.

    ``instance``: fraction of queries whose own partner (same row) is among the k nearest B rows;
    ``class``: fraction whose nearest B row has the query's class.
    """
    ZA, ZB = np.asarray(ZA, float), np.asarray(ZB, float)
    if ZA.shape != ZB.shape or ZA.ndim != 2 or len(ZA) != len(y):
        raise ValueError(f"ZA and ZB must be n×d with one row per label, got {ZA.shape}, {ZB.shape}, {len(y)}")
    k = check_int("k", k, low=1, high=len(ZA))
    ZA = ZA / np.linalg.norm(ZA, axis=1, keepdims=True)
    ZB = ZB / np.linalg.norm(ZB, axis=1, keepdims=True)
    order = np.argsort(-(ZA @ ZB.T), axis=1, kind="stable")
    y = np.asarray(y)
    return {
        "instance": float(np.mean((order[:, :k] == np.arange(len(ZA))[:, None]).any(1))),
        "class": float(np.mean(y[order[:, 0]] == y)),
    }


class TwoTowers(nn.Module):
    """One :class:`scratchbook.metric.deep.EmbeddingNet` per modality, into one ``out``-dimensional space."""

    def __init__(self, dims: tuple[int, int], out: int = 8) -> None:
        super().__init__()
        self.a, self.b = EmbeddingNet(dims[0], 32, out), EmbeddingNet(dims[1], 32, out)


def train_two_towers(
    XA,
    XB,
    out: int = 8,
    steps: int = 300,
    temperature: float = 0.1,
    random_state: int = 0,
    device: str | torch.device | None = None,
) -> tuple[TwoTowers, np.ndarray]:
    """Train :class:`TwoTowers` on paired rows with :func:`cross_modal_loss`; returns (model, loss history).

    The towers are built and trained on ``device`` (default :func:`scratchbook.utils.get_device`).
    """
    XA, XB = np.asarray(XA, np.float32), np.asarray(XB, np.float32)
    torch.manual_seed(random_state)
    model = TwoTowers((XA.shape[1], XB.shape[1]), out)

    def batches(step, rng):
        idx = rng.choice(len(XA), min(64, len(XA)), replace=False)
        return torch.as_tensor(XA[idx]), torch.as_tensor(XB[idx])

    history = fit(
        model,
        lambda m, a, b, step: cross_modal_loss(m.a(a), m.b(b), temperature),
        batches=batches,
        steps=steps,
        random_state=random_state,
        progress=False,
        device=device,
    )
    return model, history


def make_spd_classes(
    n_per_class: int = 40, n_classes: int = 3, size: int = 6, n_frames: int = 30, random_state: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Covariance matrices of short multichannel signals whose class fixes the mixing, whose power varies.

    Class c has a random mixing matrix A_c; a sample's signal is s·A_c e_t + noise over ``n_frames``
    frames, with a random gain s (log-uniform over two decades) that is the same for the whole signal.
    Returns (S, y), S of shape (n, size, size), each SPD.
    """
    n_per_class = check_int("n_per_class", n_per_class, low=2)
    size = check_int("size", size, low=2)
    rng = np.random.default_rng(random_state)
    mixing = rng.normal(size=(n_classes, size, size))
    S, y = [], []
    for c in range(n_classes):
        for _ in range(n_per_class):
            gain = 10 ** rng.uniform(-1, 1)
            signal = gain * (rng.normal(size=(n_frames, size)) @ mixing[c].T) + 0.3 * gain * rng.normal(
                size=(n_frames, size)
            )
            S.append(signal.T @ signal / n_frames + 1e-3 * np.eye(size))
            y.append(c)
    return np.array(S), np.array(y)


CROSS_MODAL = {"n_objects": 300, "n_train": 200, "out": 8, "steps": 150, "temperature": 0.1}
SPD = {"n_per_class": 40, "n_train": 60, "out_size": 3, "steps": 100, "margin": 0.2}


def cross_modal_run(seed: int, return_models: bool = False) -> dict:
    """One seed of chapter 2.7's cross-modal experiment: towers and CCA fitted on the training objects."""
    from sklearn.cross_decomposition import CCA

    c = CROSS_MODAL
    XA, XB, y = make_two_modalities(c["n_objects"], random_state=seed)
    tr, te = slice(0, c["n_train"]), slice(c["n_train"], None)
    model, history = train_two_towers(  # on the CPU, as the stored results were made
        XA[tr], XB[tr], out=c["out"], steps=c["steps"], temperature=c["temperature"], random_state=seed, device="cpu"
    )
    towers = cross_modal_recall(embed(model.a, XA[te]), embed(model.b, XB[te]), y[te])
    cca = CCA(c["out"], max_iter=2000).fit(XA[tr], XB[tr])
    linear = cross_modal_recall(*cca.transform(XA[te], XB[te]), y[te])
    out = {f"towers {k}": v for k, v in towers.items()} | {f"CCA {k}": v for k, v in linear.items()}
    return (out, model, history) if return_models else out


def spd_run(seed: int, return_models: bool = False) -> dict:
    """One seed of chapter 2.7's SPD experiment: 3-NN on raw entries, log-Euclidean, and a trained SPDNet."""
    from sklearn.neighbors import KNeighborsClassifier

    c = SPD
    S, y = make_spd_classes(c["n_per_class"], random_state=seed)
    idx = np.random.default_rng(seed).permutation(len(S))
    tr, te = idx[: c["n_train"]], idx[c["n_train"] :]
    St = torch.as_tensor(S)
    torch.manual_seed(seed)
    net = SPDNet(S.shape[1], c["out_size"]).double()

    def batches(step, rng):
        i = tr[pk_batch(y[tr], 3, 8, rng)]
        return St[i], torch.as_tensor(y[i])

    history = fit(
        net,
        lambda m, xb, yb, step: triplet_loss(m(xb), yb, mining="batch_hard", margin=c["margin"]),
        batches=batches,
        steps=c["steps"],
        random_state=seed,
        progress=False,
        device="cpu",
    )
    views = {
        "Euclidean": S.reshape(len(S), -1),
        "log-Euclidean": spd_log(St).reshape(len(S), -1).numpy(),
        "SPDNet": embed(net, S),
    }
    out = {k: float(KNeighborsClassifier(3).fit(Z[tr], y[tr]).score(Z[te], y[te])) for k, Z in views.items()}
    return (out, net, history) if return_models else out
