"""The character language model, generation and the closed-loop echo state network, against oracles."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from scratchbook.rnn import EchoStateNetwork, mackey_glass
from scratchbook.rnn.charlm import (
    UNK_CHAR,
    CharLSTM,
    bigram_probs,
    build_char_vocab,
    decode_chars,
    detach_state,
    encode_chars,
    kneser_ney_probs,
    lm_loss,
    load_charlm,
    ngram_perplexity,
    perplexity,
    save_charlm,
    stream_rows,
    train_charlm,
    unigram_probs,
)
from scratchbook.rnn.generation import free_running_errors, generate, next_token_probs, sample_next

V = 7


def small_model(seed: int = 0, lstm=torch.nn.LSTM) -> CharLSTM:
    torch.manual_seed(seed)
    return CharLSTM(V, embedding_dim=3, hidden_size=5, lstm=lstm).double()


def random_ids(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, V, size=n)


# --- vocabulary -------------------------------------------------------------------------------------


def test_vocab_round_trip_and_unknown():
    vocab = build_char_vocab("hello world")
    assert vocab[0] == UNK_CHAR and vocab[1:] == sorted(set("hello world"))
    assert decode_chars(encode_chars("hello", vocab), vocab) == "hello"
    assert decode_chars(encode_chars("hex!", vocab), vocab) == "he" + UNK_CHAR * 2


# --- truncated BPTT ---------------------------------------------------------------------------------


def test_truncated_gradient_is_full_gradient_restricted_to_the_window():
    """Window 2's loss with the carried state detached: its gradient is the part of full BPTT through window 2's steps.

    Oracle: the unrolled graph of both windows with a separate copy of the weights for each window
    (torch.func.functional_call); full BPTT is the sum of the two copies' gradients, and the window-2
    copy's gradient is what truncation must keep.
    """
    model = small_model()
    x = torch.as_tensor(random_ids(2 * 6 + 1)[None])
    w1, w2 = x[:, :7], x[:, 6:]
    params = {k: v.detach() for k, v in model.named_parameters()}
    p1 = {k: v.clone().requires_grad_() for k, v in params.items()}
    p2 = {k: v.clone().requires_grad_() for k, v in params.items()}
    _, state = torch.func.functional_call(model, p1, (w1[:, :-1],))
    logits, _ = torch.func.functional_call(model, p2, (w2[:, :-1], state))
    loss = lm_loss(logits, w2[:, 1:])
    g1 = torch.autograd.grad(loss, list(p1.values()), retain_graph=True, allow_unused=True)
    g1 = [torch.zeros_like(p) if g is None else g for p, g in zip(p1.values(), g1)]  # window 1's decoder: unused
    g2 = torch.autograd.grad(loss, list(p2.values()))

    with torch.no_grad():
        _, carried = model(w1[:, :-1])
    model.zero_grad()
    logits_t, _ = model(w2[:, :-1], detach_state(carried))
    lm_loss(logits_t, w2[:, 1:]).backward()
    truncated = [p.grad for p in model.parameters()]
    for a, b in zip(truncated, g2):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    # truncation drops something: the window-1 copy of the recurrent weights has a gradient
    names = list(p1)
    assert g1[names.index("lstm.weight_hh_l0")].abs().max() > 1e-6
    # and without detaching, backward gives full BPTT, the sum of both copies
    model.zero_grad()
    logits_f, _ = model(w2[:, :-1], model(w1[:, :-1])[1])
    lm_loss(logits_f, w2[:, 1:]).backward()
    for p, a, b in zip(model.parameters(), g1, g2):
        torch.testing.assert_close(p.grad, a + b, rtol=1e-10, atol=1e-12)


def test_carried_state_reads_the_rows_as_one_stream():
    """Training's forward pass over consecutive windows = one pass over each whole row (no state lost)."""
    model = Recording(V, embedding_dim=3, hidden_size=5, lstm=torch.nn.LSTM).double()
    model.load_state_dict(small_model(1).state_dict())
    ids = random_ids(4 * 31, seed=1)
    rows = stream_rows(ids, 4)
    assert np.array_equal(rows[1], ids[31:62])
    train_charlm(model, ids, steps=3, batch_size=4, length=10, lr=1e-12, progress=False, device="cpu")
    with torch.no_grad():
        whole = CharLSTM.forward(model, torch.as_tensor(rows[:, :30]))[0]
    torch.testing.assert_close(torch.cat(model.seen, dim=1), whole, rtol=1e-6, atol=1e-8)


def test_undetached_state_is_refused_before_any_step():
    """detach=False is refused up front with a ValueError, not left to fail in the second backward."""
    model = small_model(2)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match="detach must be True"):
        train_charlm(model, random_ids(4 * 31, seed=2), steps=3, batch_size=4, length=10, detach=False, progress=False)
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before))


class Recording(CharLSTM):
    """A CharLSTM that keeps the logits of every forward call."""

    seen: list

    def forward(self, tokens, state=None):
        logits, new_state = super().forward(tokens, state)
        self.__dict__.setdefault("seen", []).append(logits.detach().clone())
        return logits, new_state


# --- perplexity and the count baselines -------------------------------------------------------------


def test_perplexity_is_exp_of_torch_cross_entropy():
    model = small_model(2).eval()
    ids = random_ids(2 * 40 + 1, seed=2)
    ppl = perplexity(model, ids, length=7, batch_size=2)
    rows = torch.as_tensor(stream_rows(ids, 2))
    with torch.no_grad():
        logits = model(rows[:, :-1])[0]
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, V), rows[:, 1:].reshape(-1)).exp().item()
    assert ppl == pytest.approx(expected, rel=1e-10)


def test_add_one_counts_by_hand():
    train = np.array([0, 1, 1, 2, 1])
    np.testing.assert_allclose(unigram_probs(train, 4), np.array([2, 4, 2, 1]) / 9)
    B = bigram_probs(train, 4)
    np.testing.assert_allclose(B[1], np.array([1, 2, 2, 1]) / 6)  # after 1: 1 once, 2 once, of 2 bigrams
    np.testing.assert_allclose(B.sum(1), 1.0)
    ppl = ngram_perplexity(train, np.array([1, 2]), 4, order=2)
    assert ppl == pytest.approx(1 / B[1, 2])


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_kneser_ney_is_a_distribution(order):
    train = random_ids(500, seed=3) % 4 + (random_ids(500, seed=4) > 4)  # an uneven stream over 0..4
    ctx = train[10 : 10 + order - 1]
    for history in (ctx, np.array([6] * (order - 1), dtype=np.int64)):  # a seen and an unseen history
        p = [kneser_ney_probs(train, np.r_[history, c].astype(np.int64), V, order)[-1] for c in range(V)]
        assert sum(p) == pytest.approx(1.0, abs=1e-12) and min(p) > 0


def test_kneser_ney_bigram_by_hand():
    """Interpolated KN bigram with d = 0.5 on "abab c" computed by hand from the formula."""
    train = np.array([0, 1, 0, 1, 2])  # a b a b c, V = 3
    d = 0.5
    # continuation counts N1+(· c): a ← {b}, b ← {a}, c ← {b}; total 3 bigram types
    # so every lower-order probability is (1 − d) / 3 + d · 3 / 3 · 1/3 = 1/3
    p_low = np.full(3, (1 - d) / 3 + d * 3 / 3 / 3)
    # after b: counts b→a 1, b→c 1, total 2, two types
    expected = max(1 - d, 0) / 2 + d * 2 / 2 * p_low[2]
    assert kneser_ney_probs(train, np.array([1, 2]), 3, order=2, discount=d)[0] == pytest.approx(expected)


# --- generation -------------------------------------------------------------------------------------


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_sampling_draws_from_softmax_of_logits_over_temperature(temperature):
    logits = torch.tensor([1.0, 0.2, -0.5, 2.0, 0.0])
    gen = torch.Generator().manual_seed(0)
    n = 20000
    draws = sample_next(logits.repeat(n, 1), temperature, generator=gen)
    counts = np.bincount(draws.numpy(), minlength=5)

    def softmax(t):  # the oracle, in float64 NumPy
        z = np.exp(logits.double().numpy() / t)
        return z / z.sum()

    expected = n * softmax(temperature)
    assert stats.chisquare(counts, expected).pvalue > 1e-3
    # a wrong temperature is rejected by the same test: it has power
    wrong = n * softmax(temperature * 1.5)
    assert stats.chisquare(counts, wrong).pvalue < 1e-6


def test_top_k_never_leaves_the_top_k_and_renormalises():
    logits = torch.randn(50, 12, generator=torch.Generator().manual_seed(1))
    probs = next_token_probs(logits, 1.0, top_k=3)
    top = logits.topk(3, dim=-1).indices
    draws = sample_next(logits.repeat(40, 1), 1.5, top_k=3, generator=torch.Generator().manual_seed(2))
    assert (draws.reshape(40, 50)[..., None] == top).any(-1).all()
    torch.testing.assert_close(probs.sum(-1), torch.ones(50))
    torch.testing.assert_close(probs.gather(-1, top), torch.softmax(logits.gather(-1, top), -1))


def test_greedy_is_argmax_at_every_step():
    model = small_model(3).eval()
    prompt = random_ids(5, seed=5)
    out = generate(model, prompt, 12, temperature=0.0)[0]
    seq = list(prompt)
    for t in range(12):
        with torch.no_grad():
            logits = model(torch.as_tensor([seq]))[0][0, -1]
        assert out[t] == int(logits.argmax())
        seq.append(int(logits.argmax()))


def test_generate_is_seeded_and_free_running_starts_like_teacher_forcing():
    model = small_model(4)
    prompt = random_ids(4, seed=6)
    a = generate(model, prompt, 20, temperature=1.0, n_samples=3, random_state=7)
    assert a.shape == (3, 20) and np.array_equal(a, generate(model, prompt, 20, n_samples=3, random_state=7))
    errs = free_running_errors(model, random_ids(400, seed=8), prefix=10, horizon=6, n_starts=8)
    # the first step after the prefix reads only true text in both settings
    assert errs["teacher_forced"][0] == errs["free_running"][0]


# --- the closed-loop echo state network -------------------------------------------------------------


def test_esn_predict_continues_from_the_fitted_state():
    s = mackey_glass(700, random_state=0)
    esn = EchoStateNetwork(n_reservoir=40, washout=50, random_state=0).fit(s[:400, None], s[1:401])
    first = esn.predict(s[400:500, None], reset=False)
    second = esn.predict(s[500:600, None], reset=False)
    whole = esn.predict(s[:600, None])  # from a zero state over the whole series
    np.testing.assert_allclose(np.r_[first, second], whole[400:], rtol=1e-12, atol=1e-12)


def test_esn_generate_feeds_its_output_back():
    """Oracle: predict from a zero state on the training inputs followed by the generated values."""
    s = mackey_glass(500, random_state=1)
    esn = EchoStateNetwork(n_reservoir=40, washout=50, ridge=1e-8, random_state=1).fit(s[:300, None], s[1:301])
    g = esn.generate(30)
    g_more = esn.generate(5)
    replay = EchoStateNetwork(**esn.get_params()).fit(s[:300, None], s[1:301])
    expected = replay.predict(np.r_[s[:300], g, g_more][:-1, None])[299:]
    np.testing.assert_allclose(np.r_[g, g_more], expected, rtol=1e-9, atol=1e-12)


# --- bad input --------------------------------------------------------------------------------------


def test_bad_input_is_named():
    model = small_model()
    with pytest.raises(ValueError, match="temperature"):
        next_token_probs(torch.zeros(3), temperature=0.0)
    with pytest.raises(ValueError, match="top_k"):
        sample_next(torch.zeros(3), top_k=4)
    with pytest.raises(ValueError, match="logits"):
        sample_next(torch.tensor([0.0, float("nan")]))
    with pytest.raises(TypeError, match="tokens"):
        model(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="tokens"):
        model(torch.tensor([[0, V]]))
    with pytest.raises(ValueError, match="prompt"):
        generate(model, np.array([], dtype=np.int64), 3)
    with pytest.raises(ValueError, match="vocab"):
        encode_chars("abc", ["a", "b"])
    with pytest.raises(ValueError, match="smoothing"):
        ngram_perplexity(random_ids(20), random_ids(20), V, smoothing="witten-bell")
    with pytest.raises(ValueError, match="order"):
        ngram_perplexity(random_ids(20), random_ids(20), V, order=3)
    with pytest.raises(ValueError, match="length"):
        train_charlm(model, random_ids(20), steps=1, batch_size=2, length=10, progress=False)
    esn = EchoStateNetwork(n_reservoir=10, washout=5).fit(np.ones((20, 2)), np.ones(20))
    with pytest.raises(ValueError, match="outputs"):
        esn.generate(3)
    with pytest.raises(ValueError, match="n_steps"):
        EchoStateNetwork(n_reservoir=10, washout=5).fit(np.ones((20, 1)), np.ones(20)).generate(0)


def test_checkpoint_round_trip_between_lstm_classes(tmp_path):
    from scratchbook.rnn import LSTM

    torch.manual_seed(0)
    model = CharLSTM(V, 3, 5, lstm=torch.nn.LSTM)
    vocab = [UNK_CHAR, *"abcdef"]
    save_charlm(model, vocab, tmp_path / "m.pt", info={"x": 1})
    ours, vocab2, info = load_charlm(tmp_path / "m.pt", lstm=LSTM)
    assert vocab2 == vocab and info == {"x": 1}
    x = torch.as_tensor(random_ids(9)[None])
    with torch.no_grad():
        torch.testing.assert_close(ours(x)[0], model.half().float()(x)[0], rtol=1e-5, atol=1e-5)


def test_checker_accepts_a_right_answer_and_rejects_a_wrong_one(capsys):
    from scratchbook.rnn import checks

    def right(logits, temperature, top_k):
        z = logits / temperature
        if top_k is not None:
            z = z.masked_fill(z < z.topk(top_k, -1).values[..., -1:], float("-inf"))
        return torch.softmax(z, -1)

    def wrong(logits, temperature, top_k):  # forgets the temperature
        return right(logits, 1.0, top_k)

    assert checks.check_next_char_probs(right)
    assert not checks.check_next_char_probs(wrong)
    assert "✗" in capsys.readouterr().out


def test_free_running_errors_against_generate_and_a_teacher_forced_loop():
    """Oracle: greedy ``generate`` from each prefix, and argmax of the model on the true history, step by step."""
    model = small_model(5).eval()
    ids = random_ids(300, seed=9)
    prefix, horizon = 12, 7
    errs = free_running_errors(model, ids, prefix=prefix, horizon=horizon, n_starts=5)
    free, teacher = [], []
    for s in errs["starts"]:
        truth = ids[s + prefix : s + prefix + horizon]
        free.append(generate(model, ids[s : s + prefix], horizon, temperature=0.0)[0] != truth)
        row = []
        for k in range(horizon):
            with torch.no_grad():
                logits = model(torch.as_tensor(ids[s : s + prefix + k][None]))[0][0, -1]
            row.append(int(logits.argmax()) != truth[k])
        teacher.append(row)
    np.testing.assert_allclose(errs["free_running"], np.mean(free, axis=0))
    np.testing.assert_allclose(errs["teacher_forced"], np.mean(teacher, axis=0))


def naive_kneser_ney(train, history, c, V, d):
    """Interpolated Kneser-Ney written from the definition with Python dictionaries (the oracle)."""
    from collections import defaultdict

    order = len(history) + 1

    def grams(k):
        return [tuple(train[i : i + k]) for i in range(len(train) - k + 1)]

    def counts(k, top):
        if top:  # plain counts of k-grams
            out = defaultdict(int)
            for g in grams(k):
                out[g] += 1
            return out
        left = defaultdict(set)  # continuation counts: distinct left neighbours of each k-gram
        for g in grams(k + 1):
            left[g[1:]].add(g[0])
        return {g: len(s) for g, s in left.items()}

    def p(k, hist):
        lower = 1.0 / V if k == 1 else p(k - 1, hist[1:])
        n = counts(k, k == order)
        n_h = sum(v for g, v in n.items() if g[:-1] == hist)
        if n_h == 0:
            return lower
        types = sum(1 for g in n if g[:-1] == hist)
        return max(n.get(hist + (c,), 0) - d, 0) / n_h + d * types / n_h * lower

    return p(order, tuple(history))


@pytest.mark.parametrize("order", [1, 2, 3])
def test_kneser_ney_against_a_naive_implementation(order):
    train = [int(v) for v in (random_ids(120, seed=10) % 4)]
    test = random_ids(30, seed=11) % 5  # symbol 4 never occurs in training
    got = kneser_ney_probs(np.array(train), test, 5, order=order, discount=0.6)
    expected = [
        naive_kneser_ney(train, [int(v) for v in test[t - order + 1 : t]], int(test[t]), 5, 0.6)
        for t in range(order - 1, len(test))
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
