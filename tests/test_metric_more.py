"""Chapter 2.7: the Bayesian diagonal metric and the deep losses, against independent oracles.

* The negative log posterior's gradient and Hessian against central finite differences; the Newton
  MAP point against scipy's L-BFGS on the same objective; the probit predictive against Monte Carlo
  over the Laplace posterior.
* Deep LDA's eigenvalues against scipy's generalized symmetric eigensolver, for a linear network.
* Every torch loss through ``torch.autograd.gradcheck`` in float64, and the cross-modal loss against a
  loop over the pairs.
* The SPD network's logarithm against scipy's ``logm``.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.utils.estimator_checks import parametrize_with_checks

from scratchbook.metric.bayes import BayesianMetric, pair_features, pair_objective
from scratchbook.metric.deep_more import (
    METHODS,
    Autoencoder,
    NetTransformer,
    SPDNet,
    cross_modal_loss,
    deep_lda_loss,
    fisher_eigenvalues,
    scatter_matrices,
    spd_log,
)
from scratchbook.metric.experiments import make_noisy_features


@pytest.fixture
def pairs():
    rng = np.random.default_rng(0)
    Phi = rng.random((60, 4))
    delta = np.where(rng.random(60) < 0.5, 1, -1)
    return Phi, delta


def test_pair_objective_gradient_and_hessian_match_finite_differences(pairs):
    Phi, delta = pairs
    theta = np.random.default_rng(1).normal(size=5)
    f = lambda t: pair_objective(t, Phi, delta, 0.7)  # noqa: E731
    _, grad, hess = f(theta)
    h = 1e-6
    eye = np.eye(5)
    fd_grad = np.array([(f(theta + h * e)[0] - f(theta - h * e)[0]) / (2 * h) for e in eye])
    fd_hess = np.array([(f(theta + h * e)[1] - f(theta - h * e)[1]) / (2 * h) for e in eye])
    np.testing.assert_allclose(grad, fd_grad, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(hess, fd_hess, rtol=1e-5, atol=1e-6)


def test_map_point_matches_lbfgs_and_laplace_covariance_is_inverse_hessian():
    X, y = make_noisy_features(120, random_state=0)
    X = (X - X.mean(0)) / X.std(0)
    model = BayesianMetric(alpha=2.0, num_constraints=300).fit(X, y)
    i, j, delta = model.constraints_  # the pairs the fit drew
    Phi = pair_features(X[i], X[j])
    res = minimize(
        lambda t: pair_objective(t, Phi, delta, 2.0)[:2],
        np.zeros(X.shape[1] + 1),
        jac=True,
        method="L-BFGS-B",
        options={"gtol": 1e-10, "ftol": 1e-14, "maxiter": 2000},
    )
    np.testing.assert_allclose(np.append(model.weights_, model.bias_), res.x, atol=1e-4)
    H = pair_objective(res.x, Phi, delta, 2.0)[2]
    np.testing.assert_allclose(model.covariance_, np.linalg.inv(H), rtol=1e-3, atol=1e-8)
    # the informative features get larger weights than the noise features
    assert model.weights_[:2].min() > np.abs(model.weights_[2:]).max()


def test_probit_predictive_matches_monte_carlo():
    X, y = make_noisy_features(90, random_state=1)
    model = BayesianMetric(alpha=1.0, num_constraints=60).fit(X / X.std(0), y)
    Xs = X / X.std(0)
    prob, std = model.predict_similarity(Xs[:20], Xs[20:40], return_std=True)
    draws = model.sample_weights(200_000, random_state=0)
    A = np.hstack([-pair_features(Xs[:20], Xs[20:40]), np.ones((20, 1))])
    mc = expit(draws @ A.T).mean(0)
    assert std.min() > 0
    np.testing.assert_allclose(prob, mc, atol=0.02)  # the probit approximation's known small error


def test_bayesian_metric_uses_the_psd_projection_of_its_unconstrained_map_weights():
    X, y = make_noisy_features(120, random_state=0)
    X = (X - X.mean(0)) / X.std(0)
    model = BayesianMetric(alpha=1.0, num_constraints=200).fit(X, y)
    w = model.weights_
    assert model.n_clipped_ == int(np.sum(w < 0)) and model.n_clipped_ > 0  # the MAP fit is unconstrained
    # oracle: the nearest PSD matrix to diag(ŵ) by eigendecomposition (scipy), clipping eigenvalues at zero
    lam, V = scipy.linalg.eigh(np.diag(w))
    nearest = (V * np.maximum(lam, 0)) @ V.T
    np.testing.assert_allclose(model.get_mahalanobis_matrix(), nearest, atol=1e-12)
    Z = model.transform(X[:5])
    d2 = ((Z[:, None] - Z[None]) ** 2).sum(-1)
    np.testing.assert_allclose(
        d2,
        pair_features(np.repeat(X[:5], 5, 0), np.tile(X[:5], (5, 1))).reshape(5, 5, -1) @ np.maximum(w, 0),
        atol=1e-10,
    )


def test_bayesian_metric_rejects_bad_arguments():
    X, y = make_noisy_features(60)
    with pytest.raises(ValueError, match="alpha"):
        BayesianMetric(alpha=0.0).fit(X, y)
    with pytest.raises(ValueError, match="num_constraints"):
        BayesianMetric(num_constraints=1).fit(X, y)
    with pytest.raises(ValueError, match="Xa and Xb"):
        pair_features(X[:3], X[:4])


def _batch(n=24, d=5, c=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    Z = torch.randn(n, d, generator=g, dtype=torch.float64)
    labels = torch.arange(n) % c
    return Z, labels


def test_fisher_eigenvalues_match_scipy_for_a_linear_network():
    X, labels = _batch(40, 6, 4)
    W = torch.randn(6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    Z = X @ W
    lam = fisher_eigenvalues(Z, labels, reg=1e-3).numpy()
    Zn, yn = Z.numpy(), labels.numpy()
    mean = Zn.mean(0)
    Sw = sum((Zn[yn == c] - Zn[yn == c].mean(0)).T @ (Zn[yn == c] - Zn[yn == c].mean(0)) for c in range(4)) / 40
    Sb = sum((yn == c).sum() * np.outer(Zn[yn == c].mean(0) - mean, Zn[yn == c].mean(0) - mean) for c in range(4)) / 40
    expected = scipy.linalg.eigh(Sb, Sw + 1e-3 * np.eye(5), eigvals_only=True)
    np.testing.assert_allclose(lam, expected, rtol=1e-8, atol=1e-10)
    # only C − 1 = 3 eigenvalues are nonzero: S_b has rank C − 1
    assert np.all(np.abs(lam[:2]) < 1e-8) and lam[2] > 1e-3
    # the loss is minus the mean of those within the margin of the smallest of the three
    top = np.sort(expected)[-3:]
    assert float(deep_lda_loss(Z, labels, reg=1e-3, margin=1e9)) == pytest.approx(-top.mean())
    assert float(deep_lda_loss(Z, labels, reg=1e-3, margin=0.0)) == pytest.approx(-top.min())


def test_scatter_matrices_add_up_to_the_total_scatter():
    Z, labels = _batch()
    Sw, Sb = scatter_matrices(Z, labels)
    D = Z - Z.mean(0)
    torch.testing.assert_close(Sw + Sb, D.T @ D / len(Z))


def test_deep_lda_loss_gradcheck():
    Z, labels = _batch()
    Z.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda z: deep_lda_loss(z, labels, reg=1e-2, margin=10.0), (Z,))


def test_cross_modal_loss_matches_a_loop_and_gradcheck():
    g = torch.Generator().manual_seed(0)
    za = torch.randn(7, 3, dtype=torch.float64, generator=g, requires_grad=True)
    zb = torch.randn(7, 3, dtype=torch.float64, generator=g, requires_grad=True)
    t = 0.3
    a = za / za.norm(dim=1, keepdim=True)
    b = zb / zb.norm(dim=1, keepdim=True)
    terms = []
    for i in range(7):
        sa = torch.stack([a[i] @ b[k] for k in range(7)]) / t
        sb = torch.stack([b[i] @ a[k] for k in range(7)]) / t
        terms.append(-(sa[i] - torch.logsumexp(sa, 0)) / 2 - (sb[i] - torch.logsumexp(sb, 0)) / 2)
    torch.testing.assert_close(cross_modal_loss(za, zb, t), torch.stack(terms).mean())
    assert torch.autograd.gradcheck(lambda x, y: cross_modal_loss(x, y, t), (za, zb))
    with pytest.raises(ValueError, match="za and zb"):
        cross_modal_loss(za, zb[:3])
    with pytest.raises(ValueError, match="temperature"):
        cross_modal_loss(za, zb, 0.0)


def _spd(n, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, d, d, dtype=torch.float64, generator=g)
    return A @ A.transpose(1, 2) + 0.5 * torch.eye(d, dtype=torch.float64)


def test_spd_log_matches_scipy_logm():
    S = _spd(3, 4)
    for k in range(3):
        np.testing.assert_allclose(spd_log(S)[k].numpy(), scipy.linalg.logm(S[k].numpy()).real, atol=1e-10)
    with pytest.raises(ValueError, match="positive definite"):
        spd_log(-S)


def test_spdnet_gradcheck_and_output_distances_are_log_euclidean():
    S = _spd(4, 5)
    net = SPDNet(5, 3, eps=1e-6).double()
    torch.nn.init.normal_(net.weight)
    forward = lambda w: torch.func.functional_call(net, {"weight": w}, (S,))  # noqa: E731 - the net's own forward at w
    assert torch.autograd.gradcheck(forward, (net.weight.detach().clone().requires_grad_(),))
    out = net(S)
    W = net.stiefel().detach()
    torch.testing.assert_close(W.T @ W, torch.eye(3, dtype=torch.float64))
    logs = spd_log(W.T @ S @ W)
    torch.testing.assert_close((out[0] - out[1]).norm(), (logs[0] - logs[1]).norm())


def test_autoencoder_and_transformer_shapes_and_errors():
    ae = Autoencoder(8, 4, 2)
    x = torch.rand(5, 8)
    assert ae(x).shape == (5, 2) and ae.reconstruction_loss(x).ndim == 0
    X, y = make_noisy_features(60)
    Z = NetTransformer("triplet", out=3, steps=2).fit(X, y).transform(X)
    assert Z.shape == (60, 3)
    with pytest.raises(ValueError, match="method"):
        NetTransformer("pca").fit(X, y)
    with pytest.raises(ValueError, match="X must be 2-D"):
        NetTransformer(steps=1).fit(X[:, 0], y)
    with pytest.raises(ValueError, match="X has 5 features"):
        NetTransformer("triplet", out=3, steps=1).fit(X, y).transform(X[:, :5])
    with pytest.raises(ValueError, match="out_size"):
        SPDNet(3, 4)


def test_linear_autoencoder_spans_the_principal_subspace():
    """Trained to convergence, a linear autoencoder with MSE spans the top-k PCA subspace (Baldi & Hornik, 1989)."""
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    d, k = 6, 2
    basis = np.linalg.qr(rng.standard_normal((d, d)))[0]
    X = rng.standard_normal((400, d)) * np.array([3.0, 2.0, 1.0, 0.6, 0.4, 0.2]) @ basis.T + 5.0
    torch.manual_seed(0)
    ae = Autoencoder(d, 4, k, linear=True).double()
    x = torch.as_tensor(X)
    opt = torch.optim.LBFGS(
        ae.parameters(),
        lr=1.0,
        max_iter=5000,
        tolerance_grad=1e-9,
        tolerance_change=1e-15,
        history_size=50,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        loss = ae.reconstruction_loss(x)
        loss.backward()
        return loss

    opt.step(closure)
    pca = PCA(n_components=k).fit(X)
    W_dec = (ae.decoder[2].weight @ ae.decoder[0].weight).detach().numpy()  # d×k, the decoder's linear part
    W_enc = (ae.encoder[2].weight @ ae.encoder[0].weight).detach().numpy().T  # d×k, rows of the encoder
    assert np.max(scipy.linalg.subspace_angles(W_dec, pca.components_.T)) < 1e-4
    assert np.max(scipy.linalg.subspace_angles(W_enc, pca.components_.T)) < 1e-4
    # and its error is PCA's: the mean of the trailing eigenvalues of the (biased) covariance, per coordinate
    trailing = np.linalg.eigvalsh(np.cov(X.T, bias=True))[: d - k].sum() / d
    assert ae.reconstruction_loss(x).item() == pytest.approx(trailing, rel=1e-6)
    # a control: a random 2-D subspace is far from the principal one
    assert np.max(scipy.linalg.subspace_angles(rng.standard_normal((d, k)), pca.components_.T)) > 0.1


def test_linear_autoencoder_has_no_nonlinearity_and_checks_its_flag():
    ae = Autoencoder(5, 3, 2, linear=True)
    assert not any(isinstance(m, (torch.nn.ReLU, torch.nn.Sigmoid)) for m in ae.modules())
    x = torch.randn(4, 5)
    torch.testing.assert_close(ae(2 * x) - ae(x), ae(x) - ae(torch.zeros(1, 5)))  # affine
    with pytest.raises(TypeError, match="linear"):
        Autoencoder(5, 3, 2, linear="yes")


def test_cross_modal_recall_against_a_brute_force_loop_and_data_shapes():
    from scratchbook.metric.deep_more import cross_modal_recall, make_spd_classes, make_two_modalities

    XA, XB, y = make_two_modalities(40, dims=(5, 7), random_state=0)
    assert XA.shape == (40, 5) and XB.shape == (40, 7) and len(y) == 40
    rng = np.random.default_rng(0)
    ZA, ZB = rng.normal(size=(40, 3)), rng.normal(size=(40, 3))
    cos = lambda a, b: a @ b / np.linalg.norm(a) / np.linalg.norm(b)  # noqa: E731
    hits2 = np.mean([i in sorted(range(40), key=lambda j: -cos(ZA[i], ZB[j]))[:2] for i in range(40)])
    same = np.mean([y[max(range(40), key=lambda j: cos(ZA[i], ZB[j]))] == y[i] for i in range(40)])
    got = cross_modal_recall(ZA, ZB, y, k=2)
    assert got["instance"] == pytest.approx(hits2) and got["class"] == pytest.approx(same)
    assert cross_modal_recall(ZA, ZA, y)["instance"] == 1.0
    with pytest.raises(ValueError, match="ZA and ZB"):
        cross_modal_recall(ZA, ZB[:5], y)
    S, ys = make_spd_classes(3, random_state=0)
    assert S.shape == (9, 6, 6) and np.all(np.linalg.eigvalsh(S) > 0) and np.array_equal(np.bincount(ys), [3, 3, 3])


def test_embedding_checks_name_the_argument():
    Z, labels = torch.randn(6, 3), torch.tensor([0, 0, 1, 1, 2, 2])
    with pytest.raises(ValueError, match=r"Z must be 2-D of shape \(n_samples, n_dims\), got shape \(6,\)"):
        scatter_matrices(Z[:, 0], labels)
    with pytest.raises(TypeError, match="Z must be a torch.Tensor, got ndarray"):
        scatter_matrices(Z.numpy(), labels)
    with pytest.raises(ValueError, match="zb contains NaN or infinity"):
        cross_modal_loss(Z, Z * float("nan"))


@parametrize_with_checks([NetTransformer(method, out=2, steps=2) for method in METHODS])
def test_net_transformer_passes_the_estimator_checks(estimator, check):
    check(estimator)


def test_net_transformer_reads_any_labels_as_their_classes():
    X, y = make_noisy_features(60)
    names = np.array([f"class {c:02d}" for c in y])  # the same classes, named, in the same sorted order
    for method in ("triplet", "deep_lda"):
        by_code = NetTransformer(method, out=3, steps=5).fit(X, y).transform(X)
        by_name = NetTransformer(method, out=3, steps=5).fit(X, names).transform(X)
        np.testing.assert_array_equal(by_name, by_code)
    with pytest.raises(ValueError, match="1 class"):
        NetTransformer("triplet", steps=1).fit(X, np.zeros(len(X)))
