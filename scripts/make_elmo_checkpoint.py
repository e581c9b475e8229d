"""Train the small biLM of the ELMo chapter on CPython's pydoc topics; save it as a checkpoint.

    python scripts/make_elmo_checkpoint.py [--steps 500] [--out chapters/rnn/data/elmo_bilm.pt]

The vocabulary is every token seen at least twice in the training topics of
``scratchbook.rnn.elmo.pydoc_topics`` (about 2,300 with Python 3.11). The model is
``scratchbook.rnn.elmo.BiLM`` built on ``torch.nn.LSTM``, whose fused loop is several times faster
than our LSTM on the CPU; its state dict loads unchanged into the same model built on
``scratchbook.rnn.LSTM``, which the chapter uses. Adam with random windows of the training stream,
one CPU thread, seeded; with the defaults it takes two to five minutes, depending on how busy the CPU
is (it prints the time). The file (under 2 MB: float16 weights) holds the state dict, the vocabulary,
the settings, the training curve, the held-out perplexities and the sorted names of the held-out
topics. The corpus is the running Python's ``pydoc_data``, so another Python version gives a slightly
different text, vocabulary, split and model; the chapter compares the stored held-out names with the
running Python's split and says whether they match.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from scratchbook.rnn.elmo import (
    BiLM,
    build_vocab,
    encode,
    perplexities,
    pydoc_topics,
    save_bilm,
    tokenize,
    train_bilm,
    unigram_perplexity,
)

ROOT = Path(__file__).resolve().parents[1]


def corpus_ids(vocab: list[str], split: str) -> np.ndarray:
    """One stream of token ids: every topic of ``split`` between <bos> and <eos>."""
    return np.concatenate([encode(tokenize(text), vocab, wrap=True) for text in pydoc_topics(split).values()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--length", type=int, default=64, help="tokens per training window")
    parser.add_argument("--dim", type=int, default=128, help="embedding size = LSTM hidden size")
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "chapters" / "rnn" / "data" / "elmo_bilm.pt")
    args = parser.parse_args()

    torch.use_deterministic_algorithms(True)
    vocab = build_vocab([tokenize(text) for text in pydoc_topics("train").values()], max_size=5000, min_count=2)
    train_ids, heldout_ids = corpus_ids(vocab, "train"), corpus_ids(vocab, "heldout")
    print(f"vocabulary {len(vocab)}, training tokens {len(train_ids)}, held-out tokens {len(heldout_ids)}")
    torch.manual_seed(args.seed)
    model = BiLM(len(vocab), embedding_dim=args.dim, dropout=args.dropout, lstm=torch.nn.LSTM)
    start = time.perf_counter()
    history = train_bilm(
        model,
        train_ids,
        steps=args.steps,
        batch_size=args.batch_size,
        length=args.length,
        lr=args.lr,
        random_state=args.seed,
        num_threads=1,
        progress=True,
        device="cpu",  # the stored checkpoint was made on the CPU
    )
    seconds = time.perf_counter() - start
    ppl_f, ppl_b = perplexities(model, heldout_ids)
    unigram = unigram_perplexity(train_ids, heldout_ids, len(vocab))
    print(
        f"trained {args.steps} steps in {seconds:.0f} s; held-out perplexity forward {ppl_f:.1f}, "
        f"backward {ppl_b:.1f}, unigram {unigram:.1f}"
    )
    info = {
        "command": shlex.join(["python", "scripts/make_elmo_checkpoint.py", *sys.argv[1:]]),
        "steps": args.steps,
        "batch_size": args.batch_size,
        "length": args.length,
        "dim": args.dim,
        "dropout": args.dropout,
        "lr": args.lr,
        "seed": args.seed,
        "seconds": round(seconds, 1),
        "torch": str(torch.__version__),
        "python": sys.version.split()[0],
        "train_tokens": len(train_ids),
        "heldout_tokens": len(heldout_ids),
        "heldout_perplexity_forward": ppl_f,
        "heldout_perplexity_backward": ppl_b,
        "heldout_perplexity_unigram": unigram,
        "heldout_topics": sorted(pydoc_topics("heldout")),
        "history": [round(x, 4) for x in history.tolist()],
    }
    save_bilm(model, vocab, args.out, info=info)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
