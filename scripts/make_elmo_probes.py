"""Train the three probes of the ELMo chapter (static, window, ELMo features) and save them.

    python scripts/make_elmo_probes.py [--out chapters/rnn/data/elmo_probes.pt]

Needs the biLM checkpoint of ``scripts/make_elmo_checkpoint.py``. Builds the chapter's features with
``scratchbook.rnn.experiments.probe_features`` (the biLM on our LSTM, one CPU thread, as the chapter
runs it) and trains each probe by ``scratchbook.rnn.experiments.train_probes`` under the chapter's
protocol ``PROBE``; a few seconds. The file holds each probe's state dict, the loss of every step and
the protocol, and nothing that changes from run to run: a rerun writes the same file. The
chapter computes the loss of each untrained probe on its own features and uses the stored probes
only if it matches the first stored loss, training them itself otherwise (another Python's corpus,
or no biLM checkpoint).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import torch

from scratchbook.rnn.elmo import load_bilm, pydoc_topics
from scratchbook.rnn.experiments import PROBE, probe_features, probe_topics, quote_stream, save_probes, train_probes

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "chapters" / "rnn" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=DATA / "elmo_bilm.pt")
    parser.add_argument("--out", type=Path, default=DATA / "elmo_probes.pt")
    args = parser.parse_args()
    torch.set_num_threads(1)
    bilm, vocab, _ = load_bilm(args.checkpoint)
    probe_ids, probe_labels = quote_stream(probe_topics(pydoc_topics("train")), vocab)
    heldout_ids, _ = quote_stream(pydoc_topics("heldout"), vocab)
    features = probe_features(bilm, probe_ids, heldout_ids)
    start = time.perf_counter()
    trained = train_probes(features, probe_labels, **PROBE, device="cpu")  # the stored probes were made on the CPU
    seconds = time.perf_counter() - start
    # no time or absolute path in the file, so that a rerun on the same machine writes the same file
    info = {
        "command": shlex.join(["python", "scripts/make_elmo_probes.py", *sys.argv[1:]]),
        "python": sys.version.split()[0],
        "torch": str(torch.__version__),
        **PROBE,
    }
    save_probes(args.out, trained, info)
    for name, (_, history) in trained.items():
        print(f"{name:7s} loss {history[0]:.4f} → {history[-1]:.4f}")
    print(f"wrote {args.out} in {seconds:.1f} s")


if __name__ == "__main__":
    main()
