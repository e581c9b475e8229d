"""Part II: metric learning — distances, the PSD cone, spectral metric learners (MMC, RCA, DCA, LMNN,
GMML, kernel RCA), probabilistic metric learners (MCML, NCA, ITML, a Bayesian diagonal metric), deep
metric learning (``scratchbook.metric.deep``, ``scratchbook.metric.deep_more``).

The estimators need only NumPy and scikit-learn; the deep-learning names (``scratchbook.metric.deep``)
are imported on first use, so ``import scratchbook.metric`` does not import torch.
"""

from importlib import import_module
from typing import Any

from scratchbook.metric._base import MahalanobisMixin
from scratchbook.metric.bayes import BayesianMetric
from scratchbook.metric.dca import DCA
from scratchbook.metric.distances import components_from_metric, mahalanobis_distances, project_psd
from scratchbook.metric.gmml import GMML
from scratchbook.metric.itml import ITML
from scratchbook.metric.kernel import KernelRCA
from scratchbook.metric.lmnn import LMNN
from scratchbook.metric.mcml import MCML
from scratchbook.metric.mmc import MMC
from scratchbook.metric.nca import NCA
from scratchbook.metric.rca import RCA

# --- Retrieval and few-shot evaluation (chapter 5); Fisher-HSIC ---
# isort: split
from scratchbook.metric.hsic import FisherHSIC
from scratchbook.metric.retrieval import map_at_r, mean_confidence_interval, r_precision, recall_at_k

# The deep-learning names of chapter 4 (metric/deep.py), imported with torch on first use.
_DEEP = (
    "triplet_loss",
    "contrastive_loss",
    "distance_weighted_sampling",
    "EmbeddingNet",
    "train_embedding",
    "prototypes",
    "prototypical_loss",
    "train_prototypical",
)

__all__: list[str] = [
    "MahalanobisMixin",
    "mahalanobis_distances",
    "project_psd",
    "components_from_metric",
    "MMC",
    "RCA",
    "DCA",
    "LMNN",
    "GMML",
    "KernelRCA",
    "MCML",
    "NCA",
    "ITML",
    "BayesianMetric",
    *_DEEP,
]

# The pairs every pair-based learner draws, and the one evaluation protocol of the part.
from scratchbook.metric._base import sample_pairs  # noqa: E402
from scratchbook.metric.experiments import evaluate  # noqa: E402

__all__ += ["sample_pairs", "evaluate"]

# --- Retrieval and few-shot evaluation (chapter 5) ---
__all__ += ["recall_at_k", "r_precision", "map_at_r", "mean_confidence_interval", "FisherHSIC"]
_LOSSES = ("proxy_nca_loss", "proxy_anchor_loss", "arcface_loss", "n_pair_loss", "lifted_structure_loss", "WithProxies")
__all__ += _LOSSES  # chapter 5's losses (metric/losses.py), imported with torch on first use

_LAZY = dict.fromkeys(_DEEP, "deep") | dict.fromkeys(_LOSSES, "losses")  # name -> module


def __getattr__(name: str) -> Any:
    if name in _LAZY:  # torch is imported here, on first use
        value = getattr(import_module(f"scratchbook.metric.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
