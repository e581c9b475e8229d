"""The distillation loss and label regularizers against their formulas, torch.nn.functional and autograd."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from scratchbook.compact import (
    distill,
    kd_loss,
    label_smoothing_loss,
    label_smoothing_targets,
    make_mlp,
    pretrain_masked_pixels,
    soft_targets,
    virtual_teacher,
)
from scratchbook.compact.distillation import compare_regularizers

TOL = 1e-12  # float64 throughout


def _batch(n=7, k=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    zs = 3 * torch.randn(n, k, dtype=torch.float64, generator=gen)
    zt = 3 * torch.randn(n, k, dtype=torch.float64, generator=gen)
    y = torch.randint(0, k, (n,), generator=gen)
    return zs, zt, y


def _kd_numpy(zs, zt, y, T, alpha):
    """The KD loss written out with explicit loops over samples and classes."""
    zs, zt, y = zs.numpy(), zt.numpy(), y.numpy()
    total = 0.0
    for i in range(len(y)):
        ps = np.exp(zs[i] - zs[i].max()) / np.exp(zs[i] - zs[i].max()).sum()
        qs = np.exp(zs[i] / T - (zs[i] / T).max()) / np.exp(zs[i] / T - (zs[i] / T).max()).sum()
        qt = np.exp(zt[i] / T - (zt[i] / T).max()) / np.exp(zt[i] / T - (zt[i] / T).max()).sum()
        ce = -math.log(ps[y[i]])
        kl = sum(qt[j] * math.log(qt[j] / qs[j]) for j in range(len(qt)))
        total += (1 - alpha) * ce + alpha * T**2 * kl
    return total / len(y)


@pytest.mark.parametrize("T, alpha", [(1.0, 0.0), (1.0, 0.5), (4.0, 0.9), (0.5, 1.0), (10.0, 0.3)])
def test_kd_loss_matches_the_formula_written_out(T, alpha):
    zs, zt, y = _batch()
    assert abs(kd_loss(zs, zt, y, T, alpha).item() - _kd_numpy(zs, zt, y, T, alpha)) < 1e-10


def test_kd_loss_kl_term_matches_torch_kl_div_batchmean():
    zs, zt, y = _batch()
    T = 3.0
    expected = T**2 * F.kl_div(F.log_softmax(zs / T, 1), F.softmax(zt / T, 1), reduction="batchmean")
    assert abs(kd_loss(zs, zt, y, T, alpha=1.0).item() - expected.item()) < TOL


def test_kd_at_alpha_zero_is_cross_entropy_and_identical_logits_give_zero_kl():
    zs, zt, y = _batch()
    assert abs(kd_loss(zs, zt, y, 1.0, 0.0).item() - F.cross_entropy(zs, y).item()) < TOL
    assert abs(kd_loss(zs, zt, y, 7.0, 0.0).item() - F.cross_entropy(zs, y).item()) < TOL
    assert abs(kd_loss(zs, zs.clone(), y, 2.0, 1.0).item()) < TOL


def test_kd_gradient_is_T_times_the_difference_of_soft_targets():
    zs, zt, y = _batch()
    zs.requires_grad_(True)
    T = 4.0
    kd_loss(zs, zt, y, T, alpha=1.0).backward()
    closed_form = T * (F.softmax(zs.detach() / T, 1) - F.softmax(zt / T, 1)) / len(y)
    assert torch.allclose(zs.grad, closed_form, atol=TOL)


def test_kd_gradient_matches_finite_differences_and_teacher_gets_none():
    zs, zt, y = _batch(n=3, k=4)
    zt.requires_grad_(True)
    f = lambda z: kd_loss(z, zt, y, 2.5, 0.6)  # noqa: E731
    assert torch.autograd.gradcheck(f, (zs.clone().requires_grad_(True),), eps=1e-6, atol=1e-7)
    f(zs.clone().requires_grad_(True)).backward()
    assert zt.grad is None


def test_soft_targets_is_a_tempered_softmax():
    zs, _, _ = _batch()
    expected = np.exp(zs.numpy() / 3) / np.exp(zs.numpy() / 3).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(soft_targets(zs, 3.0).numpy(), expected, atol=TOL)
    flat = soft_targets(zs, 1e6)
    assert torch.allclose(flat, torch.full_like(flat, 1 / 5), atol=1e-5)


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.35, 1.0])
def test_label_smoothing_matches_torch(eps):
    zs, _, y = _batch()
    expected = F.cross_entropy(zs, y, label_smoothing=eps)
    assert abs(label_smoothing_loss(zs, y, eps).item() - expected.item()) < TOL
    rows = label_smoothing_targets(y, 5, eps)
    assert torch.allclose(rows.sum(1), torch.ones(len(y)))
    assert torch.allclose(rows[torch.arange(len(y)), y], torch.full((len(y),), 1 - eps + eps / 5))


def test_label_smoothing_is_kd_with_a_uniform_teacher_up_to_a_constant():
    zs, _, y = _batch()
    eps, K = 0.2, 5
    uniform = virtual_teacher(K, 1 / K)(None, y).double()
    assert torch.allclose(soft_targets(uniform), torch.full((len(y), K), 1 / K, dtype=torch.float64), atol=1e-7)
    kd = kd_loss(zs, uniform, y, 1.0, eps).item()
    assert abs(kd + eps * math.log(K) - F.cross_entropy(zs, y, label_smoothing=eps).item()) < 1e-10


def test_virtual_teacher_puts_a_on_the_true_class():
    y = torch.tensor([0, 3, 2, 3])
    probs = soft_targets(virtual_teacher(4, 0.7)(torch.zeros(4, 8), y))
    expected = np.full((4, 4), 0.1)
    expected[np.arange(4), y.numpy()] = 0.7
    np.testing.assert_allclose(probs.numpy(), expected, atol=1e-6)


def test_distill_trains_a_student_towards_a_teacher():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    teacher = make_mlp([4, 16, 2], random_state=1)
    student = make_mlp([4, 16, 2], random_state=2)
    history = distill(student, teacher, X, y, temperature=2.0, alpha=1.0, steps=200, lr=2e-2, progress=False)
    assert history[-20:].mean() < 0.2 * history[:20].mean()
    with torch.no_grad():
        Xt = torch.as_tensor(X, dtype=torch.float32)
        assert (student(Xt).argmax(1) == teacher(Xt).argmax(1)).float().mean() > 0.9
    assert not student.training


def test_compare_regularizers_is_reproducible():
    kw = dict(n_labelled=60, hidden=8, steps=20, pretrain_steps=20)
    a = compare_regularizers(3, ("none", "label smoothing"), **kw)
    b = compare_regularizers(3, ("none", "label smoothing"), **kw)
    assert a == b and set(a) == {(s, m) for s in ("scratch", "pre-trained") for m in ("none", "label smoothing")}
    c = compare_regularizers(3, ("none", "label smoothing"), students=("scratch",), **kw)
    assert c == {k: v for k, v in a.items() if k[0] == "scratch"}


def test_masked_pixel_pretraining_fills_in_masked_pixels_better_than_the_mean_image():
    from scratchbook.compact import digits_few_labels, predict

    data = digits_few_labels()
    model = make_mlp([64, 32, 32, 64], random_state=0)
    history = pretrain_masked_pixels(model, data.X_unlabelled, steps=600, random_state=0, progress=False)
    assert history[-50:].mean() < 0.5 * history[:10].mean()
    keep = np.random.default_rng(0).random(data.X_test.shape) >= 0.25
    rebuilt = predict(model, data.X_test * keep)
    err_model = ((rebuilt - data.X_test)[~keep] ** 2).mean()
    err_mean = ((data.X_unlabelled.mean(0) - data.X_test)[~keep] ** 2).mean()
    assert err_model < 0.6 * err_mean
    with pytest.raises(ValueError, match="mask_rate must be"):
        pretrain_masked_pixels(model, data.X_test, mask_rate=1.0)
    with pytest.raises(ValueError, match="X must be"):
        pretrain_masked_pixels(model, data.X_test[0])


def test_bad_arguments_name_the_argument():
    zs, zt, y = _batch()
    with pytest.raises(ValueError, match="temperature must be"):
        kd_loss(zs, zt, y, temperature=0.0)
    with pytest.raises(ValueError, match="alpha must be"):
        kd_loss(zs, zt, y, alpha=1.5)
    with pytest.raises(ValueError, match="teacher_logits must have"):
        kd_loss(zs, zt[:, :3], y)
    with pytest.raises(ValueError, match="student_logits must be"):
        kd_loss(zs[0], zt[0], y[:1])
    with pytest.raises(TypeError, match="teacher_logits must be"):
        kd_loss(zs, zt.numpy(), y)
    with pytest.raises(ValueError, match="targets must"):
        kd_loss(zs, zt, y[:3])
    with pytest.raises(ValueError, match="targets must"):
        kd_loss(zs, zt, y + 5)
    with pytest.raises(TypeError, match="targets must"):
        kd_loss(zs, zt, y.double())
    with pytest.raises(ValueError, match="epsilon must be"):
        label_smoothing_loss(zs, y, -0.1)
    with pytest.raises(ValueError, match="n_classes must be"):
        label_smoothing_targets(y, 1)
    with pytest.raises(ValueError, match="targets must"):
        label_smoothing_loss(zs, y[:3])
    with pytest.raises(ValueError, match="a must be"):
        virtual_teacher(5, 1.0)
    with pytest.raises(ValueError, match="a must be"):
        virtual_teacher(5, 0.1)
    with pytest.raises(TypeError, match="teacher must be"):
        distill(make_mlp([4, 2]), "teacher", np.zeros((4, 4)), np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="methods must be"):
        compare_regularizers(0, ("dropout",))
    with pytest.raises(ValueError, match="students must be"):
        compare_regularizers(0, students=("teacher",))
    with pytest.raises(ValueError, match="n_labelled must be"):
        compare_regularizers(0, n_labelled=5)


# --- kd_teacher, the pre-trained teacher of chapter 4.1 ----------------------------------------


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_kd_teacher_is_a_wide_classifier_in_eval_mode_and_repeats_under_its_seed():
    from scratchbook.compact import digits_few_labels
    from scratchbook.compact.distillation import kd_teacher

    data = digits_few_labels(60, random_state=0)
    kw = dict(hidden=16, pretrain_steps=20, steps=20)
    a = kd_teacher(data.X_unlabelled, data.X_train, data.y_train, 3, **kw)
    b = kd_teacher(data.X_unlabelled, data.X_train, data.y_train, 3, **kw)
    c = kd_teacher(data.X_unlabelled, data.X_train, data.y_train, 4, **kw)
    assert not a.training
    linears = [m for m in a.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(64, 16), (16, 16), (16, 10)]
    with torch.no_grad():
        out = a(torch.as_tensor(data.X_test[:7], dtype=torch.float32))
    assert out.shape == (7, 10) and torch.isfinite(out).all()
    sa, sb, sc = _state(a), _state(b), _state(c)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa)


def test_kd_teacher_fits_its_labels_and_beats_a_student_trained_on_them_from_scratch():
    from sklearn.metrics import accuracy_score

    from scratchbook.compact import digits_few_labels, predict, train_classifier
    from scratchbook.compact.distillation import kd_teacher

    data = digits_few_labels(100, random_state=0)
    teacher = kd_teacher(data.X_unlabelled, data.X_train, data.y_train, 0, pretrain_steps=300)
    student = make_mlp([64, 32, 32, 10], random_state=1)
    train_classifier(student, data.X_train, data.y_train, steps=300, random_state=0, progress=False)
    # accuracies computed by scikit-learn from the predicted classes, not by the package's helper
    teacher_train = accuracy_score(data.y_train, predict(teacher, data.X_train).argmax(axis=1))
    teacher_test = accuracy_score(data.y_test, predict(teacher, data.X_test).argmax(axis=1))
    student_test = accuracy_score(data.y_test, predict(student, data.X_test).argmax(axis=1))
    assert teacher_train == 1.0  # 100 labelled digits, 300 Adam steps, 128 units per layer
    assert teacher_test > student_test + 0.02 and teacher_test > 0.8


def test_kd_teacher_names_a_bad_seed():
    from scratchbook.compact import digits_few_labels
    from scratchbook.compact.distillation import kd_teacher

    data = digits_few_labels(60, random_state=0)
    with pytest.raises(ValueError, match="seed must be"):
        kd_teacher(data.X_unlabelled, data.X_train, data.y_train, -1)
    with pytest.raises(ValueError, match="hidden must be"):
        kd_teacher(data.X_unlabelled, data.X_train, data.y_train, 0, hidden=0)
