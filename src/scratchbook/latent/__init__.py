"""Part III: latent factor models — factor analysis, probabilistic PCA, LLE and stochastic LLE."""

__all__: list[str] = []
