"""LoRA and DyLoRA layers against the matrix formula, their gradients, and the training loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from scratchbook.compact import (
    DyLoRALinear,
    LoRALinear,
    NestedDropoutLinear,
    accuracy,
    add_lora,
    fine_tune_adapters,
    make_mlp,
    nested_dropout_p,
    random_rank_loss,
    set_rank,
    set_train_rank,
    svd_reorder,
    train_classifier,
)

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


def _rank_of_output(layer, x, y):
    """The rank b whose closed-form output (scale α/b) equals y, found by trying every b."""
    hits = [b for b in range(1, layer.r + 1) if torch.allclose(y, _formula(layer, x, b, 3.0 / b), atol=TOL)]
    assert len(hits) == 1
    return hits[0]


def test_dylora_samples_ranks_from_its_generator():
    ranks = []
    for _ in range(2):
        layer, x = _layer(DyLoRALinear, generator=torch.Generator().manual_seed(3))
        layer.train()
        with torch.no_grad():
            ranks.append([_rank_of_output(layer, x, layer(x)) for _ in range(40)])
    assert ranks[0] == ranks[1] and set(ranks[0]) == {1, 2, 3, 4, 5}


def test_set_rank_in_eval_mode_and_default_rank():
    layer, x = _layer(DyLoRALinear)
    layer.eval()
    assert torch.allclose(layer(x), _formula(layer, x, 5, 3.0 / 5), atol=TOL)  # default: full rank r
    layer.set_rank(2)
    assert torch.allclose(layer(x), _formula(layer, x, 2, 3.0 / 2), atol=TOL)


@pytest.mark.parametrize("cls", [LoRALinear, DyLoRALinear])
@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_merge_unmerge_round_trip_restores_the_weight(cls, mode, dtype):
    layer, x = _layer(cls)
    layer.to(dtype).set_rank(3)
    x = x.to(dtype)
    getattr(layer, mode)()
    W = layer.base.weight.detach().clone()
    expected = x @ (W + layer._scale(3) * layer.lora_B[:, :3] @ layer.lora_A[:3]).detach().T + layer.base.bias.detach()
    layer.merge()
    tol = TOL if dtype == torch.float64 else 1e-5
    assert torch.allclose(layer.base.weight, W + layer._scale(3) * layer.lora_B[:, :3] @ layer.lora_A[:3], atol=tol)
    with torch.no_grad():
        merged = layer(x)
    assert torch.allclose(merged, expected, atol=tol)  # merged output = the rank-3 update written out
    layer.train() if mode == "eval" else layer.eval()  # the mode may change between merge and unmerge
    for _ in range(5):  # forward passes in training mode draw ranks; they must not change what is subtracted
        with torch.no_grad():
            layer(x)
    layer.unmerge()
    assert (layer.base.weight - W).abs().max().item() <= (1e-12 if dtype == torch.float64 else 1e-6)
    layer.eval()
    with torch.no_grad():
        assert torch.allclose(layer(x), merged, atol=tol)  # unmerged output at rank 3 = merged output


def test_merged_layer_refuses_a_rank_change():
    layer, _ = _layer(DyLoRALinear)
    layer.merge()
    with pytest.raises(RuntimeError, match="unmerge"):
        layer.set_rank(2)


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


def test_random_rank_loss_sets_one_rank_for_every_layer_each_step():
    model = add_lora(make_mlp([4, 8, 3]), 4, kind="dylora")
    seen = []

    def loss(m, xb, yb, step):
        seen.append({layer.train_rank for layer in m.modules() if isinstance(layer, DyLoRALinear)})
        return m(xb).sum()

    wrapped = random_rank_loss(loss, np.random.default_rng(0))
    for step in range(60):
        wrapped(model, torch.zeros(2, 4), torch.zeros(2), step)
    assert all(len(s) == 1 for s in seen)  # one rank for all layers
    expected = np.random.default_rng(0).integers(1, 5, size=60)  # the same generator, drawn directly
    assert [s.pop() for s in seen] == expected.tolist()


def test_fine_tune_adapters_copies_trains_adapters_and_the_named_layers():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    pretrained = make_mlp([4, 16, 2])
    before = {k: v.clone() for k, v in pretrained.state_dict().items()}
    model = fine_tune_adapters(pretrained, X, y, r=2, alpha=2.0, kind="dylora", train=("2",), steps=150, lr=2e-2)
    assert all(torch.equal(before[k], v) for k, v in pretrained.state_dict().items())  # the original is untouched
    assert isinstance(model[0], DyLoRALinear) and isinstance(model[2], nn.Linear)
    assert not torch.equal(model[2].weight, pretrained[2].weight)  # the head was trained in full
    assert torch.equal(model[0].base.weight, pretrained[0].weight)  # the adapted layer's weight is frozen
    assert all(m.train_rank is None for m in model.modules() if isinstance(m, DyLoRALinear))
    assert accuracy(set_rank(model, 1), X, y) > 0.8
    again = fine_tune_adapters(pretrained, X, y, r=2, alpha=2.0, kind="dylora", train=("2",), steps=150, lr=2e-2)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    with pytest.raises(ValueError, match="train must be"):
        fine_tune_adapters(pretrained, X, y, r=2, train=("7",))


def test_svd_reorder_keeps_the_update_and_truncates_to_the_best_rank_b_part():
    layer, x = _layer(LoRALinear)
    model = nn.Sequential(layer)
    dW = layer.delta_weight(5).detach().numpy().copy()
    U, S, Vt = np.linalg.svd(dW, full_matrices=False)  # NumPy's SVD as the oracle
    svd_reorder(model)
    assert np.allclose(layer.delta_weight(5).detach().numpy(), dW, atol=1e-10)
    for b in (1, 2, 4):
        best = (U[:, :b] * S[:b]) @ Vt[:b]
        assert np.allclose(layer.delta_weight(b).detach().numpy(), best, atol=1e-10)
        assert np.isclose(np.linalg.norm(dW - best), np.sqrt((S[b:] ** 2).sum()))
    with pytest.raises(TypeError, match="LoRALinear adapters only"):
        svd_reorder(add_lora(make_mlp([3, 2]), 2, kind="dylora"))


def test_nested_dropout_layer_keeps_the_lora_scale_and_trains_every_kept_term():
    layer, x = _layer(NestedDropoutLinear)
    layer.train()
    layer.train_rank = 3
    out = layer(x)
    assert torch.allclose(out, _formula(layer, x, 3, 3.0 / 5), atol=TOL)  # α/r, not α/b
    out.pow(2).sum().backward()
    assert torch.equal(layer.lora_A.grad.abs().sum(dim=1) > 0, torch.arange(5) < 3)


def test_nested_dropout_p_is_a_truncated_geometric_law():
    assert np.allclose(nested_dropout_p(3, 0.5), [4 / 7, 2 / 7, 1 / 7])
    with pytest.raises(ValueError, match="rho must be"):
        nested_dropout_p(3, 0.0)


def test_random_rank_loss_draws_from_the_given_law():
    model = add_lora(make_mlp([4, 3]), 3, kind="nested")
    p = nested_dropout_p(3, 0.5)
    seen = []
    wrapped = random_rank_loss(
        lambda m, xb, yb, step: seen.append(m[0].train_rank) or m(xb).sum(), np.random.default_rng(1), p
    )
    for step in range(50):
        wrapped(model, torch.zeros(2, 4), torch.zeros(2), step)
    assert seen == (np.random.default_rng(1).choice(3, size=50, p=p) + 1).tolist()
    with pytest.raises(ValueError, match="p must"):
        random_rank_loss(lambda *a: None, np.random.default_rng(0), [0.5, 0.6])


def test_principal_angles_match_scipy_and_ignore_the_scale_of_the_columns():
    from scipy.linalg import subspace_angles

    from scratchbook.compact.lora import principal_angles

    rng = np.random.default_rng(0)
    for n, p, q in ((7, 3, 2), (10, 4, 4), (5, 1, 3)):
        X, Y = rng.normal(size=(n, p)), rng.normal(size=(n, q))
        assert np.allclose(principal_angles(X, Y), subspace_angles(X, Y), atol=1e-10)
        assert np.allclose(principal_angles(X * [10.0**k for k in range(p)], -3 * Y), subspace_angles(X, Y), atol=1e-10)
    # a rank-deficient X spans only its column space: the angle with a subspace holding it is zero
    base = rng.normal(size=(6, 2))
    X = np.column_stack([base, base @ [1.0, -2.0]])
    assert principal_angles(X, np.column_stack([base, rng.normal(size=6)])) == pytest.approx([0.0, 0.0], abs=1e-7)
    with pytest.raises(ValueError, match="same number of rows"):
        principal_angles(X, np.ones((5, 1)))
    with pytest.raises(ValueError, match="X must be a finite 2-D array"):
        principal_angles(np.ones(6), X)
    with pytest.raises(ValueError, match="Y must have a non-zero column"):
        principal_angles(X, np.zeros((6, 2)))


def test_subspace_overlap_against_scipy_angles_of_the_written_out_updates():
    from scipy.linalg import subspace_angles

    from scratchbook.compact.lora import subspace_overlap

    for cls, scale in ((LoRALinear, lambda b: 3.0 / 5), (DyLoRALinear, lambda b: 3.0 / b)):
        layer, _ = _layer(cls, n_in=9, n_out=8)
        A, B = layer.lora_A.detach().numpy(), layer.lora_B.detach().numpy()
        full = np.linalg.svd(scale(5) * B @ A)[0]
        for b in (1, 2, 4):
            oracle = np.mean(np.cos(subspace_angles(scale(b) * B[:, :b] @ A[:b], full[:, :b])) ** 2)
            assert subspace_overlap(layer, b) == pytest.approx(oracle, abs=1e-10)
        assert subspace_overlap(layer, 5) == pytest.approx(1.0)  # the rank-r update against itself
    # the scale α is irrelevant, and an SVD-reordered adapter's first b terms span its top-b subspace
    layer, _ = _layer(LoRALinear, n_in=9, n_out=8)
    other, _ = _layer(LoRALinear, n_in=9, n_out=8, alpha=0.01)
    assert [subspace_overlap(layer, b) for b in (1, 3)] == pytest.approx([subspace_overlap(other, b) for b in (1, 3)])
    assert subspace_overlap(layer, 1) < 0.99
    svd_reorder(nn.Sequential(layer))
    assert [subspace_overlap(layer, b) for b in (1, 2, 3, 4)] == pytest.approx([1.0] * 4, abs=1e-10)
    with pytest.raises(ValueError, match="b must be"):
        subspace_overlap(layer, 6)
    with pytest.raises(TypeError, match="layer must be"):
        subspace_overlap(nn.Linear(3, 2), 1)
