"""Part II: metric learning — distances, the PSD cone, and probabilistic metric learners (MCML, NCA, ITML)."""

from scratchbook.metric._base import MahalanobisMixin
from scratchbook.metric.distances import components_from_metric, mahalanobis_distances, project_psd
from scratchbook.metric.itml import ITML
from scratchbook.metric.mcml import MCML
from scratchbook.metric.nca import NCA

__all__: list[str] = [
    "MahalanobisMixin",
    "mahalanobis_distances",
    "project_psd",
    "components_from_metric",
    "MCML",
    "NCA",
    "ITML",
]
