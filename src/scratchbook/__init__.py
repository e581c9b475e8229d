"""scratchbook: the from-scratch package behind the executable textbook.

Subpackages follow the book's parts, one name per topic:

- ``scratchbook.rnn`` (Part I, sequences)
- ``scratchbook.metric`` (Part II, metric learning)
- ``scratchbook.latent`` (Part III, latent factor models and LLE)
- ``scratchbook.compact`` (Part IV, compact models)

Shared helpers live once: ``scratchbook.utils`` (seeding, device), ``scratchbook.datasets``,
``scratchbook.plotting`` and ``scratchbook.book`` (helpers for the chapter notebooks).
"""

from scratchbook.utils import get_device, set_seed

__version__ = "0.2.0"
__all__ = ["get_device", "set_seed", "__version__"]
