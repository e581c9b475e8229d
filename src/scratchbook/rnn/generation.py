"""Generation from a language model: greedy decoding, sampling with a temperature and top-k, exposure bias.

Works with any model called as ``model(tokens, state) -> (logits, state)`` on B×T token ids, such as
:class:`scratchbook.rnn.charlm.CharLSTM` (Part I, chapter 7).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from scratchbook._validation import check_int, check_real

__all__ = ["next_token_probs", "sample_next", "generate", "free_running_errors"]


def _check_logits(logits) -> torch.Tensor:
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point() or logits.dim() < 1:
        raise TypeError("logits must be a floating-point torch tensor whose last dimension is the vocabulary")
    if logits.shape[-1] < 1:
        raise ValueError("logits must have at least one entry in its last dimension")
    if not torch.isfinite(logits).all():
        raise ValueError("logits contains NaN or infinite values")
    return logits


def _check_top_k(top_k, vocab_size: int) -> int | None:
    return None if top_k is None else check_int("top_k", top_k, low=1, high=vocab_size)


def next_token_probs(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None) -> torch.Tensor:
    """The distribution a sampler draws from, Eq. (lm-temperature): softmax(logits / T) on the ``top_k`` largest logits.

    With ``top_k`` the other entries are zero and the kept ones are renormalised. ``temperature``
    must be positive; temperature → 0 is greedy decoding (see :func:`sample_next`).
    """
    logits = _check_logits(logits)
    temperature = check_real("temperature", temperature, low=0.0, strict_low=True)
    top_k = _check_top_k(top_k, logits.shape[-1])
    scaled = logits / temperature
    if top_k is not None:
        kth = scaled.topk(top_k, dim=-1).values[..., -1:]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    return torch.softmax(scaled, dim=-1)


def sample_next(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One token id per row of ``logits`` (…×V): the argmax at ``temperature`` 0 (greedy), else a draw.

    The draw is from :func:`next_token_probs`, with ``generator`` (a ``torch.Generator``) if given.
    """
    logits = _check_logits(logits)
    temperature = check_real("temperature", temperature, low=0.0)
    if temperature == 0.0:
        return logits.argmax(dim=-1)
    probs = next_token_probs(logits, temperature, top_k)
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])


@torch.no_grad()
def generate(
    model: nn.Module,
    prompt,
    n_steps: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    n_samples: int = 1,
    random_state: int = 0,
) -> np.ndarray:
    """Continue the token ids ``prompt`` by ``n_steps`` tokens, feeding each one back in; shape (n_samples, n_steps).

    The model reads the prompt (teacher forcing), then runs free: each new token is drawn with
    :func:`sample_next` (``temperature`` 0: greedy) and is the next step's input. ``n_samples``
    continuations are drawn in parallel with a ``torch.Generator`` seeded by ``random_state`` (on
    the CPU, so the samples do not depend on the device).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    prompt = np.asarray(prompt)
    if prompt.ndim != 1 or len(prompt) < 1 or not np.issubdtype(prompt.dtype, np.integer):
        raise ValueError("prompt must be a non-empty 1-D array of token ids")
    n_steps = check_int("n_steps", n_steps, low=1)
    n_samples = check_int("n_samples", n_samples, low=1)
    temperature = check_real("temperature", temperature, low=0.0)
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(check_int("random_state", random_state, low=0))
    was_training = model.training
    model.eval()
    tokens = torch.as_tensor(prompt, device=device).repeat(n_samples, 1)
    logits, state = model(tokens)
    out = torch.empty(n_samples, n_steps, dtype=torch.long)
    for t in range(n_steps):
        nxt = sample_next(logits[:, -1].float().cpu(), temperature, top_k, generator=gen)
        out[:, t] = nxt
        logits, state = model(nxt[:, None].to(device), state)
    model.train(was_training)
    return out.numpy()


@torch.no_grad()
def free_running_errors(model: nn.Module, ids, prefix: int = 200, horizon: int = 50, n_starts: int = 64) -> dict:
    """Greedy next-token error rates at each step after a true prefix, teacher-forced and free-running.

    For ``n_starts`` evenly spaced starts in ``ids``, the model reads ``prefix`` true tokens and then
    predicts the next ``horizon`` tokens greedily. Teacher-forced: at step k it has read the true
    tokens up to k − 1 (the setting of training). Free-running: it has read its own greedy outputs
    since the prefix ended (the setting of generation). Returns both error rates (fractions of
    wrong tokens, shape (horizon,), averaged over starts) and the starts.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    prefix = check_int("prefix", prefix, low=1)
    horizon = check_int("horizon", horizon, low=1)
    n_starts = check_int("n_starts", n_starts, low=1)
    ids = np.asarray(ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer) or len(ids) < prefix + horizon:
        raise ValueError(f"ids must be a 1-D array of at least prefix + horizon = {prefix + horizon} token ids")
    starts = np.linspace(0, len(ids) - prefix - horizon, n_starts).astype(int)
    windows = np.stack([ids[s : s + prefix + horizon] for s in starts])
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    true = torch.as_tensor(windows, device=device)
    logits_tf, _ = model(true[:, :-1])
    teacher = logits_tf[:, prefix - 1 :].argmax(-1) != true[:, prefix:]
    logits, state = model(true[:, :prefix])
    wrong = []
    for k in range(horizon):
        guess = logits[:, -1].argmax(-1)
        wrong.append(guess != true[:, prefix + k])
        logits, state = model(guess[:, None], state)
    model.train(was_training)
    return {
        "teacher_forced": teacher.float().mean(0).cpu().numpy(),
        "free_running": torch.stack(wrong, 1).float().mean(0).cpu().numpy(),
        "starts": starts,
    }
