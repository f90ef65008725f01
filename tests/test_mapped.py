"""mapped.py: arrays as read-only memory maps of safetensors files and of uncompressed .npz members."""
from __future__ import annotations

import zipfile

import numpy as np
from safetensors.numpy import load_file, save_file

from recsys.mapped import mapped_npz_member, mapped_safetensors


def test_every_safetensors_dtype_numpy_has_maps_to_the_values_safetensors_reads(tmp_path):
    arrays = {"f32": np.arange(12, dtype=np.float32).reshape(3, 4), "f64": np.array([0.5, -2.0]),
              "f16": np.array([1.5, 2.5], np.float16), "i64": np.array([[7], [-9]], np.int64),
              "i32": np.array([3], np.int32), "u8": np.array([255, 0], np.uint8), "flag": np.array([True, False])}
    save_file(arrays, str(tmp_path / "w.safetensors"), metadata={"who": "test"})
    mapped, read = mapped_safetensors(tmp_path / "w.safetensors"), load_file(str(tmp_path / "w.safetensors"))
    assert sorted(mapped) == sorted(read)
    for name, array in read.items():
        assert mapped[name].dtype == array.dtype and mapped[name].shape == array.shape
        np.testing.assert_array_equal(mapped[name], array)
        assert not mapped[name].flags.writeable
    save_file({}, str(tmp_path / "empty.safetensors"))
    assert mapped_safetensors(tmp_path / "empty.safetensors") == {}


def test_an_uncompressed_npz_member_is_mapped_and_a_compressed_one_is_not(tmp_path):
    vectors = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    np.savez(tmp_path / "plain.npz", hashes=np.zeros(5, "S40"), vectors=vectors)
    mapped = mapped_npz_member(tmp_path / "plain.npz", "vectors")
    assert isinstance(mapped, np.memmap) and not mapped.flags.writeable
    np.testing.assert_array_equal(mapped, vectors)
    np.testing.assert_array_equal(mapped_npz_member(tmp_path / "plain.npz", "hashes"), np.zeros(5, "S40"))
    np.savez(tmp_path / "fortran.npz", vectors=np.asfortranarray(vectors))
    np.testing.assert_array_equal(mapped_npz_member(tmp_path / "fortran.npz", "vectors"), vectors)
    np.savez_compressed(tmp_path / "packed.npz", vectors=vectors)  # deflated: read whole instead
    with zipfile.ZipFile(tmp_path / "packed.npz") as archive:
        assert archive.getinfo("vectors.npy").compress_type == zipfile.ZIP_DEFLATED
    assert mapped_npz_member(tmp_path / "packed.npz", "vectors") is None
