"""The experiments of Part IV that run over many seeds, one function per chapter (one seed per call).

The scripts in ``scripts/`` call them for every seed and store the results in ``chapters/compact/data``;
the chapters load those files and run one seed live.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from scipy import stats
from torch import nn

from scratchbook._validation import check_int
from scratchbook.compact.distillation import PRETRAIN_STEPS, denoising_pretrained_mlp
from scratchbook.compact.lora import fine_tune_adapters, set_rank, svd_reorder
from scratchbook.compact.swa import fine_tune
from scratchbook.compact.tasks import digits_few_labels
from scratchbook.compact.training import accuracy, make_mlp, train_classifier

__all__ = ["ADAPTER_SINGLE", "ADAPTER_CURVES", "compare_adapters", "compare_swa", "paired_test"]

ADAPTER_SINGLE = (
    "from scratch",
    "head only",
    "full fine-tuning",
    "LoRA-1",
    "LoRA-2",
    "LoRA-4",
    "LoRA-8",
    "LoRA-8, random frozen base",
)
"""Chapter 4.6's models evaluated once (at their own rank): their names, in the order stored."""
ADAPTER_CURVES = (
    "LoRA-8, first b terms",
    "LoRA-8, SVD-truncated",
    "DyLoRA-8, frozen",
    "DyLoRA-8, all terms ≤ b",
    "nested dropout-8",
)
"""Chapter 4.6's models evaluated at every rank b = 1, …, r."""


def compare_adapters(
    seed: int = 0,
    n_labelled: int = 100,
    hidden: int = 32,
    r: int = 8,
    alpha: float = 1.0,
    steps: int = 300,
    dynamic_steps: int = 600,
    pretrain_steps: int = PRETRAIN_STEPS,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """One seed of chapter 4.6: low-rank adapters against training from scratch and full fine-tuning.

    The task is chapter 4.1's (``n_labelled`` labelled digits drawn with ``seed``, all training digits
    unlabelled); the pre-trained network is :func:`denoising_pretrained_mlp`. Its two hidden layers get
    adapters (rank ``r``, scale ``alpha``) and its fresh output layer is trained in full, as in LoRA's
    classification experiments. Baselines: the same network trained from scratch, the pre-trained one
    with only its output layer trained, and fully fine-tuned; LoRA on a random frozen base. LoRA is
    trained at each rank 1, 2, 4, r for ``steps``; the rank-r adapter is also evaluated truncated to
    its first b terms and to the best rank-b part of its update (:func:`svd_reorder`). DyLoRA (frozen
    and not) and nested dropout train for ``dynamic_steps`` and are evaluated at every rank. Returns
    ``({name: accuracy}, {name: accuracies at ranks 1..r})`` with the names of ``ADAPTER_SINGLE`` and
    ``ADAPTER_CURVES``.
    """
    seed = check_int("seed", seed, low=0)
    r = check_int("r", r, low=1)
    data = digits_few_labels(n_labelled, random_state=seed)
    X, y = data.X_train, data.y_train
    pretrained = denoising_pretrained_mlp(data.X_unlabelled, hidden, seed, pretrain_steps)
    random_base = make_mlp([64, hidden, hidden, 10], random_state=seed + 1)  # the same output layer

    def score(model: nn.Module) -> float:
        return accuracy(model, data.X_test, data.y_test)

    def adapt(base: nn.Module, rank: int, kind: str = "lora", frozen: bool = True, n: int = steps) -> nn.Module:
        return fine_tune_adapters(base, X, y, rank, alpha, kind, frozen, train=("4",), steps=n, random_state=seed)

    def curve(model: nn.Module) -> np.ndarray:
        return np.array([score(set_rank(model, b)) for b in range(1, r + 1)])

    single, curves = {}, {}
    for name, base, trained in (
        ("from scratch", random_base, None),
        ("head only", pretrained, "4"),
        ("full fine-tuning", pretrained, None),
    ):
        model = copy.deepcopy(base)
        if trained is not None:
            for pname, p in model.named_parameters():
                p.requires_grad_(pname.startswith(trained + "."))
        train_classifier(model, X, y, steps=steps, random_state=seed, progress=False)
        single[name] = score(model)
    for rank in sorted({1, 2, 4, r}):
        model = adapt(pretrained, rank)
        single[f"LoRA-{rank}"] = score(model)
    single[f"LoRA-{r}"] = score(set_rank(model, r))
    curves[f"LoRA-{r}, first b terms"] = curve(model)
    curves[f"LoRA-{r}, SVD-truncated"] = curve(svd_reorder(model))
    single[f"LoRA-{r}, random frozen base"] = score(adapt(random_base, r))
    curves[f"DyLoRA-{r}, frozen"] = curve(adapt(pretrained, r, "dylora", True, dynamic_steps))
    curves[f"DyLoRA-{r}, all terms ≤ b"] = curve(adapt(pretrained, r, "dylora", False, dynamic_steps))
    curves[f"nested dropout-{r}"] = curve(adapt(pretrained, r, "nested", n=dynamic_steps))
    return single, curves


def paired_test(a, b) -> dict[str, float]:
    """Two methods run on the same seeds: mean and sample sd (ddof = 1) of a − b, paired t-test p, wins of a.

    The protocol of every comparison in Part IV; a chapter that makes m comparisons asks for
    p < 0.05 / m (Bonferroni).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(f"a and b must be 1-D with one value per seed each (two or more), got {a.shape} and {b.shape}")
    d = a - b
    return {
        "diff": float(d.mean()),
        "sd": float(d.std(ddof=1)),
        "p": float(stats.ttest_rel(a, b).pvalue),
        "wins": int((d > 0).sum()),
        "n": len(d),
    }


def compare_swa(
    seed: int = 0,
    lrs: tuple[float, ...] = (0.03, 0.05),
    starts: tuple[int, ...] = (0, 50, 100, 200, 300),
    steps: int = 400,
    batch_size: int = 8,
    n_labelled: int = 100,
    hidden: int = 32,
    pretrain_steps: int = PRETRAIN_STEPS,
) -> dict[str, np.ndarray]:
    """One seed of chapter 4.5: fine-tuning with SGD, with and without SWA, and from scratch.

    The task and the pre-trained network are chapter 4.1's for this ``seed`` (so that the results pair
    with its KD runs, seed by seed). For each rate in ``lrs``, three runs of ``steps`` SGD steps
    (momentum 0.9, ``batch_size`` images) with the mini-batch order of ``seed``: the pre-trained network
    with a rate decaying linearly to zero (standard fine-tuning), the same at a constant rate (its last
    iterate, and the SWA average of its weights from each step in ``starts`` on), and the randomly
    initialized network with the decaying rate (from scratch). Returns test accuracies: ``decayed``,
    ``last``, ``scratch`` (one per rate) and ``swa`` (rates × starts).
    """
    seed = check_int("seed", seed, low=0)
    for s in starts:
        check_int("starts", s, low=0, high=steps - 1)
    data = digits_few_labels(n_labelled, random_state=seed)
    X, y = data.X_train, data.y_train
    pretrained = denoising_pretrained_mlp(data.X_unlabelled, hidden, seed, pretrain_steps)
    random_base = make_mlp([64, hidden, hidden, 10], random_state=seed + 1)

    def score(model: nn.Module) -> float:
        return accuracy(model, data.X_test, data.y_test)

    out = {k: np.zeros(len(lrs)) for k in ("decayed", "last", "scratch")}
    out["swa"] = np.zeros((len(lrs), len(starts)))
    run = dict(random_state=seed, steps=steps, batch_size=batch_size)
    for i, lr in enumerate(lrs):
        out["decayed"][i] = score(fine_tune(pretrained, X, y, lr, decay=True, **run)[0])
        out["scratch"][i] = score(fine_tune(random_base, X, y, lr, decay=True, **run)[0])
        snapshots: list = []
        model, _ = fine_tune(pretrained, X, y, lr, snapshots=snapshots, **run)
        out["last"][i] = score(model)
        stacked = torch.stack(snapshots)
        for k, start in enumerate(starts):
            nn.utils.vector_to_parameters(stacked[start:].mean(dim=0).to(next(model.parameters())), model.parameters())
            out["swa"][i, k] = score(model)
    return out
