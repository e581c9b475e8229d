"""Part II: metric learning — distances, the PSD cone, spectral metric learners (MMC, RCA, DCA, LMNN,
GMML, kernel RCA), probabilistic metric learners (MCML, NCA, ITML, a Bayesian diagonal metric), deep
metric learning (``scratchbook.metric.deep``, ``scratchbook.metric.deep_more``).

The estimators need only NumPy and scikit-learn; the deep-learning names (``scratchbook.metric.deep``)
are imported on first use, so ``import scratchbook.metric`` does not import torch.
"""

from importlib import import_module
from typing import Any

from scratchbook.metric._base import MahalanobisMixin, sample_pairs
from scratchbook.metric.bayes import BayesianMetric
from scratchbook.metric.dca import DCA
from scratchbook.metric.distances import components_from_metric, mahalanobis_distances, project_psd
from scratchbook.metric.experiments import evaluate
from scratchbook.metric.gmml import GMML
from scratchbook.metric.hsic import FisherHSIC
from scratchbook.metric.itml import ITML
from scratchbook.metric.kernel import KernelRCA
from scratchbook.metric.lmnn import LMNN
from scratchbook.metric.mcml import MCML
from scratchbook.metric.mmc import MMC
from scratchbook.metric.nca import NCA
from scratchbook.metric.rca import RCA
from scratchbook.metric.retrieval import map_at_r, mean_confidence_interval, r_precision, recall_at_k

__all__ = [
    "DCA",
    "GMML",
    "ITML",
    "LMNN",
    "MCML",
    "MMC",
    "NCA",
    "RCA",
    "BayesianMetric",
    "EmbeddingNet",
    "FisherHSIC",
    "KernelRCA",
    "MahalanobisMixin",
    "WithProxies",
    "arcface_loss",
    "components_from_metric",
    "contrastive_loss",
    "distance_weighted_sampling",
    "evaluate",
    "lifted_structure_loss",
    "mahalanobis_distances",
    "map_at_r",
    "mean_confidence_interval",
    "n_pair_loss",
    "project_psd",
    "prototypes",
    "prototypical_loss",
    "proxy_anchor_loss",
    "proxy_nca_loss",
    "r_precision",
    "recall_at_k",
    "sample_pairs",
    "train_embedding",
    "train_prototypical",
    "triplet_loss",
]

# The torch names, imported with torch on first use: name -> module of scratchbook.metric.
_LAZY = {
    **dict.fromkeys(
        [
            "EmbeddingNet",
            "contrastive_loss",
            "distance_weighted_sampling",
            "prototypes",
            "prototypical_loss",
            "train_embedding",
            "train_prototypical",
            "triplet_loss",
        ],
        "deep",
    ),
    **dict.fromkeys(
        ["WithProxies", "arcface_loss", "lifted_structure_loss", "n_pair_loss", "proxy_anchor_loss", "proxy_nca_loss"],
        "losses",
    ),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:  # torch is imported here, on first use
        value = getattr(import_module(f"scratchbook.metric.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
