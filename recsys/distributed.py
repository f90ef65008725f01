"""The Ray backend (TrainConfig.backend "ray"): a round's catalog encoding runs as a Ray Data batch-inference job
(`map_batches` over a pool of encoder actors, one GPU each where the cluster has GPUs), and its training as a
Ray Train `TorchTrainer` whose workers run trainer.fit_adapter's own loop under DistributedDataParallel.

Every worker runs that loop with the same seed, so all draw the same batches, history dropout and sampled columns;
each scores its share of a batch's rows, with the loss scaled so that DDP's averaged gradient is the
single-process step's (trainer.Shard), and all leave the loop on rank 0's word (trainer.Agreement). Same data
and seed: for the history model, the same model up to floating-point rounding; the attention model's dropout masks
are drawn by each worker for its own rows, so its training is the same in distribution, not draw for draw.

The cluster is the one at RAY_ADDRESS, else a local one started for this process. Ray is an optional extra
(requirements-ray.txt); nothing else in the package imports this module unless the backend is asked for.
On a multi-node cluster every node needs RecTune installed, and RECTUNE_RAY_STORAGE must name storage all nodes
reach (a shared folder or a URI such as s3://bucket/path) for the trained model to come back."""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.config import TrainConfig
from recsys.errors import RecTuneError
from recsys.events import Callback, Cancelled, TrainEvent, emit

FIT_FILE = "fit.json"  # the FitResult's fields beside the ServingModel's files in the checkpoint
RELAY_EVERY_S = 0.5  # how often rank 0's events go up to the driver, and its cancel flag is asked
ENCODE_BATCH = 64  # texts per forward pass inside an encoder actor (as TextEncoder's default)


def ray_module():
    """`import ray`, or a clear error naming the extra to install."""
    try:
        import ray
        import ray.data  # noqa: F401
        import ray.train.torch  # noqa: F401
    except ImportError:
        raise RecTuneError("the Ray backend needs Ray: pip install -r requirements-ray.txt "
                           "(or train with --backend local).") from None
    return ray


_INIT_LOCK = threading.Lock()


def connect(workers: int):
    """Join the cluster at RAY_ADDRESS, else start a local one with room for `workers` workers (once a process)."""
    ray = ray_module()
    with _INIT_LOCK:
        if not ray.is_initialized():
            local = {} if os.environ.get("RAY_ADDRESS") else {"num_cpus": max(os.cpu_count() or 1, workers),
                                                              "runtime_env": {"env_vars": {"PYTHONPATH": _code_path()}}}
            ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING, **local)
            ray.data.DataContext.get_current().enable_progress_bars = False
            logging.getLogger("ray.data").setLevel(logging.WARNING)
    return ray


def _code_path() -> str:
    """This package's folder on the local workers' import path, installed or not."""
    here = str(Path(__file__).resolve().parent.parent)
    return os.pathsep.join([here, *filter(None, [os.environ.get("PYTHONPATH")])])


def cluster_gpus() -> int:
    ray = ray_module()
    return int(ray.cluster_resources().get("GPU", 0))


def gpu_each(workers: int) -> bool:
    """One GPU per worker when the cluster has one for every worker; else all on CPU (a worker waiting for a GPU
    that never frees would wait forever)."""
    return cluster_gpus() >= workers


# --- encoding: a Ray Data job ------------------------------------------------------------------------------------

class _EncodeActor:
    """One per pool slot: loads the encoder once (on its GPU when it was given one) and encodes batches."""

    def __init__(self, model: str) -> None:
        from recsys.encoder import TextEncoder
        self.encoder = TextEncoder(model, batch_size=ENCODE_BATCH)

    def __call__(self, batch: dict) -> dict:
        texts = [str(t) for t in batch["text"]]
        return {"position": np.asarray(batch["position"]), "vector": self.encoder.encode(texts)}


def encode_on_ray(texts: list[str], model: str, workers: int, chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(positions in `texts`, their unit vectors) per finished chunk, in the order chunks finish (the caller
    writes each to the embedding cache, so a killed job keeps what was done)."""
    ray = connect(workers)
    frame = pd.DataFrame({"position": np.arange(len(texts), dtype=np.int64), "text": texts})
    # one block per chunk, made here: a repartition would need CPU tasks that the actor pool already holds
    data = ray.data.from_pandas([frame.iloc[start:start + chunk] for start in range(0, len(texts), chunk)])
    gpus = 1 if gpu_each(workers) else 0
    encoded = data.map_batches(_EncodeActor, fn_constructor_args=(model,), batch_size=chunk, batch_format="numpy",
                               compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1, num_gpus=gpus)
    for batch in encoded.iter_batches(batch_size=None, batch_format="numpy"):
        yield np.asarray(batch["position"], dtype=np.int64), np.asarray(batch["vector"], dtype=np.float32)


class RayEncoder:
    """A loaded encoder whose catalog encodes (EmbeddingCache.encode) run on Ray; anything else (a user's text,
    a short list) is encoded here. The key is the local encoder's, so the cache is shared with the local backend."""

    def __init__(self, local, model: str, workers: int) -> None:
        self.local, self.model_name, self.workers = local, model, workers
        self.key = local.key  # (its dim, model, ... through __getattr__: the weights load only if needed)
        self.where = f"on Ray ({workers} actors)"  # said in the encode progress

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.local.encode(texts)

    def encode_batches(self, texts: list[str], chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return encode_on_ray(texts, self.model_name, self.workers, chunk)

    def __getattr__(self, name: str):  # the wrapped encoder's other attributes (model, device, save_to, ...)
        local = self.__dict__.get("local")
        if local is None:
            raise AttributeError(name)
        return getattr(local, name)


def on_backend(encoder, config: TrainConfig):
    """The encoder a round encodes its catalog with: on Ray for backend 'ray' when the workers can rebuild it by
    name, i.e. it is config.encoder_model's own weights (not a tuned in-memory copy, not a test's fake)."""
    from recsys.encoder import TextEncoder, model_key
    from recsys.encoder_names import resolve_model
    if config.backend != "ray" or type(encoder) is not TextEncoder:
        return encoder
    if encoder.key != model_key(config.encoder_model, resolve_model(config.encoder_model)):
        return encoder
    return RayEncoder(encoder, config.encoder_model, config.ray_workers)


# --- training: a Ray Train TorchTrainer -----------------------------------------------------------------------------

def fit_on_ray(text: np.ndarray, item_ids: np.ndarray, train: pd.DataFrame, feedback: pd.DataFrame,
               config: TrainConfig, callbacks: list[Callback] = (), cancel: threading.Event | None = None,
               rival: tuple = ()):  # trainer.Check of the other kind, to race against
    """trainer.fit_adapter on `config.ray_workers` Ray Train workers; returns the same FitResult. Rank 0's
    progress events come back through a relay actor as they happen, and `cancel` goes to it."""
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer
    if cancel is not None and cancel.is_set():
        raise Cancelled()
    ray = connect(config.ray_workers)
    gpu = gpu_each(config.ray_workers)
    emit(callbacks, TrainEvent("train", 0, 1, None, f"training on Ray: {config.ray_workers} workers"
                                                     f"{' with a GPU each' if gpu else ' on CPU'} (DDP)"))
    relay = ray.remote(num_cpus=0)(Relay).remote()
    data = ray.put((text, item_ids, train, feedback, replace(config, backend="local"), tuple(rival)))
    storage, temporary = _storage()
    name = f"rectune-{uuid.uuid4().hex[:12]}"
    trainer = TorchTrainer(_train_worker, train_loop_config={"data": data, "relay": relay},
                           scaling_config=ScalingConfig(num_workers=config.ray_workers, use_gpu=gpu,
                                                        resources_per_worker={"CPU": 1}),
                           run_config=RunConfig(name=name, storage_path=storage,  # fail, don't retry forever
                                                failure_config=FailureConfig(controller_failure_limit=1)))
    try:
        result = _fit_relaying(trainer, relay, callbacks, cancel)
        with result.checkpoint.as_directory() as folder:
            fit = _read_fit(Path(folder))
    finally:
        if temporary or "://" not in storage:  # a URI's run folder is left to its owner
            shutil.rmtree(storage if temporary else Path(storage) / name, ignore_errors=True)
        ray.kill(relay)
    emit(callbacks, TrainEvent("train", 1, 1, None, f"Ray workers done: {fit.epochs} epochs, stopped by "
                                                     f"{fit.stopped_by}, validation NDCG@10 {fit.best_val_ndcg:.4f}"))
    return fit


def _fit_relaying(trainer, relay, callbacks: list[Callback], cancel: threading.Event | None):
    """trainer.fit() in a thread; meanwhile rank 0's events are passed on and a cancel is passed down. If this
    thread is interrupted (Ctrl-C, a failing callback), the workers are cancelled rather than left training."""
    import ray
    pool = ThreadPoolExecutor(1)
    running = pool.submit(trainer.fit)
    try:
        while True:
            finished = wait([running], timeout=RELAY_EVERY_S).done
            if cancel is not None and cancel.is_set():
                relay.cancel.remote()
            for event in ray.get(relay.drain.remote()):
                emit(callbacks, event)
            if finished:
                break
    except BaseException:
        relay.cancel.remote()
        pool.shutdown(wait=False)
        raise
    pool.shutdown()
    try:
        result = running.result()
    except Exception as exc:  # a worker's error comes back wrapped: say it in one line
        if ray.get(relay.cancelled.remote()):
            raise Cancelled() from None
        raise RecTuneError(f"training on Ray failed: {_first_line(exc)}") from None
    if result.checkpoint is None:
        raise RecTuneError("training on Ray ended without a model: see the Ray logs (/tmp/ray/session_latest).")
    return result


class Relay:
    """A small actor (no CPU reserved) between the driver and rank 0: events up, a cancel flag down."""

    def __init__(self) -> None:
        self.events: list[TrainEvent] = []
        self.stop = False

    def push(self, events: list[TrainEvent]) -> None:
        self.events += events

    def drain(self) -> list[TrainEvent]:
        events, self.events = self.events, []
        return events

    def cancel(self) -> None:
        self.stop = True

    def cancelled(self) -> bool:
        return self.stop


class RelayedEvents:
    """Rank 0's callback: events batched to the relay at most every RELAY_EVERY_S (one actor call per batch)."""

    def __init__(self, relay) -> None:
        self.relay, self.batch, self.sent = relay, [], time.monotonic()

    def __call__(self, event: TrainEvent) -> None:
        self.batch.append(event)
        if time.monotonic() - self.sent >= RELAY_EVERY_S:
            self.flush()

    def flush(self, last: bool = False) -> None:
        """last: wait until the relay has them, so that the driver's final drain sees every event."""
        if self.batch:
            sent = self.relay.push.remote(self.batch)
            self.batch, self.sent = [], time.monotonic()
            if last:
                import ray
                ray.get(sent)


class RelayedCancel:
    """Rank 0's cancel flag: the relay's, asked at most every RELAY_EVERY_S (trainer.Agreement passes it on)."""

    def __init__(self, relay) -> None:
        self.relay, self.asked, self.stop = relay, 0.0, False

    def is_set(self) -> bool:
        import ray
        if not self.stop and time.monotonic() - self.asked >= RELAY_EVERY_S:
            self.stop, self.asked = bool(ray.get(self.relay.cancelled.remote())), time.monotonic()
        return self.stop


def _storage() -> tuple[str, bool]:
    """Where Ray Train puts the checkpoint: RECTUNE_RAY_STORAGE (shared by all nodes), else a temporary folder."""
    shared = os.environ.get("RECTUNE_RAY_STORAGE")
    return (shared, False) if shared else (tempfile.mkdtemp(prefix="rectune-ray-"), True)


def _train_worker(loop_config: dict) -> None:
    """Runs on each Ray Train worker: the training loop on this worker's shard; rank 0 relays its events, hears
    the cancel flag and reports the model."""
    import ray
    import ray.train
    import ray.train.torch

    from recsys.step import Shard
    from recsys.trainer import fit_adapter
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    text, item_ids, train, feedback, config, rival = ray.get(loop_config["data"])
    relay = loop_config["relay"]
    events = RelayedEvents(relay) if rank == 0 else None
    fit = fit_adapter(text, item_ids, train, feedback, config, [events] if events else [],
                      RelayedCancel(relay) if rank == 0 else None, shard=Shard(rank, world, _ddp), rival=rival)
    if events:
        events.flush(last=True)
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = None
        if rank == 0:
            _write_fit(Path(folder), fit)
            checkpoint = ray.train.Checkpoint.from_directory(folder)
        ray.train.report({"epochs": fit.epochs, "best_val_ndcg": fit.best_val_ndcg}, checkpoint=checkpoint)


def _ddp(module):
    """DistributedDataParallel on Ray Train's process group (gloo on CPU, NCCL on GPU). Every parameter is in every
    worker's graph (step.StepLoss adds a zero-weighted sum of them), so DDP need not search for unused ones; the
    frozen text table is not re-broadcast each step."""
    from ray.train.torch import prepare_model
    return prepare_model(module, parallel_strategy_kwargs={"broadcast_buffers": False})


def _write_fit(folder: Path, fit) -> None:
    fit.model.save(folder)
    saved = {f.name: getattr(fit, f.name) for f in fields(fit) if f.name != "model"}
    saved["curve"] = [asdict(check) for check in fit.curve]
    (folder / FIT_FILE).write_text(json.dumps(saved))


def _read_fit(folder: Path):
    from recsys.loop_hooks import Check
    from recsys.serving import ServingModel
    from recsys.trainer import FitResult
    saved = json.loads((folder / FIT_FILE).read_text())
    saved["losses"], saved["val_users"] = tuple(saved["losses"]), tuple(saved["val_users"])
    saved["curve"] = tuple(Check(c["epoch"], c["ndcg"], tuple(c["gains"])) for c in saved.get("curve", ()))
    return FitResult(model=ServingModel.load(folder, mapped=False), **saved)  # the checkpoint folder is removed next


def _first_line(exc: BaseException) -> str:
    """The innermost cause's message: Ray wraps a worker's exception in its own."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:300]
