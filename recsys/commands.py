"""The CLI's commands. Heavy modules (torch, the encoder) are imported only by commands that need them."""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from recsys.cli import print_json
from recsys.errors import RecTuneError
from recsys.feedback import Feedback, FeedbackLedger
from recsys.workspace import Workspace


def _train_config(args: argparse.Namespace):
    from recsys.training import TrainConfig
    values = json.loads(Path(args.config).read_text()) if args.config else {}
    if args.encoder:
        values["encoder_model"] = args.encoder
    if args.encoder_tuning:
        values["encoder_tuning"] = args.encoder_tuning
    if args.max_seconds:
        values["max_seconds"] = args.max_seconds
    unknown = set(values) - set(TrainConfig.__dataclass_fields__)
    if unknown:
        raise RecTuneError(f"unknown training setting(s) {sorted(unknown)} in {args.config}.")
    try:
        return TrainConfig(**values)
    except (TypeError, ValueError) as exc:
        raise RecTuneError(str(exc)) from None


def _import_config(args: argparse.Namespace):
    from recsys.data import ImportConfig
    cols = tuple(c.strip() for c in args.text_columns.split(",")) if args.text_columns else None
    return ImportConfig(user_col=args.user_col, item_col=args.item_col, time_col=args.time_col,
                        rating_col=args.rating_col, event_col=args.event_col, catalog_item_col=args.catalog_item_col,
                        text_columns=cols, template=args.template)


def _progress(event) -> None:
    stepwise = event.stage == "train" or event.stage.startswith("evaluate:")
    if stepwise and event.step % 50 and event.step not in (1, event.total) and not event.message:
        return
    loss = f" loss={event.loss:.4f}" if event.loss is not None else ""
    print(f"[{event.stage}] {event.step}/{event.total}{loss} {event.message}".rstrip(), file=sys.stderr, flush=True)


def cmd_train(args: argparse.Namespace) -> int:
    from recsys.jobs import runner_for
    from recsys.pipeline import import_files, run_round
    config = _train_config(args)
    ws = Workspace(args.workspace)
    if args.interactions or args.items:
        if not (args.interactions and args.items):
            raise RecTuneError("give both --interactions and --items to import data (or neither to retrain).")
        report = import_files(ws, args.interactions, args.items, args.tags, _import_config(args))
        print("\n".join(report.lines()), file=sys.stderr)
    elif not ws.has_data():
        raise RecTuneError(f"workspace '{ws.root}' has no data yet; give --interactions and --items.")
    work = lambda on_event, cancel: run_round(ws, config, [on_event, _progress], cancel, args.evaluate).version
    status = runner_for(ws.root).start(work, config.to_dict(), background=False)
    if status.state != "done":
        raise RecTuneError(f"training {status.state}: {status.message}")
    print(f"trained {status.version} ({status.message})", file=sys.stderr)
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    from recsys.recommend import Recommender
    ws = Workspace(args.workspace, create=False)
    rec = Recommender.from_workspace(ws, args.version)
    candidates = None
    if args.candidates:
        candidates = [line.strip() for line in Path(args.candidates).read_text().splitlines() if line.strip()]
    if args.user is not None and str(args.user) not in rec.sequences:
        print(f"warning: user '{args.user}' has no history; showing what the model gives an empty history",
              file=sys.stderr)
    users = rec.users() if args.all_users else [str(args.user)]
    frame = rec.recommend_frame(users, args.k, candidates)
    frame.to_csv(args.out or sys.stdout, index=False, float_format="%.6f")
    return 0


def cmd_feedback(args: argparse.Namespace) -> int:
    ws = Workspace(args.workspace, create=False)
    ledger = FeedbackLedger(ws.ledger_path)
    row = ledger.add(Feedback(args.user, args.item, args.label, model_version=ws.active_name(),
                              annotator=args.annotator))
    print(f"recorded #{row}: user {args.user} {args.label} {args.item}", file=sys.stderr)
    return 0


def status_dict(ws: Workspace) -> dict:
    from recsys.jobs import JobStatus
    from recsys.storage import read_json
    report = ws.report()
    job = JobStatus.from_dict(read_json(ws.job_path, {}) or {})
    if job.state == "running":
        from recsys.jobs import JobRunner
        job = JobRunner(ws.root).status()
    return {"workspace": str(ws.root), "data": report.to_dict() if report else None,
            "models": [{"version": v.name, "active": v.active, "kind": v.kind,
                        "validation_ndcg@10": v.metrics.get("validation_ndcg@10")} for v in ws.versions()],
            "active": ws.active_name(), "feedback": FeedbackLedger(ws.ledger_path).count(),
            "job": {k: v for k, v in job.to_dict().items() if k != "losses"}}


def cmd_status(args: argparse.Namespace) -> int:
    ws = Workspace(args.workspace, create=False)
    status = status_dict(ws)
    if args.json:
        print_json(status)
        return 0
    print(f"workspace: {status['workspace']}")
    for line in (ws.report().lines() if ws.report() else ["no data imported"]):
        print(f"  {line}")
    for m in status["models"]:
        print(f"  model {m['version']} ({m['kind']}){' [active]' if m['active'] else ''}")
    print(f"feedback: {status['feedback']} thumbs; job: {status['job']['state']} {status['job']['message']}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from recsys.pipeline import default_encoder_factory, item_text_vectors
    from recsys.rounds import evaluate_config
    from recsys.storage import atomic_write_json, read_json
    from recsys.training import TrainConfig
    ws = Workspace(args.workspace, create=False)
    version = ws.active_version()
    if version is None:
        raise RecTuneError("no model yet; run `train` first.")
    saved = read_json(version.path / "config.json", {})
    config = TrainConfig.from_saved(saved)
    dataset = ws.load_dataset()
    text = item_text_vectors(ws, dataset.items, default_encoder_factory(config.encoder_model))
    result = evaluate_config(ws, dataset, text, config, k=args.k)
    metrics = read_json(version.path / "metrics.json", {}) or {}
    atomic_write_json(version.path / "metrics.json", {**metrics, "evaluation": result})
    for split, models in result.items():
        for name, m in models.items():
            print(f"{split:5s} {name:16s} HR@{m['k']}={m['hr']:.4f} NDCG@{m['k']}={m['ndcg']:.4f} "
                  f"MRR@{m['k']}={m['mrr']:.4f} coverage={m['coverage']:.3f}")
    if args.json_out:
        print_json(result, args.json_out)
    return 0


def cmd_activate(args: argparse.Namespace) -> int:
    ws = Workspace(args.workspace, create=False)
    ws.activate(args.version)
    print(f"active model: {args.version}", file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    ws = Workspace(args.workspace, create=False)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    FeedbackLedger(ws.ledger_path).frame().to_csv(out / "feedback.csv", index=False)
    version = ws.active_version()
    if version is not None:
        shutil.copytree(version.path, out / version.name, dirs_exist_ok=True)
    print(f"exported to {out}", file=sys.stderr)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from recsys.demo import write_demo
    paths = write_demo(Path(args.out))
    print("\n".join(str(p) for p in paths), file=sys.stderr)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from recsys.bench import run_bench
    run_bench(args.json_out, quick=args.quick)
    return 0
