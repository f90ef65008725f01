"""The CLI's commands: flags -> one service call -> printed results. Nothing here assembles a flow; heavy
modules (torch, the encoder) load only inside the service calls that need them."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from recsys.errors import RecTuneError
from recsys.events import TrainEvent
from recsys.service import ImportRequest, Service, positives_setting, train_config, unrated_setting


def print_json(obj: object, path: str | None = None) -> None:
    text = json.dumps(obj, indent=2, default=str)
    if path:
        Path(path).write_text(text)
    else:
        print(text)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _progress(event: TrainEvent) -> None:
    stepwise = event.stage == "train" or event.stage.startswith("evaluate:")
    if stepwise and event.step % 50 and event.step not in (1, event.total) and not event.message:
        return
    loss = f" loss={event.loss:.4f}" if event.loss is not None else ""
    _say(f"[{event.stage}] {event.step}/{event.total}{loss} {event.message}".rstrip())


def _import_request(args: argparse.Namespace) -> ImportRequest | None:
    from recsys.data import ImportConfig
    if not (args.interactions or args.items):
        return None
    if not (args.interactions and args.items):
        raise RecTuneError("give both --interactions and --items to import data.")
    cols = tuple(c.strip() for c in args.text_columns.split(",")) if args.text_columns else None
    config = ImportConfig(user_col=args.user_col, item_col=args.item_col, time_col=args.time_col,
                          rating_col=args.rating_col, event_col=args.event_col, catalog_item_col=args.catalog_item_col,
                          text_columns=cols, template=args.template)
    return ImportRequest(args.interactions, args.items, args.tags, config)


def _train_values(args: argparse.Namespace) -> dict:
    try:
        values = json.loads(Path(args.config).read_text()) if args.config else {}
    except (OSError, json.JSONDecodeError) as exc:
        raise RecTuneError(f"{args.config}: not a readable JSON file of training settings ({exc}).") from None
    positives = _positives(args)  # the fields the flags set, over the file's rule (checked, so none is lost)
    if positives is not None:
        positives = {**positives_setting(values.get("positives")), **positives}
    flags = {"encoder_model": args.encoder, "encoder_tuning": args.encoder_tuning, "max_seconds": args.max_seconds,
             "kind": args.kind, "positives": positives, "rerank": args.rerank, "backend": args.backend,
             "ray_workers": args.workers}
    return {**values, **{k: v for k, v in flags.items() if v is not None}}


def _positives(args: argparse.Namespace) -> dict | None:
    """The positives rule's fields the flags set (the others are read from the data); None: none set."""
    given = {}
    if args.min_rating is not None:
        given["min_rating"] = args.min_rating
    if args.event_weights is not None:
        given["event_weights"] = _event_weights(args.event_weights)
    given.update(unrated_setting(args.unrated or "", "--unrated"))
    return given or None


def _event_weights(text: str) -> dict:
    weights = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        try:
            weights[name.strip().lower()] = float(value)
            if weights[name.strip().lower()] < 0:
                raise ValueError
        except ValueError:
            raise RecTuneError(f"--event-weights: '{part}' is not name=number with a number >= 0 "
                               "(e.g. purchase=3,view=1).") from None
    return weights


def cmd_import(args: argparse.Namespace) -> int:
    report = Service(args.workspace).import_files(_import_request(args) or _missing_files())
    print("\n".join(report.lines()))
    return 0


def _missing_files():
    raise RecTuneError("give --interactions and --items to import.")


def cmd_train(args: argparse.Namespace) -> int:
    if args.quick:
        return _quick_round(args)
    config = train_config(_train_values(args))
    service = Service(args.workspace)
    request = _import_request(args)
    if request is None and not service.ws.has_data():
        raise RecTuneError(f"workspace '{service.ws.root}' has no data yet; give --interactions and --items.")
    status = service.train(config, args.evaluate, background=False, callbacks=[_progress], request=request)
    if status.state == "failed":
        raise RecTuneError(status.message)  # it names the file, setting or step that failed
    if status.state != "done":
        raise RecTuneError(f"training {status.state}: {status.message}")
    version = service.ws.version(status.version)
    if version.metrics.stopped_by == "time budget":
        _say(f"warning: the time budget of {config.max_seconds:g} s cut training short at epoch {version.metrics.epochs}; "
             "the result depends on how busy the machine was. Train without --max-seconds for a reproducible round.")
    extra = version.metrics.extra
    _say(f"trained {version.name}: {extra.get('kind_reason', '')}; positives: {extra.get('positives', '')}; "
         f"{extra.get('activation', '')}")
    if extra.get("new_items"):
        _say(f"new items: {extra['new_items']['summary']}")
    if extra.get("text_loss_rows"):
        how = "by the catalog's size" if config.text_loss_rows < 0 else "as text_loss_rows sets"
        _say(f"text-only loss: on {extra['text_loss_rows']:,} of a step's {config.batch_size:,} targets, drawn at "
             f"random ({how})")
    if extra.get("rerank"):
        _say(extra["rerank"]["summary"])
    if extra.get("align_summary"):
        _say(extra["align_summary"])
    return 0


def _quick_round(args: argparse.Namespace) -> int:
    if args.interactions or args.items or args.config or args.evaluate:
        raise RecTuneError("--quick adjusts the active version to the thumbs so far; it takes no data, "
                           "--config or --evaluate (run a full round for those).")
    service = Service(args.workspace, create=False)
    status = service.quick_round(background=False, callbacks=[_progress])
    if status.state != "done":
        raise RecTuneError(status.message)
    version = service.ws.version(status.version)
    quick = version.metrics.extra["quick"]
    for m in quick["moves"]:
        print(f"{m['label']:>4} user {m['user_id']} item {m['item_id']}: rank {m['rank_before']} -> {m['rank_after']}")
    _say(f"made {version.name} in {version.metrics.seconds:.1f} s: {version.metrics.extra['activation']}")
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    service = Service(args.workspace, create=False)
    candidates = None
    if args.candidates:
        candidates = [line.strip() for line in Path(args.candidates).read_text().splitlines() if line.strip()]
    if args.user is not None and str(args.user) not in service.recommender(args.version).sequences:
        _say(f"warning: user '{args.user}' has no history; showing what the model gives an empty history")
    frame = service.recommend_frame(None if args.all_users else [args.user], args.k, candidates, args.version)
    frame.to_csv(args.out or sys.stdout, index=False, float_format="%.6f")
    return 0


def cmd_feedback(args: argparse.Namespace) -> int:
    row = Service(args.workspace, create=False).record_thumb(args.user, args.item, args.label, args.annotator)
    _say(f"recorded #{row}: user {args.user} {args.label} {args.item}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    status = Service(args.workspace, create=False).status()
    if args.json:
        print_json(status.to_dict())
        return 0
    print(f"workspace: {status.workspace}")
    for line in (status.data.lines() if status.data else ["no data imported"]):
        print(f"  {line}")
    for v in status.versions:
        print(f"  model {v.name} ({v.kind}){' [active]' if v.active else ''}")
    print(f"feedback: {status.feedback} thumbs; job: {status.job.state} {status.job.message}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    service = Service(args.workspace, create=False)
    status = service.evaluate(args.k, background=False, callbacks=[_progress])
    if status.state != "done":
        raise RecTuneError(f"evaluation {status.state}: {status.message}")
    result = service.ws.version(status.version).metrics.evaluation
    for split, models in result.items():
        for name, m in models.items():
            print(f"{split:5s} {name:16s} HR@{m['k']}={m['hr']:.4f} NDCG@{m['k']}={m['ndcg']:.4f} "
                  f"MRR@{m['k']}={m['mrr']:.4f} coverage={m['coverage']:.3f}")
    if args.json_out:
        print_json(result, args.json_out)
    return 0


def cmd_activate(args: argparse.Namespace) -> int:
    Service(args.workspace, create=False).activate(args.version)
    _say(f"active model: {args.version}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    written = Service(args.workspace, create=False).export(args.out)
    _say("exported: " + ", ".join(p.name for p in written))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from recsys.demo import write_demo
    _say("\n".join(str(p) for p in write_demo(Path(args.out))))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from recsys.bench import run_bench
    run_bench(args.json_out, quick=args.quick, large=args.large, ray=args.ray)
    return 0
