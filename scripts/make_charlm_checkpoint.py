"""Train the character LSTM of the language-model chapter on CPython's pydoc topics; save it as a checkpoint.

    python scripts/make_charlm_checkpoint.py [--steps 1500] [--out chapters/rnn/data/charlm.pt]

The corpus is ``scratchbook.rnn.charlm.char_corpus`` (the training topics of the ELMo chapter's
split, as characters); the vocabulary is every character of the training text plus one for unknown
characters. The model is ``scratchbook.rnn.charlm.CharLSTM`` built on ``torch.nn.LSTM`` (its fused
loop is several times faster on a CPU than ours); its state dict loads unchanged into the same model
built on ``scratchbook.rnn.LSTM``, which the chapter uses. Training is ``train_charlm``: teacher
forcing, truncated BPTT over consecutive windows with the state carried and detached, Adam with a
cosine-decayed learning rate, one CPU thread, seeded; it prints the time it took. The file (float16
weights, under 2 MB) holds the state dict, the vocabulary, the settings, the training curve and the
held-out perplexity. Another Python version has a slightly different ``pydoc_data`` text.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from pathlib import Path

import torch

from scratchbook.rnn.charlm import (
    CharLSTM,
    build_char_vocab,
    char_corpus,
    encode_chars,
    perplexity,
    save_charlm,
    train_charlm,
)

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--length", type=int, default=100, help="characters per truncated-BPTT window")
    parser.add_argument("--embedding-dim", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=ROOT / "chapters" / "rnn" / "data" / "charlm.pt")
    args = parser.parse_args()

    torch.use_deterministic_algorithms(True)
    train_text, heldout_text = char_corpus("train"), char_corpus("heldout")
    vocab = build_char_vocab(train_text)
    train_ids, heldout_ids = encode_chars(train_text, vocab), encode_chars(heldout_text, vocab)
    print(f"vocabulary {len(vocab)}, training characters {len(train_ids)}, held-out characters {len(heldout_ids)}")
    torch.manual_seed(args.seed)
    model = CharLSTM(len(vocab), args.embedding_dim, args.hidden, dropout=args.dropout, lstm=torch.nn.LSTM).to(
        args.device
    )
    start = time.perf_counter()
    history = train_charlm(
        model,
        train_ids,
        steps=args.steps,
        batch_size=args.batch_size,
        length=args.length,
        lr=args.lr,
        lr_schedule=lambda step: args.lr * 0.5 * (1 + math.cos(math.pi * step / args.steps)),
        random_state=args.seed,
        device=args.device,
    )
    seconds = time.perf_counter() - start
    ppl = perplexity(model, heldout_ids)
    model.cpu()
    print(f"trained {args.steps} steps in {seconds:.0f} s; held-out perplexity {ppl:.3f}")
    info = {
        "command": shlex.join(["python", "scripts/make_charlm_checkpoint.py", *sys.argv[1:]]),
        "steps": args.steps,
        "batch_size": args.batch_size,
        "length": args.length,
        "embedding_dim": args.embedding_dim,
        "hidden": args.hidden,
        "dropout": args.dropout,
        "lr": args.lr,
        "seed": args.seed,
        "device": args.device,
        "seconds": round(seconds, 1),
        "torch": str(torch.__version__),
        "python": sys.version.split()[0],
        "train_chars": len(train_ids),
        "heldout_chars": len(heldout_ids),
        "epochs": round(args.steps * args.batch_size * args.length / len(train_ids), 2),
        "heldout_perplexity": ppl,
        "history": [round(x, 4) for x in history.tolist()],
    }
    save_charlm(model, vocab, args.out, info=info)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
