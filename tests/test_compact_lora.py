"""LoRA and DyLoRA layers against the matrix formula, their gradients, and the training loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from scratchbook.compact import DyLoRALinear, LoRALinear, accuracy, add_lora, make_mlp, set_train_rank, train_classifier

TOL = 1e-12  # float64 throughout


def _layer(cls, n_in=6, n_out=4, r=5, alpha=3.0, **kw):
    gen = torch.Generator().manual_seed(0)
    base = nn.Linear(n_in, n_out).double()
    layer = cls(base, r, alpha, **kw)
    with torch.no_grad():  # non-zero B so the update is visible
        layer.lora_A.copy_(torch.randn(r, n_in, dtype=torch.float64, generator=gen))
        layer.lora_B.copy_(torch.randn(n_out, r, dtype=torch.float64, generator=gen))
    x = torch.randn(7, n_in, dtype=torch.float64, generator=gen)
    return layer, x


def _formula(layer, x, b, scale):
    """y = x Wᵀ + c + scale · Σ_{k<b} (x·a_k) b_k, written with explicit rank-one terms."""
    W, c = layer.base.weight.detach(), layer.base.bias.detach()
    A, B = layer.lora_A.detach(), layer.lora_B.detach()
    y = x @ W.T + c
    for k in range(b):
        y = y + scale * torch.outer(x @ A[k], B[:, k])
    return y


@pytest.mark.parametrize("b", [1, 2, 5])
def test_lora_matches_formula_at_each_rank(b):
    layer, x = _layer(LoRALinear)
    layer.set_rank(b)
    assert torch.allclose(layer(x), _formula(layer, x, b, 3.0 / 5), atol=TOL)


@pytest.mark.parametrize("b", [1, 3, 5])
def test_dylora_matches_formula_in_eval_and_in_training(b):
    layer, x = _layer(DyLoRALinear)
    layer.eval().set_rank(b)
    assert torch.allclose(layer(x), _formula(layer, x, b, 3.0 / b), atol=TOL)
    layer.train()
    layer.train_rank = b
    assert torch.allclose(layer(x), _formula(layer, x, b, 3.0 / b), atol=TOL)


def test_lora_starts_equal_to_base_and_freezes_it():
    base = nn.Linear(6, 4).double()
    layer = LoRALinear(base, 3, 2.0)
    x = torch.randn(5, 6, dtype=torch.float64)
    assert torch.equal(layer.lora_B, torch.zeros(4, 3, dtype=torch.float64))
    assert torch.allclose(layer(x), base(x), atol=TOL)
    assert not base.weight.requires_grad and not base.bias.requires_grad
    layer, x = _layer(LoRALinear)
    layer(x).sum().backward()
    assert layer.base.weight.grad is None and layer.base.bias.grad is None
    assert layer.lora_A.grad.abs().sum() > 0 and layer.lora_B.grad.abs().sum() > 0


def test_lora_gradient_matches_closed_form():
    layer, x = _layer(LoRALinear)
    G = torch.randn(7, 4, dtype=torch.float64)  # upstream gradient dL/dy
    (layer(x) * G).sum().backward()
    s, A, B = 3.0 / 5, layer.lora_A.detach(), layer.lora_B.detach()
    assert torch.allclose(layer.lora_B.grad, s * G.T @ x @ A.T, atol=TOL)
    assert torch.allclose(layer.lora_A.grad, s * B.T @ G.T @ x, atol=TOL)


@pytest.mark.parametrize("b", [1, 3, 5])
def test_dylora_frozen_mode_updates_only_the_bth_row_and_column(b):
    layer, x = _layer(DyLoRALinear)
    layer.train()
    layer.train_rank = b
    layer(x).pow(2).sum().backward()
    row_nonzero = layer.lora_A.grad.abs().sum(dim=1) > 0
    col_nonzero = layer.lora_B.grad.abs().sum(dim=0) > 0
    expected = torch.arange(5) == b - 1
    assert torch.equal(row_nonzero, expected) and torch.equal(col_nonzero, expected)
    assert layer.base.weight.grad is None


def test_dylora_unfrozen_mode_updates_every_row_up_to_b():
    layer, x = _layer(DyLoRALinear, frozen=False)
    layer.train()
    layer.train_rank = 3
    layer(x).pow(2).sum().backward()
    assert torch.equal(layer.lora_A.grad.abs().sum(dim=1) > 0, torch.arange(5) < 3)


def test_dylora_samples_ranks_from_its_generator():
    ranks = []
    for _ in range(2):
        layer, x = _layer(DyLoRALinear, generator=torch.Generator().manual_seed(3))
        layer.train()
        seen = []
        for _ in range(40):
            layer(x)
            seen.append(layer.last_rank)
        ranks.append(seen)
    assert ranks[0] == ranks[1] and set(ranks[0]) == {1, 2, 3, 4, 5}


def test_set_rank_in_eval_mode_and_default_rank():
    layer, x = _layer(DyLoRALinear)
    layer.eval()
    assert torch.allclose(layer(x), _formula(layer, x, 5, 3.0 / 5), atol=TOL)  # default: full rank r
    layer.set_rank(2)
    assert torch.allclose(layer(x), _formula(layer, x, 2, 3.0 / 2), atol=TOL)
    assert layer.last_rank == 2


def test_merge_and_unmerge():
    layer, x = _layer(LoRALinear)
    before = layer(x)
    W = layer.base.weight.clone()
    layer.merge()
    assert torch.allclose(layer.base.weight, W + 3.0 / 5 * layer.lora_B @ layer.lora_A, atol=TOL)
    assert torch.allclose(layer(x), before, atol=TOL)
    layer.unmerge()
    assert torch.allclose(layer.base.weight, W, atol=TOL)


def test_bad_arguments_name_the_argument():
    base = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="r must be"):
        LoRALinear(base, 0)
    with pytest.raises(ValueError, match="alpha must be"):
        LoRALinear(base, 2, alpha=0.0)
    with pytest.raises(TypeError, match="base must be"):
        LoRALinear(nn.Conv1d(3, 2, 1), 2)
    with pytest.raises(ValueError, match="b must be"):
        DyLoRALinear(base, 2).set_rank(3)
    with pytest.raises(ValueError, match="b must be"):
        LoRALinear(base, 2).set_rank(0)
    with pytest.raises(ValueError, match="kind must be"):
        add_lora(nn.Sequential(nn.Linear(3, 2)), 2, kind="qlora")
    with pytest.raises(ValueError, match="b must be"):
        set_train_rank(add_lora(nn.Sequential(nn.Linear(3, 2)), 2, kind="dylora"), 4)


def test_add_lora_wraps_every_linear_and_freezes_the_rest():
    model = make_mlp([4, 8, 3])
    add_lora(model, 2, 1.0, kind="dylora")
    assert isinstance(model[0], DyLoRALinear) and isinstance(model[2], DyLoRALinear)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"0.lora_A", "0.lora_B", "2.lora_A", "2.lora_B"}


def test_training_reduces_the_loss_without_a_progress_bar(capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    threads = torch.get_num_threads()
    for kind in ("lora", "dylora"):
        model = add_lora(make_mlp([4, 16, 2]), 2, 2.0, kind=kind)
        history = train_classifier(model, X, y, steps=150, lr=2e-2, progress=False)
        assert history[-20:].mean() < 0.7 * history[:20].mean()
        assert accuracy(model, X, y) > 0.8
        assert not model.training
    assert torch.get_num_threads() == threads
    assert capsys.readouterr().err == ""
