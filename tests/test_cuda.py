"""The package's torch code on a GPU against the same code on the CPU.

Marked ``cuda``: every test skips on a machine without CUDA. On a GPU, ``pytest -m cuda tests/test_cuda.py``
checks that each torch model gives the CPU's outputs and gradients (float64, same weights, to 1e-10) and
that each trainer leaves its parameters on the GPU with a falling loss.
``SCRATCHBOOK_TEST_DEVICE=cpu`` runs the same tests with the CPU standing in for the GPU (a dry run of the
test code itself, not a test of CUDA).
"""

from __future__ import annotations

import copy
import os

import numpy as np
import pytest
import torch

DEVICE = os.environ.get("SCRATCHBOOK_TEST_DEVICE", "cuda")
pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(), reason="no CUDA device"),
]
TOL = 1e-10


def _forward_backward(model: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Outputs, final states and the input gradient of one forward and backward pass, on the CPU."""
    x = x.clone().requires_grad_(True)
    output, state = model(x)
    states = state if isinstance(state, tuple) else (state,)
    (output.sum() + sum(s.sum() for s in states)).backward()
    return [output.detach().cpu(), *[s.detach().cpu() for s in states], x.grad.cpu()]


def _on_device(model: torch.nn.Module) -> bool:
    return {p.device.type for p in model.parameters()} == {torch.device(DEVICE).type}


def _falls(history) -> bool:
    history = np.asarray(history, dtype=float)
    return bool(np.isfinite(history).all() and history[-5:].mean() < history[:5].mean())


def _recurrent_cases():
    from scratchbook.rnn import GRU, LSTM, LSTM_VARIANTS

    cases = {f"LSTM-{v}": (lambda v=v: LSTM(5, 7, num_layers=2, bidirectional=True, variant=v)) for v in LSTM_VARIANTS}
    cases["GRU"] = lambda: GRU(5, 7, num_layers=2, bidirectional=True)
    return cases


@pytest.mark.parametrize("name", list(_recurrent_cases()))
def test_recurrent_layers_match_the_cpu(name):
    make = _recurrent_cases()[name]
    torch.manual_seed(0)
    cpu = make().double()
    gpu = make().double().to(DEVICE)
    gpu.load_state_dict(cpu.state_dict())
    x = torch.randn(12, 3, 5, dtype=torch.float64)
    for a, b in zip(_forward_backward(cpu, x), _forward_backward(gpu, x.to(DEVICE)), strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=TOL)


def test_elmo_bilm_matches_the_cpu_and_trains_on_the_device():
    from scratchbook.rnn.elmo import BiLM, train_bilm

    torch.manual_seed(0)
    tokens = torch.randint(0, 50, (3, 9))
    cpu = BiLM(50, embedding_dim=8).double().eval()
    gpu = BiLM(50, embedding_dim=8).double().to(DEVICE).eval()
    gpu.load_state_dict(cpu.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(gpu.layers(tokens.to(DEVICE)).cpu(), cpu.layers(tokens), rtol=0, atol=TOL)
    model = BiLM(50, embedding_dim=16).to(DEVICE)
    stream = np.arange(2000) % 50  # a text that repeats itself: quick to learn
    history = train_bilm(model, stream, steps=30, lr=3e-2, batch_size=8, length=16, progress=False)
    assert _falls(history) and _on_device(model)


def test_adding_problem_trains_on_the_device():
    from scratchbook.rnn import LSTM
    from scratchbook.rnn.training import train_adding

    model = LSTM(2, 16).to(DEVICE)
    history = train_adding(model, length=20, steps=30, random_state=0, progress=False).history
    assert _falls(history) and _on_device(model)


def test_generic_training_loop_on_the_device():
    from scratchbook.training import fit

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(1, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    x = np.linspace(-1, 1, 64, dtype=np.float32)[:, None]
    history = fit(
        model,
        lambda m, xb, yb, step: (m(xb) - yb).pow(2).mean(),
        x,
        np.sin(3 * x),
        steps=60,
        device=DEVICE,
        progress=False,
    )
    assert _falls(history) and _on_device(model)


def test_metric_embedding_trains_on_the_device():
    from sklearn.datasets import load_digits

    from scratchbook.metric.deep import EmbeddingNet, train_embedding

    X, y = load_digits(return_X_y=True)
    model = EmbeddingNet(64, 32, 2).to(DEVICE)
    history = train_embedding(model, X / 16.0, y, steps=60, progress=False)
    assert _falls(history) and _on_device(model)


@pytest.mark.parametrize("kind", ["lora", "dylora"])
def test_low_rank_adapters_match_the_cpu(kind):
    from scratchbook.compact import add_lora

    torch.manual_seed(0)
    base = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3)).double()
    cpu = add_lora(copy.deepcopy(base), 2, 2.0, kind=kind).eval()
    for p in cpu.parameters():  # the adapter starts at zero: give it a value so the test sees it
        if p.requires_grad:
            torch.nn.init.normal_(p, std=0.3)
    gpu = copy.deepcopy(cpu).to(DEVICE)
    x = torch.randn(4, 6, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(gpu(x.to(DEVICE)).cpu(), cpu(x), rtol=0, atol=TOL)
