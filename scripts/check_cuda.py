"""Check that the torch parts of the package run unchanged on the device the package picks.

    python scripts/check_cuda.py

On a machine with CUDA, ``scratchbook.get_device()`` is the GPU: every LSTM variant and the GRU
run forward and backward there, and their outputs, states and input gradients are compared with
the same module on the CPU (float64, same weights); a few steps of training on the adding problem
then run on the device. Without CUDA the same script runs on the CPU and compares it with itself.
Exits with status 1 on any mismatch.
"""

from __future__ import annotations

import sys

import torch

import scratchbook
from scratchbook.rnn import GRU, LSTM, LSTM_VARIANTS
from scratchbook.rnn.training import train_adding


def run(model: torch.nn.Module, x: torch.Tensor):
    """Outputs, final states and the input gradient of one forward and backward pass."""
    x = x.clone().requires_grad_(True)
    output, state = model(x)
    states = state if isinstance(state, tuple) else (state,)
    (output.sum() + sum(s.sum() for s in states)).backward()
    return [output.detach().cpu(), *[s.detach().cpu() for s in states], x.grad.cpu()]


def main() -> int:
    device = scratchbook.get_device()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {device} ({name}); torch {torch.__version__}")
    scratchbook.set_seed(0)
    x = torch.randn(12, 3, 5, dtype=torch.float64)
    cases = [(f"LSTM({v})", lambda v=v: LSTM(5, 7, num_layers=2, bidirectional=True, variant=v)) for v in LSTM_VARIANTS]
    cases.append(("GRU", lambda: GRU(5, 7, num_layers=2, bidirectional=True)))
    worst = 0.0
    for label, make in cases:
        cpu = make().double()
        dev = make().double().to(device)
        dev.load_state_dict(cpu.state_dict())
        err = max(float((a - b).abs().max()) for a, b in zip(run(cpu, x), run(dev, x.to(device))))
        worst = max(worst, err)
        print(f"{label:<32} max |{device.type} - cpu| = {err:.1e}")
    result = train_adding(LSTM(2, 16).to(device), length=20, steps=30, random_state=0)
    first, last = result["history"][:5].mean(), result["history"][-5:].mean()
    print(f"adding problem, LSTM on {device.type}: loss {first:.3f} -> {last:.3f} in 30 steps")
    ok = worst < 1e-10 and last < first
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
