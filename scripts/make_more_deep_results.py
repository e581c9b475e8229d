"""Chapter 2.7's digits comparison: an autoencoder, a triplet network and Deep LDA under the part's protocol.

Each network (:class:`scratchbook.metric.deep_more.NetTransformer`) is trained on the 600 training
digits of each of the ten stratified splits that ``scripts/make_metric_results.py`` and
``scripts/make_more_spectral_results.py`` use (``StratifiedShuffleSplit(10, train_size=600,
random_state=0)``, as in :func:`scratchbook.metric.experiments.evaluate`), and scored by 3-NN accuracy
and MAP@R on the other 1197; the raw pixels are the baseline. The
scores go to ``chapters/metric/data/more_deep.json`` and the three networks of the first split to
``chapters/metric/data/more_deep_split0.npz`` (float32 weights), which the chapter loads and checks.

    python scripts/make_more_deep_results.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.neighbors import KNeighborsClassifier

from scratchbook.metric.deep_more import METHODS, NetTransformer, cross_modal_run, spd_run
from scratchbook.metric.retrieval import map_at_r

DATA = Path(__file__).resolve().parents[1] / "chapters" / "metric" / "data"
SETTINGS = {"n_splits": 10, "train_size": 600, "n_neighbors": 3, "random_state": 0, "out": 16, "steps": 300}


def cross_modal(seeds=range(5)) -> dict[str, list]:
    """Recall@1 from modality A into B on 100 held-out objects: two towers, CCA and chance, per seed."""
    out = {"towers instance": [], "towers class": [], "CCA instance": [], "CCA class": []}
    for seed in seeds:
        r = cross_modal_run(seed)
        for key in out:
            out[key].append(r[key])
    return out


def spd(seeds=range(5)) -> dict[str, list]:
    """3-NN accuracy on SPD matrices: raw entries, log-Euclidean, SPDNet, per seed."""
    out = {"Euclidean": [], "log-Euclidean": [], "SPDNet": []}
    for seed in seeds:
        for key, value in spd_run(seed).items():
            out[key].append(value)
    return out


def main() -> None:
    digits = load_digits()
    X, y = digits.data / 16, digits.target
    s = SETTINGS
    splits = StratifiedShuffleSplit(s["n_splits"], train_size=s["train_size"], random_state=s["random_state"])
    scores = {name: {"accuracy": [], "map_at_r": []} for name in ("raw pixels", *METHODS)}
    weights = {}
    for k, (train, test) in enumerate(splits.split(X, y)):
        for name in scores:
            if name == "raw pixels":
                Ztr, Zte = X[train], X[test]
            else:
                net = NetTransformer(name, out=s["out"], steps=s["steps"], random_state=k).fit(X[train], y[train])
                Ztr, Zte = net.transform(X[train]), net.transform(X[test])
                if k == 0:
                    weights.update({f"{name}/{p}": v.numpy() for p, v in net.net_.state_dict().items()})
            knn = KNeighborsClassifier(s["n_neighbors"]).fit(Ztr, y[train])
            scores[name]["accuracy"].append(float(knn.score(Zte, y[test])))
            scores[name]["map_at_r"].append(map_at_r(Zte, y[test]))
            print(k, name, {m: round(v[-1], 4) for m, v in scores[name].items()}, flush=True)
    DATA.mkdir(parents=True, exist_ok=True)
    stored = {"settings": s, "scores": scores, "cross_modal": cross_modal(), "spd": spd()}
    (DATA / "more_deep.json").write_text(json.dumps(stored, indent=1) + "\n")
    np.savez_compressed(DATA / "more_deep_split0.npz", **weights)


if __name__ == "__main__":
    main()
