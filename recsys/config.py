"""Training settings: one frozen dataclass, saved as config.json beside every model version."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from recsys.encoder_names import DEFAULT_MODEL, split_pooling
from recsys.errors import RecTuneError

KINDS = ("auto", "history", "attention")
ENCODER_TUNINGS = ("none", "lora", "full", "align", "auto")
ALIGNING = ("align", "auto")  # the encoder tunings that run after the first stage
BACKENDS = ("local", "ray")  # where a round's encoding and training run


@dataclass(frozen=True)
class TrainConfig:
    dim: int = 128  # width of the tuned space; 64 costs ml-latest-small warm NDCG@10 0.0779 -> 0.0728 (3 seeds; README)
    max_history: int = 50  # recent items that form a user; recency weights are learned per slot
    use_item_ids: bool = True  # ID vectors learn taste that the text does not show (warm items only)
    id_init: float = 0.0  # std of random initial ID vectors (ID-only models need > 0); 0: none (see spectral_rank)
    # One ID table for history and candidates (SASRec's shared item embedding). The SASRec baseline uses it: on
    # ml-latest-small's warm split (referee NDCG@10) 0.0418 -> 0.0493, 0.0543 with patience 10 (baselines.SASRec).
    tied_ids: bool = False
    # Each side's ID vector = a part history and candidates share + its own part (model.ItemTower): the shared part
    # learns from both roles. Demo warm NDCG@10 (3 seeds, `auto`) 0.0731 -> 0.0796; ml-latest-small (referee) warm
    # 0.0754 -> 0.0758 (5 seeds), cold 0.0680 -> 0.0692 (3), level within the noise; its round ~125 -> ~97 s (README).
    shared_ids: bool = True
    # The ID vectors start at each item's place in the training log's co-occurrence spectrum (spectrum.py: the top
    # singular vectors of the normalised user x item matrix, this many, in their first columns); 0: at zero. Demo
    # warm NDCG@10 (3 seeds) 0.0682 -> 0.0772; ml-latest-small (referee, 3 seeds) warm 0.0791 -> 0.0769, cold
    # 0.0665 -> 0.0680: level within the noise (README).
    spectral_rank: int = 32
    text_loss_weight: float = 1.0  # a text-only loss keeps the adapter good for cold (new) items
    # Training targets per step the text-only loss is computed on, drawn at random (0: all; -1: by the catalog's
    # size, softmax.rows_by_scale). That loss scores every item (up to text_softmax_items) for its rows, while the
    # full scores sample softmax_items columns above that many seen items. By scale it is on batch_size x
    # softmax_items / n_items rows, as many (row, item) pairs as the sampled columns (460 of 2,048 on
    # ml-latest-small's 9,125 items, where every row is two thirds of a step's matmuls); every row where both paths
    # are full or both sampled. An opt-in: on ml-latest-small (referee, Zen 4, seeds 0-4) it trained ~28% faster
    # but warm NDCG@10 fell 0.0758 -> 0.0732 (per user -0.0026 +- 0.0022; a fixed 512: -0.0024 +- 0.0021), cold
    # level; on a 10,000-book synthetic demo catalog warm -0.0028 +- 0.0012, cold level (README, "The text-only
    # loss on a share of the rows").
    text_loss_rows: int = 0
    # Each training row leaves the items its reader already has (the window before history dropout; the attention
    # model: the window's items before the target) out of its softmax: serving never recommends them, so they are
    # not the target's rivals. ml-latest-small, referee NDCG@10 per user, paired on the same seeds: Zen 4 (bf16) warm
    # 0.0758 -> 0.0769 (+0.0011 +- 0.0019), cold 0.0682 -> 0.0703 (+0.0020 +- 0.0010), 5 seeds each; Zen 3
    # (fp32, the history model's window alone) warm 0.0732 -> 0.0774 (+0.0043 +- 0.0021), cold 0.0681 -> 0.0702
    # (+0.0021 +- 0.0010), 5 seeds each. Validation peaks sooner: the warm round ~116 -> ~110 s (README).
    mask_seen: bool = True
    # A new item (never trained on) gets the similarity-weighted mean ID residual of this many nearest seen items in
    # text space (neighbours.py); -1: the count leave-one-out on seen items predicts best, none if none helps; 0: off.
    new_item_neighbours: int = -1
    epochs: int = 20
    # Training targets per step, and the history model's learning rate. A step's fixed part (the text adapter and
    # the thumbs-down term over the whole catalog, the optimiser over every row) is shared by more targets at 2,048
    # than at 1,024 (lr 5e-3): ml-latest-small's round 136 s against 165-210 s; referee (recbench through the CLI)
    # seeds 0/1/2 warm NDCG@10 0.0781 / 0.0811 / 0.0749 against 0.0786 / 0.0771 / 0.0732, cold 0.0694 / 0.0679 /
    # 0.0699 against 0.0668 / 0.0647 / 0.0674; the demo's warm mean of 3 seeds 0.0683 against 0.0702 (noise ±0.006).
    batch_size: int = 2048
    lr: float = 1e-2
    weight_decay: float = 0.0  # AdamW decay; 1.0 helped the demo data (warm 0.066 -> 0.078), hurt MovieLens (0.076 -> 0.048)
    # Share of history slots hidden at each training step. ml-latest-small (referee NDCG@10): 0 -> warm 0.0760,
    # cold 0.0631; 0.5 -> warm 0.0689, cold 0.0674. Demo data: warm 0.0664 -> 0.0836 (EASE 0.0820).
    history_dropout: float = 0.5
    # Full softmax over the catalog up to this many seen items; above it, each step scores the batch's targets and
    # this many random seen items (a logQ-corrected sampled softmax), so a step's cost stops growing with the catalog.
    softmax_items: int = 2048
    # The text-only loss (what places new items) keeps a full softmax up to this many items, then samples the same
    # columns: its (batch x n_items) scores cost ~1 GB and ~100 GFLOP a step at 250,000 items (bench: crossover).
    text_softmax_items: int = 50_000
    # Validation and the saved model use an exponential moving average of the weights over about this many
    # epochs of steps (0: the raw weights). The raw weights at the best check fitted that check's noise:
    # ml-latest-small warm NDCG@10 0.0685 -> 0.0795 (paired gain 0.011 ± 0.004 over 671 users).
    average_epochs: float = 1.0
    patience: int = 2  # validation checks without gain before stopping
    # Validate after each epoch, but no more often than every this many training targets (50 steps of 1,024)
    check_every_examples: int = 51_200
    # ... and at least every this many training targets: a log of millions learns in one pass what a small one
    # learns in several, so checks (and patience, and `auto`'s race) count examples seen, not passes. Epochs of
    # ml-latest-small (~90,000 targets) and the demo are shorter: checked once per epoch, as before.
    check_examples: int = 250_000
    # No early stop before this many training targets (600 steps of 1,024) or one whole pass: on small data sets an
    # epoch is a few steps. Counted in targets, not steps, so that the floor does not move with batch_size.
    min_examples: int = 614_400
    val_users: int = 1000  # users whose last training item is held out for early stopping
    # Optional training-loop budget in seconds (None: none). Off by default: a budget makes the model depend on
    # how busy the machine is (the demo stopped at epoch 14 instead of its best on a loaded machine). When a
    # budget ends training, the round report, the CLI and the Train page say so.
    max_seconds: float | None = None
    # What counts as a positive (positives.PositiveRule fields: min_rating, event_weights, unrated); empty, or a
    # field left out, = read from the data. A round saves the rule it used here.
    positives: dict = field(default_factory=dict)
    feedback_weight: float = 3.0  # how much one thumb weighs against one logged interaction
    seed: int = 0
    precision: str = "auto"  # "auto": bf16 autocast where the hardware is fast at it; "fp32"
    encoder_model: str = DEFAULT_MODEL
    # Tune the language model itself: "lora" | "full" before the first stage, on (history -> next item) text
    # pairs; "align" after it, LoRA towards the trained item vectors, for new items (align.py); "auto": align,
    # kept only when held-out items say it wins; "none".
    encoder_tuning: str = "none"
    encoder_pairs: int = 2000  # (history -> next item) text pairs for encoder tuning (~25/s on 2 CPU cores, full);
    # for "align", the most items it aligns on
    encoder_lr: float = 5e-5
    encoder_epochs: int = 1
    lora_rank: int = 8
    # Forgetting guard: a round whose tuned encoder orders the similarities of 48 everyday sentences (drift.PROBE)
    # with a Spearman correlation to the base below this is kept but not activated.
    min_drift_spearman: float = 0.8
    # "history": a learned recency-weighted mean of the history; "attention": causal self-attention over it
    # (SASRec-style); "auto": both are trained and the better on validation users serves.
    kind: str = "auto"
    attention_blocks: int = 2
    attention_heads: int = 1
    attention_dropout: float = 0.2
    # The attention model's learning rate (`lr` is the history model's): its self-attention blocks do worse at 0.01
    # (demo, attention model alone, 2,048 rows: warm NDCG@10 0.0380 at 0.01, 0.0556 at 0.005).
    attention_lr: float = 5e-3
    # Second stage: a cross-encoder re-ranks the first stage's top N ("off" | "auto": kept only when validation
    # improves by more than the noise | "on"). Off by default: on 2 CPU cores it adds minutes to a round and
    # ~0.1 s per list served; see the README's measurements.
    rerank: str = "off"
    rerank_top_n: int = 20  # 30 cost 316 ms p50 per list on 2 cores (demo), 20 about two thirds of that
    rerank_groups: int = 512  # training groups: one positive and rerank_negatives hard negatives each
    rerank_negatives: int = 7
    rerank_history: int = 5  # recent titles that describe the user to the re-ranker
    rerank_lr: float = 3e-5
    # Where a full round runs: "local" (this process), or "ray": catalog encoding as a Ray Data job over encoder
    # actors and training on Ray Train workers (DDP), on the cluster at RAY_ADDRESS, else a local one started for
    # the round (distributed.py; needs requirements-ray.txt). Same data and seed: the history model is the same
    # up to rounding; the attention model's dropout masks differ per worker (the same in distribution).
    backend: str = "local"
    ray_workers: int = 2  # Ray Train workers (one GPU each where the cluster has them) and encoder actors
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        checks = {"dim": self.dim >= 2, "max_history": self.max_history >= 1, "epochs": self.epochs >= 1,
                  "batch_size": self.batch_size >= 2, "lr": self.lr > 0, "attention_lr": self.attention_lr > 0,
                  "max_seconds": self.max_seconds is None or self.max_seconds > 0,
                  "encoder_tuning": self.encoder_tuning in ENCODER_TUNINGS, "patience": self.patience >= 1,
                  "check_every_examples": self.check_every_examples >= 1, "min_examples": self.min_examples >= 1,
                  "check_examples": self.check_examples >= 1,
                  "feedback_weight": self.feedback_weight >= 0, "encoder_pairs": self.encoder_pairs >= 8,
                  "text_loss_weight": self.text_loss_weight >= 0,
                  "text_loss_rows": self.text_loss_rows >= -1, "weight_decay": self.weight_decay >= 0,
                  "history_dropout": 0 <= self.history_dropout < 1,
                  "spectral_rank": self.spectral_rank >= 0, "average_epochs": self.average_epochs >= 0,
                  "precision": self.precision in ("auto", "fp32"), "lora_rank": self.lora_rank >= 1,
                  "min_drift_spearman": -1 <= self.min_drift_spearman <= 1,
                  "kind": self.kind in KINDS, "softmax_items": self.softmax_items >= 16,
                  "text_softmax_items": self.text_softmax_items >= 16, "id_init": self.id_init >= 0,
                  "new_item_neighbours": self.new_item_neighbours >= -1,
                  "attention_blocks": self.attention_blocks >= 0,
                  "attention_heads": self.attention_heads >= 1 and self.dim % self.attention_heads == 0,
                  "attention_dropout": 0 <= self.attention_dropout < 1,
                  "rerank": self.rerank in ("off", "auto", "on"), "rerank_top_n": 10 <= self.rerank_top_n <= 500,
                  "rerank_groups": self.rerank_groups >= 1, "rerank_negatives": self.rerank_negatives >= 1,
                  "rerank_history": self.rerank_history >= 1, "rerank_lr": self.rerank_lr > 0,
                  "backend": self.backend in BACKENDS, "ray_workers": self.ray_workers >= 1}
        _check_pooling(self.encoder_model)
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid training setting: {', '.join(bad)}")

    @property
    def step_lr(self) -> float:
        """The learning rate of the kind being trained."""
        return self.attention_lr if self.kind == "attention" else self.lr

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_saved(cls, saved: dict) -> TrainConfig:
        """The config of a saved version (its config.json also holds keys that are not settings). Versions
        saved before history dropout existed were trained without it, and those saved before the positives rule
        and the sampled softmax with every interaction a positive and the full softmax, and those saved before
        weight averaging with the raw weights, and those saved before new items borrowed from their text
        neighbours with their text alone, and those saved before checks counted examples once per epoch, and those
        saved before a "not rated" value was set aside with every rating on the scale, and those saved before
        the ID vectors' spectral start with ID vectors starting at zero, and those saved before shared ID parts
        with two separate ID tables, and those saved before seen items were masked with every item in each softmax."""
        trained = "dim" in saved  # an untuned version saves no settings: today's defaults apply to it
        old = {"history_dropout": 0.0, "positives": {"min_rating": None}, "softmax_items": 10**9,
               "average_epochs": 0.0, "new_item_neighbours": 0, "check_examples": 10**12,
               "spectral_rank": 0, "shared_ids": False, "mask_seen": False} if trained else {}
        if trained:  # floors saved in steps and one rate for both kinds, as trained then (the defaults then)
            saved = _renamed({"batch_size": 1024, "lr": 5e-3, **saved})
        known = {**old, **{k: v for k, v in saved.items() if k in cls.__dataclass_fields__}}
        if trained and known.get("positives"):  # fields saved before they existed: as trained then (no event
            known["positives"] = {"event_weights": {}, "unrated": None, **known["positives"]}  # weights, one scale)
        if known.get("kind") == "adapter":  # the history model's name before the attention model existed
            known["kind"] = "history"
        if known.get("kind") not in KINDS:  # "untuned": no model was trained; its settings are today's defaults
            known.pop("kind", None)
        return cls(**known)


def _check_pooling(name: str) -> None:
    """An encoder name's '#pooling' suffix, if any, is one the encoder knows (encoder_names.POOLINGS)."""
    try:
        split_pooling(name)
    except RecTuneError as exc:
        raise ValueError(f"invalid training setting: encoder_model ({exc})") from None


def train_config(values: dict) -> TrainConfig:
    """TrainConfig from user-given values (a JSON file, flags, widgets), with errors that name the setting."""
    values = _renamed(values)
    unknown = set(values) - set(TrainConfig.__dataclass_fields__)
    if unknown:
        raise RecTuneError(f"unknown training setting(s): {', '.join(sorted(unknown))}.")
    if "positives" in values:
        from recsys.positives import positives_setting
        values = {**values, "positives": positives_setting(values["positives"])}
    try:
        return TrainConfig(**values)
    except (TypeError, ValueError) as exc:
        raise RecTuneError(str(exc)) from None


def _renamed(values: dict) -> dict:
    """Settings written before their fields changed, as they were meant: the floors counted in steps (min_steps,
    check_every_steps) become targets at the given batch size (1,024, the default then), and a learning rate given
    alone (one rate for both kinds then, and the natural reading of a single `lr`) sets the attention model's too."""
    values = dict(values)
    rows = values.get("batch_size", 1024)
    for steps, targets in (("min_steps", "min_examples"), ("check_every_steps", "check_every_examples")):
        if steps in values and targets not in values and isinstance(values[steps], int) and isinstance(rows, int):
            values[targets] = values.pop(steps) * rows
    if "lr" in values and "attention_lr" not in values:
        values["attention_lr"] = values["lr"]
    return values
