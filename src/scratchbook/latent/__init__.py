"""Part III: latent factor models — factor analysis, probabilistic PCA, LLE and stochastic LLE."""

from scratchbook.latent.factor_analysis import FactorAnalysis
from scratchbook.latent.lle import LLE
from scratchbook.latent.paper_slr import PaperStochasticLLE
from scratchbook.latent.ppca import PPCA
from scratchbook.latent.stochastic_lle import StochasticLLE

__all__ = ["LLE", "PPCA", "FactorAnalysis", "PaperStochasticLLE", "StochasticLLE"]
