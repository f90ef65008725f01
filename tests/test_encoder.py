"""The real packaged all-MiniLM-L6-v2: loads offline, agrees with plain sentence-transformers, caches."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from recsys.encoder import BF16_COPY_MIN, DEFAULT_MODEL, EmbeddingCache, TextEncoder
from recsys.encoder_names import packaged_model_path
from tests.fakes import FakeEncoder

TEXTS = ["Toy Story (1995). Genres: Adventure, Animation", "Heat (1995). Genres: Action, Crime, Thriller",
         "A picture book about a brave owl", "", "Recipes for bread and cake" * 20]


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder(DEFAULT_MODEL, device="cpu")


@pytest.mark.slow
def test_packaged_model_loads_offline_and_gives_unit_vectors(encoder):
    assert (packaged_model_path() / "model.safetensors").exists()
    vectors = encoder.encode(TEXTS)
    assert vectors.shape == (5, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_fast_path_agrees_with_plain_sentence_transformers(encoder):
    plain = encoder.model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    assert (encoder.encode(TEXTS) * plain).sum(1).min() > 0.99


@pytest.mark.slow
def test_a_large_bf16_encode_uses_a_bf16_copy_of_the_weights_and_agrees_with_plain_fp32():
    enc = TextEncoder(DEFAULT_MODEL, device="cpu", precision="bf16")  # the bf16 path, whatever this CPU has
    texts = [f"{t} #{i}" for i in range(BF16_COPY_MIN // len(TEXTS) + 1) for t in TEXTS]
    plain = enc.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    vectors = enc.encode(texts)
    copy = enc._bf16[2]
    assert next(copy.parameters()).dtype == torch.bfloat16 and next(enc.model.parameters()).dtype == torch.float32
    assert (vectors * plain).sum(1).min() > 0.999 and copy.tokenizer is enc.model.tokenizer  # shared, not copied
    enc.encode(texts)
    assert enc._bf16[2] is copy  # unchanged weights: the copy is kept
    with torch.no_grad():  # weights changed in place (a tuning step): a fresh copy, and new vectors
        next(enc.model.parameters()).mul_(0.5)
    changed = enc.encode(texts)
    assert enc._bf16[2] is not copy and not np.allclose(changed, vectors, atol=1e-3)


@pytest.mark.slow
def test_threads_encoding_at_once_through_one_encoder_all_get_the_right_vectors():
    from concurrent.futures import ThreadPoolExecutor
    enc = TextEncoder(DEFAULT_MODEL, device="cpu", precision="bf16")  # as the app's shared encoder
    texts = [f"{t} #{i}" for i in range(BF16_COPY_MIN // len(TEXTS) + 1) for t in TEXTS]
    plain = enc.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    with ThreadPoolExecutor(3) as pool:  # result() re-raises any thread's error here
        results = [job.result() for job in [pool.submit(enc.encode, texts) for _ in range(3)]]
    assert all((vectors * plain).sum(1).min() > 0.999 for vectors in results)


@pytest.mark.slow
def test_a_few_texts_keep_the_fp32_weights_under_autocast():
    enc = TextEncoder(DEFAULT_MODEL, device="cpu", precision="bf16")
    enc.encode(TEXTS)
    assert enc._bf16 is None


@pytest.mark.slow
def test_a_local_model_folder_works_too(encoder):
    folder = TextEncoder(str(packaged_model_path()), device="cpu")
    assert np.allclose(folder.encode(TEXTS[:2]), encoder.encode(TEXTS[:2]), atol=1e-4)


@pytest.mark.slow
def test_similar_texts_are_closer_than_unrelated_ones(encoder):
    a, b, c = encoder.encode(["a space adventure on a far colony", "science fiction about a distant star colony",
                              "recipes for rustic bread"])
    assert a @ b > a @ c + 0.2


@pytest.mark.slow
def test_an_encoder_loads_its_weights_only_when_a_text_is_not_cached(tmp_path, encoder):
    cached = EmbeddingCache(tmp_path, encoder).encode(TEXTS)
    fresh = TextEncoder(DEFAULT_MODEL, device="cpu")
    assert fresh.key == encoder.key and fresh._model is None
    assert np.array_equal(EmbeddingCache(tmp_path, fresh).encode(TEXTS[::-1]), cached[::-1])
    assert fresh._model is None  # all cached: the weights were never loaded
    new = EmbeddingCache(tmp_path, fresh).encode(["A brand new text", TEXTS[0]])
    assert fresh._model is not None and fresh.dim == 384
    assert np.allclose(new[0], encoder.encode(["A brand new text"])[0], atol=1e-5)


def test_cache_encodes_only_new_or_changed_texts(tmp_path):
    fake = FakeEncoder(["space", "cake"])
    first = EmbeddingCache(tmp_path, fake).encode(["space", "cake", "x"])
    cache = EmbeddingCache(tmp_path, fake)
    again = cache.encode(["cake", "space cake", "space"])
    assert cache.misses == 1 and fake.encoded == 4
    assert np.array_equal(again[0], first[1]) and np.array_equal(again[2], first[0])
    assert EmbeddingCache.lookup(tmp_path, "fake", ["space", "cake"]).shape == (2, 3)
    assert EmbeddingCache.lookup(tmp_path, "fake", ["never seen"]) is None
    assert EmbeddingCache.lookup(tmp_path, "other-key", ["space"]) is None


def test_a_cached_catalog_is_served_from_a_memory_map_of_its_file_with_the_values_written(tmp_path):
    from recsys.encoder import _load_all
    texts = ["space", "cake", "x"]
    written = EmbeddingCache(tmp_path, FakeEncoder(["space", "cake"])).encode(texts)
    found = EmbeddingCache.lookup(tmp_path, "fake", texts)
    assert isinstance(found, np.memmap) and not found.flags.writeable  # the whole catalog in order: no copy
    np.testing.assert_array_equal(found, written)
    assert isinstance(_load_all(tmp_path, "fake").vectors, np.memmap)


def test_an_interrupted_encode_keeps_its_finished_chunks_and_resumes(tmp_path, fake_encoder, monkeypatch):
    texts = [f"space {i}" for i in range(1100)]  # three chunks of 512
    calls = {"n": 0}
    real = fake_encoder.encode

    def dies_on_the_third_chunk(batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # as if the process were killed
        return real(batch)
    monkeypatch.setattr(fake_encoder, "encode", dies_on_the_third_chunk)
    with pytest.raises(KeyboardInterrupt):
        EmbeddingCache(tmp_path, fake_encoder).encode(texts)
    monkeypatch.setattr(fake_encoder, "encode", real)
    cache = EmbeddingCache(tmp_path, fake_encoder)
    vectors = cache.encode(texts)
    assert cache.misses == 1100 - 1024 and vectors.shape == (1100, fake_encoder.dim)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emb-fake.npz"]  # the chunks merged at the end


def test_the_cache_table_finds_rows_by_hash_and_a_hash_stored_twice_keeps_its_last_vector():
    from recsys.encoder import Known, text_hash
    hashes = text_hash(["a", "b", "a", "c"])
    vectors = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [4.0, 0.0]], np.float32)
    known = Known(hashes, vectors)
    rows = known.rows(text_hash(["c", "a", "zzz", "b", "a"]))
    assert rows[2] == -1
    np.testing.assert_array_equal(known.vectors[rows[[0, 1, 3, 4]], 0], [4.0, 3.0, 2.0, 3.0])
    merged = Known.merged([known, Known(text_hash(["b"]), np.array([[9.0, 0.0]], np.float32)), Known.merged([])])
    np.testing.assert_array_equal(merged.vectors[merged.rows(text_hash(["b", "c"])), 0], [9.0, 4.0])
    assert (Known.merged([]).rows(text_hash(["a"])) == -1).all()


def test_a_lookup_gives_each_texts_vector_in_the_order_asked_whether_or_not_the_cache_holds_that_order(tmp_path):
    fake = FakeEncoder(["space", "cake"])
    texts = ["space", "cake", "space cake"]
    encoded = EmbeddingCache(tmp_path, fake).encode(texts)
    np.testing.assert_array_equal(EmbeddingCache.lookup(tmp_path, "fake", texts), encoded)  # the cache's order
    np.testing.assert_array_equal(EmbeddingCache.lookup(tmp_path, "fake", texts[::-1]), encoded[::-1])
    np.testing.assert_array_equal(EmbeddingCache.lookup(tmp_path, "fake", ["cake", "cake"]), encoded[[1, 1]])
    assert EmbeddingCache.lookup(tmp_path, "fake", []) is None
