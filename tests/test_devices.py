"""devices.py: the oneDNN kernel cache bound the package sets on import, unless the environment already sets one."""
from __future__ import annotations

import os
import subprocess
import sys

from recsys.devices import ONEDNN_CACHE

CODE = "import os, recsys; print(os.environ['ONEDNN_PRIMITIVE_CACHE_CAPACITY'])"


def _capacity_after_import(env: dict) -> str:
    return subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_importing_the_package_bounds_the_onednn_kernel_cache():
    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_PRIMITIVE_CACHE_CAPACITY"}
    assert _capacity_after_import(env) == ONEDNN_CACHE == "64"


def test_a_capacity_already_in_the_environment_wins():
    assert _capacity_after_import({**os.environ, "ONEDNN_PRIMITIVE_CACHE_CAPACITY": "300"}) == "300"


def test_a_capacity_under_onednns_older_name_is_left_alone():
    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_PRIMITIVE_CACHE_CAPACITY"}
    code = "import os, recsys; print(os.environ.get('ONEDNN_PRIMITIVE_CACHE_CAPACITY', 'unset'))"
    out = subprocess.run([sys.executable, "-c", code], env={**env, "DNNL_PRIMITIVE_CACHE_CAPACITY": "300"},
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == "unset"


def _spin_after_import(env: dict) -> str:
    code = "import os, recsys; print(os.environ.get('GOMP_SPINCOUNT', 'unset'))"
    clean = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    return subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_importing_the_package_bounds_openmps_busy_wait_unless_the_environment_sets_one():
    from recsys.devices import OPENMP_SPIN
    assert _spin_after_import({}) == OPENMP_SPIN == "10000"
    assert _spin_after_import({"GOMP_SPINCOUNT": "500"}) == "500"
    assert _spin_after_import({"OMP_WAIT_POLICY": "ACTIVE"}) == "unset"


def test_shape_buckets_round_a_size_up_to_a_multiple():
    from recsys.devices import bucketed
    assert [bucketed(n) for n in (0, 1, 128, 129, 3000)] == [0, 128, 128, 256, 3072]
    assert bucketed(7, 2) == 8


def test_training_runs_deterministic_kernels_without_nan_filling_new_tensors_and_restores_both_settings():
    import torch
    import torch.utils.deterministic as det

    from recsys.devices import deterministic
    assert not torch.are_deterministic_algorithms_enabled() and det.fill_uninitialized_memory
    with deterministic():
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert det.fill_uninitialized_memory is False
        torch.empty(4)  # no fill_ kernel call: the profiler sees none
        with torch.profiler.profile() as prof:
            torch.empty(1 << 16)
        assert "aten::fill_" not in {e.key for e in prof.key_averages()}
    assert not torch.are_deterministic_algorithms_enabled() and det.fill_uninitialized_memory is True
    torch.use_deterministic_algorithms(True)  # and with deterministic mode on, torch's own default fills
    try:
        with torch.profiler.profile() as prof:
            torch.empty(1 << 16)
        assert "aten::fill_" in {e.key for e in prof.key_averages()}
    finally:
        torch.use_deterministic_algorithms(False)
