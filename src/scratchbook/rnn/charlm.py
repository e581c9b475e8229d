"""A character-level LSTM language model, trained with teacher forcing and truncated BPTT (Part I, chapter 7).

The corpus is the one the ELMo chapter reads, CPython's ``pydoc_data.topics``, split by topic with
:func:`scratchbook.rnn.elmo.pydoc_topics`; here it is a stream of characters. :class:`CharLSTM` is an
embedding, a ``torch.nn.LSTM``-compatible LSTM and a linear softmax layer. :func:`train_charlm` cuts
the stream into ``batch_size`` parallel rows and walks along them in consecutive windows, carrying the
LSTM state from one window to the next and detaching it (truncated BPTT), with the generic loop
:func:`scratchbook.training.fit`. The baselines are count models of the same characters: a unigram
and a bigram with add-one smoothing, and interpolated Kneser–Ney n-grams.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from torch import nn

from scratchbook._validation import check_int, check_option, check_real
from scratchbook.rnn.lstm import LSTM
from scratchbook.training import fit

__all__ = [
    "UNK_CHAR",
    "char_corpus",
    "build_char_vocab",
    "encode_chars",
    "decode_chars",
    "CharLSTM",
    "detach_state",
    "stream_rows",
    "lm_loss",
    "train_charlm",
    "perplexity",
    "unigram_probs",
    "bigram_probs",
    "kneser_ney_probs",
    "ngram_perplexity",
    "save_charlm",
    "load_charlm",
]

UNK_CHAR = "\ufffd"
"""The vocabulary's first entry: every character not seen in training maps to it."""


# --- the corpus as characters ---------------------------------------------------------------------


def char_corpus(split: str = "train") -> str:
    """The text of one split of ``pydoc_data.topics`` (:func:`~scratchbook.rnn.elmo.pydoc_topics`), topics joined."""
    from scratchbook.rnn.elmo import pydoc_topics

    split = check_option("split", split, ("train", "heldout", "all"))
    return "\n\n".join(pydoc_topics(split).values())


def _check_text(name: str, text) -> str:
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str, got {type(text).__name__}")
    return text


def build_char_vocab(text: str, min_count: int = 1) -> list[str]:
    """:data:`UNK_CHAR`, then every character seen at least ``min_count`` times in ``text``, sorted."""
    text = _check_text("text", text)
    min_count = check_int("min_count", min_count, low=1)
    counts = Counter(text)
    return [UNK_CHAR, *sorted(c for c, n in counts.items() if n >= min_count and c != UNK_CHAR)]


def _check_vocab(vocab) -> list[str]:
    if not isinstance(vocab, (list, tuple)) or not vocab or vocab[0] != UNK_CHAR:
        raise ValueError("vocab must be a list of characters that starts with UNK_CHAR, as build_char_vocab returns")
    return list(vocab)


def encode_chars(text: str, vocab: list[str]) -> np.ndarray:
    """The ids of the characters of ``text`` in ``vocab`` (0, :data:`UNK_CHAR`, for unknown ones), int64."""
    text, vocab = _check_text("text", text), _check_vocab(vocab)
    index = {c: i for i, c in enumerate(vocab)}
    return np.fromiter((index.get(c, 0) for c in text), dtype=np.int64, count=len(text))


def decode_chars(ids, vocab: list[str]) -> str:
    """The string of the character ids ``ids`` (any shape, read in order)."""
    vocab = _check_vocab(vocab)
    ids = _check_ids("ids", ids, minimum=0, vocab_size=len(vocab))
    return "".join(vocab[i] for i in ids)


def _check_ids(name: str, ids, minimum: int = 2, vocab_size: int | None = None) -> np.ndarray:
    if isinstance(ids, torch.Tensor):
        ids = ids.detach().cpu().numpy()
    ids = np.asarray(ids).reshape(-1) if np.ndim(ids) != 1 else np.asarray(ids)
    if not (np.issubdtype(ids.dtype, np.integer) or (ids.size == 0 and minimum == 0)):
        raise TypeError(f"{name} must hold integer ids, got dtype {ids.dtype}")
    if len(ids) < minimum:
        raise ValueError(f"{name} must hold at least {minimum} ids, got {len(ids)}")
    if vocab_size is not None and ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"{name} must be ids in [0, {vocab_size}), the size of the vocabulary")
    return ids.astype(np.int64)


# --- the model ------------------------------------------------------------------------------------


class CharLSTM(nn.Module):
    """A character LSTM language model: embedding → LSTM (``num_layers``) → linear logits over the vocabulary.

    Implements Eq. (lm-model) of chapter 7: p(c_{t+1} | c_1, …, c_t) = softmax(W h_t + b). Parameter
    names and layouts are those of ``torch.nn.Embedding``, ``torch.nn.LSTM`` (``lstm.weight_ih_l0`` …)
    and ``torch.nn.Linear``; ``lstm`` is the LSTM class, ``scratchbook.rnn.LSTM`` (default) or
    ``torch.nn.LSTM`` (faster on a CPU), and a state dict of one loads into the other.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int = 32,
        hidden_size: int = 256,
        num_layers: int = 1,
        dropout: float = 0.0,
        lstm: type = LSTM,
    ) -> None:
        super().__init__()
        self.vocab_size = check_int("vocab_size", vocab_size, low=2)
        self.embedding_dim = check_int("embedding_dim", embedding_dim, low=1)
        self.hidden_size = check_int("hidden_size", hidden_size, low=1)
        self.num_layers = check_int("num_layers", num_layers, low=1)
        self.dropout = check_real("dropout", dropout, low=0.0, high=0.9)
        if not (isinstance(lstm, type) and issubclass(lstm, nn.Module)):
            raise TypeError(f"lstm must be an LSTM class such as scratchbook.rnn.LSTM, got {lstm!r}")
        self.embedding = nn.Embedding(self.vocab_size, self.embedding_dim)
        self.lstm = lstm(self.embedding_dim, self.hidden_size, num_layers=self.num_layers, batch_first=True)
        self.decoder = nn.Linear(self.hidden_size, self.vocab_size)

    def forward(
        self, tokens: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Logits B×T×V for the next character at every position of ``tokens`` (B×T ids), and the final (h, c)."""
        if not isinstance(tokens, torch.Tensor) or tokens.dtype != torch.long:
            raise TypeError("tokens must be a torch.long tensor of character ids")
        if tokens.dim() != 2 or tokens.shape[1] < 1:
            raise ValueError(f"tokens must be B×T with T >= 1, got shape {tuple(tokens.shape)}")
        if tokens.min() < 0 or tokens.max() >= self.vocab_size:
            raise ValueError(f"tokens must be ids in [0, {self.vocab_size}) (vocab_size)")
        x = nn.functional.dropout(self.embedding(tokens), self.dropout, self.training)
        out, state = self.lstm(x, state)
        out = nn.functional.dropout(out, self.dropout, self.training)
        return self.decoder(out), state


def detach_state(state):
    """The LSTM state (h, c) cut from the graph that computed it: truncated BPTT's boundary, Eq. (lm-tbptt)."""
    if state is None:
        return None
    return tuple(s.detach() for s in state)


def lm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The mean cross-entropy of the next-character logits (B×T×V) against the targets (B×T), Eq. (lm-loss)."""
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def stream_rows(ids, batch_size: int) -> np.ndarray:
    """Cut the id stream into ``batch_size`` equal consecutive rows (batch_size × n), dropping the remainder.

    Row b is ids[b·n : (b+1)·n]: each row is read from left to right in windows, so the state a row
    ends one window with is the right state to start its next window with.
    """
    ids = _check_ids("ids", ids)
    batch_size = check_int("batch_size", batch_size, low=1, high=len(ids) // 2)
    n = len(ids) // batch_size
    return ids[: n * batch_size].reshape(batch_size, n)


def train_charlm(
    model: CharLSTM,
    ids,
    steps: int = 100,
    batch_size: int = 32,
    length: int = 100,
    lr: float = 2e-3,
    clip_norm: float | None = 1.0,
    detach: bool = True,
    lr_schedule=None,
    random_state: int = 0,
    progress: bool = True,
    num_threads: int | None = 1,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Train ``model`` on the id stream with teacher forcing and truncated BPTT; returns the loss of every step.

    The stream is cut into ``batch_size`` rows (:func:`stream_rows`); step k reads window k of every
    row, ``length`` characters as inputs and the same characters shifted by one as targets (teacher
    forcing: the inputs are always the true text). The final LSTM state of a window is the initial
    state of the next, detached; after the last window of the rows the state is reset and the walk
    starts again. The loop is :func:`scratchbook.training.fit` with Adam, gradient clipping at
    ``clip_norm`` and ``lr_schedule``, on ``device`` (default :func:`scratchbook.utils.get_device`).

    ``detach`` must be True: ``detach=False`` raises a ValueError. Carrying the state undetached
    cannot work with one optimizer step per window: the next window's backward would run through the
    previous window's graph, whose saved tensors the previous backward has freed and whose weights
    the optimizer has since changed in place. Full BPTT over a row needs one backward over all its
    windows with fixed weights instead.
    """
    if not isinstance(model, CharLSTM):
        raise TypeError(f"model must be a CharLSTM, got {type(model).__name__}")
    if detach is not True:
        raise ValueError(
            "detach must be True: truncated BPTT takes one optimizer step per window, so the carried state "
            "must be cut from the previous window's graph (that graph is freed by its backward, and its "
            "weights are updated in place); full BPTT over a row needs one backward over all its windows"
        )
    length = check_int("length", length, low=1)
    rows = stream_rows(ids, batch_size)
    if rows.max() >= model.vocab_size:
        raise ValueError(f"ids must be ids in [0, {model.vocab_size}) (the model's vocab_size)")
    n_windows = (rows.shape[1] - 1) // length
    if n_windows < 1:
        raise ValueError(f"length must be < the row length {rows.shape[1]} (len(ids) // batch_size)")
    carried: dict = {"state": None}

    def batches(step: int, rng: np.random.Generator):
        k = step % n_windows
        window = rows[:, k * length : (k + 1) * length + 1]
        return window[:, :-1], window[:, 1:]

    def loss_fn(net: CharLSTM, xb: torch.Tensor, yb: torch.Tensor, step: int) -> torch.Tensor:
        if step % n_windows == 0:
            carried["state"] = None  # back at the start of the rows: a fresh state
        logits, state = net(xb, carried["state"])
        carried["state"] = detach_state(state)
        return lm_loss(logits, yb)

    return fit(
        model,
        loss_fn,
        batches=batches,
        steps=steps,
        lr=lr,
        clip_norm=clip_norm,
        lr_schedule=lr_schedule,
        random_state=random_state,
        progress=progress,
        num_threads=num_threads,
        device=device,
        desc="char LM",
    )


@torch.no_grad()
def perplexity(model: CharLSTM, ids, length: int = 500, batch_size: int = 16) -> float:
    """exp of the mean next-character cross-entropy on the stream ``ids``, Eq. (lm-perplexity).

    The stream is read as ``batch_size`` rows in windows of ``length`` with the state carried over, so
    every character but the first of each row is predicted from all the row's text before it.
    """
    if not isinstance(model, CharLSTM):
        raise TypeError(f"model must be a CharLSTM, got {type(model).__name__}")
    length = check_int("length", length, low=1)
    rows = stream_rows(ids, batch_size)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    for start in range(0, rows.shape[1] - 1, length):
        window = torch.as_tensor(rows[:, start : start + length + 1], device=device)
        logits, state = model(window[:, :-1], state)
        total += nn.functional.cross_entropy(
            logits.reshape(-1, model.vocab_size), window[:, 1:].reshape(-1), reduction="sum"
        ).item()
        count += window[:, 1:].numel()
    model.train(was_training)
    return float(np.exp(total / count))


# --- count baselines ------------------------------------------------------------------------------


def unigram_probs(train_ids, vocab_size: int) -> np.ndarray:
    """Add-one unigram: p(c) = (n(c) + 1) / (N + V), shape (V,)."""
    vocab_size = check_int("vocab_size", vocab_size, low=1)
    train_ids = _check_ids("train_ids", train_ids, minimum=1, vocab_size=vocab_size)
    counts = np.bincount(train_ids, minlength=vocab_size) + 1.0
    return counts / counts.sum()


def bigram_probs(train_ids, vocab_size: int) -> np.ndarray:
    """Add-one bigram: p(c | a) = (n(a, c) + 1) / (n(a, ·) + V); row a is the distribution after a, (V, V)."""
    vocab_size = check_int("vocab_size", vocab_size, low=1)
    train_ids = _check_ids("train_ids", train_ids, vocab_size=vocab_size)
    counts = np.zeros((vocab_size, vocab_size))
    np.add.at(counts, (train_ids[:-1], train_ids[1:]), 1.0)
    counts += 1.0
    return counts / counts.sum(axis=1, keepdims=True)


def _context_keys(ids: np.ndarray, order: int, V: int) -> np.ndarray:
    """For every position t >= order − 1, the integer code of (c_{t−order+1}, …, c_t) in base V."""
    n = len(ids) - order + 1
    key = np.zeros(n, dtype=np.int64)
    for j in range(order):
        key = key * V + ids[j : j + n]
    return key


def kneser_ney_probs(train_ids, ids, vocab_size: int, order: int = 3, discount: float = 0.75) -> np.ndarray:
    """Interpolated Kneser–Ney probabilities p(c_t | c_{t−order+1}, …, c_{t−1}) of every c_t of ``ids``, t >= order − 1.

    Implements Eq. (lm-kneser-ney): at the highest order, p = max(n(h, c) − d, 0) / n(h, ·) +
    d · N₁₊(h, ·) / n(h, ·) · p_lower(c | h'), with h' the history without its oldest character; the
    lower orders use continuation counts (the number of distinct characters seen before h'c) in
    place of n; the lowest level is the continuation unigram mixed with the uniform distribution
    over ``vocab_size`` characters. A history never seen falls through to the lower order. Returns
    an array of len(ids) − order + 1 probabilities.
    """
    vocab_size = check_int("vocab_size", vocab_size, low=1)
    order = check_int("order", order, low=1, high=int(np.log(2**62) / np.log(max(vocab_size, 2))))
    discount = check_real("discount", discount, low=0.0, high=1.0, strict_low=True, strict_high=True)
    train_ids = _check_ids("train_ids", train_ids, minimum=order, vocab_size=vocab_size)
    ids = _check_ids("ids", ids, minimum=order, vocab_size=vocab_size)
    V, d = vocab_size, discount
    n_out = len(ids) - order + 1
    prob = np.full(n_out, 1.0 / V)  # below the lowest order: the uniform distribution
    for k in range(1, order + 1):  # k: the length of the n-gram, a history of k − 1 characters
        if k < order:  # continuation counts: how many distinct characters precede each k-gram
            keys, cnt = np.unique(np.unique(_context_keys(train_ids, k + 1, V)) % V**k, return_counts=True)
        else:  # plain counts at the highest order
            keys, cnt = np.unique(_context_keys(train_ids, k, V), return_counts=True)
        target = _context_keys(ids, k, V)[order - k :]  # the k-gram ending at each predicted character
        pos = np.minimum(np.searchsorted(keys, target), len(keys) - 1)
        c_hc = np.where(keys[pos] == target, cnt[pos], 0).astype(float)
        hist_keys, hist_index = np.unique(keys // V, return_inverse=True)  # the history of each seen k-gram
        hist_total = np.bincount(hist_index, weights=cnt, minlength=len(hist_keys))
        hist_types = np.bincount(hist_index, minlength=len(hist_keys)).astype(float)
        h_target = target // V
        hpos = np.minimum(np.searchsorted(hist_keys, h_target), len(hist_keys) - 1)
        seen = hist_keys[hpos] == h_target
        n_h = np.where(seen, hist_total[hpos], 1.0)
        mixed = np.maximum(c_hc - d, 0) / n_h + d * hist_types[hpos] / n_h * prob
        prob = np.where(seen, mixed, prob)  # an unseen history falls through to the lower order
    return prob


def ngram_perplexity(train_ids, ids, vocab_size: int, order: int = 2, smoothing: str = "add-one") -> float:
    """Perplexity on ``ids`` of a count model of ``train_ids``: "add-one" (order 1 or 2) or "kneser-ney".

    Every character of ``ids`` from position ``order − 1`` on is scored, so models of different
    orders are compared on almost the same characters.
    """
    smoothing = check_option("smoothing", smoothing, ("add-one", "kneser-ney"))
    vocab_size = check_int("vocab_size", vocab_size, low=1)
    if smoothing == "kneser-ney":
        p = kneser_ney_probs(train_ids, ids, vocab_size, order=order)
    else:
        order = check_int("order", order, low=1, high=2)
        ids = _check_ids("ids", ids, minimum=order, vocab_size=vocab_size)
        if order == 1:
            p = unigram_probs(train_ids, vocab_size)[ids]
        else:
            p = bigram_probs(train_ids, vocab_size)[ids[:-1], ids[1:]]
    return float(np.exp(-np.mean(np.log(p))))


# --- checkpoints ----------------------------------------------------------------------------------


def save_charlm(model: CharLSTM, vocab: list[str], path: str | Path, info: dict | None = None) -> None:
    """Save the state dict (float16), the vocabulary, the settings and ``info`` (JSON-like) to ``path``."""
    if not isinstance(model, CharLSTM):
        raise TypeError(f"model must be a CharLSTM, got {type(model).__name__}")
    vocab = _check_vocab(vocab)
    if len(vocab) != model.vocab_size:
        raise ValueError(f"vocab must have vocab_size = {model.vocab_size} characters, got {len(vocab)}")
    state = {k: v.half().cpu().clone() for k, v in model.state_dict().items()}
    config = {
        "vocab_size": model.vocab_size,
        "embedding_dim": model.embedding_dim,
        "hidden_size": model.hidden_size,
        "num_layers": model.num_layers,
        "dropout": model.dropout,
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    info = json.loads(json.dumps(dict(info or {}), default=str))
    torch.save({"state_dict": state, "vocab": vocab, "config": config, "info": info}, path)


def load_charlm(path: str | Path, lstm: type = LSTM) -> tuple[CharLSTM, list[str], dict]:
    """Load a checkpoint of :func:`save_charlm` (``weights_only``) into a float32 model; returns model, vocab, info."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path must be an existing checkpoint file, got {str(path)!r}")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    model = CharLSTM(**saved["config"], lstm=lstm)
    model.load_state_dict({k: v.float() for k, v in saved["state_dict"].items()})
    return model.eval(), list(saved["vocab"]), saved["info"]
