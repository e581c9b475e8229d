"""ELMo from scratch: a small bidirectional language model, its layers, and their task-specific mix.

The corpus is the documentation shipped with CPython (``pydoc_data.topics``, the text of ``help()``
on keywords and topics), so nothing is downloaded. :class:`BiLM` holds one token embedding, a forward
and a backward LSTM language model of ``num_layers`` layers each, and one softmax (tied to the
embedding) shared by both directions; :class:`ScalarMix` is the task-specific weighted sum of its
layers. The LSTMs are :class:`scratchbook.rnn.LSTM` by default, or ``torch.nn.LSTM`` (faster, same
parameter names), so a state dict trained with one loads into the other unchanged.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from scratchbook._validation import check_int, check_option, check_real
from scratchbook.rnn.lstm import LSTM
from scratchbook.training import fit, resolve_device

__all__ = [
    "SPECIALS",
    "pydoc_topics",
    "tokenize",
    "quote_labels",
    "build_vocab",
    "encode",
    "decode",
    "BiLM",
    "ScalarMix",
    "MixProbe",
    "bilm_loss",
    "train_bilm",
    "perplexities",
    "unigram_perplexity",
    "contextual_layers",
    "window_features",
    "train_probe",
    "initial_probe_loss",
    "probe_accuracy",
    "save_bilm",
    "load_bilm",
]

SPECIALS = ("<unk>", "<bos>", "<eos>")
_PARAGRAPH = re.compile(r"\n\s*\n")
_TOKEN = re.compile(r"[a-z_][a-z0-9_]*|[0-9]+|[^\sa-z0-9_]")  # words, numbers, one-character punctuation
_RULE = re.compile(r"^\s*[*=\-^~+|]{3,}[*=\-^~+| ]*$")  # heading underlines, table borders


# --- the corpus and its tokens --------------------------------------------------------------------


def pydoc_topics(split: str = "all", holdout_every: int = 5) -> dict[str, str]:
    """The topics of ``pydoc_data.topics`` (name → text), all or one split by topic.

    Topics are sorted by name and every ``holdout_every``-th one, from the first, is held out:
    ``split`` is "train", "heldout" or "all". Many topics repeat paragraphs of others ("compound"
    holds "for", "while", …), so the training topics lose every paragraph that also occurs in a
    held-out topic. The text is that of the running Python's version.
    """
    from pydoc_data.topics import topics

    split = check_option("split", split, ("all", "train", "heldout"))
    holdout_every = check_int("holdout_every", holdout_every, low=2)
    names = sorted(topics)
    held = [name for i, name in enumerate(names) if i % holdout_every == 0]
    if split == "all":
        return {name: topics[name] for name in names}
    if split == "heldout":
        return {name: topics[name] for name in held}
    seen = {p.strip() for name in held for p in _PARAGRAPH.split(topics[name]) if p.strip()}
    return {
        name: "\n\n".join(p for p in _PARAGRAPH.split(topics[name]) if p.strip() not in seen)
        for name in names
        if name not in held
    }


def _check_text(text) -> str:
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return text


def quote_labels(text: str) -> tuple[list[str], np.ndarray]:
    """Tokens of ``text`` and, for each, 1 inside a double-quoted span, 0 outside, −1 for a quote mark.

    pydoc's text writes inline code in straight double quotes ("return", "None"); a span is closed by
    the next quote mark or a blank line. Heading underlines are dropped.
    """
    tokens, labels = [], []
    for paragraph in _PARAGRAPH.split(_check_text(text).lower()):
        inside = False
        for line in paragraph.split("\n"):
            if _RULE.match(line):
                continue
            for token in _TOKEN.findall(line):
                if token == '"':
                    labels.append(-1)
                    inside = not inside
                else:
                    labels.append(int(inside))
                tokens.append(token)
    return tokens, np.array(labels, dtype=np.int64)


def tokenize(text: str) -> list[str]:
    """Lower-case words, numbers and single punctuation marks of ``text``; whitespace and underlines dropped."""
    return quote_labels(text)[0]


def build_vocab(token_lists: list[list[str]], max_size: int = 4000, min_count: int = 2) -> list[str]:
    """The :data:`SPECIALS`, then the most frequent tokens (ties alphabetical), at most ``max_size`` in all."""
    max_size = check_int("max_size", max_size, low=len(SPECIALS) + 1)
    min_count = check_int("min_count", min_count, low=1)
    if not isinstance(token_lists, (list, tuple)) or not all(isinstance(t, (list, tuple)) for t in token_lists):
        raise TypeError("token_lists must be a list of token lists")
    counts = Counter(token for tokens in token_lists for token in tokens)
    ranked = sorted(
        (t for t, c in counts.items() if c >= min_count and t not in SPECIALS), key=lambda t: (-counts[t], t)
    )
    return [*SPECIALS, *ranked[: max_size - len(SPECIALS)]]


def encode(tokens: list[str], vocab: list[str], wrap: bool = False) -> np.ndarray:
    """Token ids in ``vocab`` (``<unk>`` for unknown tokens); ``wrap`` adds ``<bos>`` and ``<eos>``."""
    if not isinstance(vocab, (list, tuple)) or list(vocab[: len(SPECIALS)]) != list(SPECIALS):
        raise ValueError(f"vocab must be a list that starts with {SPECIALS}, as build_vocab returns")
    index = {t: i for i, t in enumerate(vocab)}
    ids = [index.get(t, 0) for t in tokens]
    if wrap:
        ids = [1, *ids, 2]
    return np.array(ids, dtype=np.int64)


def decode(ids, vocab: list[str]) -> list[str]:
    """The tokens of ``ids`` in ``vocab``."""
    ids = np.asarray(ids)
    if ids.size and (ids.min() < 0 or ids.max() >= len(vocab)):
        raise ValueError(f"ids must lie in [0, {len(vocab)}), the size of vocab")
    return [vocab[i] for i in ids.reshape(-1)]


# --- the bidirectional language model -------------------------------------------------------------


class BiLM(nn.Module):
    """ELMo's biLM: one embedding, a forward and a backward LSTM stack, one shared softmax.

    Implements Eqs. (elmo-forward)–(elmo-loss) of chapter 7: the forward stack reads tokens
    1, …, k and predicts token k + 1, the backward stack reads tokens N, …, k and predicts token
    k − 1; backward layer 2 reads backward layer 1 only. Every layer has ``embedding_dim`` units so
    the softmax, whose weight is the embedding matrix, serves both directions and every layer has the
    same width; a residual connection adds each layer's input to its output from layer 2 on.
    ``lstm`` is the LSTM class (ours, or ``torch.nn.LSTM``): the state dicts are the same.
    """

    def __init__(
        self, vocab_size: int, embedding_dim: int = 128, num_layers: int = 2, dropout: float = 0.1, lstm: type = LSTM
    ) -> None:
        super().__init__()
        self.vocab_size = check_int("vocab_size", vocab_size, low=len(SPECIALS) + 1)
        self.embedding_dim = check_int("embedding_dim", embedding_dim, low=1)
        self.num_layers = check_int("num_layers", num_layers, low=1)
        self.dropout = check_real("dropout", dropout, low=0.0, high=0.9)
        if not (isinstance(lstm, type) and issubclass(lstm, nn.Module)):
            raise TypeError(f"lstm must be an LSTM class such as scratchbook.rnn.LSTM, got {lstm!r}")
        E = self.embedding_dim
        self.embedding = nn.Embedding(self.vocab_size, E)
        self.forward_lstms = nn.ModuleList(lstm(E, E, batch_first=True) for _ in range(self.num_layers))
        self.backward_lstms = nn.ModuleList(lstm(E, E, batch_first=True) for _ in range(self.num_layers))
        self.output_bias = nn.Parameter(torch.zeros(self.vocab_size))
        with torch.no_grad():
            self.embedding.weight.uniform_(-0.1, 0.1)

    def _check_tokens(self, tokens) -> torch.Tensor:
        if not isinstance(tokens, torch.Tensor) or tokens.dtype != torch.long:
            raise TypeError("tokens must be a torch.long tensor of token ids")
        if tokens.dim() != 2 or tokens.shape[1] < 2:
            raise ValueError(f"tokens must be B×N with N >= 2, got shape {tuple(tokens.shape)}")
        if tokens.min() < 0 or tokens.max() >= self.vocab_size:
            raise ValueError(f"tokens must be ids in [0, {self.vocab_size}) (vocab_size)")
        return tokens

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.dropout(x, self.dropout, self.training)

    def directions(self, tokens: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """The embeddings (B×N×E) and the states of every forward and backward layer (lists of B×N×E)."""
        x = self.embedding(self._check_tokens(tokens))
        forward, backward = [], []
        for lstms, states, flip in ((self.forward_lstms, forward, False), (self.backward_lstms, backward, True)):
            h = x.flip(1) if flip else x  # the backward LM reads the reversed sequence
            for j, lstm in enumerate(lstms):
                out = lstm(self._drop(h))[0]
                h = out + h if j > 0 else out  # residual from layer 2 on
                states.append(h.flip(1) if flip else h)  # back in the original order
        return x, forward, backward

    def layers(self, tokens: torch.Tensor) -> torch.Tensor:
        """ELMo's M + 1 representations, (M+1)×B×N×2·embedding_dim: [x; x] for layer 0, then [→h_j; ←h_j]."""
        x, forward, backward = self.directions(tokens)
        return torch.stack([torch.cat([x, x], -1), *(torch.cat(fb, -1) for fb in zip(forward, backward))])

    def logits(self, states: torch.Tensor) -> torch.Tensor:
        """The shared softmax's logits, states @ embeddingᵀ + bias."""
        return self._drop(states) @ self.embedding.weight.T + self.output_bias

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits B×N×V of both directions: forward ones at k predict token k+1, backward ones token k−1."""
        _, forward, backward = self.directions(tokens)
        return self.logits(forward[-1]), self.logits(backward[-1])


def bilm_loss(model: BiLM, tokens: torch.Tensor, per_direction: bool = False):
    """The mean of the forward and backward cross-entropies, Eq. (elmo-loss), over a B×N batch.

    The forward LM is scored on tokens 2, …, N and the backward one on tokens 1, …, N − 1.
    With ``per_direction`` returns the pair (forward, backward) instead.
    """
    if not isinstance(model, BiLM):
        raise TypeError(f"model must be a BiLM, got {type(model).__name__}")
    forward, backward = model(tokens)
    V = model.vocab_size
    loss_f = nn.functional.cross_entropy(forward[:, :-1].reshape(-1, V), tokens[:, 1:].reshape(-1))
    loss_b = nn.functional.cross_entropy(backward[:, 1:].reshape(-1, V), tokens[:, :-1].reshape(-1))
    return (loss_f, loss_b) if per_direction else (loss_f + loss_b) / 2


def _check_ids(name: str, ids, minimum: int = 2) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer) or len(ids) < minimum:
        raise ValueError(f"{name} must be a 1-D array of at least {minimum} token ids")
    return ids


def _windows(ids: np.ndarray, length: int) -> np.ndarray:
    """Cut ``ids`` into consecutive windows of ``length`` that overlap by one token.

    Every adjacent pair inside the windows is scored once; the last ``len(ids) − 1`` mod
    ``length − 1`` pairs at the end of the stream, too few for a whole window, are dropped.
    """
    starts = np.arange(0, len(ids) - 1, length - 1)
    starts = starts[starts + length <= len(ids)]
    return np.stack([ids[s : s + length] for s in starts])


def train_bilm(
    model: BiLM,
    ids,
    steps: int = 100,
    batch_size: int = 32,
    length: int = 64,
    lr: float = 3e-3,
    clip_norm: float | None = 1.0,
    random_state: int = 0,
    num_threads: int | None = 1,
    progress: bool = True,
    callback: Callable[[int, nn.Module], None] | None = None,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Train ``model`` with Adam on random windows of the token stream ``ids``; returns the loss of every step.

    The loop is :func:`scratchbook.training.fit` with :func:`bilm_loss`: each step draws
    ``batch_size`` windows of ``length`` tokens with ``random_state`` and takes one Adam step, the
    gradient norm clipped at ``clip_norm``. ``callback(step, model)`` runs after every step;
    ``num_threads`` as in :func:`~scratchbook.rnn.training.train_adding`. Trains on ``device``
    (default :func:`scratchbook.utils.get_device`) and leaves the model in evaluation mode (no
    dropout).
    """
    if not isinstance(model, BiLM):
        raise TypeError(f"model must be a BiLM, got {type(model).__name__}")
    check_int("steps", steps, low=1)  # before ids, whose check depends on length
    length = check_int("length", length, low=2)
    batch_size = check_int("batch_size", batch_size, low=1)
    ids = _check_ids("ids", ids, minimum=length)
    device = resolve_device(device)
    stream = torch.as_tensor(ids, device=device)
    offsets = torch.arange(length, device=device)

    def windows(step: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        starts = torch.as_tensor(rng.integers(0, len(ids) - length + 1, size=batch_size), device=device)
        batch = stream[starts[:, None] + offsets]
        return batch, batch  # a language model's targets are its inputs, shifted inside bilm_loss

    return fit(
        model,
        lambda m, tokens, _, step: bilm_loss(m, tokens),
        batches=windows,
        steps=steps,
        lr=lr,
        clip_norm=clip_norm,
        random_state=random_state,
        progress=progress,
        num_threads=num_threads,
        callback=callback,
        device=device,
        desc="biLM",
    )


@torch.no_grad()
def perplexities(model: BiLM, ids, length: int = 64, batch_size: int = 256) -> tuple[float, float]:
    """Forward and backward perplexity, exp of the mean cross-entropy, on the token stream ``ids``."""
    if not isinstance(model, BiLM):
        raise TypeError(f"model must be a BiLM, got {type(model).__name__}")
    length = check_int("length", length, low=2)
    batch_size = check_int("batch_size", batch_size, low=1)
    windows = _windows(_check_ids("ids", ids, minimum=length), length)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    totals = np.zeros(2)
    for i in range(0, len(windows), batch_size):
        batch = torch.as_tensor(windows[i : i + batch_size], device=device)
        totals += len(batch) * np.array([loss.item() for loss in bilm_loss(model, batch, per_direction=True)])
    model.train(was_training)
    return tuple(float(v) for v in np.exp(totals / len(windows)))


def unigram_perplexity(train_ids, ids, vocab_size: int) -> float:
    """Perplexity on ``ids`` of the unigram model of ``train_ids`` (add-one smoothing over ``vocab_size``)."""
    vocab_size = check_int("vocab_size", vocab_size, low=1)
    train_ids, ids = _check_ids("train_ids", train_ids, 1), _check_ids("ids", ids, 1)
    counts = np.bincount(train_ids, minlength=vocab_size) + 1.0
    return float(np.exp(-np.mean(np.log(counts[ids] / counts.sum()))))


@torch.no_grad()
def contextual_layers(model: BiLM, ids, length: int = 64) -> torch.Tensor:
    """The (M+1)×n×2·embedding_dim representations of every token of ``ids``, read in windows of ``length``."""
    if not isinstance(model, BiLM):
        raise TypeError(f"model must be a BiLM, got {type(model).__name__}")
    length = check_int("length", length, low=2)
    ids = _check_ids("ids", ids)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    n_full = len(ids) // length
    parts = []
    if n_full:
        batch = torch.as_tensor(ids[: n_full * length].reshape(n_full, length), device=device)
        parts.append(model.layers(batch).flatten(1, 2))
    if len(ids) - n_full * length >= 2:
        parts.append(model.layers(torch.as_tensor(ids[n_full * length :], device=device)[None])[:, 0])
    elif len(ids) > n_full * length:  # one token left over: read it with the token before it
        parts.append(model.layers(torch.as_tensor(ids[-2:], device=device)[None])[:, 0, 1:])
    model.train(was_training)
    return torch.cat(parts, dim=1)


def window_features(embeddings: torch.Tensor, ids, width: int = 2) -> torch.Tensor:
    """Row k holds the embeddings of tokens k−width..k+width side by side, zeros past the stream's ends."""
    if not isinstance(embeddings, torch.Tensor) or embeddings.dim() != 2:
        raise ValueError("embeddings must be a vocab_size×E tensor")
    width = check_int("width", width, low=0)
    ids = _check_ids("ids", ids, minimum=1)
    if ids.min() < 0 or ids.max() >= embeddings.shape[0]:
        raise ValueError(f"ids must lie in [0, {embeddings.shape[0]}), the rows of embeddings")
    x = embeddings.detach()[torch.as_tensor(ids, device=embeddings.device)]  # n × E
    padded = nn.functional.pad(x, (0, 0, width, width))  # (n + 2·width) × E
    return torch.cat([padded[j : j + len(ids)] for j in range(2 * width + 1)], dim=1)  # n × (2·width+1)·E


# --- the task-specific mix and a probe ------------------------------------------------------------


class ScalarMix(nn.Module):
    """ELMo's task-specific combination γ Σ_j s_j h_j with s = softmax(w), Eq. (elmo-mix)."""

    def __init__(self, num_layers: int) -> None:
        super().__init__()
        self.num_layers = check_int("num_layers", num_layers, low=1)
        self.scalar_parameters = nn.Parameter(torch.zeros(self.num_layers))
        self.gamma = nn.Parameter(torch.ones(()))

    @property
    def weights(self) -> torch.Tensor:
        """The softmax-normalised layer weights s_j (they sum to 1)."""
        return torch.softmax(self.scalar_parameters, dim=0)

    def forward(self, layers: torch.Tensor) -> torch.Tensor:
        """Mix a stack of layers (num_layers × … × D) into one tensor (… × D)."""
        if not isinstance(layers, torch.Tensor) or layers.dim() < 2 or layers.shape[0] != self.num_layers:
            raise ValueError(f"layers must be a tensor with {self.num_layers} layers in its first dimension")
        s = self.weights.to(layers.dtype)
        return self.gamma * torch.tensordot(s, layers, dims=1)


class MixProbe(nn.Module):
    """A linear classifier of the ScalarMix of a stack of layers: ``linear(mix(layers))``.

    Computed as ``mix(layers @ Wᵀ) + b``, the same numbers since the mix is linear, but the J×n×D
    stack is read once per step instead of being mixed into a new n×D tensor first.
    """

    def __init__(self, num_layers: int, width: int, n_classes: int = 2) -> None:
        super().__init__()
        self.mix = ScalarMix(num_layers)
        self.linear = nn.Linear(check_int("width", width, low=1), check_int("n_classes", n_classes, low=2))

    def forward(self, layers: torch.Tensor) -> torch.Tensor:
        """Class scores (n × n_classes) for a stack of layers (num_layers × n × width)."""
        return self.mix(layers @ self.linear.weight.T) + self.linear.bias


def _check_probe_data(layers, labels) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(layers, torch.Tensor) or layers.dim() != 3:
        raise ValueError("layers must be a (layers)×n×D tensor")
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long, device=layers.device)
    if labels.shape != layers.shape[1:2]:
        raise ValueError(f"labels must have one entry per token ({layers.shape[1]}), got shape {tuple(labels.shape)}")
    return layers, labels


def _initial_probe(layers, labels, n_classes: int, random_state: int) -> tuple[MixProbe, torch.Tensor, torch.Tensor]:
    """The untrained probe of :func:`train_probe` (seeded by ``random_state``) and the labelled positions."""
    layers, labels = _check_probe_data(layers, labels)
    n_classes = check_int("n_classes", n_classes, low=2)
    keep = labels >= 0
    layers, labels = layers[:, keep].detach(), labels[keep]
    torch_state = torch.random.get_rng_state()
    torch.manual_seed(check_int("random_state", random_state, low=0))
    probe = MixProbe(layers.shape[0], layers.shape[-1], n_classes).to(layers.device, layers.dtype)
    torch.random.set_rng_state(torch_state)
    return probe, layers, labels


@torch.no_grad()
def initial_probe_loss(layers: torch.Tensor, labels, n_classes: int = 2, random_state: int = 0) -> float:
    """The cross-entropy of the probe that :func:`train_probe` starts from: the first loss of its history.

    No optimizer is built, so this is a cheap fingerprint of the features and labels a stored probe
    was trained on.
    """
    probe, layers, labels = _initial_probe(layers, labels, n_classes, random_state)
    return float(nn.functional.cross_entropy(probe(layers), labels))


def train_probe(
    layers: torch.Tensor,
    labels,
    n_classes: int = 2,
    steps: int = 300,
    lr: float = 0.05,
    weight_decay: float = 1e-4,
    random_state: int = 0,
    num_threads: int | None = 1,
    device: str | torch.device | None = None,
) -> tuple[MixProbe, np.ndarray]:
    """A :class:`MixProbe` on frozen ``layers`` (J×n×D), trained by full-batch Adam on the cross-entropy.

    :func:`scratchbook.training.fit` on every labelled position at each step; positions whose label
    is −1 are ignored. With one layer (``layers[:1]``) it is a plain linear classifier of that layer,
    so static and contextual features get the same classifier. ``random_state`` seeds the probe's
    initial weights. The features and the probe are on ``device`` (default
    :func:`scratchbook.utils.get_device`). Returns the probe (in evaluation mode) and the loss of every step.
    """
    device = resolve_device(device)
    if isinstance(layers, torch.Tensor):
        layers = layers.to(device)
    probe, layers, labels = _initial_probe(layers, labels, n_classes, random_state)
    # full batch: every step sees all labelled positions; the frozen features stay in the closure
    history = fit(
        probe,
        lambda m, _, y, step: nn.functional.cross_entropy(m(layers), y),
        batches=lambda step, rng: (labels, labels),
        steps=steps,
        lr=lr,
        weight_decay=weight_decay,
        random_state=random_state,
        progress=False,
        num_threads=num_threads,
        device=device,
        desc="probe",
    )
    return probe, history


@torch.no_grad()
def probe_accuracy(probe: nn.Module, layers: torch.Tensor, labels) -> float:
    """The fraction of labelled positions (label ≥ 0) that ``probe`` classifies correctly."""
    layers, labels = _check_probe_data(layers, labels)
    keep = labels >= 0
    return float((probe(layers[:, keep]).argmax(-1) == labels[keep]).float().mean())


# --- checkpoints ----------------------------------------------------------------------------------


def save_bilm(model: BiLM, vocab: list[str], path: str | Path, info: dict | None = None, half: bool = True) -> None:
    """Save the state dict (float16 when ``half``), the vocabulary and ``info`` (JSON-like) to ``path``."""
    if not isinstance(model, BiLM):
        raise TypeError(f"model must be a BiLM, got {type(model).__name__}")
    if len(vocab) != model.vocab_size:
        raise ValueError(f"vocab must have vocab_size = {model.vocab_size} tokens, got {len(vocab)}")
    state = {k: (v.half() if half else v).cpu().clone() for k, v in model.state_dict().items()}
    config = {
        "vocab_size": model.vocab_size,
        "embedding_dim": model.embedding_dim,
        "num_layers": model.num_layers,
        "dropout": model.dropout,
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    info = json.loads(json.dumps(dict(info or {}), default=str))  # plain types only, for weights_only loading
    torch.save({"state_dict": state, "vocab": [str(t) for t in vocab], "config": config, "info": info}, path)


def load_bilm(path: str | Path, lstm: type = LSTM) -> tuple[BiLM, list[str], dict]:
    """Load a checkpoint of :func:`save_bilm` (``weights_only``) into a float32 BiLM; returns model, vocab, info."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path must be an existing checkpoint file, got {str(path)!r}")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    model = BiLM(**saved["config"], lstm=lstm)
    model.load_state_dict({k: v.float() for k, v in saved["state_dict"].items()})
    return model.eval(), list(saved["vocab"]), saved["info"]
