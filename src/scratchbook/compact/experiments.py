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
from scratchbook.compact.lora import fine_tune_adapters, set_rank, subspace_overlap, svd_reorder
from scratchbook.compact.swa import fine_tune
from scratchbook.compact.tasks import digits_few_labels
from scratchbook.compact.training import accuracy, make_mlp, train_classifier

__all__ = [
    "ADAPTER_SINGLE",
    "ADAPTER_CURVES",
    "ADAPTER_EQUAL_CURVES",
    "ADAPTER_OVERLAP",
    "compare_adapters",
    "compare_adapters_equal_steps",
    "compare_swa",
    "paired_columns",
    "paired_test",
    "paired_tests",
]

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
ADAPTER_EQUAL_CURVES = ("LoRA-8, first b terms", "LoRA-8, SVD-truncated", "DyLoRA-8, frozen")
"""The models of :func:`compare_adapters_equal_steps` evaluated at every rank."""
ADAPTER_OVERLAP = ("LoRA-8, first b terms", "DyLoRA-8, frozen", "nested dropout-8")
"""The adapters whose rank-b column spaces :func:`compare_adapters_equal_steps` compares with the SVD."""


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
    trained at each rank 1, 2, 4 below ``r`` and at ``r`` for ``steps``; the rank-r adapter is also
    evaluated truncated to its first b terms and to the best rank-b part of its update
    (:func:`svd_reorder`). DyLoRA (frozen
    and not) and nested dropout train for ``dynamic_steps`` and are evaluated at every rank. Returns
    ``({name: accuracy}, {name: accuracies at ranks 1..r})`` with the names of ``ADAPTER_SINGLE`` and
    ``ADAPTER_CURVES``.
    """
    seed = check_int("seed", seed, low=0)
    r = check_int("r", r, low=1)
    data, pretrained, random_base = _adapter_setup(seed, n_labelled, hidden, pretrain_steps)
    run = _AdapterRuns(data, r, alpha, seed)
    single, curves, _ = run.fixed_rank(pretrained, random_base, steps)
    curves[f"DyLoRA-{r}, frozen"] = run.curve(run.adapt(pretrained, r, dynamic_steps, "dylora", True))
    curves[f"DyLoRA-{r}, all terms ≤ b"] = run.curve(run.adapt(pretrained, r, dynamic_steps, "dylora", False))
    curves[f"nested dropout-{r}"] = run.curve(run.adapt(pretrained, r, dynamic_steps, "nested"))
    return single, curves


def _adapter_setup(seed: int, n_labelled: int, hidden: int, pretrain_steps: int):
    """Chapter 4.6's task for ``seed``, its pre-trained network and the random network with the same head."""
    data = digits_few_labels(n_labelled, random_state=seed)
    pretrained = denoising_pretrained_mlp(data.X_unlabelled, hidden, seed, pretrain_steps)
    random_base = make_mlp([64, hidden, hidden, 10], random_state=seed + 1)  # the same output layer
    return data, pretrained, random_base


class _AdapterRuns:
    """The runs of one seed of chapter 4.6: every one seeded by ``seed``, scored on the test digits."""

    def __init__(self, data, r: int, alpha: float, seed: int) -> None:
        self.data, self.r, self.alpha, self.seed = data, r, alpha, seed

    def score(self, model: nn.Module) -> float:
        return accuracy(model, self.data.X_test, self.data.y_test)

    def adapt(self, base: nn.Module, rank: int, steps: int, kind: str = "lora", frozen: bool = True) -> nn.Module:
        X, y = self.data.X_train, self.data.y_train
        return fine_tune_adapters(
            base, X, y, rank, self.alpha, kind, frozen, train=("4",), steps=steps, random_state=self.seed
        )

    def curve(self, model: nn.Module) -> np.ndarray:
        return np.array([self.score(set_rank(model, b)) for b in range(1, self.r + 1)])

    def fixed_rank(self, pretrained: nn.Module, random_base: nn.Module, steps: int):
        """The models of ``ADAPTER_SINGLE`` and the two truncations of LoRA-r, all trained for ``steps``."""
        r, single, curves = self.r, {}, {}
        for name, base, trained in (
            ("from scratch", random_base, None),
            ("head only", pretrained, "4"),
            ("full fine-tuning", pretrained, None),
        ):
            model = copy.deepcopy(base)
            if trained is not None:
                for pname, p in model.named_parameters():
                    p.requires_grad_(pname.startswith(trained + "."))
            train_classifier(
                model, self.data.X_train, self.data.y_train, steps=steps, random_state=self.seed, progress=False
            )
            single[name] = self.score(model)
        for rank in sorted({b for b in (1, 2, 4) if b < r} | {r}):
            model = self.adapt(pretrained, rank, steps)
            single[f"LoRA-{rank}"] = self.score(model)
        lora_r = copy.deepcopy(model)
        single[f"LoRA-{r}"] = self.score(set_rank(model, r))
        curves[f"LoRA-{r}, first b terms"] = self.curve(model)
        curves[f"LoRA-{r}, SVD-truncated"] = self.curve(svd_reorder(model))
        single[f"LoRA-{r}, random frozen base"] = self.score(self.adapt(random_base, r, steps))
        return single, curves, set_rank(lora_r, r)


def compare_adapters_equal_steps(
    seed: int = 0,
    n_labelled: int = 100,
    hidden: int = 32,
    r: int = 8,
    alpha: float = 1.0,
    steps: int = 600,
    pretrain_steps: int = PRETRAIN_STEPS,
) -> tuple[dict[str, float], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """One seed of chapter 4.6 with every model trained for the same ``steps``: DyLoRA's budget.

    :func:`compare_adapters` trains the fixed-rank models for ``steps`` and DyLoRA and nested dropout for
    ``dynamic_steps``; this runs the fixed-rank models (``ADAPTER_SINGLE``, and LoRA-r truncated to its
    first b terms or SVD-truncated) again for ``steps``, on the same task, pre-trained network and seeds,
    so that each comparison with DyLoRA has a partner trained as long. Frozen DyLoRA-r is trained again
    (it must repeat :func:`compare_adapters`'s run with ``dynamic_steps = steps``). For LoRA-r, frozen
    DyLoRA-r and nested dropout it also returns, per adapted hidden layer and rank b < r,
    :func:`subspace_overlap` between the column space of the rank-b update and the top-b left singular
    subspace of the rank-r update.
    Returns ``({name: accuracy}, {name: accuracies at ranks 1..r}, {name: overlaps, layers × (r − 1)})``
    with the names of ``ADAPTER_SINGLE``, ``ADAPTER_EQUAL_CURVES`` and ``ADAPTER_OVERLAP``.
    """
    seed = check_int("seed", seed, low=0)
    r = check_int("r", r, low=2)
    steps = check_int("steps", steps, low=1)
    data, pretrained, random_base = _adapter_setup(seed, n_labelled, hidden, pretrain_steps)
    run = _AdapterRuns(data, r, alpha, seed)
    single, curves, lora_r = run.fixed_rank(pretrained, random_base, steps)
    dylora = run.adapt(pretrained, r, steps, "dylora", True)
    curves[f"DyLoRA-{r}, frozen"] = run.curve(dylora)
    overlap = {
        f"LoRA-{r}, first b terms": _overlaps(lora_r),
        f"DyLoRA-{r}, frozen": _overlaps(dylora),
        f"nested dropout-{r}": _overlaps(run.adapt(pretrained, r, steps, "nested")),
    }
    return single, curves, overlap


def _overlaps(model: nn.Module) -> np.ndarray:
    """:func:`subspace_overlap` of each hidden layer's adapter ("0" and "2") at ranks 1, …, r − 1."""
    layers = [model.get_submodule(name) for name in ("0", "2")]
    return np.array([[subspace_overlap(layer, b) for b in range(1, layer.r)] for layer in layers])


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


def paired_tests(a, b) -> dict[str, float]:
    """:func:`paired_test` and, as ``p_w``, the two-sided Wilcoxon signed-rank p of the differences a − b.

    Chapter 4.1's protocol: the t-test's p decides Bonferroni's correction, the Wilcoxon p says whether
    a few seeds drive the verdict (it ranks the differences, so one outlying seed weighs as one rank).
    """
    out = paired_test(a, b)
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if not np.any(d):
        raise ValueError("a and b are equal on every seed: the Wilcoxon test is undefined")
    out["p_w"] = float(stats.wilcoxon(d).pvalue)
    return out


def paired_columns(table, baseline: int = 0) -> list[dict[str, float]]:
    """Each method of a seeds × methods table against the ``baseline`` column, on the same seeds.

    Every column gets its ``mean`` and sample ``std`` (ddof = 1) and its number of seeds ``n``; every
    column but ``baseline`` also gets :func:`paired_tests` of it against the baseline: the mean ``diff``
    and sample ``sd`` of the per-seed differences, the ``wins`` (seeds where it is above), the paired
    t-test's ``p`` and the Wilcoxon signed-rank ``p_w``. Returns one dict per column, in the table's order.
    """
    table = np.asarray(table, dtype=float)
    if table.ndim != 2 or table.shape[0] < 2 or table.shape[1] < 2:
        raise ValueError(f"table must be 2-D, seeds × methods, with two or more of each, got shape {table.shape}")
    if not np.isfinite(table).all():
        raise ValueError("table must be finite: it holds NaN or inf")
    baseline = check_int("baseline", baseline, low=0, high=table.shape[1] - 1)
    out = []
    for j, column in enumerate(table.T):
        row = {"mean": float(column.mean()), "std": float(column.std(ddof=1)), "n": len(column)}
        if j != baseline:
            if np.array_equal(column, table[:, baseline]):
                raise ValueError(f"table column {j} equals the baseline column {baseline} on every seed")
            row |= paired_tests(column, table[:, baseline])
        out.append(row)
    return out


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
