"""Chapter drivers of Part I: the pipelines that a chapter and the script that ships its results share.

The ELMo chapter (1.8) probes its biLM with three feature sets under one protocol, :data:`PROBE`;
``scripts/make_elmo_probes.py`` trains the probes with :func:`train_probes` and saves them with
:func:`save_probes`, and the chapter loads them with :func:`load_probes`, which computes the loss of each
untrained probe on the chapter's own features and returns nothing (so the chapter trains them itself)
unless it matches the first loss stored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from scratchbook._validation import check_int, check_real
from scratchbook.rnn.elmo import (
    BiLM,
    MixProbe,
    contextual_layers,
    encode,
    initial_probe_loss,
    quote_labels,
    train_probe,
    window_features,
)

__all__ = ["PROBE", "probe_topics", "quote_stream", "probe_features", "train_probes", "save_probes", "load_probes"]

PROBE = {"steps": 150, "lr": 0.05}
"""The probe protocol of chapter 1.8: every feature set gets the same steps and learning rate."""


def probe_topics(topics: dict[str, str], every: int = 3) -> dict[str, str]:
    """The topics the probes train on: every ``every``-th one of ``topics``, in their order, from the first."""
    every = check_int("every", every, low=1)
    if not isinstance(topics, dict):
        raise TypeError(f"topics must be a dict name → text, got {type(topics).__name__}")
    return {name: text for i, (name, text) in enumerate(topics.items()) if i % every == 0}


def quote_stream(topics: dict[str, str], vocab: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of every topic between <bos> and <eos>, and the quote labels (−1 at those marks)."""
    ids, labels = [], []
    for text in topics.values():
        tokens, quoted = quote_labels(text)
        ids.append(encode(tokens, vocab, wrap=True))
        labels.append(np.r_[-1, quoted, -1])
    return np.concatenate(ids), np.concatenate(labels)


def probe_features(
    bilm: BiLM, train_ids, test_ids, width: int = 2, train_layers=None, test_layers=None
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """(training, test) features of the chapter's three probes, name → pair of J×n×D tensors.

    "static": the embedding layer h_0 alone; "window": the static embeddings of tokens
    k−``width`` … k+``width`` side by side, one layer; "ELMo": every layer of the biLM.
    ``train_layers``/``test_layers`` are :func:`contextual_layers` of the two streams when already
    computed.
    """
    width = check_int("width", width, low=0)
    if train_layers is None:
        train_layers = contextual_layers(bilm, train_ids)
    if test_layers is None:
        test_layers = contextual_layers(bilm, test_ids)
    embedding = bilm.embedding.weight.detach()
    return {
        "static": (train_layers[:1], test_layers[:1]),
        "window": tuple(window_features(embedding, ids, width)[None] for ids in (train_ids, test_ids)),
        "ELMo": (train_layers, test_layers),
    }


def train_probes(
    features: dict,
    labels,
    steps: int = PROBE["steps"],
    lr: float = PROBE["lr"],
    device: str | torch.device | None = None,
) -> dict[str, tuple[MixProbe, np.ndarray]]:
    """One :func:`~scratchbook.rnn.elmo.train_probe` per feature set, on ``device``; name → (probe, losses)."""
    return {
        name: train_probe(train_x, labels, steps=steps, lr=lr, device=device) for name, (train_x, _) in features.items()
    }


def save_probes(path: str | Path, trained: dict, info: dict | None = None) -> None:
    """Save the state dict and loss history of each probe of :func:`train_probes`, and ``info``, to ``path``.

    ``info`` should hold the protocol (:data:`PROBE`), which :func:`load_probes` checks. The file
    holds nothing else (no time, no date), so the same probes give the same file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = {
        name: {
            "state_dict": {k: v.detach().cpu().clone() for k, v in probe.state_dict().items()},
            "history": torch.as_tensor(np.asarray(history, dtype=np.float64)),
        }
        for name, (probe, history) in trained.items()
    }
    torch.save({"probes": saved, "info": dict(info or {})}, path)


def load_probes(path: str | Path, features: dict, labels, rtol: float = 1e-4) -> tuple[dict, dict] | None:
    """The probes saved at ``path``, checked on ``features``; ``None`` when absent or not matching.

    The file must record the protocol :data:`PROBE` and hold one probe per feature set, of the
    features' number of layers and width. For each feature set, the loss of the untrained probe
    (:func:`~scratchbook.rnn.elmo.initial_probe_loss`, the first loss of
    :func:`~scratchbook.rnn.elmo.train_probe`) is then computed on the training features and
    compared with the stored first loss (relative tolerance ``rtol``: equal on the machine that made
    the file); no optimizer is built. Returns (name → probe in evaluation mode, name → (live, stored) first loss), or
    ``None`` if any of this fails: the features are not those the probes were trained on.
    """
    rtol = check_real("rtol", rtol, low=0.0)
    if not isinstance(features, dict) or not features:
        raise ValueError("features must be a non-empty dict name → (training, test) layers, as probe_features returns")
    path = Path(path)
    if not path.is_file():
        return None
    stored = torch.load(path, map_location="cpu", weights_only=True)
    saved, info = stored["probes"], stored.get("info", {})
    if set(saved) != set(features) or any(info.get(k) != v for k, v in PROBE.items()):
        return None
    probes, first = {}, {}
    for name, (train_x, _) in features.items():
        state, history = saved[name]["state_dict"], saved[name]["history"].numpy()
        n_classes, width = state["linear.weight"].shape
        if state["mix.scalar_parameters"].shape[0] != train_x.shape[0] or width != train_x.shape[-1]:
            return None
        live = initial_probe_loss(train_x, labels, n_classes=n_classes)
        first[name] = (live, float(history[0]))
        if abs(live - history[0]) > rtol * abs(history[0]):
            return None
        probe = MixProbe(train_x.shape[0], width, n_classes).to(train_x.device, train_x.dtype)
        probe.load_state_dict(state)
        probes[name] = probe.eval()
    return probes, first
