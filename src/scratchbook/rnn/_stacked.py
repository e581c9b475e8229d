"""What the LSTM and the GRU share: torch.nn's parameter layout, argument checks, layers and directions."""

from __future__ import annotations

import math

import torch
from torch import nn

from scratchbook._validation import check_int


def _check_bool(name: str, value) -> bool:
    """Return ``value`` if it is a bool, else raise naming ``name``."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return value


class StackedRecurrent(nn.Module):
    """Layers × directions of one recurrent cell, with ``torch.nn.LSTM``/``GRU``'s names and layouts.

    A subclass sets ``n_gates`` (4 for the LSTM, 3 for the GRU) and writes
    ``_run_direction``, the loop over time of one layer in one direction. ``device`` and ``dtype`` are
    torch's factory keywords: where and in which floating-point type the parameters are made (torch's
    defaults when None), so ``LSTM(..., dtype=torch.float64)`` needs no ``.double()`` afterwards.
    """

    n_gates = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        batch_first: bool = False,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.input_size = check_int("input_size", input_size, low=1)
        self.hidden_size = check_int("hidden_size", hidden_size, low=1)
        self.num_layers = check_int("num_layers", num_layers, low=1)
        self.bidirectional = _check_bool("bidirectional", bidirectional)
        self.batch_first = _check_bool("batch_first", batch_first)
        self.num_directions = 2 if bidirectional else 1
        if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise TypeError(f"dtype must be None or a floating-point torch.dtype, got {dtype!r}")
        factory = {"device": device, "dtype": dtype}
        G, H = self.n_gates, self.hidden_size
        for layer in range(self.num_layers):
            n_in = self.input_size if layer == 0 else H * self.num_directions
            for sfx in self._suffixes():
                self.register_parameter(f"weight_ih_l{layer}{sfx}", nn.Parameter(torch.empty(G * H, n_in, **factory)))
                self.register_parameter(f"weight_hh_l{layer}{sfx}", nn.Parameter(torch.empty(G * H, H, **factory)))
                self.register_parameter(f"bias_ih_l{layer}{sfx}", nn.Parameter(torch.empty(G * H, **factory)))
                self.register_parameter(f"bias_hh_l{layer}{sfx}", nn.Parameter(torch.empty(G * H, **factory)))
                self._extra_parameters(layer, sfx, factory)

    def _extra_parameters(self, layer: int, sfx: str, factory: dict) -> None:
        """Register parameters beyond torch's (none by default), made with the ``factory`` keywords."""

    def _suffixes(self) -> list[str]:
        return ["", "_reverse"][: self.num_directions]

    def reset_parameters(self) -> None:
        """Draw every parameter from U(−1/√H, 1/√H), as torch.nn does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def layer_weights(self, layer: int, sfx: str = "") -> tuple[torch.Tensor, ...]:
        """The four torch.nn weights of one layer and direction: W_ih, W_hh, b_ih, b_hh."""
        return tuple(
            getattr(self, f"{name}_l{layer}{sfx}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        )

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        return s + f", bidirectional={self.bidirectional}, batch_first={self.batch_first}"

    # --- input checks --------------------------------------------------------------------------

    def _check_input(self, input) -> tuple[torch.Tensor, bool]:
        """Return the input as T×B×D and whether it had a batch dimension."""
        if not isinstance(input, torch.Tensor):
            raise TypeError(f"input must be a torch.Tensor, got {type(input).__name__}")
        if input.dim() not in (2, 3):
            raise ValueError(f"input must be 2-D (T, D) or 3-D, got shape {tuple(input.shape)}")
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"input must have {self.input_size} features in its last dimension "
                f"(input_size), got shape {tuple(input.shape)}"
            )
        if not input.is_floating_point():
            raise TypeError(f"input must be a floating-point tensor, got {input.dtype}")
        if input.dim() == 2:
            return input.unsqueeze(1), False
        return (input.transpose(0, 1) if self.batch_first else input), True

    def _check_state(self, name: str, state, batch: int, batched: bool, like: torch.Tensor) -> torch.Tensor:
        """Return one initial state as (layers·directions)×B×H; zeros when ``state`` is None."""
        shape = (self.num_layers * self.num_directions, batch, self.hidden_size)
        if state is None:
            return like.new_zeros(shape)
        if not isinstance(state, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(state).__name__}")
        expected = shape if batched else (shape[0], shape[2])
        if tuple(state.shape) != expected:
            raise ValueError(f"{name} must have shape {expected}, got {tuple(state.shape)}")
        return state if batched else state.unsqueeze(1)

    # --- the stack -----------------------------------------------------------------------------

    def _run_direction(
        self, x: torch.Tensor, init: tuple[torch.Tensor, ...], layer: int, sfx: str, reverse: bool
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        raise NotImplementedError

    def _run(self, x: torch.Tensor, states: tuple[torch.Tensor, ...]):
        """Feed each layer's outputs (both directions concatenated) to the next; collect final states."""
        finals: list[list[torch.Tensor]] = [[] for _ in states]
        for layer in range(self.num_layers):
            outs = []
            for d, sfx in enumerate(self._suffixes()):
                k = layer * self.num_directions + d
                out, last = self._run_direction(x, tuple(s[k] for s in states), layer, sfx, reverse=d == 1)
                outs.append(out)
                for j, s in enumerate(last):
                    finals[j].append(s)
            x = torch.cat(outs, dim=-1) if len(outs) > 1 else outs[0]
        return x, tuple(torch.stack(f) for f in finals)

    def _format_output(self, output: torch.Tensor, finals: tuple[torch.Tensor, ...], batched: bool):
        if not batched:
            return output.squeeze(1), tuple(f.squeeze(1) for f in finals)
        return (output.transpose(0, 1) if self.batch_first else output), finals
