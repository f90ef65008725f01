"""A decoder LM (GPT-2 family) as the item/user text encoder: a tiny GPT-2 built and saved here (no download),
loaded from its folder, with mean or last-token pooling picked by a `#mean` / `#last` suffix of its name."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.cli import main
from recsys.config import TrainConfig
from recsys.encoder import EmbeddingCache, TextEncoder, shared_encoder
from recsys.encoder_names import packaged_model_path, resolve_model, split_pooling
from recsys.encoder_tuning import tune_encoder
from recsys.errors import RecTuneError
from recsys.service import Service

EOS = "<|endoftext|>"
WORDS = ("space robot cake bread sea ship tales book day wars story about the a of and with brave owl "
         "recipes for rustic far colony distant star").split()
SHORT = "a brave owl"
LONGER = [" ".join(WORDS) * 2, " ".join(WORDS) * 8]  # the second is past the 128 positions: truncated
PROBE = ["space robot", "rustic bread recipes", "a ship on the sea", SHORT]


def corpus() -> list[str]:
    """Forty sentences of the words above: enough for a byte-level BPE to learn some merges."""
    return [" ".join(WORDS[(i * k + k) % len(WORDS)] for k in range(1, 10)) for i in range(40)]


@pytest.fixture(scope="module")
def gpt2_folder(tmp_path_factory) -> Path:
    """A randomly initialised GPT-2 (2 layers, width 32) and its own byte-level BPE tokenizer, saved as a Hugging
    Face folder. Like the real GPT-2 tokenizer it has bos/eos tokens but no pad token."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(corpus(), trainers.BpeTrainer(vocab_size=300, special_tokens=[EOS],
                                                          initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = GPT2TokenizerFast(tokenizer_object=bpe, bos_token=EOS, eos_token=EOS, unk_token=EOS)
    torch.manual_seed(0)
    config = GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=128, vocab_size=len(tokenizer),
                        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id)
    folder = tmp_path_factory.mktemp("tiny-gpt2")
    tokenizer.save_pretrained(folder)
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def encoders(gpt2_folder) -> dict[str, TextEncoder]:
    """The folder as is, with '#mean' and with '#last'; fp32, so batched and single encodes compare exactly."""
    return {suffix: TextEncoder(f"{gpt2_folder}{suffix}", device="cpu", precision="fp32")
            for suffix in ("", "#mean", "#last")}


def test_a_gpt2_folder_encodes_texts_to_unit_rows_of_its_width(gpt2_folder, encoders):
    from transformers import AutoTokenizer
    assert AutoTokenizer.from_pretrained(gpt2_folder).pad_token is None  # the GPT-2 case
    encoder = encoders[""]
    vectors = encoder.encode([SHORT, "", *LONGER])
    assert encoder.dim == 32 and vectors.shape == (4, 32) and vectors.dtype == np.float32
    assert np.isfinite(vectors).all() and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.model.tokenizer.pad_token == EOS  # eos stands in as the pad token


def test_a_plain_gpt2_folder_gets_mean_pooling_as_sentence_transformers_gives_it(encoders):
    assert np.array_equal(encoders[""].encode(PROBE), encoders["#mean"].encode(PROBE))


def test_last_token_and_mean_pooling_give_different_vectors(encoders):
    last, mean = encoders["#last"].encode(PROBE), encoders["#mean"].encode(PROBE)
    assert (np.abs(last - mean).max(axis=1) > 1e-3).all()  # every text: each has more than one token


@pytest.mark.parametrize("suffix", ["#last", "#mean"])
def test_a_text_encodes_the_same_alone_and_right_padded_among_much_longer_texts(encoders, suffix):
    encoder = encoders[suffix]
    assert encoder.model.tokenizer.padding_side == "right"
    alone = encoder.encode([SHORT])[0]
    batched = encoder.encode([*LONGER, SHORT])[2]  # padded to the longest text of its batch
    assert np.allclose(alone, batched, atol=1e-5)


def test_an_unknown_pooling_suffix_is_refused_naming_the_allowed_ones(gpt2_folder):
    with pytest.raises(RecTuneError) as exc:
        TextEncoder(f"{gpt2_folder}#max3", device="cpu")
    assert str(exc.value) == (f"unknown pooling '#max3' in encoder '{gpt2_folder}#max3': end the name with "
                              "'#mean' or '#last', or with nothing for the model's own pooling.")


def test_a_pooling_suffix_is_split_off_the_name_and_is_not_part_of_the_path(tmp_path):
    assert split_pooling("gpt2#last") == ("gpt2", "lasttoken")
    assert split_pooling("org/model#mean") == ("org/model", "mean")
    assert split_pooling("org/model") == ("org/model", None)
    assert resolve_model("packaged:all-MiniLM-L6-v2#last") == str(packaged_model_path())
    odd = tmp_path / "models#v2"
    odd.mkdir()
    assert split_pooling(str(odd)) == (str(odd), None)  # an existing path with '#' in it is taken whole


def test_each_pooling_has_its_own_cache_key(encoders):
    keys = [encoders[suffix].key for suffix in ("", "#mean", "#last")]
    assert len(set(keys)) == 3


def test_a_training_round_runs_on_a_gpt2_encoder_given_by_the_cli_flag(gpt2_folder, tiny_files, tmp_path):
    name, (log, items) = f"{gpt2_folder}#last", tiny_files
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"dim": 8, "max_history": 5, "epochs": 3, "batch_size": 8, "val_users": 2,
                                    "min_examples": 1}))
    assert main(["train", "--workspace", str(tmp_path / "w"), "--interactions", str(log), "--items", str(items),
                 "--encoder", name, "--config", str(settings)]) == 0
    service = Service(tmp_path / "w", create=False)
    version = service.active_version()
    assert (version.name, version.encoder_model, version.encoder_key) == ("v0001", name, shared_encoder(name).key)
    texts = service.ws.load_dataset().items["text"].tolist()
    assert EmbeddingCache.lookup(service.ws.cache_dir, version.encoder_key, texts).shape == (6, 32)
    recommended = [r.item_id for r in service.recommend("u4", 3)]
    assert len(recommended) == 3 and not {"i1", "i2"} & set(recommended)  # u4's own items are not recommended


@pytest.mark.filterwarnings("ignore:fan_in_fan_out:UserWarning")  # peft adapts to GPT-2's Conv1D itself
def test_lora_tuning_runs_on_a_gpt2_encoder_and_leaves_the_base_untouched(encoders, tiny_service):
    base = encoders["#last"]
    before = base.encode(PROBE)
    config = TrainConfig(encoder_tuning="lora", encoder_pairs=16, encoder_lr=1e-3)
    no_thumbs = pd.DataFrame(columns=["user_id", "item_id", "label"])
    tuned, report = tune_encoder(base, tiny_service.ws.load_dataset(), no_thumbs, config)
    assert (report["encoder_tuning"], report["encoder_pairs"], tuned.dim) == ("lora", 16, 32)
    assert np.isfinite(report["encoder_final_loss"])
    assert not any("lora" in name for name, _ in tuned.model.named_modules())  # merged into the weights
    assert np.array_equal(base.encode(PROBE), before)  # a copy was tuned
    assert np.abs(tuned.encode(PROBE) - before).max() > 1e-4
