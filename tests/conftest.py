from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.fakes import FakeEncoder

ROOT = Path(__file__).resolve().parents[1]
MOVIELENS = ROOT.parent / "shared" / "data" / "ml-latest-small"

VOCAB = ["space", "robot", "cake", "bread", "sea", "ship"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: uses the real encoder or real data (CI runs these too)")
    config.addinivalue_line("markers", "browser: drives the running app in headless Chromium")


@pytest.fixture
def fake_encoder() -> FakeEncoder:
    return FakeEncoder(VOCAB)


@pytest.fixture
def tiny_files(tmp_path: Path) -> tuple[Path, Path]:
    """Six items in three topics; four users with clear tastes."""
    items = pd.DataFrame({
        "item_id": ["i1", "i2", "i3", "i4", "i5", "i6"],
        "title": ["Space Robot", "Robot Wars", "Cake Day", "Bread Book", "Sea Ship", "Ship Sea Tales"],
        "category": ["scifi", "scifi", "food", "food", "sea", "sea"],
    })
    log = pd.DataFrame({
        "user_id": ["u1"] * 3 + ["u2"] * 3 + ["u3"] * 3 + ["u4"] * 2,
        "item_id": ["i1", "i3", "i2", "i3", "i1", "i4", "i5", "i3", "i6", "i2", "i1"],
        "timestamp": [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2],
    })
    ip, lp = tmp_path / "items.csv", tmp_path / "log.csv"
    items.to_csv(ip, index=False)
    log.to_csv(lp, index=False)
    return lp, ip


def need_movielens() -> Path:
    if not (MOVIELENS / "ratings.csv").exists():
        pytest.skip("../shared/data/ml-latest-small is not here")
    return MOVIELENS


@pytest.fixture
def tiny_service(tmp_path, tiny_files, fake_encoder):
    """A workspace with the tiny files imported through the service (untuned v0001), on the fake encoder."""
    from recsys.service import ImportRequest, Service
    service = Service(tmp_path / "w", lambda name: fake_encoder)
    service.import_files(ImportRequest(*tiny_files))
    return service
