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

__all__ = [
    "VARIANTS",
    "LSTM",
    "vanilla_lstm_cell",
    "lstm_cell",
    "lstm_step",
    "lstm_layer_forward",
    "lstm_layer_backward",
    "LSTMLayerFunction",
]

#: The LSTM variants of Greff et al. (2017) that ``LSTM(variant=...)`` and ``lstm_cell`` accept.
VARIANTS = (
    "vanilla",  # torch.nn.LSTM: input, forget and output gates, no peepholes
    "no_forget_gate",  # Hochreiter & Schmidhuber 1997: f ≡ 1
    "peephole",  # Gers, Schraudolph & Schmidhuber 2002: gates see the cell
    "no_input_gate",  # i ≡ 1
    "no_output_gate",  # o ≡ 1
    "no_input_activation",  # g = z_g, no tanh on the cell input
    "no_output_activation",  # h = o ⊙ c, no tanh on the cell output
    "coupled",  # f = 1 − i (coupled input and forget gate)
    "full_gate_recurrence",  # i, f, o also see the previous step's i, f, o
)


def vanilla_lstm_cell(pre: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of the vanilla LSTM from the pre-activations ``pre`` (B×4H, blocks i, f, g, o); returns h, c.

    Eqs. (lstm-gates)–(lstm-hidden) of chapter 4 line by line; :func:`lstm_cell` computes the same
    step (tested equal) with the switches for the variants.
    """
    a_i, a_f, a_g, a_o = pre.chunk(4, dim=-1)
    i = torch.sigmoid(a_i)  # input gate
    f = torch.sigmoid(a_f)  # forget gate
    g = torch.tanh(a_g)  # candidate
    o = torch.sigmoid(a_o)  # output gate
    c = f * c + i * g  # Eq. (lstm-cell)
    h = o * torch.tanh(c)  # Eq. (lstm-hidden)
    return h, c


def lstm_cell(
    pre: torch.Tensor,
    c: torch.Tensor,
    variant: str = "vanilla",
    weight_peep: torch.Tensor | None = None,
    weight_gate: torch.Tensor | None = None,
    prev_gates: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One LSTM step from the pre-activations ``pre`` (B×4H, gates i, f, g, o); returns h, c, gates.

    Implements Eqs. (lstm-gates)–(lstm-hidden) of chapter 4 and the variants of Table (lstm-variants):
    ``weight_peep`` (3×H) are the peephole weights of i, f, o; ``weight_gate`` (3H×3H) the
    gate-to-gate weights of the full gate recurrence, applied to ``prev_gates`` (B×3H); the returned
    ``gates`` (i, f, o side by side) feed the next step of that variant and are None otherwise.
    """
    check_option("variant", variant, VARIANTS)
    z_i, z_f, z_g, z_o = pre.chunk(4, dim=-1)
    if weight_peep is None and weight_gate is None:
        i, f, _, o = torch.sigmoid(pre).chunk(4, dim=-1)  # Eq. (lstm-gates), one call (g's block unused)
    else:
        if weight_peep is not None:  # peepholes: i and f look at c_{t-1}
            z_i, z_f = z_i + weight_peep[0] * c, z_f + weight_peep[1] * c
        if weight_gate is not None:  # full gate recurrence: i, f, o see i, f, o of t−1
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
    c = torch.addcmul(f * c, i, g)  # the cell: Eq. (lstm-cell)
    if weight_peep is not None:  # the output gate looks at the new c_t
        o = torch.sigmoid(z_o + weight_peep[2] * c)
    elif weight_gate is not None:
        o = torch.sigmoid(z_o)
    if variant == "no_output_gate":
        o = torch.ones_like(o)
    h = o * c if variant == "no_output_activation" else o * torch.tanh(c)  # Eq. (lstm-hidden)
    gates = torch.cat([i, f, o], dim=-1) if weight_gate is not None else None
    return h, c, gates


def lstm_step(
    x: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor,
    bias_hh: torch.Tensor,
    variant: str = "vanilla",
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of a vanilla (or gate-removing) LSTM from x_t, h_{t-1}, c_{t-1}; returns h_t, c_t."""
    pre = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh
    h, c, _ = lstm_cell(pre, c, variant)
    return h, c


def lstm_layer_forward(
    x_part: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor, weight_hh: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The vanilla LSTM's loop over time from x_part = x W_ihᵀ + b (T×B×4H); returns hs, cs, gates.

    ``hs`` and ``cs`` hold h_0 … h_T and c_0 … c_T ((T+1)×B×H), ``gates`` the i, f, g, o of every step
    (T×B×4H): what the backward pass :func:`lstm_layer_backward` needs. The readable twin of
    :class:`LSTMLayerFunction`'s forward.
    """
    hs, cs, gates = [h0], [c0], []
    for t in range(len(x_part)):
        a = x_part[t] + hs[-1] @ weight_hh.T  # the four pre-activations
        a_i, a_f, a_g, a_o = a.chunk(4, dim=-1)
        i, f, g, o = torch.sigmoid(a_i), torch.sigmoid(a_f), torch.tanh(a_g), torch.sigmoid(a_o)  # Eq. (lstm-gates)
        cs.append(f * cs[-1] + i * g)  # Eq. (lstm-cell)
        hs.append(o * torch.tanh(cs[-1]))  # Eq. (lstm-hidden)
        gates.append(torch.cat([i, f, g, o], dim=-1))
    return torch.stack(hs), torch.stack(cs), torch.stack(gates)


def lstm_layer_backward(
    hs: torch.Tensor,
    cs: torch.Tensor,
    gates: torch.Tensor,
    weight_hh: torch.Tensor,
    grad_out: torch.Tensor,
    grad_h: torch.Tensor,
    grad_c: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eqs. (lstm-bptt), one line each: ∂L/∂x_part, ∂L/∂h_0, ∂L/∂c_0 and ∂L/∂W_hh.

    ``grad_out`` (T×B×H) is ∂L/∂h_t from the outputs, ``grad_h`` and ``grad_c`` the gradients of the
    final state h_T and c_T; ``hs``, ``cs`` and ``gates`` come from :func:`lstm_layer_forward`.
    """
    dh, dc = grad_h, grad_c  # what reaches h_T and c_T from after the sequence
    da = [None] * len(gates)
    for t in reversed(range(len(gates))):  # t = T−1, …, 0 stands for steps T, …, 1
        i, f, g, o = gates[t].chunk(4, dim=-1)
        c_prev, c = cs[t], cs[t + 1]
        dh = dh + grad_out[t]  # every path into h_t: the output at t and the next step
        dc = dc + dh * o * (1 - torch.tanh(c) ** 2)  # δc_t: from c_{t+1} (already ⊙ f_{t+1}) and h_t
        da[t] = torch.cat(
            [
                dc * g * i * (1 - i),  # δa^i_t
                dc * c_prev * f * (1 - f),  # δa^f_t
                dc * i * (1 - g**2),  # δa^g_t
                dh * torch.tanh(c) * o * (1 - o),  # δa^o_t
            ],
            dim=-1,
        )
        dc = dc * f  # the carousel: δc_t ⊙ f_t goes to c_{t-1}
        dh = da[t] @ weight_hh  # W_hhᵀ δa_t goes to h_{t-1}
    da = torch.stack(da)
    grad_w = torch.einsum("tbk,tbh->kh", da, hs[:-1])  # Σ_t δa_t h_{t-1}ᵀ
    return da, dh, dc, grad_w


class LSTMLayerFunction(torch.autograd.Function):
    """The vanilla LSTM's loop over time with its backward pass written out (BPTT, Eqs. lstm-bptt).

    ``forward(x_part, h0, c0, weight_hh, reverse)`` takes the input pre-activations of every step,
    x_part = x W_ihᵀ + b (T×B×4H), and returns the outputs (T×B×H) and the last h and c. It runs
    without recording a graph and keeps the gates; ``backward`` walks back through time once, and
    the gradients of W_hh and x_part come out of one matrix product each, after the loop.
    """

    @staticmethod
    def forward(ctx, x_part, h0, c0, weight_hh, reverse=False):
        """Run the loop over time without a graph; keep the gates, cells and states for backward."""
        T, H = x_part.shape[0], h0.shape[-1]
        gates = torch.empty_like(x_part)  # i, f, g, o of every step
        cells = x_part.new_empty((T + 1,) + c0.shape)  # c_{t-1} for every t, and c_T
        hs = x_part.new_empty((T + 1,) + h0.shape)  # h_{t-1} for every t, and h_T
        order = range(T - 1, -1, -1) if reverse else range(T)
        h, c = h0, c0
        for k, t in enumerate(order):
            hs[k], cells[k] = h, c
            z = torch.addmm(x_part[t], h, weight_hh.T)
            gate = gates[t]
            torch.sigmoid(z, out=gate)
            torch.tanh(z[:, 2 * H : 3 * H], out=gate[:, 2 * H : 3 * H])
            i, f, g, o = gate.chunk(4, dim=-1)
            c = torch.addcmul(f * c, i, g)  # Eq. (lstm-cell)
            h = o * torch.tanh(c)  # Eq. (lstm-hidden)
        hs[T], cells[T] = h, c
        out = hs[1:].flip(0) if reverse else hs[1:]
        ctx.save_for_backward(gates, cells, hs, weight_hh)
        ctx.reverse = reverse
        return out.clone(), h.clone(), c.clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out, grad_h, grad_c):
        """Eqs. (lstm-bptt): one walk back through time, then one product each for W_hh and x_part."""
        gates, cells, hs, weight_hh = ctx.saved_tensors
        T = gates.shape[0]
        order = list(range(T - 1, -1, -1)) if ctx.reverse else list(range(T))
        if ctx.reverse:
            grad_out = grad_out.flip(0)
        dpre = torch.empty_like(gates)  # ∂L/∂z_t, in processing order
        dh, dc = grad_h.clone(), grad_c.clone()
        for k in range(T - 1, -1, -1):
            i, f, g, o = gates[order[k]].chunk(4, dim=-1)
            dh = dh + grad_out[k]
            tanh_c = torch.tanh(cells[k + 1])
            dc = dc + dh * o * (1 - tanh_c * tanh_c)  # through h = o tanh(c)
            d_i, d_f, d_g, d_o = dpre[k].chunk(4, dim=-1)
            torch.mul(dc * g, i * (1 - i), out=d_i)
            torch.mul(dc * cells[k], f * (1 - f), out=d_f)
            torch.mul(dc * i, 1 - g * g, out=d_g)
            torch.mul(dh * tanh_c, o * (1 - o), out=d_o)
            dc = dc * f  # the constant error carousel
            dh = dpre[k] @ weight_hh  # back to h_{t-1}
        flat = dpre.reshape(T * dpre.shape[1], -1)
        grad_w = flat.T @ hs[:-1].reshape(T * hs.shape[1], -1)
        grad_x = dpre.flip(0) if ctx.reverse else dpre
        return grad_x, dh, dc, grad_w, None


class LSTM(StackedRecurrent):
    """A multi-layer, optionally bidirectional LSTM with ``torch.nn.LSTM``'s call and parameters.

    ``forward(input, hx=None)`` returns ``output, (h_n, c_n)`` with torch's shapes; the input is
    T×B×D (B×T×D with ``batch_first``) or unbatched T×D. ``variant`` picks one of :data:`VARIANTS`;
    "peephole" adds ``weight_peep_l{k}`` (3×H) and "full_gate_recurrence" ``weight_gate_l{k}``
    (3H×3H) per layer and direction. ``device`` and ``dtype`` are torch's factory keywords. Dropout
    between layers and ``proj_size`` are not offered.
    """

    n_gates = 4
    fused = True  #: the vanilla variant runs :class:`LSTMLayerFunction` (False: plain autograd)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        batch_first: bool = False,
        variant: str = "vanilla",
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        self.variant = check_option("variant", variant, VARIANTS)
        super().__init__(input_size, hidden_size, num_layers, bidirectional, batch_first, device=device, dtype=dtype)
        self.reset_parameters()

    def _extra_parameters(self, layer: int, sfx: str, factory: dict) -> None:
        H = self.hidden_size
        if self.variant == "peephole":
            self.register_parameter(f"weight_peep_l{layer}{sfx}", torch.nn.Parameter(torch.empty(3, H, **factory)))
        if self.variant == "full_gate_recurrence":
            weight_gate = torch.nn.Parameter(torch.empty(3 * H, 3 * H, **factory))
            self.register_parameter(f"weight_gate_l{layer}{sfx}", weight_gate)

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
        x_part = torch.matmul(x, weight_ih.T) + (bias_ih + bias_hh)  # all steps at once: T×B×4H
        h, c = init
        if self.variant == "vanilla" and self.fused:  # the same, backward by hand
            out, h, c = LSTMLayerFunction.apply(x_part, h, c, weight_hh, reverse)
            return out, (h, c)
        gates = x.new_zeros(x.shape[1], 3 * self.hidden_size) if gate is not None else None
        outs = [None] * len(x)
        for t in reversed(range(len(x))) if reverse else range(len(x)):
            pre = torch.addmm(x_part[t], h, weight_hh.T)
            h, c, gates = lstm_cell(pre, c, self.variant, peep, gate, gates)
            outs[t] = h
        return torch.stack(outs), (h, c)
