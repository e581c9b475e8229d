"""Remedies for vanishing gradients without gates (Part I, chapter 3): identity init, delays, leaky units.

:class:`LeakyRNN` is one layer of ``torch.nn.RNN`` (same parameter names, so state dicts move
between them) with two additions: connections from states more than one step back (``delays``)
and a leak rate α that mixes the previous state into the new one (Eq. (rem-leaky)).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from scratchbook._validation import check_int, check_option, check_real

__all__ = ["LeakyRNN", "identity_init", "input_sensitivity"]


class LeakyRNN(nn.Module):
    """A one-layer RNN with optional delayed connections and leaky units; torch.nn.RNN when both are off.

    h_t = (1 − α) h_{t−1} + α φ(W_ih x_t + b_ih + b_hh + Σ_d W_d h_{t−d}), Eq. (rem-general), with
    φ = tanh or ReLU, ``leak_rate`` α and ``delays`` d (1 must be among them; W_1 is
    ``weight_hh_l0``, every other W_d is ``weight_hh_delay{d}``). ``forward(input, h_0=None)``
    takes T×B×D and returns ``output`` (T×B×H) and ``h_n`` (1×B×H) like ``torch.nn.RNN``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        nonlinearity: str = "tanh",
        leak_rate: float = 1.0,
        delays: tuple[int, ...] = (1,),
    ) -> None:
        super().__init__()
        self.input_size = check_int("input_size", input_size, low=1)
        self.hidden_size = check_int("hidden_size", hidden_size, low=1)
        self.nonlinearity = check_option("nonlinearity", nonlinearity, ("tanh", "relu"))
        self.leak_rate = check_real("leak_rate", leak_rate, low=0.0, high=1.0, strict_low=True)
        delays = tuple(check_int("delays", d, low=1) for d in delays)
        if 1 not in delays or len(set(delays)) != len(delays):
            raise ValueError(f"delays must contain 1 and no repeats, got {delays}")
        self.delays = tuple(sorted(delays))
        H = self.hidden_size
        self.weight_ih_l0 = nn.Parameter(torch.empty(H, self.input_size))
        self.weight_hh_l0 = nn.Parameter(torch.empty(H, H))
        self.bias_ih_l0 = nn.Parameter(torch.empty(H))
        self.bias_hh_l0 = nn.Parameter(torch.empty(H))
        for d in self.delays[1:]:
            self.register_parameter(f"weight_hh_delay{d}", nn.Parameter(torch.empty(H, H)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every parameter from U(−1/√H, 1/√H), as torch.nn.RNN does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def recurrent_weights(self) -> dict[int, torch.Tensor]:
        """The recurrent matrix W_d of every delay d."""
        return {d: self.weight_hh_l0 if d == 1 else getattr(self, f"weight_hh_delay{d}") for d in self.delays}

    def forward(self, input: torch.Tensor, h_0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Run Eq. (rem-general) over the sequence; states before h_0 count as zeros for delays > 1."""
        if not isinstance(input, torch.Tensor) or input.dim() != 3 or input.shape[-1] != self.input_size:
            shape = tuple(input.shape) if isinstance(input, torch.Tensor) else type(input).__name__
            raise ValueError(f"input must be a T×B×{self.input_size} tensor, got {shape}")
        T, B, H = input.shape[0], input.shape[1], self.hidden_size
        h = input.new_zeros(B, H) if h_0 is None else h_0.reshape(B, H)
        phi = torch.tanh if self.nonlinearity == "tanh" else torch.relu
        weights = self.recurrent_weights()
        x_part = torch.matmul(input, self.weight_ih_l0.T) + (self.bias_ih_l0 + self.bias_hh_l0)
        past = [input.new_zeros(B, H)] * (max(self.delays) - 1) + [h]  # past[-d] is h_{t−d}
        outs = []
        for t in range(T):
            pre = x_part[t]
            for d, W in weights.items():
                pre = pre + past[-d] @ W.T
            h = (1.0 - self.leak_rate) * past[-1] + self.leak_rate * phi(pre)
            past = past[1:] + [h]
            outs.append(h)
        return torch.stack(outs), h.unsqueeze(0)


def identity_init(
    rnn: nn.Module, scale: float = 1.0, input_std: float = 1e-3, generator: torch.Generator | None = None
) -> nn.Module:
    """Le et al.'s IRNN initialisation, in place: W_hh = scale · I, zero biases, W_ih ~ N(0, input_std²).

    Works on any module with torch.nn.RNN's layer-0 names (``torch.nn.RNN``, :class:`LeakyRNN`);
    delayed weights of a :class:`LeakyRNN` are set to zero. Returns the module.
    """
    scale = check_real("scale", scale, low=0.0)
    input_std = check_real("input_std", input_std, low=0.0)
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(scale * torch.eye(rnn.weight_hh_l0.shape[0]))
        rnn.bias_ih_l0.zero_()
        rnn.bias_hh_l0.zero_()
        rnn.weight_ih_l0.normal_(0.0, input_std, generator=generator)
        for name, p in rnn.named_parameters():
            if name.startswith("weight_hh_delay"):
                p.zero_()
    return rnn


def input_sensitivity(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    """‖∂h_T/∂x_t‖ averaged over the batch, for every lag T − t (entry ℓ is lag ℓ), for a time-first model."""
    xi = x.detach().clone().requires_grad_()
    out = model(xi)[0]
    out[-1].norm(dim=-1).sum().backward()
    return xi.grad.norm(dim=-1).mean(dim=1).flip(0).cpu().numpy()
