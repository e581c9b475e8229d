"""Proxy-NCA, Proxy-Anchor, ArcFace, N-pair and lifted structured losses against pytorch-metric-learning,
on the same inputs (and proxies), values and gradients; the two pair losses also by finite differences."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from scratchbook.metric.losses import (
    WithProxies,
    arcface_loss,
    lifted_structure_loss,
    n_pair_loss,
    proxy_anchor_loss,
    proxy_nca_loss,
)

pml_losses = pytest.importorskip("pytorch_metric_learning.losses")
pml_distances = pytest.importorskip("pytorch_metric_learning.distances")


def _inputs(seed, n=24, d=8, C=6, all_classes=True):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64, requires_grad=True)
    if all_classes:
        y = torch.arange(n) % C
    else:  # some proxies have no sample in the batch
        y = torch.randint(0, C // 2, (n,), generator=g)
    p = torch.randn(C, d, generator=g, dtype=torch.float64, requires_grad=True)
    return x, y, p


def _compare(ours, ref, params):
    """Equal values and equal gradients with respect to every tensor in ``params``."""
    assert ours.item() == pytest.approx(ref.item(), rel=1e-10, abs=1e-12)
    for a, b in zip(torch.autograd.grad(ours, params), torch.autograd.grad(ref, params)):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


def _pml(cls, proxies_name, p, **kwargs):
    loss = cls(num_classes=p.shape[0], embedding_size=p.shape[1], **kwargs).double()
    # pml keeps its own parameter; route ours into it so that gradients reach p
    del loss._parameters[proxies_name]
    setattr(loss, proxies_name, p if proxies_name == "proxies" else p.T)
    loss.cast_types = lambda dtype, device: None
    return loss


@pytest.mark.parametrize("seed, all_classes, scale", [(0, True, 1.0), (1, False, 1.0), (2, True, 8.0)])
def test_proxy_nca_equals_pml(seed, all_classes, scale):
    x, y, p = _inputs(seed, all_classes=all_classes)
    ref = _pml(pml_losses.ProxyNCALoss, "proxies", p, softmax_scale=scale)(x, y)
    _compare(proxy_nca_loss(x, y, p, scale=scale), ref, (x, p))


def test_proxy_nca_without_the_positive_matches_its_definition():
    x, y, p = _inputs(3)
    xn, pn = torch.nn.functional.normalize(x, dim=1), torch.nn.functional.normalize(p, dim=1)
    terms = []
    for i in range(len(x)):  # −log( exp(−d(x, p_y)) / Σ_{z ≠ y} exp(−d(x, p_z)) ), one sample at a time
        d = ((xn[i] - pn) ** 2).sum(1)
        others = torch.cat([d[: y[i]], d[y[i] + 1 :]])
        terms.append(d[y[i]] + torch.log(torch.exp(-others).sum()))
    torch.testing.assert_close(proxy_nca_loss(x, y, p, include_positive=False), torch.stack(terms).mean())


@pytest.mark.parametrize(
    "seed, all_classes, margin, alpha", [(0, True, 0.1, 32.0), (1, False, 0.1, 32.0), (2, True, 0.3, 8.0)]
)
def test_proxy_anchor_equals_pml(seed, all_classes, margin, alpha):
    x, y, p = _inputs(seed, all_classes=all_classes)
    ref = _pml(pml_losses.ProxyAnchorLoss, "proxies", p, margin=margin, alpha=alpha)(x, y)
    _compare(proxy_anchor_loss(x, y, p, margin=margin, alpha=alpha), ref, (x, p))


@pytest.mark.parametrize("seed, margin, scale", [(0, 0.5, 64.0), (1, 0.2, 16.0), (2, 1.2, 4.0)])
def test_arcface_equals_pml(seed, margin, scale):
    x, y, W = _inputs(seed)
    if seed == 2:  # put some samples beyond π − margin from their class, where the fallback branch applies
        with torch.no_grad():
            x[:4] = -torch.nn.functional.normalize(W[y[:4]], dim=1) + 0.01 * x[:4]
    ref = _pml(pml_losses.ArcFaceLoss, "W", W, margin=math.degrees(margin), scale=scale)(x, y)
    _compare(arcface_loss(x, y, W, margin=margin, scale=scale), ref, (x, W))


def test_arcface_with_no_margin_is_scaled_cosine_softmax():
    x, y, W = _inputs(4)
    cos = torch.nn.functional.normalize(x, dim=1) @ torch.nn.functional.normalize(W, dim=1).T
    expected = torch.nn.functional.cross_entropy(10.0 * cos, y)
    torch.testing.assert_close(arcface_loss(x, y, W, margin=0.0, scale=10.0), expected)


def test_with_proxies_trains_them_with_the_network():
    net = torch.nn.Linear(4, 3)
    model = WithProxies(net, n_classes=5, out_features=3, random_state=1)
    assert model.proxies.shape == (5, 3)
    assert {n for n, _ in model.named_parameters()} == {"net.weight", "net.bias", "proxies"}
    x = torch.randn(6, 4)
    torch.testing.assert_close(model(x), net(x))
    np.testing.assert_array_equal(WithProxies(net, 5, 3, random_state=1).proxies.detach(), model.proxies.detach())


@pytest.mark.parametrize("fn", [proxy_nca_loss, proxy_anchor_loss, arcface_loss])
def test_bad_input_names_the_argument(fn):
    x, y, p = _inputs(0)
    with pytest.raises(ValueError, match="embeddings"):
        fn(x[0], y, p)
    with pytest.raises(ValueError, match="labels"):
        fn(x, y[:-1], p)
    with pytest.raises(ValueError, match="labels"):
        fn(x, y + 10, p)
    with pytest.raises(ValueError, match="must have shape"):
        fn(x, y, p[:, :3])
    with pytest.raises(TypeError, match="embeddings"):
        fn(x.detach().numpy(), y, p)
    with pytest.raises(ValueError, match="NaN"):
        fn(x.detach() * float("nan"), y, p)


# --- N-pair and lifted structured losses ----------------------------------------------------------


def _pairs(seed, N=7, d=5, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    a = (scale * torch.randn(N, d, generator=g, dtype=torch.float64)).requires_grad_()
    p = (scale * torch.randn(N, d, generator=g, dtype=torch.float64)).requires_grad_()
    return a, p


@pytest.mark.parametrize("seed, normalize, scale", [(0, False, 1.0), (1, True, 1.0), (2, False, 3.0)])
def test_n_pair_equals_pml(seed, normalize, scale):
    a, p = _pairs(seed, scale=scale)
    labels = torch.arange(len(a)).repeat(2)  # pml picks, for each class, the pair (first half, second half)
    distance = pml_distances.DotProductSimilarity(normalize_embeddings=normalize)
    ref = pml_losses.NPairsLoss(distance=distance)(torch.cat([a, p]), labels)
    _compare(n_pair_loss(a, p, normalize=normalize), ref, (a, p))


def test_n_pair_matches_its_definition_and_finite_differences():
    a, p = _pairs(3)
    terms = []
    for i in range(len(a)):  # log(1 + Σ_{j≠i} exp(f_iᵀf_j⁺ − f_iᵀf_i⁺)), one anchor at a time
        s = [float((a[i] @ p[j] - a[i] @ p[i]).detach()) for j in range(len(a)) if j != i]
        terms.append(math.log1p(sum(math.exp(v) for v in s)))
    assert n_pair_loss(a, p).item() == pytest.approx(np.mean(terms), rel=1e-12)
    assert torch.autograd.gradcheck(lambda u, v: n_pair_loss(u, v, normalize=True), (a, p))


def _batch(seed, n=20, d=4, C=4, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    x = (scale * torch.randn(n, d, generator=g, dtype=torch.float64)).requires_grad_()
    y = torch.randint(0, C, (n,), generator=g)
    return x, y


@pytest.mark.parametrize(
    "seed, normalize, margin, scale",
    [(0, False, 1.0, 1.0), (1, True, 1.0, 1.0), (2, False, 0.5, 2.0), (3, True, 0.2, 1.0)],
)
def test_lifted_structure_equals_pml(seed, normalize, margin, scale):
    x, y = _batch(seed, scale=scale)
    distance = pml_distances.LpDistance(normalize_embeddings=normalize)
    ref = pml_losses.LiftedStructureLoss(neg_margin=margin, pos_margin=0, distance=distance)(x, y)
    ours = lifted_structure_loss(x, y, margin=margin, normalize=normalize)
    assert ours.item() > 0  # a case where the hinge is active, so the comparison is not 0 = 0
    _compare(ours, ref, (x,))


def test_lifted_structure_matches_its_definition_and_finite_differences():
    x, y = _batch(4, n=9)
    X, Y = x.detach().numpy(), y.numpy()
    D = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
    total, n_pos = 0.0, 0
    for i in range(len(X)):  # Oh Song et al. (2016), Eq. (4), loop by loop
        for j in range(i + 1, len(X)):
            if Y[i] == Y[j]:
                neg = np.exp(1.0 - D[i, Y != Y[i]]).sum() + np.exp(1.0 - D[j, Y != Y[j]]).sum()
                total += max(0.0, np.log(neg) + D[i, j]) ** 2
                n_pos += 1
    assert lifted_structure_loss(x, y).item() == pytest.approx(total / (2 * n_pos), rel=1e-12)
    assert torch.autograd.gradcheck(lambda u: lifted_structure_loss(u, y, margin=0.7), (x,))


def test_pair_losses_bad_input_names_the_argument():
    a, p = _pairs(0)
    with pytest.raises(ValueError, match="positives"):
        n_pair_loss(a, p[:-1])
    with pytest.raises(ValueError, match="anchors"):
        n_pair_loss(a[0], p[0])
    with pytest.raises(ValueError, match="anchors"):
        n_pair_loss(a[:1], p[:1])
    with pytest.raises(TypeError, match="positives"):
        n_pair_loss(a, p.detach().numpy())
    with pytest.raises(ValueError, match="NaN"):
        n_pair_loss(a.detach() * float("nan"), p)
    x, y = _batch(0)
    with pytest.raises(ValueError, match="labels"):
        lifted_structure_loss(x, y[:-1])
    with pytest.raises(ValueError, match="labels"):
        lifted_structure_loss(x, y.double())
    with pytest.raises(ValueError, match="two classes"):
        lifted_structure_loss(x, torch.zeros(len(x), dtype=torch.long))
    with pytest.raises(ValueError, match="two classes"):
        lifted_structure_loss(x, torch.arange(len(x)))
    with pytest.raises(ValueError, match="margin"):
        lifted_structure_loss(x, y, margin=float("nan"))
    with pytest.raises(TypeError, match="embeddings"):
        lifted_structure_loss(x.detach().numpy(), y)
