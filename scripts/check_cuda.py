"""Check that the torch parts of the package run unchanged on the device the package picks.

    python scripts/check_cuda.py

On a machine with CUDA, ``scratchbook.get_device()`` is the GPU: every LSTM variant and the GRU
run forward and backward there, and their outputs, states and input gradients are compared with
the same module on the CPU (float64, same weights), as is ELMo's bidirectional language model; a few
steps of training on the adding problem and of the biLM then run on the device. Every training helper
of Part IV (classifier, distillation, backward-pass KD, continuation KD, Glitter, SWA, DyLoRA) then
trains briefly there: its parameters must end on the device and its loss must fall. Without CUDA the
same script runs on the CPU and compares it with itself. Exits with status 1 on any failure.
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
    ok &= check_elmo(device)
    ok &= check_compact(device)
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


def check_elmo(device: torch.device) -> bool:
    """ELMo's biLM: the same layers on the device as on the CPU, and a few training steps there."""
    from scratchbook.rnn.elmo import BiLM, train_bilm

    tokens = torch.randint(0, 50, (3, 9))
    cpu = BiLM(50, embedding_dim=8).double().eval()
    dev = BiLM(50, embedding_dim=8).double().to(device).eval()
    dev.load_state_dict(cpu.state_dict())
    with torch.no_grad():
        err = float((cpu.layers(tokens) - dev.layers(tokens.to(device)).cpu()).abs().max())
    stream = torch.arange(2000) % 50  # a text that repeats itself: quick to learn
    history = train_bilm(
        BiLM(50, embedding_dim=16), stream.numpy(), steps=30, lr=3e-2, batch_size=8, length=16, progress=False
    )["history"]
    first, last = float(history[:5].mean()), float(history[-5:].mean())
    print(f"{'ELMo biLM layers':<32} max |{device.type} - cpu| = {err:.1e}; loss {first:.3f} -> {last:.3f}")
    return err < 1e-10 and last < first


def check_compact(device: torch.device) -> bool:
    """Each Part IV training helper, briefly, on the device: parameters there and a falling loss."""
    import copy

    import numpy as np
    from torch.optim.swa_utils import AveragedModel

    from scratchbook.compact import add_lora, continuation, digits_few_labels, distill, fit, make_mlp, train_classifier
    from scratchbook.compact.backward_kd import BackwardKDLoss
    from scratchbook.compact.glitter import AugmentedKD, augment_pool
    from scratchbook.compact.swa import swa_callback

    data = digits_few_labels(200, random_state=0)
    X, y = data.X_train, data.y_train
    teacher = make_mlp([64, 64, 10], random_state=1)
    train_classifier(teacher, X, y, steps=60, progress=False)
    x1 = np.linspace(-1, 1, 16, dtype=np.float32)[:, None]
    curve = make_mlp([1, 16, 1], random_state=2)
    y1 = np.sin(3 * x1).astype(np.float32)
    fit(curve, lambda m, xb, yb, s: (m(xb) - yb).pow(2).mean(), x1, y1, steps=60, progress=False)

    def cross_entropy(m, xb, yb, step):
        return torch.nn.functional.cross_entropy(m(xb), yb)

    runs = {
        "classifier": lambda m: train_classifier(m, X, y, steps=60, progress=False),
        "distillation": lambda m: distill(m, teacher, X, y, steps=60, progress=False),
        "backward-pass KD": lambda m: fit(
            m, BackwardKDLoss(curve, x1, 0.05, 2), x1, y1, steps=60, batch_size=16, progress=False
        ),
        "continuation KD": lambda m: fit(
            m, continuation.make_ckd_loss(curve, 30, 4, 0.01), x1, y1, steps=60, batch_size=16, progress=False
        ),
        "Glitter": lambda m: fit(
            m,
            AugmentedKD(teacher, "glitter", 1),
            np.concatenate([X[:, None], augment_pool(X, 4, random_state=0)], axis=1),
            y,
            steps=60,
            batch_size=32,
            progress=False,
        ),
        "SWA": lambda m: fit(
            m,
            cross_entropy,
            X,
            y,
            steps=60,
            optimizer="sgd",
            lr=0.05,
            momentum=0.9,
            callback=swa_callback(AveragedModel(m), start=30),
            progress=False,
        ),
        "DyLoRA": lambda m: train_classifier(m, X, y, steps=60, progress=False),
    }
    models = {
        "backward-pass KD": make_mlp([1, 16, 1], random_state=4),
        "continuation KD": make_mlp([1, 16, 1], random_state=4),
        "DyLoRA": add_lora(copy.deepcopy(teacher), 4, 2.0, kind="dylora"),
    }
    ok = True
    for name, run in runs.items():
        model = models.get(name) or make_mlp([64, 32, 10], random_state=5)
        history = np.asarray(run(model))
        where = {p.device.type for p in model.parameters()}
        first, last = float(history[:5].mean()), float(history[-5:].mean())
        good = where == {device.type} and np.isfinite(history).all() and last < first
        ok &= good
        print(
            f"{'compact: ' + name:<32} on {sorted(where)}, loss {first:.3f} -> {last:.3f}  {'ok' if good else 'FAILED'}"
        )
    return ok


if __name__ == "__main__":
    sys.exit(main())
