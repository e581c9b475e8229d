"""The gated recurrent unit from scratch, with torch.nn.GRU's call, parameter names and layout."""

from __future__ import annotations

import torch

from scratchbook.rnn._stacked import StackedRecurrent, _check_bool

__all__ = ["GRU", "gru_cell", "gru_step"]


def gru_cell(
    x_part: torch.Tensor, h: torch.Tensor, weight_hh: torch.Tensor, bias_hh: torch.Tensor, reset_after: bool = True
) -> torch.Tensor:
    """One GRU step from ``x_part`` = W_ih x_t + b_ih (B×3H, gates r, z, n) and h_{t-1}; returns h_t.

    Implements Eqs. (gru-reset)–(gru-state) of chapter 5. With ``reset_after`` (torch's convention)
    the reset gate multiplies W_hn h + b_hn; without it (Cho et al.'s original) it multiplies h
    before the product: W_hn (r ⊙ h) + b_hn.
    """
    H = h.shape[-1]
    x_rz, x_n = x_part[..., : 2 * H], x_part[..., 2 * H :]
    if reset_after:
        h_all = torch.addmm(bias_hh, h, weight_hh.T)
        r, z = torch.sigmoid(x_rz + h_all[..., : 2 * H]).chunk(2, dim=-1)  # Eqs. (gru-reset), (gru-update)
        n = torch.tanh(x_n + r * h_all[..., 2 * H :])  # Eq. (gru-candidate)
    else:
        h_rz = torch.addmm(bias_hh[: 2 * H], h, weight_hh[: 2 * H].T)
        r, z = torch.sigmoid(x_rz + h_rz).chunk(2, dim=-1)
        n = torch.tanh(x_n + torch.addmm(bias_hh[2 * H :], r * h, weight_hh[2 * H :].T))
    return torch.lerp(n, h, z)  # (1 − z) ⊙ n + z ⊙ h, Eq. (gru-state)


def gru_step(
    x: torch.Tensor,
    h: torch.Tensor,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor,
    bias_hh: torch.Tensor,
    reset_after: bool = True,
) -> torch.Tensor:
    """One GRU step from x_t and h_{t-1}; returns h_t."""
    return gru_cell(x @ weight_ih.T + bias_ih, h, weight_hh, bias_hh, reset_after)


class GRU(StackedRecurrent):
    """A multi-layer, optionally bidirectional GRU with ``torch.nn.GRU``'s call and parameters.

    ``forward(input, hx=None)`` returns ``output, h_n`` with torch's shapes. Gate order r, z, n and
    the update h_t = (1 − z) ⊙ n + z ⊙ h_{t−1} are torch's, and so is where the reset gate acts: on
    W_hn h + b_hn, after the matrix product. Cho et al. (2014) apply it before, to h itself:
    n = tanh(W_in x + W_hn (r ⊙ h) + b), which ``reset_after=False`` selects; the parameters are the
    same, the function differs (it cannot be computed from one product W_hh h per step). ``device`` and
    ``dtype`` are torch's factory keywords.
    """

    n_gates = 3

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        batch_first: bool = False,
        reset_after: bool = True,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(input_size, hidden_size, num_layers, bidirectional, batch_first, device=device, dtype=dtype)
        self.reset_after = _check_bool("reset_after", reset_after)
        self.reset_parameters()

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.reset_after else ", reset_after=False")

    def forward(self, input: torch.Tensor, hx: torch.Tensor | None = None):
        """Run the sequence through every layer and direction; return ``output, h_n``."""
        x, batched = self._check_input(input)
        h0 = self._check_state("hx", hx, x.shape[1], batched, x)
        output, (h_n,) = self._format_output(*self._run(x, (h0,)), batched)
        return output, h_n

    def _run_direction(self, x, init, layer, sfx, reverse):
        """The loop over time of one layer in one direction (backwards in time when ``reverse``)."""
        weight_ih, weight_hh, bias_ih, bias_hh = self.layer_weights(layer, sfx)
        x_part = torch.matmul(x, weight_ih.T) + bias_ih  # all steps at once: T×B×3H
        (h,) = init
        outs = [None] * len(x)
        for t in reversed(range(len(x))) if reverse else range(len(x)):
            h = gru_cell(x_part[t], h, weight_hh, bias_hh, self.reset_after)
            outs[t] = h
        return torch.stack(outs), (h,)
