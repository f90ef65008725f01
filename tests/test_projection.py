from __future__ import annotations

import numpy as np
import pytest

from recsys.projection import alignment, pca, project


def test_pca_recovers_the_two_main_axes_and_places_new_points():
    # four corners of a 10 x 3 rectangle (uncorrelated axes), shifted: PC1 is axis 0, PC2 axis 1
    x = np.zeros((4, 5)) + 7.0
    x[:, 0] += [10, 10, -10, -10]
    x[:, 1] += [3, -3, 3, -3]
    proj = pca(x)
    assert np.allclose(np.abs(proj.coords), [[10, 3]] * 4, atol=1e-9)
    assert np.allclose(proj.place(x[:3]), proj.coords[:3])


def test_alignment_undoes_a_rotation_reflection_scale_and_shift():
    rng = np.random.default_rng(1)
    target = rng.normal(size=(50, 2))
    angle = 0.7
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ np.diag([1, -1])
    moving = target @ rot * 3.0 + np.array([5.0, -2.0])
    assert np.allclose(alignment(moving, target).apply(moving), target, atol=1e-9)


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="method must be one of"):
        project(np.zeros((3, 2)), "mds")


def test_only_installed_projections_are_offered(monkeypatch):
    import importlib.util

    from recsys.projection import available_methods, expected_seconds
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "umap" else real(name))
    assert available_methods() == ["pca", "tsne"]
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    assert available_methods() == ["pca", "tsne", "umap"]
    assert expected_seconds("tsne", 1600) == 48.0
