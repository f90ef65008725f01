"""RecTune: teach a language model what a business's users like.

The library behind the dashboard and the CLI. It never imports streamlit, and importing it
does not import torch: modules that need torch load it themselves.
"""
from __future__ import annotations

__version__ = "0.1.0"

from recsys.devices import bound_onednn_cache, bound_openmp_spin  # noqa: E402  (before torch loads)

bound_onednn_cache()
bound_openmp_spin()
