"""Every public trainer (a ``train_*`` function of the package) keeps the rules of scratchbook.training.

Device: a ``device=None`` keyword that the trainer uses (a device torch does not know is an error) and
that leaves the trained parameters there. Return: the loss history (an ndarray, one entry per step),
``(network, history)`` for a trainer that builds its network, a frozen dataclass with a ``history``
field, or, for a trainer of several networks, a dict of those. On a GPU (marked ``cuda``, as in
tests/test_cuda.py, and skipped without one) each trainer also leaves its parameters there.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import pkgutil
import re

import numpy as np
import pytest
import torch

import scratchbook

STEPS = 2


def _trainers() -> dict[str, object]:
    """name → function, for every public ``train_*`` function defined in a module of the package."""
    found = {}
    for info in pkgutil.walk_packages(scratchbook.__path__, "scratchbook."):
        if info.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if name.startswith("train_") and inspect.isfunction(obj) and obj.__module__ == info.name:
                found[name] = obj
    return found


TRAINERS = _trainers()


def _history_dataclass(fn, annotation: str) -> type | None:
    """The frozen dataclass with a ``history`` field that ``annotation`` names in ``fn``'s module, if any."""
    cls = getattr(importlib.import_module(fn.__module__), annotation, None)
    if not (inspect.isclass(cls) and dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen):
        return None
    return cls if "history" in {f.name for f in dataclasses.fields(cls)} else None


def test_the_trainers_are_found():
    assert {"train_classifier", "train_adding", "train_bilm", "train_fewshot", "train_probe"} <= set(TRAINERS)


@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_signature_has_device_and_the_return_of_the_rule(name):
    fn = TRAINERS[name]
    parameters = inspect.signature(fn).parameters
    assert "device" in parameters and parameters["device"].default is None, f"{name} needs device=None"
    annotation = inspect.signature(fn).return_annotation
    assert isinstance(annotation, str), f"{name} needs a return annotation"
    one = r"(np\.ndarray|tuple\[\w+, np\.ndarray\])"
    ok = (
        re.fullmatch(one, annotation)
        or re.fullmatch(rf"dict\[str, {one}\]", annotation)
        or _history_dataclass(fn, annotation) is not None
    )
    assert ok, f"{name} returns {annotation}, not a rule of scratchbook.training"


# --- each trainer on the CPU, a few steps of a tiny model -----------------------------------------


def _blobs(n_classes: int, n_per_class: int, d: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), n_per_class)
    return (rng.normal(size=(len(y), d)) + y[:, None]).astype(np.float32), y


def _ids(n: int = 200, vocab: int = 7) -> np.ndarray:
    return np.arange(n) % vocab


def _run(name: str, **kw):
    """Run trainer ``name`` for a few steps; returns (its result, the modules it trained)."""
    from scratchbook.compact.training import make_mlp
    from scratchbook.metric.deep import EmbeddingNet
    from scratchbook.rnn import GRU, future_token
    from scratchbook.rnn.charlm import CharLSTM
    from scratchbook.rnn.elmo import BiLM

    fn = TRAINERS[name]
    torch.manual_seed(0)
    X, y = _blobs(6, 8)
    if name == "train_classifier":
        model = make_mlp([4, 6])
        return fn(model, X, y, steps=STEPS, progress=False, **kw), [model]
    if name == "train_embedding":
        model = EmbeddingNet(4, 8, 2)
        return fn(model, X, y, steps=STEPS, n_classes=2, n_per_class=3, progress=False, **kw), [model]
    if name == "train_prototypical":
        model = EmbeddingNet(4, 8, 2)
        return fn(model, X, y, n_way=2, n_shot=1, n_query=1, episodes=STEPS, progress=False, **kw), [model]
    if name == "train_triplet_net":
        result = fn(X, y, "semi_hard", seed=0, out=2, steps=STEPS, **kw)
        return result, [result[0]]
    if name == "train_two_towers":
        result = fn(X, X[:, :3], out=2, steps=STEPS, **kw)
        return result, [result[0]]
    if name == "train_fewshot":
        rng = np.random.default_rng(0)
        images, labels = rng.random((25 * 4, 28, 28)).astype(np.float32), np.repeat(np.arange(25), 4)
        result = fn("triplet", images, labels, steps=STEPS, **kw)
        return result, [result[0]]
    if name == "train_adding":
        model = GRU(2, 4)
        result = fn(model, length=3, steps=STEPS, n_test=5, **kw)
        return result, [model, result.readout]
    if name == "train_tagging":
        model = GRU(2, 4)
        result = fn(
            model,
            lambda n, rng: future_token(n, 5, n_symbols=2, random_state=rng),
            steps=STEPS,
            n_test=5,
            progress=False,
            **kw,
        )
        return result, [model, result.readout]
    if name == "train_charlm":
        model = CharLSTM(7, 4, 4)
        return fn(model, _ids(), steps=STEPS, batch_size=2, length=5, progress=False, **kw), [model]
    if name == "train_bilm":
        model = BiLM(7, 4, num_layers=1, dropout=0.0)
        return fn(model, _ids(), steps=STEPS, batch_size=2, length=5, progress=False, **kw), [model]
    layers, labels = torch.randn(2, 12, 4), np.arange(12) % 2
    if name == "train_probe":
        result = fn(layers, labels, steps=STEPS, **kw)
        return result, [result[0]]
    if name == "train_probes":
        result = fn({"a": (layers, layers), "b": (layers[:1], layers[:1])}, labels, steps=STEPS, **kw)
        return result, [probe for probe, _ in result.values()]
    raise AssertionError(f"{name}: add a tiny case to _run")


def _histories(result) -> list[np.ndarray]:
    if dataclasses.is_dataclass(result):
        return [result.history]
    if isinstance(result, dict):
        return [h for value in result.values() for h in _histories(value)]
    if isinstance(result, tuple):
        network, history = result
        assert isinstance(network, torch.nn.Module)
        return [history]
    return [result]


@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_device_cpu_trains_on_the_cpu_and_returns_the_history(name):
    result, modules = _run(name, device="cpu")
    for history in _histories(result):
        assert isinstance(history, np.ndarray) and history.shape == (STEPS,) and np.isfinite(history).all()
    params = [p for m in modules for p in m.parameters()]
    assert params and all(p.device.type == "cpu" for p in params)


@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_the_device_argument_is_used(name):
    with pytest.raises(RuntimeError, match="device"):
        _run(name, device="no-such-device")


GPU = os.environ.get("SCRATCHBOOK_TEST_DEVICE", "cuda")  # "cpu": a dry run of the test code, as in test_cuda.py


@pytest.mark.cuda
@pytest.mark.skipif(GPU == "cuda" and not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name", sorted(TRAINERS))
def test_device_cuda_trains_on_the_gpu(name):
    result, modules = _run(name, device=GPU)
    assert all(np.isfinite(history).all() for history in _histories(result))
    assert all(p.device.type == torch.device(GPU).type for m in modules for p in m.parameters())
