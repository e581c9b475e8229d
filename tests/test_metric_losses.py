"""Proxy-NCA, Proxy-Anchor and ArcFace against pytorch-metric-learning, on the same inputs and proxies."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from scratchbook.metric.losses import WithProxies, arcface_loss, proxy_anchor_loss, proxy_nca_loss

pml_losses = pytest.importorskip("pytorch_metric_learning.losses")


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
