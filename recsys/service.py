"""The one front door: every operation a button of the app or a command of the CLI performs. Pages and CLI
commands translate widgets or flags into these calls and show what comes back; no flow is assembled elsewhere.

Writes that must not overlap (an import, a training round, an evaluation) run as the workspace's one job
(jobs.py: a thread lock plus a file lock, so another process is refused too). Reads need no lock."""
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pandas as pd

from recsys import reports
from recsys.columns import catalog_coverage, detect_log_columns
from recsys.config import BACKENDS, ENCODER_TUNINGS, TrainConfig, train_config
from recsys.data import (
    ImportConfig,
    ImportReport,
    detect_catalog_template,
    import_dataset,
    preview_texts,
)
from recsys.demo import demo_paths
from recsys.encoder_names import DEFAULT_MODEL
from recsys.errors import RecTuneError
from recsys.events import Callback, TrainEvent, emit
from recsys.exports import export_workspace, ledger_with_titles, to_safe_csv
from recsys.feedback import Feedback, FeedbackLedger
from recsys.jobs import JobRunner, JobStatus, runner_for
from recsys.positives import PositiveRule, positives_setting, rule_from_config, unrated_setting
from recsys.projection import available_methods, expected_seconds
from recsys.service_records import ImportRequest, WorkspaceStatus
from recsys.uploads import read_upload, save_upload
from recsys.versions import ModelVersion, is_version_name
from recsys.workspace import Workspace, remove_workspace, rename_workspace

ROOT = Path(__file__).resolve().parents[1]
MAPS_KEPT = 16  # Explore map choices kept per workspace (Service.explore_maps)
EncoderFactory = Callable[[str], object]


def default_encoder_factory(name: str):
    from recsys.encoder import shared_encoder
    return shared_encoder(name)


def round_in_child(root: str, config: TrainConfig, evaluate: bool, on_event: Callback, cancel) -> str:
    """A training round in a child process (Service.train from the app): the workspace opened afresh."""
    from recsys.rounds import run_round
    return run_round(Workspace(root), config, default_encoder_factory, [on_event], cancel, evaluate).version


class Service:
    """Operations on one workspace. Thread-safe; the app keeps one per workspace for all sessions."""

    def __init__(self, root: str | Path, encoder_factory: EncoderFactory = default_encoder_factory,
                 create: bool = True) -> None:
        self.ws = Workspace(root, create=create)
        self.encoder_factory = encoder_factory
        self._recommenders: dict[tuple[str, str], object] = {}
        self._rules: dict[tuple[str, int], PositiveRule] = {}
        self._items: dict[str, pd.DataFrame] = {}
        self._lock = threading.Lock()  # the catalog and the positives rule
        self._models_lock = threading.Lock()  # loaded Recommenders: a page needing the catalog never waits for one
        self._maps: dict[tuple, tuple] = {}
        self._maps_lock = threading.Lock()

    @property
    def runner(self) -> JobRunner:
        return runner_for(self.ws.root)

    # --- reads ------------------------------------------------------------------------------------
    def status(self) -> WorkspaceStatus:
        return WorkspaceStatus(str(self.ws.root), self.ws.report(), tuple(self.ws.versions()), self.ws.active_name(),
                               self.ledger().count(), self.job())

    def job(self) -> JobStatus:
        return self.runner.status()

    def versions(self) -> list[ModelVersion]:
        return self.ws.versions()

    def active_version(self) -> ModelVersion | None:
        return self.ws.active_version()

    def overview(self):
        """The workspace in plain sentences (overview.Overview): the app's first page."""
        from recsys.overview import describe
        return describe(self.versions(), self.ledger().current_labels(), self.ws.has_data(), self.job().active)

    def ledger(self) -> FeedbackLedger:
        return FeedbackLedger(self.ws.ledger_path)

    def items(self) -> pd.DataFrame:
        """The catalog (item_id, title, category, text), indexed by item id: read once per data set and the same
        frame for every caller (each page run read 250,000 items again): read it, never change it."""
        folder = self.ws.data_dir.name
        with self._lock:
            if folder not in self._items:
                self._items = {folder: self.ws.load_items().set_index("item_id", drop=False)}  # the newest only
            return self._items[folder]

    def warm_up(self) -> None:
        """Load what the pages read first (the catalog, the active version's Recommender, Explore's default maps)
        before anyone asks: on a 250,000-item workspace ~1 s of the first Recommend visit, ~1.2 s of Explore's.
        Without data or a model there is nothing to load."""
        try:
            if self.ws.has_data():
                self.items()
                if self.ws.active_name() is not None:  # and Explore's first view (its default choices)
                    from recsys.maps import UNTUNED
                    self.explore_maps(self.ws.active_name(), UNTUNED, "pca", self.recommender().users()[0])
        except Exception:  # noqa: BLE001 - only a head start: the page that needs it loads it and reports the problem
            pass

    def recommender(self, version: str | None = None):
        """The Recommender of a version (default: the active one), cached per version and data set."""
        from recsys.errors import RecTuneError
        from recsys.recommend import Recommender
        name = version or self.ws.active_name()
        if name is None:
            raise RecTuneError(f"workspace '{self.ws.name}' has no model yet; import data, then train a round.")
        key = (name, self.ws.data_dir.name)
        with self._models_lock:
            if key not in self._recommenders:
                self._recommenders = {k: v for k, v in self._recommenders.items() if k[1] == key[1]}
                self._recommenders[key] = Recommender.from_workspace(self.ws, name)
            return self._recommenders[key]

    def recommend(self, user: str, k: int = 10, candidates: list[str] | None = None, version: str | None = None):
        return self.recommender(version).recommend(str(user), k, candidates)

    def recommend_frame(self, users: list[str] | None, k: int = 10, candidates: list[str] | None = None,
                        version: str | None = None) -> pd.DataFrame:
        """user_id, item_id, rank, score for the given users (None = every user): the referee's format."""
        rec = self.recommender(version)
        return rec.recommend_frame(rec.users() if users is None else [str(u) for u in users], k, candidates)

    def compare(self, user: str, left: str, right: str, k: int = 10, hide_last: bool = False):
        """Two versions' lists for one user side by side (list_compare.ListComparison)."""
        from recsys.list_compare import compare_lists
        return compare_lists(self.recommender(left), self.recommender(right), str(user), k, hide_last)

    def untuned_name(self) -> str | None:
        """The newest version that serves the encoder as is (the 'before' of every comparison)."""
        names = [v.name for v in self.versions() if v.kind == "untuned" and v.config.get("round") != "quick"]
        return names[-1] if names else None

    def label_queue(self, n: int = 50) -> list[str]:
        from recsys.recommend import label_queue
        return label_queue(self.recommender(), n)

    def embedding_map(self, version: str, space: str, method: str, align_to=None, extra_users: tuple[str, ...] = (),
                      keep_items: tuple[str, ...] = ()):
        """Items and users of a version on a 2-D map (maps.MapData); space 'tuned' or 'text' (untuned). Large
        catalogs are sampled (maps.MAP_ITEMS), `keep_items` always drawn."""
        from recsys.maps import build_map
        return build_map(self.ws, version, space, method, align_to=align_to, extra_users=extra_users,
                         keep_items=keep_items, sequences=self.recommender(version).sequences, items=self.items())

    def explore_maps(self, after: str, before: str, method: str, user: str):
        """(what to mark, [(label, MapData)]): the Explore page's maps for one choice (maps.map_pair), kept per
        choice, ledger size (thumbs move the top 10) and data set, the MAPS_KEPT most recent."""
        from recsys.maps import highlights, map_pair
        rec = self.recommender(after)
        marked, keep = highlights(rec, user)
        key = (self.ws.data_dir.name, after, before, method, user, keep)
        with self._maps_lock:
            if key not in self._maps:
                draw = lambda version, space, how, target, users, kept: self.embedding_map(
                    version, space, how, align_to=target, extra_users=users, keep_items=kept)
                self._maps = dict(list(self._maps.items())[-(MAPS_KEPT - 1):])
                self._maps[key] = map_pair(draw, after, before, method, user, keep)
            return marked, self._maps[key]

    def positives_rule(self, saved: dict | None = None) -> PositiveRule:
        """The positives rule a round would use on this workspace's data (saved: the rule fields given; those it
        lacks are read from the data, as a round reads them). Kept per data folder, its last change and the fields
        given: reading a 1M-row log for it took ~1 s of every Train page run."""
        folder = self.ws.data_dir
        key = (str(folder), folder.stat().st_mtime_ns if folder.exists() else 0)
        given = json.dumps(saved or {}, sort_keys=True)
        with self._lock:
            if key not in self._rules:
                self._rules = {key: (self.ws.interaction_columns(("rating", "event")), {})}  # the newest only
            columns, rules = self._rules[key]
            if given not in rules:
                if len(rules) > 16:  # a few per data set: one per value typed into the Train page
                    rules.clear()
                rules[given] = rule_from_config(saved, columns)
            rule = rules[given]
        return replace(rule, event_weights=dict(rule.event_weights))  # a caller may put it in a config

    def rounds_table(self) -> pd.DataFrame:
        return reports.rounds_table(self.versions())

    def metrics_table(self) -> pd.DataFrame:
        return reports.metrics_table(self.versions())

    def feedback_reports(self) -> pd.DataFrame:
        return reports.feedback_reports(self.versions())

    def ledger_table(self) -> pd.DataFrame:
        """Every thumb (ledger.COLUMNS) plus the item's title."""
        return ledger_with_titles(self.ledger().frame(), self.items())

    def feedback_counts(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        return reports.feedback_counts(self.ledger().frame())

    def catalog_coverage(self, log_item_ids: pd.Series, catalog_item_ids: pd.Series):
        """How many of a log's items a catalog has (data.Coverage), with ids normalised as import does."""
        return catalog_coverage(log_item_ids, catalog_item_ids)

    def save_upload(self, role: str, filename: str, data: bytes) -> Path:
        return save_upload(self.ws.uploads_dir, role, filename, data, ImportConfig().max_bytes)

    # --- writes -----------------------------------------------------------------------------------
    def import_files(self, request: ImportRequest, callbacks: list[Callback] = ()) -> ImportReport:
        """Validate, then replace the data and make an untuned version; refused while a job runs. A refused
        import changes nothing."""
        result: dict = {}

        def work(on_event: Callback, cancel: threading.Event) -> str:
            result["report"] = self._import(request, [on_event, *callbacks])
            on_event(TrainEvent("import", 1, 1, None, "imported"))
            return self.ws.active_name() or ""
        status = self.runner.start(work, {"operation": "import"}, background=False)
        _raise_unless_done(status)
        return result["report"]

    def train(self, config: TrainConfig, evaluate: bool = True, background: bool = True,
              callbacks: list[Callback] = (), request: ImportRequest | None = None) -> JobStatus:
        """A training round as the workspace's job (with an import first when `request` is given)."""
        from recsys.rounds import run_round

        in_child = background and self.encoder_factory is default_encoder_factory  # fakes stay in this process

        def work(on_event: Callback, cancel: threading.Event) -> str:
            events = [on_event, *callbacks]
            if request is not None:
                report = self._import(request, events, untuned=False)
                emit(events, TrainEvent("import", 1, 1, None, "imported\n" + "\n".join(report.lines())))
            if in_child:  # its own GIL: pages opened meanwhile do not slow it (child_process.py)
                from recsys.child_process import run_in_child
                return run_in_child(round_in_child, {"root": str(self.ws.root), "config": config,
                                                     "evaluate": evaluate}, lambda e: emit(events, e), cancel)
            return run_round(self.ws, config, self.encoder_factory, events, cancel, evaluate).version
        return self.runner.start(work, {**config.to_dict(), "evaluate": evaluate}, background=background)

    def quick_round(self, background: bool = True, callbacks: list[Callback] = (), config=None) -> JobStatus:
        """Apply the thumbs now: a new version in seconds from the active one (rounds.run_quick_round)."""
        from recsys.quick import QuickConfig
        from recsys.rounds import run_quick_round
        quick = config or QuickConfig()

        def work(on_event: Callback, cancel: threading.Event) -> str:
            return run_quick_round(self.ws, quick, [on_event, *callbacks]).version
        return self.runner.start(work, {"operation": "quick", **quick.to_dict()}, background=background)

    def evaluate(self, k: int = 10, background: bool = True, callbacks: list[Callback] = ()) -> JobStatus:
        """Refit the active version's settings and the baselines on both protocols; results join its metrics."""
        from recsys.comparison import evaluate_config
        from recsys.encoder import item_text_vectors
        version = self._require_active()

        def work(on_event: Callback, cancel: threading.Event) -> str:
            events = [on_event, *callbacks]
            config, dataset = version.train_config(), self.ws.load_dataset()
            on_event(TrainEvent("evaluate", 0, 1, None, f"evaluating {version.name}"))
            encoder = self.encoder_factory(config.encoder_model)
            text = item_text_vectors(self.ws.cache_dir, dataset.items["text"].tolist(), encoder, events)
            result = evaluate_config(self.ws.cache_dir, dataset, text, config, cancel, k, events, encoder=encoder)
            self.ws.store.update_metrics(version.name, evaluation=result)
            on_event(TrainEvent("evaluate", 1, 1, None, "evaluation written"))
            return version.name
        return self.runner.start(work, {"operation": "evaluate", "version": version.name}, background=background)

    def record_thumb(self, user: str, item: str, label: str, annotator: str = "", rank: int | None = None,
                     score: float | None = None, version: str | None = None) -> int:
        """Append a thumb ('up', 'down' or 'cleared') to the ledger; it acts on the user's list at once."""
        fb = Feedback(str(user), str(item), label, version or self.ws.active_name(), rank, score, annotator)
        return self.ledger().add(fb)

    def activate(self, version: str) -> None:
        self.ws.activate(version)

    def cancel(self) -> bool:
        return self.runner.cancel()

    def export(self, out: str | Path) -> list[Path]:
        return export_workspace(self.ws, Path(out))

    def _import(self, request: ImportRequest, callbacks: list[Callback], untuned: bool = True) -> ImportReport:
        from recsys.rounds import create_untuned_version
        dataset = import_dataset(request.interactions, request.items, request.tags, request.config)
        items = dataset.items.sort_values("item_id", kind="mergesort").reset_index(drop=True)
        sources = {"interactions": Path(request.interactions).name, "items": Path(request.items).name,
                   "tags": Path(request.tags).name if request.tags else ""}
        self.ws.save_dataset(type(dataset)(dataset.interactions, items, dataset.report), sources)
        if untuned:
            create_untuned_version(self.ws, self.encoder_factory, callbacks=callbacks)
        return dataset.report

    def _require_active(self) -> ModelVersion:
        from recsys.errors import RecTuneError
        version = self.ws.active_version()
        if version is None:
            raise RecTuneError("no model yet; import data and train a round first.")
        return version


def _raise_unless_done(status: JobStatus) -> None:
    from recsys.errors import RecTuneError
    if status.state != "done":
        raise RecTuneError(status.message)


_DEMO_LOCK = threading.Lock()


def open_demo(home: str | Path, name: str = "demo", encoder_factory: EncoderFactory = default_encoder_factory) -> Service:
    """The demo workspace, imported from the bundled synthetic data with an untuned version on first use."""
    with _DEMO_LOCK:
        service = Service(Path(home) / name, encoder_factory)
        if not service.ws.has_data() or not service.ws.versions():
            service.import_files(ImportRequest(*demo_paths(ROOT)))
        return service


def reset_demo(home: str | Path, name: str = "demo",
               encoder_factory: EncoderFactory = default_encoder_factory) -> Service:
    """Delete the demo workspace (its rounds and thumbs too) and make it afresh from the bundled data."""
    from recsys.workspace import list_workspaces
    if name in list_workspaces(home):
        remove_workspace(home, name)
    return open_demo(home, name, encoder_factory)


# What pages and commands use besides Service, so that this module is their one front door.
__all__ = ["BACKENDS", "DEFAULT_MODEL", "ENCODER_TUNINGS", "ImportConfig", "available_methods", "expected_seconds",
           "ImportRequest", "RecTuneError", "Service", "TrainConfig", "WorkspaceStatus", "demo_paths",
           "detect_catalog_template", "detect_log_columns", "is_version_name", "open_demo", "preview_texts",
           "positives_setting", "read_upload", "remove_workspace", "rename_workspace", "reset_demo", "to_safe_csv",
           "train_config", "unrated_setting"]
