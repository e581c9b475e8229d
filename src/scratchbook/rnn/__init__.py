"""Part I: sequences — a tanh RNN, backpropagation through time, gradients over long lags, remedies without
gates and echo state networks, LSTM and GRU, bidirectional networks, language models and generation, and ELMo."""

from scratchbook.rnn.bptt import (
    PARAM_NAMES,
    grads_from_torch,
    init_rnn_params,
    numerical_gradient,
    params_from_torch,
    rnn_backward,
    rnn_forward,
    rnn_loss_and_grads,
    rnn_step,
    rnn_step_backward,
    sequence_loss,
    sequence_loss_grad,
    to_torch,
)
from scratchbook.rnn.charlm import (
    CharLSTM,
    build_char_vocab,
    char_corpus,
    decode_chars,
    detach_state,
    encode_chars,
    kneser_ney_probs,
    load_charlm,
    ngram_perplexity,
    perplexity,
    save_charlm,
    train_charlm,
)
from scratchbook.rnn.elmo import BiLM, ScalarMix, bilm_loss, contextual_layers, train_bilm
from scratchbook.rnn.esn import EchoStateNetwork, reservoir_step, ridge_readout, run_reservoir
from scratchbook.rnn.generation import free_running_errors, generate, next_token_probs, sample_next
from scratchbook.rnn.gradients import (
    clip_grad_norm,
    grad_norm,
    jacobian_norms,
    jacobian_product,
    set_spectral_radius,
    spectral_radius,
    step_jacobian,
)
from scratchbook.rnn.gru import GRU, gru_cell, gru_step
from scratchbook.rnn.lstm import LSTM, lstm_cell, lstm_layer_backward, lstm_layer_forward, lstm_step, vanilla_lstm_cell
from scratchbook.rnn.lstm import VARIANTS as LSTM_VARIANTS
from scratchbook.rnn.optim import adam_step, gradient_step
from scratchbook.rnn.remedies import LeakyRNN, identity_init, input_sensitivity
from scratchbook.rnn.tasks import adding_problem, future_token, mackey_glass, temporal_xor
from scratchbook.rnn.training import train_adding, train_tagging

__all__: list[str] = [
    "PARAM_NAMES",
    "init_rnn_params",
    "rnn_step",
    "rnn_forward",
    "sequence_loss",
    "sequence_loss_grad",
    "rnn_step_backward",
    "rnn_backward",
    "rnn_loss_and_grads",
    "numerical_gradient",
    "to_torch",
    "params_from_torch",
    "grads_from_torch",
    "gradient_step",
    "adam_step",
    "spectral_radius",
    "set_spectral_radius",
    "step_jacobian",
    "jacobian_product",
    "jacobian_norms",
    "grad_norm",
    "clip_grad_norm",
    "temporal_xor",
    "LSTM",
    "LSTM_VARIANTS",
    "lstm_cell",
    "lstm_step",
    "vanilla_lstm_cell",
    "lstm_layer_forward",
    "lstm_layer_backward",
    "GRU",
    "gru_cell",
    "gru_step",
    "adding_problem",
    "train_adding",
    "train_tagging",
    "LeakyRNN",
    "identity_init",
    "input_sensitivity",
    "EchoStateNetwork",
    "reservoir_step",
    "run_reservoir",
    "ridge_readout",
    "mackey_glass",
    "future_token",
    "BiLM",
    "ScalarMix",
    "bilm_loss",
    "train_bilm",
    "contextual_layers",
]

__all__ += [
    "CharLSTM",
    "char_corpus",
    "build_char_vocab",
    "encode_chars",
    "decode_chars",
    "detach_state",
    "train_charlm",
    "perplexity",
    "ngram_perplexity",
    "kneser_ney_probs",
    "save_charlm",
    "load_charlm",
    "next_token_probs",
    "sample_next",
    "generate",
    "free_running_errors",
]
