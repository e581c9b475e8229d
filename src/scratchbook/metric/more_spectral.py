"""More spectral metric learners (Part II, chapter 6): imbalance, locality, adversaries and kernels.

* :class:`IML` — imbalanced metric learning: hinge losses on similar and dissimilar neighbour pairs,
  averaged class by class so that every class weighs the same, Eq. (ms-iml), minimized by projected
  gradient descent on the PSD cone.
* :class:`LLMA` — locally linear metric adaptation: every point moves by a smooth, locally linear
  displacement z = x + Wᵀκ(x) that pulls similar pairs together, a linear system, Eq. (ms-llma-solve).
* :class:`AdversarialSML` — spectral metric learning against an adversary that moves each pair's
  difference within a ball to fool the current metric, Eq. (ms-adv-step); the metric is refitted on
  the original and the adversarial pairs, a generalized eigenproblem, Eq. (ms-pair-eig).
* :class:`KernelFisher` — Fisher discriminant analysis in a kernel feature space through the
  representer theorem, a generalized eigenproblem on the n×n kernel matrices, Eq. (ms-kfd-eig).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.utils.validation import check_is_fitted

from scratchbook._validation import check_int, check_n_components, check_real
from scratchbook.metric._base import MahalanobisMixin, relative_ridge
from scratchbook.metric.distances import components_from_metric, project_psd

__all__ = [
    "neighbour_pairs",
    "iml_loss",
    "iml_gradient",
    "IML",
    "llma_objective",
    "llma_gradient",
    "LLMA",
    "adversarial_differences",
    "pair_directions",
    "AdversarialSML",
    "kernel_fisher_matrices",
    "KernelFisher",
    "make_imbalanced",
    "make_rings",
    "make_turning",
]

Array = np.ndarray


# --- pairs ---------------------------------------------------------------------------------------


def neighbour_pairs(X: Array, y: Array, n_neighbors: int) -> tuple[Array, Array, Array, Array]:
    """Each point's ``n_neighbors`` nearest same-class and nearest other-class points (Euclidean).

    Returns (i_sim, j_sim, i_dis, j_dis); the anchor i comes first, so a pair belongs to the class y[i].
    A class with fewer members contributes fewer similar neighbours per point (all it has).
    """
    D = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    same = y[:, None] == y[None, :]
    out = []
    for mask in (same, ~same):
        Dm = np.where(mask, D, np.inf)
        order = np.argsort(Dm, axis=1, kind="stable")[:, :n_neighbors]
        i = np.repeat(np.arange(len(X)), order.shape[1])
        j = order.ravel()
        ok = np.isfinite(Dm[i, j])
        out += [i[ok], j[ok]]
    return tuple(out)


def _class_weights(y: Array, anchors: Array, balance: bool) -> Array:
    """Weight of each pair: 1/(C·n_c) when balanced, with n_c the number of pairs of its class; 1/n_pairs otherwise."""
    if not balance:
        return np.full(len(anchors), 1.0 / max(len(anchors), 1))
    cls = y[anchors]
    counts = np.bincount(cls, minlength=y.max() + 1)
    present = np.count_nonzero(counts)
    return 1.0 / (present * counts[cls])


# --- IML ---------------------------------------------------------------------------------------


def _pair_terms(M: Array, X: Array, y: Array, pairs, margin: float, balance: bool):
    i_s, j_s, i_d, j_d = pairs
    Ds, Dd = X[i_s] - X[j_s], X[i_d] - X[j_d]
    ds = np.einsum("pi,ij,pj->p", Ds, M, Ds)
    dd = np.einsum("pi,ij,pj->p", Dd, M, Dd)
    ws, wd = _class_weights(y, i_s, balance), _class_weights(y, i_d, balance)
    return Ds, Dd, ds, dd, ws, wd


def iml_loss(M, X, y, pairs, *, margin: float = 1.0, reg: float = 0.1, balance: bool = True) -> float:
    """The class-balanced IML objective, Eq. (ms-iml).

    Σ_pairs w_p [d²_M − 1]₊ over similar pairs + Σ_pairs w_p [1 + margin − d²_M]₊ over dissimilar
    pairs + reg·‖M − I‖²_F. With ``balance`` each class weighs 1/C: w_p = 1/(C·n_c), n_c the
    number of pairs of that type whose anchor is in class c. Without it each pair weighs the same:
    w_p = 1/n_pairs.
    """
    _, _, ds, dd, ws, wd = _pair_terms(M, X, y, pairs, margin, balance)
    hinge = ws @ np.maximum(ds - 1.0, 0.0) + wd @ np.maximum(1.0 + margin - dd, 0.0)
    return float(hinge + reg * np.sum((M - np.eye(len(M))) ** 2))


def iml_gradient(M, X, y, pairs, *, margin: float = 1.0, reg: float = 0.1, balance: bool = True) -> Array:
    """Gradient of Eq. (ms-iml) in M (away from the kinks of the hinges), Eq. (ms-iml-grad)."""
    Ds, Dd, ds, dd, ws, wd = _pair_terms(M, X, y, pairs, margin, balance)
    a = ws * (ds > 1.0)
    b = wd * (dd < 1.0 + margin)
    return (Ds * a[:, None]).T @ Ds - (Dd * b[:, None]).T @ Dd + 2 * reg * (M - np.eye(len(M)))


class IML(MahalanobisMixin):
    """Imbalanced metric learning: class-balanced hinge losses on neighbour pairs, projected gradient.

    Parameters
    ----------
    n_neighbors : int, default=3
        Similar and dissimilar neighbours per point (the pairs of Eq. (ms-iml)).
    margin : float, default=1.0
        Dissimilar pairs should be farther than 1 + margin (squared distance); similar ones within 1.
    reg : float, default=0.1
        Weight of ‖M − I‖²_F, which keeps M near the Euclidean metric.
    balance : bool, default=True
        Weigh each class equally (IML); ``False`` weighs each pair equally (the plain loss).
    learning_rate : float, default=0.1
        Step of the projected gradient descent.
    max_iter : int, default=200
        Number of steps.

    Attributes
    ----------
    components_ : ndarray of shape (n_features, n_features)
        L with LᵀL = M.
    loss_ : list of float
        Eq. (ms-iml) after each step.
    n_iter_ : int
        Steps taken.
    """

    def __init__(self, n_neighbors=3, margin=1.0, reg=0.1, balance=True, learning_rate=0.1, max_iter=200):
        self.n_neighbors = n_neighbors
        self.margin = margin
        self.reg = reg
        self.balance = balance
        self.learning_rate = learning_rate
        self.max_iter = max_iter

    def _fit(self, X: Array, y: Array) -> Array:
        k = check_int("n_neighbors", self.n_neighbors, low=1)
        margin = check_real("margin", self.margin, low=0.0)
        reg = check_real("reg", self.reg, low=0.0)
        lr = check_real("learning_rate", self.learning_rate, low=0.0, strict_low=True)
        steps = check_int("max_iter", self.max_iter, low=1)
        if not isinstance(self.balance, (bool, np.bool_)):
            raise TypeError(f"balance must be a bool, got {type(self.balance).__name__} {self.balance!r}")
        pairs = neighbour_pairs(X, y, k)
        M = np.eye(X.shape[1])
        kw = dict(margin=margin, reg=reg, balance=bool(self.balance))
        self.loss_ = []
        for _ in range(steps):
            M = project_psd(M - lr * iml_gradient(M, X, y, pairs, **kw))
            self.loss_.append(iml_loss(M, X, y, pairs, **kw))
        self.n_iter_ = steps
        return components_from_metric(M)


# --- LLMA ---------------------------------------------------------------------------------------


def _laplacian(n: int, i: Array, j: Array) -> Array:
    """Graph Laplacian of the pair graph: Σ_pairs (e_i − e_j)(e_i − e_j)ᵀ."""
    L = np.zeros((n, n))
    np.add.at(L, (i, i), 1.0)
    np.add.at(L, (j, j), 1.0)
    np.add.at(L, (i, j), -1.0)
    np.add.at(L, (j, i), -1.0)
    return L


def llma_objective(W: Array, X: Array, K: Array, i: Array, j: Array, reg: float) -> float:
    """Eq. (ms-llma): Σ_similar ‖y_i − y_j‖² + reg·tr(WᵀKW), with Y = X + KW."""
    Y = X + K @ W
    return float(np.sum((Y[i] - Y[j]) ** 2) + reg * np.trace(W.T @ K @ W))


def llma_gradient(W: Array, X: Array, K: Array, i: Array, j: Array, reg: float) -> Array:
    """Gradient of Eq. (ms-llma) in W: 2K·L·(X + KW) + 2·reg·KW, L the pair graph's Laplacian."""
    L = _laplacian(len(X), i, j)
    return 2 * K @ L @ (X + K @ W) + 2 * reg * K @ W


class LLMA(MahalanobisMixin):
    """Locally linear metric adaptation: move the points by z = x + Wᵀκ(x) to pull similar pairs together.

    κ(x) holds the RBF kernel values exp(−γ‖x − x_j‖²) to the n training points, so the displacement
    is smooth and, near any point, nearly linear; W (n×d) solves the linear system Eq. (ms-llma-solve).
    The learned distance is Euclidean after the move; its local Mahalanobis matrix at x is J(x)ᵀJ(x),
    J the Jacobian of the move, Eq. (ms-llma-local).

    Parameters
    ----------
    n_neighbors : int, default=3
        Nearest same-class neighbours of each point, the similar pairs.
    gamma : float or None, default=None
        RBF width; ``None`` means 1 / (median squared distance between training points).
    reg : float, default=1.0
        Weight of the smoothness penalty tr(WᵀKW); large values keep the points where they are.

    Attributes
    ----------
    components_ : ndarray of shape (n_samples, n_features)
        The coefficients W of the displacement (not a linear map: the move is non-linear).
    X_fit_ : ndarray of shape (n_samples, n_features)
        The training points the kernel is evaluated against.
    """

    def __init__(self, n_neighbors=3, gamma=None, reg=1.0):
        self.n_neighbors = n_neighbors
        self.gamma = gamma
        self.reg = reg

    def _fit(self, X: Array, y: Array) -> Array:
        k = check_int("n_neighbors", self.n_neighbors, low=1)
        reg = check_real("reg", self.reg, low=0.0, strict_low=True)
        if self.gamma is None:
            sq = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
            med = np.median(sq[np.triu_indices(len(X), 1)])
            self.gamma_ = 1.0 / med if med > 0 else 1.0
        else:
            self.gamma_ = check_real("gamma", self.gamma, low=0.0, strict_low=True)
        i, j, _, _ = neighbour_pairs(X, y, k)
        self.X_fit_ = X
        K = rbf_kernel(X, X, gamma=self.gamma_)
        L = _laplacian(len(X), i, j)
        # (L K + reg I) W = −L X makes the gradient vanish, Eq. (ms-llma-solve).
        return np.linalg.solve(L @ K + reg * np.eye(len(X)), -L @ X)

    def transform(self, X) -> Array:
        """The move x ↦ z = x + Wᵀκ(x)."""
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        return X + rbf_kernel(X, self.X_fit_, gamma=self.gamma_) @ self.components_

    def local_metric(self, X) -> Array:
        """J(x)ᵀJ(x) for each row x (shape n×d×d): the Mahalanobis matrix of the move near x."""
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        k = rbf_kernel(X, self.X_fit_, gamma=self.gamma_)  # m×n
        diff = X[:, None, :] - self.X_fit_[None, :, :]  # m×n×d
        # J = I + Σ_j w_j ∇k_j(x)ᵀ with ∇k_j(x) = −2γ k_j(x)(x − x_j), Eq. (ms-llma-local)
        J = np.eye(X.shape[1])[None] - 2 * self.gamma_ * np.einsum("mn,nd,mne->mde", k, self.components_, diff)
        return np.einsum("mde,mdf->mef", J, J)

    def get_mahalanobis_matrix(self) -> Array:
        """The mean of the local metrics J(x_i)ᵀJ(x_i) over the training points (PSD)."""
        check_is_fitted(self)
        return self.local_metric(self.X_fit_).mean(axis=0)

    @property
    def _n_features_out(self) -> int:
        return self.components_.shape[1]


# --- adversarial spectral metric learning -------------------------------------------------------------


def adversarial_differences(D: Array, M: Array, epsilon: float, sign: int) -> Array:
    """Move each difference d (rows of D) by δ, ‖δ‖ ≤ ε, to change dᵀMd fastest, Eq. (ms-adv-step).

    δ = sign·ε·Md/‖Md‖ maximizes the first-order change 2(Md)ᵀδ (sign = +1: similar pairs pushed
    apart) or minimizes it (sign = −1: dissimilar pairs pulled together) over the ball.
    """
    G = D @ M
    norm = np.linalg.norm(G, axis=1, keepdims=True)
    return D + sign * epsilon * np.divide(G, norm, out=np.zeros_like(G), where=norm > 0)


def pair_directions(Ds: Array, Dd: Array, n_components: int, reg: float) -> tuple[Array, Array]:
    """Top generalized eigenpairs of S_d a = λ S_s a (aᵀS_s a = 1), Eq. (ms-pair-eig).

    S_s and S_d are the mean outer products of the similar and the dissimilar differences; reg is
    added to S_s's diagonal in units of its mean eigenvalue.
    """
    Ss, Sd = Ds.T @ Ds / len(Ds), Dd.T @ Dd / len(Dd)
    Ss = relative_ridge(Ss, reg)
    lam, A = scipy.linalg.eigh(Sd, Ss)
    order = np.argsort(lam)[::-1][:n_components]
    return lam[order], A[:, order]


class AdversarialSML(MahalanobisMixin):
    """Spectral metric learning with adversarial pairs: refit the metric on pairs made to fool it.

    Each round, an adversary moves every similar pair's difference to look farther and every
    dissimilar pair's to look closer under the current metric, within a ball of radius ε,
    Eq. (ms-adv-step); the metric is then the solution of Eq. (ms-pair-eig) on the original and the
    adversarial differences together. With ε = 0 it is the plain spectral pair learner.

    Parameters
    ----------
    epsilon : float, default=0.1
        Radius of the adversary's ball, in units of the RMS length of a similar difference.
    n_rounds : int, default=3
        Rounds of adversary then refit.
    n_neighbors : int, default=3
        Neighbour pairs per point, as in :func:`neighbour_pairs`.
    n_components : int or None, default=None
        Directions kept; ``None`` keeps all n_features.
    reg : float, default=1e-3
        Regularization of the similar scatter.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Rows √λ_k a_kᵀ: the top generalized eigenvectors of Eq. (ms-pair-eig), each scaled by the
        square root of its ratio, so that M = Σ_k λ_k a_k a_kᵀ stretches the discriminative directions most.
    eigenvalues_ : ndarray of shape (n_components,)
        Their ratios of dissimilar to similar spread.
    """

    def __init__(self, epsilon=0.1, n_rounds=3, n_neighbors=3, n_components=None, reg=1e-3):
        self.epsilon = epsilon
        self.n_rounds = n_rounds
        self.n_neighbors = n_neighbors
        self.n_components = n_components
        self.reg = reg

    def _fit(self, X: Array, y: Array) -> Array:
        d = X.shape[1]
        eps = check_real("epsilon", self.epsilon, low=0.0)
        rounds = check_int("n_rounds", self.n_rounds, low=0)
        k = check_int("n_neighbors", self.n_neighbors, low=1)
        reg = check_real("reg", self.reg, low=0.0, strict_low=True)
        p = check_n_components(self.n_components, d)
        i_s, j_s, i_d, j_d = neighbour_pairs(X, y, k)
        Ds, Dd = X[i_s] - X[j_s], X[i_d] - X[j_d]
        if len(Ds) == 0:
            raise ValueError("y must have a class with at least 2 samples (no similar pairs)")
        radius = eps * np.sqrt(np.mean(np.sum(Ds**2, axis=1)))
        lam, A = pair_directions(Ds, Dd, p, reg)
        for _ in range(rounds):
            M = (A * lam) @ A.T
            Ds_adv = adversarial_differences(Ds, M, radius, +1)
            Dd_adv = adversarial_differences(Dd, M, radius, -1)
            lam, A = pair_directions(np.vstack([Ds, Ds_adv]), np.vstack([Dd, Dd_adv]), p, reg)
        self.eigenvalues_ = lam
        return (A * np.sqrt(np.maximum(lam, 0.0))).T  # each direction weighted by its ratio


# --- kernel Fisher -------------------------------------------------------------------------------


def kernel_fisher_matrices(K: Array, y: Array) -> tuple[Array, Array]:
    """Between- and within-class scatter of α's projections, Eq. (ms-kfd-eig): (S_b, S_w), both n×n.

    The projection of φ(x_i) on a = Σ_j α_j φ(x_j) is (Kα)_i, so the between-class scatter of the
    projections is αᵀS_bα with S_b = Σ_c n_c (μ_c − μ)(μ_c − μ)ᵀ, μ_c the mean of K's columns in class c,
    and the within-class one is αᵀS_wα with S_w = Σ_c K_c (I − 11ᵀ/n_c) K_cᵀ.
    """
    mu = K.mean(axis=1)
    Sb = np.zeros_like(K)
    Sw = np.zeros_like(K)
    for c in np.unique(y):
        Kc = K[:, y == c]
        mc = Kc.mean(axis=1)
        Sb += Kc.shape[1] * np.outer(mc - mu, mc - mu)
        Kc0 = Kc - mc[:, None]
        Sw += Kc0 @ Kc0.T
    return Sb, Sw


class KernelFisher(MahalanobisMixin):
    """Kernel Fisher discriminant analysis: a Fisher metric in an RBF feature space (representer theorem).

    Parameters
    ----------
    gamma : float or None, default=None
        RBF width; ``None`` means 1 / n_features. ``kernel="linear"`` ignores it.
    kernel : {"rbf", "linear"}, default="rbf"
    n_components : int or None, default=None
        Directions kept; ``None`` keeps C − 1 (C classes), capped at n_samples.
    reg : float, default=1e-3
        Added to S_w's diagonal in units of its mean eigenvalue, so that it is positive definite.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_samples)
        Rows α_kᵀ: the directions a_k = Σ_j α_kj φ(x_j) in feature space; transform is x ↦ Aᵀk(x).
    eigenvalues_ : ndarray of shape (n_components,)
        Fisher ratios of the directions.
    X_fit_ : ndarray of shape (n_samples, n_features)
    """

    def __init__(self, gamma=None, kernel="rbf", n_components=None, reg=1e-3):
        self.gamma = gamma
        self.kernel = kernel
        self.n_components = n_components
        self.reg = reg

    def _kernel(self, X: Array) -> Array:
        if self.kernel == "linear":
            return X @ self.X_fit_.T
        return rbf_kernel(X, self.X_fit_, gamma=self.gamma_)

    def _fit(self, X: Array, y: Array) -> Array:
        if self.kernel not in ("rbf", "linear"):
            raise ValueError(f"kernel must be one of ('rbf', 'linear'), got {self.kernel!r}")
        self.gamma_ = (
            1.0 / X.shape[1] if self.gamma is None else check_real("gamma", self.gamma, low=0.0, strict_low=True)
        )
        reg = check_real("reg", self.reg, low=0.0, strict_low=True)
        n_classes = int(y.max()) + 1
        p = min(n_classes - 1, len(X)) if self.n_components is None else None
        if p is None:
            p = check_n_components(self.n_components, len(X), bound="n_samples")
        self.X_fit_ = X
        K = self._kernel(X)
        Sb, Sw = kernel_fisher_matrices(K, y)
        Sw = relative_ridge(Sw, reg)
        lam, A = scipy.linalg.eigh(Sb, Sw)
        order = np.argsort(lam)[::-1][:p]
        self.eigenvalues_ = lam[order]
        return A[:, order].T

    def transform(self, X) -> Array:
        """x ↦ (α_kᵀ k(x))_k, the coordinates along the feature-space directions."""
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        return self._kernel(X) @ self.components_.T

    def get_mahalanobis_matrix(self) -> Array:
        """The metric on the kernel-feature vectors k(x) (n_samples×n_samples): AAᵀ, PSD."""
        check_is_fitted(self)
        return self.components_.T @ self.components_


# --- data made for the chapter ---------------------------------------------------------------------


def make_imbalanced(n_major: int = 240, n_minor: int = 12, n_noise: int = 4, random_state: int = 0):
    """One large class and two small ones, where the large class's spread hides what splits the small ones.

    The large class (label 0, ``n_major`` points) is spread widely along feature 0 (standard deviation
    2) and tightly along feature 1; the two small classes (labels 1 and 2, ``n_minor`` points each) sit
    at feature 1 = 1.5 and differ only along feature 0 (means ∓0.8, spread 0.3). ``n_noise`` standard
    Gaussian features are appended. Pairs of the large class ask to shrink feature 0; the small classes
    need it. Returns ``(X, y)``.
    """
    n_major = check_int("n_major", n_major, low=2)
    n_minor = check_int("n_minor", n_minor, low=2)
    n_noise = check_int("n_noise", n_noise, low=0)
    rng = np.random.RandomState(random_state)
    y = np.repeat([0, 1, 2], [n_major, n_minor, n_minor])
    X = np.zeros((len(y), 2))
    X[y == 0, 0] = 2.0 * rng.normal(size=n_major)
    X[y == 0, 1] = 0.3 * rng.normal(size=n_major)
    for c, mean in ((1, -0.8), (2, 0.8)):
        X[y == c, 0] = mean + 0.3 * rng.normal(size=n_minor)
        X[y == c, 1] = 1.5 + 0.3 * rng.normal(size=n_minor)
    return np.hstack([X, rng.normal(size=(len(y), n_noise))]), y


def make_rings(n_samples: int = 300, n_noise: int = 4, noise_scale: float = 1.5, random_state: int = 0):
    """Two concentric rings (radii 1 and 2.5, radial spread 0.25) in features 0–1, plus Gaussian noise features.

    What separates the classes is the radius: a direction that turns with the position, so no single
    linear map (one global Mahalanobis metric) brings it out. Returns ``(X, y)``.
    """
    n_samples = check_int("n_samples", n_samples, low=4)
    n_noise = check_int("n_noise", n_noise, low=0)
    noise_scale = check_real("noise_scale", noise_scale, low=0.0)
    rng = np.random.RandomState(random_state)
    y = np.arange(n_samples) % 2
    radius = 1 + 1.5 * y + 0.25 * rng.normal(size=n_samples)
    angle = rng.uniform(0, 2 * np.pi, n_samples)
    rings = np.c_[radius * np.cos(angle), radius * np.sin(angle)]
    return np.hstack([rings, noise_scale * rng.normal(size=(n_samples, n_noise))]), y


def make_turning(
    n_samples: int = 300,
    length: float = 4.0,
    gap: float = 0.3,
    noise: float = 0.15,
    spread: float = 2.0,
    random_state: int = 0,
):
    """Two classes whose separating direction turns with the position: a case for a local metric.

    Feature 2 is the position t, uniform on [0, ``length``). At t the direction u(t) = (cos θ, sin θ),
    θ = πt / ``length``, separates the classes in features 0–1: a point lies at ±``gap`` along u(t)
    (sign by class, plus Gaussian noise of standard deviation ``noise``) and is spread along the
    perpendicular direction with standard deviation ``spread``. Over the range of t, u(t) turns by half
    a circle, so every direction of the plane separates the classes somewhere and is noise elsewhere:
    no single linear map (one global Mahalanobis metric) can stretch the right one. Returns ``(X, y)``.
    """
    n_samples = check_int("n_samples", n_samples, low=4)
    length = check_real("length", length, low=0.0, strict_low=True)
    gap = check_real("gap", gap, low=0.0)
    noise = check_real("noise", noise, low=0.0)
    spread = check_real("spread", spread, low=0.0)
    rng = np.random.RandomState(random_state)
    y = np.arange(n_samples) % 2
    t = rng.uniform(0, length, n_samples)
    theta = np.pi * t / length
    u = np.c_[np.cos(theta), np.sin(theta)]
    v = np.c_[-np.sin(theta), np.cos(theta)]
    along = (2 * y - 1) * gap + noise * rng.normal(size=n_samples)
    across = spread * rng.normal(size=n_samples)
    return np.c_[along[:, None] * u + across[:, None] * v, t], y
