"""Long short-term memory from scratch: one module, torch.nn.LSTM's layout, and Greff et al.'s variants.

Every variant is an option of the same :class:`LSTM` and keeps torch's four-gate weight layout, so a
state dict moves between variants and to and from ``torch.nn.LSTM``; a variant that drops a gate
simply ignores its rows (they get no gradient). The "vanilla" variant is torch's: forget gate, no
peepholes.
"""

from __future__ import annotations

import torch

from scratchbook._validation import check_option
from scratchbook.rnn._stacked import StackedRecurrent

__all__ = ["VARIANTS", "LSTM", "lstm_cell", "lstm_step"]

VARIANTS = (
    "vanilla",               # torch.nn.LSTM: input, forget and output gates, no peepholes
    "no_forget_gate",        # Hochreiter & Schmidhuber 1997: f ≡ 1
    "peephole",              # Gers, Schraudolph & Schmidhuber 2002: gates see the cell
    "no_input_gate",         # i ≡ 1
    "no_output_gate",        # o ≡ 1
    "no_input_activation",   # g = z_g, no tanh on the cell input
    "no_output_activation",  # h = o ⊙ c, no tanh on the cell output
    "coupled",               # f = 1 − i (coupled input and forget gate)
    "full_gate_recurrence",  # i, f, o also see the previous step's i, f, o
)


def lstm_cell(pre: torch.Tensor, c: torch.Tensor, variant: str = "vanilla",
              weight_peep: torch.Tensor | None = None, weight_gate: torch.Tensor | None = None,
              prev_gates: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One LSTM step from the pre-activations ``pre`` (B×4H, gates i, f, g, o); returns h, c, gates.

    Implements Eqs. (lstm-gates)–(lstm-hidden) of chapter 4 and the variants of Table (lstm-variants):
    ``weight_peep`` (3×H) are the peephole weights of i, f, o; ``weight_gate`` (3H×3H) the
    gate-to-gate weights of the full gate recurrence, applied to ``prev_gates`` (B×3H); the returned
    ``gates`` (i, f, o side by side) feed the next step of that variant and are None otherwise.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    z_i, z_f, z_g, z_o = pre.chunk(4, dim=-1)
    if weight_peep is None and weight_gate is None:
        i, f, _, o = torch.sigmoid(pre).chunk(4, dim=-1)  # Eq. (lstm-gates), one call (g's block unused)
    else:
        if weight_peep is not None:                     # peepholes: i and f look at c_{t-1}
            z_i, z_f = z_i + weight_peep[0] * c, z_f + weight_peep[1] * c
        if weight_gate is not None:                     # full gate recurrence: i, f, o see i, f, o of t−1
            r_i, r_f, r_o = (prev_gates @ weight_gate.T).chunk(3, dim=-1)
            z_i, z_f, z_o = z_i + r_i, z_f + r_f, z_o + r_o
        i, f = torch.sigmoid(z_i), torch.sigmoid(z_f)
    if variant == "no_input_gate":
        i = torch.ones_like(i)
    if variant == "no_forget_gate":
        f = torch.ones_like(f)
    elif variant == "coupled":
        f = 1 - i
    g = z_g if variant == "no_input_activation" else torch.tanh(z_g)
    c = torch.addcmul(f * c, i, g)                      # the cell: Eq. (lstm-cell)
    if weight_peep is not None:                         # the output gate looks at the new c_t
        o = torch.sigmoid(z_o + weight_peep[2] * c)
    elif weight_gate is not None:
        o = torch.sigmoid(z_o)
    if variant == "no_output_gate":
        o = torch.ones_like(o)
    h = o * c if variant == "no_output_activation" else o * torch.tanh(c)   # Eq. (lstm-hidden)
    gates = torch.cat([i, f, o], dim=-1) if weight_gate is not None else None
    return h, c, gates


def lstm_step(x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, weight_ih: torch.Tensor,
              weight_hh: torch.Tensor, bias_ih: torch.Tensor, bias_hh: torch.Tensor,
              variant: str = "vanilla") -> tuple[torch.Tensor, torch.Tensor]:
    """One step of a vanilla (or gate-removing) LSTM from x_t, h_{t-1}, c_{t-1}; returns h_t, c_t."""
    pre = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh
    h, c, _ = lstm_cell(pre, c, check_option("variant", variant, VARIANTS))
    return h, c


class LSTM(StackedRecurrent):
    """A multi-layer, optionally bidirectional LSTM with ``torch.nn.LSTM``'s call and parameters.

    ``forward(input, hx=None)`` returns ``output, (h_n, c_n)`` with torch's shapes; the input is
    T×B×D (B×T×D with ``batch_first``) or unbatched T×D. ``variant`` picks one of :data:`VARIANTS`;
    "peephole" adds ``weight_peep_l{k}`` (3×H) and "full_gate_recurrence" ``weight_gate_l{k}``
    (3H×3H) per layer and direction. Dropout between layers and ``proj_size`` are not offered.
    """

    n_gates = 4
    n_states = 2

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
                 batch_first: bool = False, variant: str = "vanilla") -> None:
        self.variant = check_option("variant", variant, VARIANTS)
        super().__init__(input_size, hidden_size, num_layers, bidirectional, batch_first)
        self.reset_parameters()

    def _extra_parameters(self, layer: int, sfx: str) -> None:
        H = self.hidden_size
        if self.variant == "peephole":
            self.register_parameter(f"weight_peep_l{layer}{sfx}", torch.nn.Parameter(torch.empty(3, H)))
        if self.variant == "full_gate_recurrence":
            self.register_parameter(f"weight_gate_l{layer}{sfx}", torch.nn.Parameter(torch.empty(3 * H, 3 * H)))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", variant={self.variant!r}"

    def forward(self, input: torch.Tensor, hx: tuple[torch.Tensor, torch.Tensor] | None = None):
        """Run the sequence through every layer and direction; return ``output, (h_n, c_n)``."""
        x, batched = self._check_input(input)
        if hx is None:
            hx = (None, None)
        elif not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError("hx must be None or a pair (h_0, c_0)")
        h0 = self._check_state("h_0", hx[0], x.shape[1], batched, x)
        c0 = self._check_state("c_0", hx[1], x.shape[1], batched, x)
        output, (h_n, c_n) = self._format_output(*self._run(x, (h0, c0)), batched)
        return output, (h_n, c_n)

    def _run_direction(self, x, init, layer, sfx, reverse):
        """The loop over time of one layer in one direction (backwards in time when ``reverse``)."""
        weight_ih, weight_hh, bias_ih, bias_hh = self.layer_weights(layer, sfx)
        peep = getattr(self, f"weight_peep_l{layer}{sfx}", None)
        gate = getattr(self, f"weight_gate_l{layer}{sfx}", None)
        x_part = torch.matmul(x, weight_ih.T) + (bias_ih + bias_hh)   # all steps at once: T×B×4H
        h, c = init
        gates = x.new_zeros(x.shape[1], 3 * self.hidden_size) if gate is not None else None
        outs = [None] * len(x)
        for t in (reversed(range(len(x))) if reverse else range(len(x))):
            pre = torch.addmm(x_part[t], h, weight_hh.T)
            h, c, gates = lstm_cell(pre, c, self.variant, peep, gate, gates)
            outs[t] = h
        return torch.stack(outs), (h, c)
