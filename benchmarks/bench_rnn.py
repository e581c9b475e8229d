"""Part I against torch.nn: our LSTM and GRU versus torch.nn.LSTM/GRU, measured in the same run.

    python benchmarks/bench_rnn.py [--repeats 10] [--device cpu]

One forward and backward pass through a one-layer network, T=100 steps, batch 32, input and hidden
size 128, float32. Each time is the best of ``--repeats`` passes after one warm-up. Ours loops over
time in Python with one matrix product per step; our vanilla LSTM runs its backward pass written out
by hand (``LSTMLayerFunction``), and the row "LSTM, ours by autograd" times the same loop recorded by
autograd instead. torch runs the loop in C++, and on CPU in float32 its LSTM goes to a fused oneDNN
kernel (on CUDA, cuDNN fuses both); the row "torch w/o oneDNN" turns oneDNN off, which leaves torch's
own step-by-step C++ loop. Target on CPU: every ratio (ours / torch) below 3.
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch

from scratchbook.rnn import GRU, LSTM
from scratchbook.utils import get_device


def best_time(step, repeats: int, device: torch.device) -> float:
    """Smallest wall time of ``repeats`` calls of ``step``, in seconds, after one warm-up call."""
    step()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = parser.parse_args(argv)
    device = get_device(args.device)
    T, B, D, H = 100, 32, 128, 128
    torch.manual_seed(0)
    x = torch.randn(T, B, D, device=device, requires_grad=True)
    print(f"T={T}, batch={B}, input={D}, hidden={H}, float32, {device}, {torch.get_num_threads()} threads")
    print(f"{'model':24s} {'ours (ms)':>10s} {'torch (ms)':>11s} {'ratio':>7s}")
    for name, ours_cls in (("LSTM", LSTM), ("GRU", GRU)):
        theirs = getattr(torch.nn, name)(D, H).to(device)
        ours = ours_cls(D, H).to(device)
        ours.load_state_dict(theirs.state_dict())

        def step(module):
            return lambda: module(x)[0].sum().backward()

        t_ours, t_theirs = best_time(step(ours), args.repeats, device), best_time(step(theirs), args.repeats, device)
        print(f"{name:24s} {1e3 * t_ours:10.1f} {1e3 * t_theirs:11.1f} {t_ours / t_theirs:7.2f}")
        if name == "LSTM" and device.type == "cpu":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a note about Intel GPUs when the flag changes
                with torch.backends.mkldnn.flags(enabled=False):
                    t_plain = best_time(step(theirs), args.repeats, device)
            print(f"{'LSTM (torch w/o oneDNN)':24s} {1e3 * t_ours:10.1f} {1e3 * t_plain:11.1f} {t_ours / t_plain:7.2f}")
            ours.fused = False
            t_autograd = best_time(step(ours), args.repeats, device)
            print(
                f"{'LSTM, ours by autograd':24s} {1e3 * t_autograd:10.1f} {1e3 * t_theirs:11.1f} "
                f"{t_autograd / t_theirs:7.2f}"
            )


if __name__ == "__main__":
    main()
