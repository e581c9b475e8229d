"""Checkers for the exercises of Part II: call one with your answer to see whether it is right.

Each calls the answer through ``call_or_none``; ``None`` back means it is not written yet (a message
has been printed), and the checker returns False, as in the other parts' checkers.
"""

from __future__ import annotations

import numpy as np

from scratchbook.book import call_or_none, report_check

__all__ = [
    "check_mahalanobis",
    "check_project_psd",
    "check_nca_objective",
    "check_bregman_step",
    "check_geometric_mean",
    "check_rca_map",
    "batch_hard_autograd",
    "check_batch_hard_grad",
    "check_batch_hard",
    "check_prototype_predict",
    "check_map_at_r",
    "check_balanced_weights",
    "check_fisher_eigenvalues",
]


def _psd(rng, d: int, rank: int) -> np.ndarray:
    """A random d×d PSD matrix of the given rank."""
    U = rng.normal(size=(rank, d))
    return U.T @ U


# --- Distances (chapter 1) ---------------------------------------------------------------------


def check_mahalanobis(fn) -> bool:
    """Check ``fn(X, Y, M) -> D`` (n×m): the generalized Mahalanobis distances between rows of X and Y."""
    from scratchbook.metric.distances import mahalanobis_distances

    rng = np.random.default_rng(0)
    ok = True
    for d, rank in ((3, 3), (5, 2)):  # a full-rank and a low-rank metric
        X, Y, M = rng.normal(size=(6, d)), rng.normal(size=(4, d)), _psd(rng, d, rank)
        answer = call_or_none(fn, X, Y, M)
        if answer is None:
            return False
        ok &= report_check(
            f"distances with a rank-{rank} metric in d={d}",
            answer,
            mahalanobis_distances(X, Y, M),
            hint="D[i, j] = sqrt((x_i − y_j)ᵀ M (x_i − y_j)); return distances, not squares.",
        )
    return bool(ok)


def check_project_psd(fn) -> bool:
    """Check ``fn(M) -> P``: the PSD matrix nearest to a symmetric M in the Frobenius norm."""
    from scratchbook.metric.distances import project_psd

    rng = np.random.default_rng(1)
    ok = True
    for d in (2, 5):
        B = rng.normal(size=(d, d))
        M = (B + B.T) / 2  # symmetric, with eigenvalues of both signs
        answer = call_or_none(fn, M)
        if answer is None:
            return False
        ok &= report_check(
            f"projection of a {d}×{d} symmetric matrix",
            answer,
            project_psd(M),
            hint="Eigendecompose M = UΛUᵀ, set the negative eigenvalues to 0, rebuild.",
        )
    return bool(ok)


# --- Probabilistic metric learning (chapter 3) ---------------------------------------------------


def check_nca_objective(fn) -> bool:
    """Check ``fn(L, X, y) -> (f, grad)``: NCA's objective f(L) = Σ_i p_i and its gradient (k×d)."""
    from scratchbook.metric.nca import nca_loss_grad

    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(15, 4)), rng.integers(0, 3, size=15)
    L = 0.7 * rng.normal(size=(2, 4))
    answer = call_or_none(fn, L, X, y)
    if answer is None:
        return False
    if not isinstance(answer, tuple) or len(answer) != 2:
        print("✗ fn must return a pair (f, grad).")
        return False
    loss, grad = nca_loss_grad(L, X, y[:, None] == y[None, :])
    ok_f = report_check(
        "objective Σ_i p_i",
        answer[0],
        -loss,
        hint="p_ij is a softmax over j ≠ i of −‖Lx_i − Lx_j‖²; p_i sums p_ij over i's class.",
    )
    ok_g = report_check(
        "gradient ∂f/∂L",
        answer[1],
        -grad.reshape(L.shape),
        hint="2L Σ_i (p_i Σ_k p_ik v_ik v_ikᵀ − Σ_{j in C_i} p_ij v_ij v_ijᵀ), v_ij = x_i − x_j.",
    )
    return ok_f and ok_g


def check_bregman_step(fn) -> bool:
    """Check ``fn(A, v, delta, xi, lam, gamma) -> (A, xi, lam)``: one ITML Bregman projection."""
    from scratchbook.metric.itml import bregman_step

    rng = np.random.default_rng(3)
    A = _psd(rng, 4, 4) + np.eye(4)
    v = rng.normal(size=4)
    p = float(v @ A @ v)
    ok = True
    # a violated similarity, a violated dissimilarity, and a satisfied constraint with λ > 0
    for delta, xi, lam in ((1, 0.5 * p, 0.0), (-1, 2.0 * p, 0.0), (1, 2.0 * p, 0.3)):
        answer = call_or_none(fn, A.copy(), v, delta, xi, lam, 1.0)
        if answer is None:
            return False
        if not isinstance(answer, tuple) or len(answer) != 3:
            print("✗ fn must return a triple (A, xi, lam).")
            return False
        expected = bregman_step(A.copy(), v, delta, xi, lam, 1.0)
        kind = "similar" if delta == 1 else "dissimilar"
        for name, got, want in zip(("A", "ξ", "λ"), answer, expected):
            ok &= report_check(
                f"{name} after projecting a {kind} pair (ξ = {xi / p:.1f}·p, λ = {lam})",
                got,
                want,
                hint="α = min(λ, δ γ/(γ+1) (1/p − 1/ξ)), β = δα/(1 − δαp), then ξ, λ and A.",
            )
    return bool(ok)


# --- Spectral metric learning (chapter 2) -------------------------------------------------------


def check_geometric_mean(fn) -> bool:
    """Check ``fn(A, B, t) -> G``: the weighted geometric mean A #_t B of two SPD matrices."""
    from scratchbook.metric.gmml import geometric_mean

    rng = np.random.default_rng(4)
    ok = True
    for d, t in ((2, 0.5), (4, 0.5), (4, 0.2)):
        A, B = _psd(rng, d, d) + 0.5 * np.eye(d), _psd(rng, d, d) + 0.5 * np.eye(d)
        answer = call_or_none(fn, A, B, t)
        if answer is None:
            return False
        ok &= report_check(
            f"A #_t B for {d}×{d} matrices, t = {t}",
            answer,
            geometric_mean(A, B, t),
            hint="A^{1/2} (A^{-1/2} B A^{-1/2})^t A^{1/2}; take matrix powers through eigh.",
        )
    return bool(ok)


def check_rca_map(fn) -> bool:
    """Check ``fn(X, chunks) -> L``: RCA's map C^{-1/2}, C the within-chunklet covariance (chunks −1: unused)."""
    from scratchbook.metric.rca import inverse_sqrt, within_chunklet_covariance

    rng = np.random.default_rng(5)
    X = rng.normal(size=(30, 3)) @ rng.normal(size=(3, 3))
    chunks = np.repeat(np.arange(6), 5)
    chunks[::7] = -1
    answer = call_or_none(fn, X, chunks)
    if answer is None:
        return False
    return report_check(
        "RCA map C^{-1/2}",
        answer,
        inverse_sqrt(within_chunklet_covariance(X, chunks)),
        hint="Subtract each chunklet's mean, average the outer products over the used "
        "points, then take the inverse square root through eigh.",
    )


# --- Deep metric learning (chapter 4) ------------------------------------------------------------


def check_batch_hard(fn) -> bool:
    """Check ``fn(D, y, margin) -> losses``: batch-hard triplet losses, one per anchor, from distances D (n×n)."""
    import torch

    from scratchbook.metric.deep import embedding_distances, mine_triplets

    rng = np.random.default_rng(4)
    y = np.repeat(np.arange(4), 4)
    E = torch.as_tensor(rng.normal(size=(len(y), 3)))
    D = embedding_distances(E)
    a, p, n = mine_triplets(D, torch.as_tensor(y), mining="batch_hard")
    expected = torch.relu(D[a, p] - D[a, n] + 0.2).numpy()
    answer = call_or_none(fn, D.numpy().copy(), y.copy(), 0.2)
    if answer is None:
        return False
    return report_check(
        "batch-hard losses of 16 anchors (margin 0.2)",
        answer,
        expected,
        hint="for anchor i: max(0, max_{j: y_j = y_i, j ≠ i} D_ij − min_{k: y_k ≠ y_i} D_ik + margin).",
    )


def _batch_hard_problem(seed: int = 11, n_classes: int = 3, n_per_class: int = 4, dim: int = 3):
    """A small class-balanced batch of embeddings, classes apart (no ties among the distances), and its labels."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), n_per_class)
    return rng.normal(size=(len(y), dim)) + 3.0 * y[:, None], y


def batch_hard_autograd(E, y, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """∂/∂E of Σ_a ℓ_BH(a) by torch's autograd, with plain Euclidean distances between the rows of E.

    Written here with ``torch.cdist`` and masked ``max``/``min``, independently of the package's
    mining code; returns the gradient (n×d) and the per-anchor losses.
    """
    import torch

    E_t = torch.tensor(E, dtype=torch.float64, requires_grad=True)
    labels = torch.as_tensor(y)
    D = torch.cdist(E_t, E_t)
    same = labels[:, None] == labels[None, :]
    positive = same & ~torch.eye(len(y), dtype=torch.bool)
    hardest_positive = D.masked_fill(~positive, -torch.inf).max(dim=1).values
    hardest_negative = D.masked_fill(same, torch.inf).min(dim=1).values
    losses = torch.relu(hardest_positive - hardest_negative + margin)
    losses.sum().backward()
    return E_t.grad.numpy(), losses.detach().numpy()


def check_batch_hard_grad(fn) -> bool:
    """Check ``fn(E, y, margin) -> G`` (n×d): the gradient of Σ_a ℓ_BH(a) with respect to the embeddings E.

    Distances are plain Euclidean distances between the rows of E (no normalization); the sum runs over
    every anchor of the batch. The reference is torch's autograd (:func:`batch_hard_autograd`) at three
    margins: one at which no anchor has a loss, one at which some have, and one at which all have.
    """
    E, y = _batch_hard_problem()
    ok = True
    for margin in (0.2, 1.0, 4.0):
        expected, losses = batch_hard_autograd(E, y, margin)
        answer = call_or_none(fn, E.copy(), y.copy(), margin)
        if answer is None:
            return False
        ok &= report_check(
            f"gradient at margin {margin} ({int((losses > 0).sum())} of {len(y)} anchors with a loss)",
            answer,
            expected,
            rtol=1e-8,
            atol=1e-10,
            hint="Only anchors with a positive loss count; each moves three rows: the anchor by u − v, its hardest "
            "positive by −u and its hardest negative by +v, with u = (e_a − e_p)/d_ap and v = (e_a − e_n)/d_an. "
            "Add up (do not overwrite) when a row is the hardest example of several anchors.",
        )
    return bool(ok)


def check_prototype_predict(fn) -> bool:
    """Check ``fn(support, support_labels, query) -> labels``: nearest-prototype classification of the queries."""
    import torch

    from scratchbook.metric.deep import prototype_logits, prototypes

    rng = np.random.default_rng(5)
    support_labels = np.repeat([3, 7, 8], 5)
    support = rng.normal(size=(15, 4)) + support_labels[:, None] / 4
    query = rng.normal(size=(12, 4)) + 1.5
    classes, protos = prototypes(torch.as_tensor(support), torch.as_tensor(support_labels))
    expected = classes[prototype_logits(torch.as_tensor(query), protos).argmax(dim=1)].numpy()
    answer = call_or_none(fn, support.copy(), support_labels.copy(), query.copy())
    if answer is None:
        return False
    return report_check(
        "labels of 12 queries, 3-way 5-shot",
        answer,
        expected,
        hint="Average the support embeddings of each class, then give each query the label "
        "of the nearest mean (return labels, not indices).",
    )


# --- Retrieval and few-shot learning on unseen classes (chapter 5) -------------------------------


def check_map_at_r(fn) -> bool:
    """Check ``fn(embeddings, labels) -> float``: MAP@R of leave-one-out retrieval by Euclidean distance."""
    from scratchbook.metric.retrieval import map_at_r

    rng = np.random.default_rng(6)
    ok = True
    for n_classes, sizes in ((3, (4, 4, 4)), (4, (2, 5, 3, 6))):  # balanced, then unbalanced classes
        labels = np.repeat(np.arange(n_classes), sizes)
        embeddings = rng.normal(size=(len(labels), 3)) + labels[:, None] * 0.8
        answer = call_or_none(fn, embeddings.copy(), labels.copy())
        if answer is None:
            return False
        ok &= report_check(
            f"MAP@R of {len(labels)} samples in {n_classes} classes of sizes {sizes}",
            answer,
            map_at_r(embeddings, labels),
            hint="For each query, rank the other samples by distance; R = its class size − 1; average "
            "precision@i over the relevant items among the first R, divide by R, then average over queries.",
        )
    return bool(ok)


# --- Imbalance, locality, adversaries and kernels (chapter 6) ------------------------------------


def check_balanced_weights(fn) -> bool:
    """Check ``fn(y, anchors) -> w``: IML's weight of each pair.

    The weight is 1/(C·n_c), with n_c the number of pairs whose anchor is in the pair's class.
    """
    from scratchbook.metric.more_spectral import _class_weights

    rng = np.random.default_rng(6)
    y = np.repeat([0, 1, 2, 3], [20, 5, 2, 9])
    anchors = rng.integers(0, len(y), size=60)
    ok = True
    for case, a in (
        ("every class anchors a pair", np.r_[anchors, 20, 25, 27]),
        ("a class anchors none", anchors[y[anchors] != 2]),
    ):
        answer = call_or_none(fn, y, a)
        if answer is None:
            return False
        ok &= report_check(
            f"class-balanced pair weights ({case})",
            answer,
            _class_weights(y, a, True),
            hint="Count the pairs of each anchor class; C is the number of classes that anchor at least one pair.",
        )
    return bool(ok)


# --- More deep metric learning (chapter 7) -------------------------------------------------------


def check_fisher_eigenvalues(fn) -> bool:
    """Check ``fn(Z, y, reg) -> eigenvalues``: the ascending eigenvalues of S_b v = λ (S_w + reg·I) v."""
    import torch

    from scratchbook.metric.deep_more import fisher_eigenvalues

    rng = np.random.default_rng(7)
    ok = True
    for n_classes, d in ((3, 4), (5, 6)):
        y = np.arange(40) % n_classes
        Z = rng.normal(size=(40, d)) + y[:, None] * rng.normal(size=d)
        answer = call_or_none(fn, Z.copy(), y.copy(), 0.01)
        if answer is None:
            return False
        expected = fisher_eigenvalues(torch.as_tensor(Z), torch.as_tensor(y), 0.01).numpy()
        ok &= report_check(
            f"Fisher eigenvalues of {n_classes} classes in d={d}",
            np.sort(np.asarray(answer, dtype=float)),
            expected,
            hint="S_w = Σ_c Σ_i (z_i − μ_c)(z_i − μ_c)ᵀ / n, S_b = Σ_c n_c (μ_c − μ)(μ_c − μ)ᵀ / n; then "
            "scipy.linalg.eigh(S_b, S_w + reg·I, eigvals_only=True).",
        )
    return bool(ok)
