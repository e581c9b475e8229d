"""ELMo: the corpus and tokens, the biLM against torch.nn.LSTM, which tokens each direction sees, the mix."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from scratchbook.rnn import LSTM, checks
from scratchbook.rnn.elmo import (
    SPECIALS,
    BiLM,
    MixProbe,
    ScalarMix,
    bilm_loss,
    build_vocab,
    contextual_layers,
    decode,
    encode,
    initial_probe_loss,
    load_bilm,
    perplexities,
    probe_accuracy,
    pydoc_topics,
    quote_labels,
    save_bilm,
    tokenize,
    train_bilm,
    train_probe,
    unigram_perplexity,
    window_features,
)
from scratchbook.rnn.experiments import (
    PROBE,
    load_probes,
    probe_features,
    probe_topics,
    quote_stream,
    save_probes,
    train_probes,
)

ROOT = Path(__file__).resolve().parents[1]
V, E = 23, 6


def _pair(seed: int = 0, dropout: float = 0.0):
    """The same float64 BiLM on our LSTM and on torch.nn.LSTM, with one state dict."""
    torch.manual_seed(seed)
    theirs = BiLM(V, E, dropout=dropout, lstm=torch.nn.LSTM).double()
    with torch.no_grad():
        theirs.output_bias.normal_()
    ours = BiLM(V, E, dropout=dropout).double()
    ours.load_state_dict(theirs.state_dict())
    return ours.eval(), theirs.eval()


def _tokens(B: int = 3, N: int = 9, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, V, (B, N), generator=torch.Generator().manual_seed(seed))


# --- corpus and tokens ---------------------------------------------------------------------------


def test_tokenize_keeps_every_non_space_character():
    text = 'The "return" statement:\n   return x + 1  # 3.5 * y_2\n'
    tokens = tokenize(text)
    assert tokens == [
        "the",
        '"',
        "return",
        '"',
        "statement",
        ":",
        "return",
        "x",
        "+",
        "1",
        "#",
        "3",
        ".",
        "5",
        "*",
        "y_2",
    ]
    assert "".join(tokens) == re.sub(r"\s", "", text.lower())


def test_tokenize_is_deterministic_and_drops_underlines():
    text = pydoc_topics()["return"]
    assert tokenize(text) == tokenize(text)
    assert "*" not in tokenize('The "return" statement\n**********************\n')


def test_quote_labels():
    tokens, labels = quote_labels('Use "return x" to return.\n\nA "')
    assert tokens == ["use", '"', "return", "x", '"', "to", "return", ".", "a", '"']
    assert labels.tolist() == [0, -1, 1, 1, -1, 0, 0, 0, 0, -1]


def test_split_is_disjoint_and_heldout_paragraphs_leave_training():
    train, heldout = pydoc_topics("train"), pydoc_topics("heldout")
    assert not set(train) & set(heldout) and len(train) + len(heldout) == len(pydoc_topics())
    held_paragraphs = {p.strip() for t in heldout.values() for p in re.split(r"\n\s*\n", t) if p.strip()}
    assert not any(p.strip() in held_paragraphs for t in train.values() for p in re.split(r"\n\s*\n", t))


def test_vocab_encode_decode_round_trip():
    tokens = [["b", "a", "b", "c", "c", "c", "d"], ["a", "c"]]
    vocab = build_vocab(tokens, max_size=6, min_count=1)
    assert vocab == [*SPECIALS, "c", "a", "b"]  # by count, ties alphabetical, cut at max_size
    ids = encode(["c", "a", "zzz", "b"], vocab, wrap=True)
    assert ids.tolist() == [1, 3, 4, 0, 5, 2]
    assert decode(ids, vocab) == ["<bos>", "c", "a", "<unk>", "b", "<eos>"]


# --- the model against torch.nn.LSTM and an independent loss ----------------------------------------


def test_bilm_on_our_lstm_equals_bilm_on_torch_lstm():
    ours, theirs = _pair()
    tokens = _tokens()
    for a, b in zip(ours(tokens), theirs(tokens)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)
    torch.testing.assert_close(ours.layers(tokens), theirs.layers(tokens), rtol=0, atol=1e-10)
    loss_ours, loss_theirs = bilm_loss(ours, tokens), bilm_loss(theirs, tokens)
    assert abs(loss_ours.item() - loss_theirs.item()) < 1e-10
    loss_ours.backward()
    loss_theirs.backward()
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=0, atol=1e-10, msg=name)


def test_loss_equals_hand_written_cross_entropy():
    ours, _ = _pair(seed=2)
    tokens = _tokens(seed=3)
    forward, backward = ours(tokens)

    def nll(logits, targets):  # −log softmax, summed by hand
        logp = logits - torch.logsumexp(logits, dim=-1, keepdim=True)
        return -logp.gather(-1, targets[..., None]).mean()

    expected = 0.5 * (nll(forward[:, :-1], tokens[:, 1:]) + nll(backward[:, 1:], tokens[:, :-1]))
    assert abs(bilm_loss(ours, tokens).item() - expected.item()) < 1e-12


def test_softmax_is_the_embedding_shared_by_both_directions():
    """Tied weights, by behaviour: changing the embedding row of a token that is not in the input leaves
    every state alone but moves that token's logit, and only its logit, in both directions."""
    ours, _ = _pair()
    tokens = _tokens() % (V - 1)  # token V - 1 never occurs in the input
    before = ours(tokens)
    states_before = ours.directions(tokens)
    with torch.no_grad():
        ours.embedding.weight[V - 1] += 1.0
    after = ours(tokens)
    for a, b in zip(states_before, ours.directions(tokens)):
        for la, lb in zip(a, b):
            torch.testing.assert_close(la, lb, rtol=0, atol=0)
    for logits_before, logits_after in zip(before, after):
        moved = (logits_after - logits_before).abs().amax(dim=(0, 1))
        assert moved[V - 1] > 1e-3 and torch.all(moved[: V - 1] == 0)


@pytest.mark.parametrize("t", [0, 4, 8])
def test_each_direction_sees_only_its_side(t):
    ours, _ = _pair(seed=4)
    tokens = _tokens(N=9, seed=5)
    changed = tokens.clone()
    changed[:, t] = (changed[:, t] + 1) % V
    _, f0, b0 = ours.directions(tokens)
    _, f1, b1 = ours.directions(changed)
    for layer in range(2):
        # the forward LM at k reads tokens ≤ k: unchanged before t, changed from t on
        assert torch.equal(f0[layer][:, :t], f1[layer][:, :t])
        assert (f0[layer][:, t:] - f1[layer][:, t:]).abs().amax(dim=-1).min() > 0
        # the backward LM at k reads tokens ≥ k: unchanged after t, changed up to t
        assert torch.equal(b0[layer][:, t + 1 :], b1[layer][:, t + 1 :])
        assert (b0[layer][:, : t + 1] - b1[layer][:, : t + 1]).abs().amax(dim=-1).min() > 0


def test_layers_stack_embedding_and_both_directions():
    ours, _ = _pair()
    tokens = _tokens()
    x, forward, backward = ours.directions(tokens)
    layers = ours.layers(tokens)
    assert layers.shape == (3, 3, 9, 2 * E)
    assert torch.equal(layers[0], torch.cat([x, x], -1))
    assert torch.equal(layers[2, ..., :E], forward[1]) and torch.equal(layers[2, ..., E:], backward[1])
    flat = contextual_layers(ours, tokens[0].numpy(), length=4)  # windows of 4, then a remainder of 1
    assert flat.shape == (3, 9, 2 * E)
    torch.testing.assert_close(flat[:, :4], ours.layers(tokens[:1, :4])[:, 0])


def test_backward_layer_two_reads_backward_layer_one_only():
    ours, _ = _pair()
    for lstms in (ours.forward_lstms, ours.backward_lstms):
        assert [m.input_size for m in lstms] == [E, E]


# --- the mix -------------------------------------------------------------------------------------


def test_scalar_mix_equals_the_formula():
    torch.manual_seed(0)
    mix = ScalarMix(3)
    with torch.no_grad():
        mix.scalar_parameters.copy_(torch.tensor([0.3, -1.0, 2.0]))
        mix.gamma.fill_(1.7)
    layers = torch.randn(3, 4, 5)
    w = np.array([0.3, -1.0, 2.0])
    s = np.exp(w) / np.exp(w).sum()
    expected = 1.7 * sum(s[j] * layers[j].numpy() for j in range(3))
    np.testing.assert_allclose(mix(layers).detach().numpy(), expected, rtol=1e-6)
    assert abs(mix.weights.sum().item() - 1) < 1e-6


def test_probe_learns_a_linear_label_and_ignores_minus_one():
    torch.manual_seed(0)
    layers = torch.randn(2, 400, 4)
    labels = (layers[1, :, 0] > 0).long()
    labels[:10] = -1
    probe, history = train_probe(layers, labels, steps=200)
    assert probe_accuracy(probe, layers, labels) > 0.95
    assert history.shape == (200,) and history[-1] < history[0] / 3


def test_train_probe_equals_a_plain_adam_loop():
    """The oracle: full-batch torch.optim.Adam written out by hand from the same initial probe."""
    torch.manual_seed(3)
    layers, labels = torch.randn(3, 60, 5), torch.randint(-1, 2, (60,))
    probe, history = train_probe(layers, labels, steps=7, lr=0.05, weight_decay=1e-3, random_state=4)
    torch.manual_seed(4)
    reference = MixProbe(3, 5)
    keep = labels >= 0
    opt = torch.optim.Adam(reference.parameters(), lr=0.05, weight_decay=1e-3)
    expected = []
    for _ in range(7):
        loss = torch.nn.functional.cross_entropy(reference(layers[:, keep]), labels[keep])
        opt.zero_grad()
        loss.backward()
        opt.step()
        expected.append(loss.item())
    np.testing.assert_array_equal(history, expected)
    for a, b in zip(probe.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_initial_probe_loss_is_the_first_loss_of_training():
    """The oracle: the cross-entropy of the seeded, untrained MixProbe, computed by hand."""
    torch.manual_seed(5)
    layers, labels = torch.randn(2, 50, 4), torch.randint(-1, 3, (50,))
    torch.manual_seed(7)
    reference = MixProbe(2, 4, n_classes=3)
    keep = labels >= 0
    logits = torch.tensordot(torch.softmax(reference.mix.scalar_parameters, 0), layers[:, keep], dims=1)
    logits = reference.mix.gamma * logits @ reference.linear.weight.T + reference.linear.bias
    expected = -torch.log_softmax(logits, 1)[torch.arange(int(keep.sum())), labels[keep]].mean().item()
    got = initial_probe_loss(layers, labels, n_classes=3, random_state=7)
    assert math.isclose(got, expected, rel_tol=1e-6)
    _, history = train_probe(layers, labels, n_classes=3, steps=2, random_state=7)
    assert math.isclose(history[0], expected, rel_tol=1e-6)


def test_train_bilm_equals_a_plain_adam_loop():
    """The oracle: Adam with gradient clipping on random windows, written out by hand."""
    ids = np.tile(np.arange(3, V), 4)
    torch.manual_seed(0)
    model = BiLM(V, 5, dropout=0.0)
    reference = BiLM(V, 5, dropout=0.0)
    reference.load_state_dict(model.state_dict())
    history = train_bilm(
        model, ids, steps=6, batch_size=3, length=7, lr=1e-2, clip_norm=0.5, random_state=2, progress=False
    )
    rng = np.random.default_rng(2)
    opt = torch.optim.Adam(reference.parameters(), lr=1e-2)
    expected = []
    for _ in range(6):
        starts = rng.integers(0, len(ids) - 7 + 1, size=3)
        tokens = torch.as_tensor(np.stack([ids[s : s + 7] for s in starts]))
        forward, backward = reference(tokens)
        loss = (
            torch.nn.functional.cross_entropy(forward[:, :-1].reshape(-1, V), tokens[:, 1:].reshape(-1))
            + torch.nn.functional.cross_entropy(backward[:, 1:].reshape(-1, V), tokens[:, :-1].reshape(-1))
        ) / 2
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(reference.parameters(), 0.5)
        opt.step()
        expected.append(loss.item())
    assert isinstance(history, np.ndarray) and not model.training
    np.testing.assert_allclose(history, expected, rtol=1e-6)
    for a, b in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_window_features_against_plain_loops():
    table = torch.randn(7, 3, generator=torch.Generator().manual_seed(2))
    ids = np.array([3, 0, 6, 6, 2, 5])
    for width in (0, 1, 2, 4):
        got = window_features(table, ids, width)
        expected = np.zeros((len(ids), (2 * width + 1) * 3), dtype=np.float32)
        for k in range(len(ids)):
            for j, t in enumerate(range(k - width, k + width + 1)):
                if 0 <= t < len(ids):
                    expected[k, 3 * j : 3 * j + 3] = table[ids[t]].numpy()
        np.testing.assert_array_equal(got.numpy(), expected)


def test_training_lowers_the_loss_and_perplexity_baselines():
    torch.manual_seed(0)
    model = BiLM(V, 8, dropout=0.0)
    ids = np.tile(np.arange(3, V), 6)  # a deterministic cycle: easy to predict
    before = perplexities(model, ids, length=10)
    train_bilm(model, ids, steps=60, batch_size=8, length=10, lr=2e-2, progress=False)
    after = perplexities(model, ids, length=10)
    assert after[0] < before[0] / 3 and after[1] < before[1] / 3
    assert math.isclose(unigram_perplexity(ids, ids, V), np.exp(-np.log(7 / (6 * 20 + V))), rel_tol=1e-12)


def test_checkpoint_round_trip(tmp_path):
    _, theirs = _pair()
    vocab = [*SPECIALS, *(f"w{i}" for i in range(V - len(SPECIALS)))]
    save_bilm(theirs, vocab, tmp_path / "m.pt", info={"note": "test"}, half=False)
    model, vocab2, info = load_bilm(tmp_path / "m.pt")
    assert isinstance(model.forward_lstms[0], LSTM) and vocab2 == vocab and info == {"note": "test"}
    tokens = _tokens()
    torch.testing.assert_close(model(tokens)[0], theirs.float()(tokens)[0], rtol=1e-5, atol=1e-5)


def test_check_scalar_mix_accepts_the_right_answer_and_rejects_a_wrong_one(capsys):
    def right(layers, w, gamma):
        return gamma * (torch.softmax(w, 0)[:, None, None] * layers).sum(0)

    assert checks.check_scalar_mix(right)
    assert not checks.check_scalar_mix(lambda layers, w, gamma: gamma * layers.mean(0))


# --- bad arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: BiLM(2, 4), "vocab_size"),
        (lambda: BiLM(V, 0), "embedding_dim"),
        (lambda: BiLM(V, 4, dropout=1.5), "dropout"),
        (lambda: BiLM(V, 4, lstm="lstm"), "lstm"),
        (lambda: BiLM(V, 4)(torch.zeros(2, 5)), "tokens"),
        (lambda: BiLM(V, 4)(torch.full((2, 5), V)), "tokens"),
        (lambda: ScalarMix(0), "num_layers"),
        (lambda: ScalarMix(3)(torch.zeros(2, 4, 5)), "layers"),
        (lambda: pydoc_topics("test"), "split"),
        (lambda: tokenize(3), "text"),
        (lambda: build_vocab([["a"]], max_size=2), "max_size"),
        (lambda: encode(["a"], ["a", "b"]), "vocab"),
        (lambda: decode([7], list(SPECIALS)), "ids"),
        (lambda: train_bilm(BiLM(V, 4), np.arange(V), steps=0), "steps"),
        (lambda: train_bilm(BiLM(V, 4), np.arange(5), length=10), "ids"),
        (lambda: train_probe(torch.zeros(2, 5, 3), [0, 1]), "labels"),
        (lambda: load_bilm("/nonexistent/bilm.pt"), "path"),
        (lambda: window_features(torch.zeros(4), [0, 1]), "embeddings"),
        (lambda: window_features(torch.zeros(4, 2), [0, 1], width=-1), "width"),
        (lambda: window_features(torch.zeros(4, 2), [0, 4]), "ids"),
    ],
)
def test_bad_arguments_name_the_argument(call, name):
    with pytest.raises((ValueError, TypeError), match=name):
        call()


def test_mix_probe_is_a_linear_layer_on_the_mix():
    torch.manual_seed(1)
    probe = MixProbe(3, 5, n_classes=4)
    with torch.no_grad():
        probe.mix.scalar_parameters.normal_()
        probe.mix.gamma.fill_(0.7)
    layers = torch.randn(3, 8, 5)
    torch.testing.assert_close(probe(layers), probe.linear(probe.mix(layers)), rtol=1e-6, atol=1e-6)


# --- the chapter's probe pipeline (scratchbook.rnn.experiments) and its shipped probes ---------------


def test_probe_topics_and_quote_stream_against_hand_labels():
    topics = {"a": 'say "hi" now', "b": "x", "c": 'the "if" test', "d": "y"}
    assert list(probe_topics(topics, every=3)) == ["a", "d"] and list(probe_topics(topics, every=1)) == list(topics)
    vocab = [*SPECIALS, "say", '"', "hi", "now", "the", "test"]
    ids, labels = quote_stream({"a": topics["a"], "c": topics["c"]}, vocab)
    # <bos> say " hi " now <eos> <bos> the " if(<unk>) " test <eos>, labelled by hand
    np.testing.assert_array_equal(ids, [1, 3, 4, 5, 4, 6, 2, 1, 7, 4, 0, 4, 8, 2])
    np.testing.assert_array_equal(labels, [-1, 0, -1, 1, -1, 0, -1, -1, 0, -1, 1, -1, 0, -1])


def test_probe_features_are_the_embedding_a_window_and_every_layer():
    torch.manual_seed(0)
    model = BiLM(V, E, dropout=0.0).eval()
    train_ids, test_ids = np.arange(3, 3 + 11) % V, np.arange(5, 5 + 9) % V
    features = probe_features(model, train_ids, test_ids, width=1)
    table = model.embedding.weight.detach()
    for ids, split in ((train_ids, 0), (test_ids, 1)):
        static, window, elmo = (features[name][split] for name in ("static", "window", "ELMo"))
        torch.testing.assert_close(static[0], torch.cat([table[ids], table[ids]], 1), rtol=0, atol=0)
        padded = np.r_[-1, ids, -1]  # -1: past the ends of the stream, zeros
        rows = [torch.cat([table[t] if t >= 0 else torch.zeros(E) for t in padded[k : k + 3]]) for k in range(len(ids))]
        torch.testing.assert_close(window[0], torch.stack(rows), rtol=0, atol=0)
        with torch.no_grad():  # one window holds the whole stream: the layers of one forward pass
            torch.testing.assert_close(elmo, model.layers(torch.as_tensor(ids)[None])[:, 0], rtol=1e-6, atol=1e-6)


def _synthetic_probes(seed: int = 0):
    torch.manual_seed(seed)
    features = {
        "one": (torch.randn(1, 80, 4), torch.randn(1, 20, 4)),
        "two": (torch.randn(2, 80, 3), torch.randn(2, 20, 3)),
    }
    labels = (features["one"][0][0, :, 0] > 0).long()
    return features, labels


def test_probes_round_trip_and_are_refused_on_other_features(tmp_path):
    features, labels = _synthetic_probes()
    trained = train_probes(features, labels, steps=20, lr=0.05)
    assert set(trained) == set(features) and all(h.shape == (20,) for _, h in trained.values())
    path = tmp_path / "probes.pt"
    save_probes(path, trained, info=dict(PROBE))
    loaded, first = load_probes(path, features, labels)
    for name, (_, test_x) in features.items():
        probe, history = trained[name]
        torch.testing.assert_close(loaded[name](test_x), probe(test_x), rtol=0, atol=0)
        assert not loaded[name].training and first[name] == (history[0], history[0])
    other, _ = _synthetic_probes(seed=1)
    assert load_probes(path, other, labels) is None  # other features: another first loss
    assert load_probes(path, {"one": features["one"]}, labels) is None  # other feature sets
    assert load_probes(tmp_path / "missing.pt", features, labels) is None
    save_probes(tmp_path / "old.pt", trained, info={**PROBE, "steps": PROBE["steps"] + 1})
    assert load_probes(tmp_path / "old.pt", features, labels) is None  # another protocol
    with pytest.raises(ValueError, match="features"):
        load_probes(path, {}, labels)


def test_save_probes_writes_the_same_file_for_the_same_probes(tmp_path):
    features, labels = _synthetic_probes()
    paths = [tmp_path / name / "probes.pt" for name in ("a", "b")]
    for path in paths:
        save_probes(path, train_probes(features, labels, steps=5), info=dict(PROBE))
    assert paths[0].read_bytes() == paths[1].read_bytes()


def test_shipped_elmo_probes_match_the_checkpoint_and_retrain_exactly():
    """chapters/rnn/data/elmo_probes.pt, made by scripts/make_elmo_probes.py, as chapter 1.8 loads it."""
    data = ROOT / "chapters" / "rnn" / "data"
    path = data / "elmo_probes.pt"
    assert path.stat().st_size < 2_000_000
    info = torch.load(path, weights_only=True)["info"]
    assert info["command"].startswith("python scripts/make_elmo_probes.py")
    assert {k: info[k] for k in PROBE} == PROBE
    bilm, vocab, _ = load_bilm(data / "elmo_bilm.pt")
    probe_ids, probe_labels = quote_stream(probe_topics(pydoc_topics("train")), vocab)
    heldout_ids, _ = quote_stream(pydoc_topics("heldout"), vocab)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the script and the chapter compute the features
    try:
        features = probe_features(bilm, probe_ids, heldout_ids)
    finally:
        torch.set_num_threads(threads)
    shipped = load_probes(path, features, probe_labels)
    assert shipped is not None, "the shipped probes do not match the checkpoint's features: rerun the script"
    static, _ = train_probe(features["static"][0], probe_labels, **PROBE)  # the cheapest of the three
    for a, b in zip(static.state_dict().values(), shipped[0]["static"].state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
