"""`python -m recsys ...` (or `rectune ...`): the same operations the app's buttons run, through the service
layer. User errors exit 2 with one `error: ...` line, never a traceback."""
from __future__ import annotations

import argparse
import errno
import sys

from recsys.config import ENCODER_TUNINGS
from recsys.errors import RecTuneError


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m recsys", description="RecTune: tune a recommender from logs.")
    sub = ap.add_subparsers(dest="command", required=True)
    _data_commands(sub)
    _model_commands(sub)
    d = sub.add_parser("demo", help="generate the bundled synthetic demo data set")
    d.add_argument("--out", default="assets/demo")
    b = sub.add_parser("bench", help="speed, memory and (with ../shared) quality table")
    b.add_argument("--json", dest="json_out", default="bench.json")
    b.add_argument("--quick", action="store_true", help="skip the ml-latest-small quality runs")
    b.add_argument("--large", action="store_true", help="only the large-catalog run: a round on ~1M ratings and "
                                                           "250,000 items, then every page in a browser (~30+ min)")
    b.add_argument("--ray", action="store_true", help="only the backends run: the demo round locally and on a local "
                                                         "Ray cluster, and catalog encoding both ways (~5 min)")
    return ap


def _data_commands(sub) -> None:
    """import, train, feedback, status, export."""
    i = _workspace(sub.add_parser("import", help="import a log and a catalog (no training) and print the summary"))
    _import_flags(i)
    t = _workspace(sub.add_parser("train", help="import data (if given) and train the next round"))
    _import_flags(t)
    t.add_argument("--config", help="JSON file of training settings (TrainConfig fields)")
    t.add_argument("--encoder", help="sentence-transformers or Hugging Face model folder (GPT-2 family too) or hub "
                                     "id, optionally ending in #mean or #last for the pooling (default: packaged MiniLM)")
    t.add_argument("--encoder-tuning", choices=list(ENCODER_TUNINGS),
                   help="also tune the language model: lora/full on (history -> next item) text pairs before the "
                        "first stage; align: towards the trained item vectors, for new items; auto: align, kept only "
                        "when it ranks items hidden from a second fit better (about doubles the round)")
    t.add_argument("--max-seconds", type=float, help="training-loop time budget")
    t.add_argument("--rerank", choices=["off", "auto", "on"],
                   help="second stage: a cross-encoder fine-tuned on (history, candidate) text re-ranks the top N "
                        "(auto: kept only when validation improves by more than the noise)")
    t.add_argument("--kind", choices=["auto", "history", "attention"],
                   help="model kind (default auto: both are trained, the better on validation users serves)")
    t.add_argument("--min-rating", type=float, help="ratings below this are not positives but count as thumbs-down "
                                                    "(default: read from the data)")
    t.add_argument("--event-weights", help="what each event type weighs, e.g. purchase=3,cart=2,view=1 (0 = ignore)")
    t.add_argument("--unrated", help="a rating meaning 'not rated' (a positive: Book-Crossing's 0), or none (default: data)")
    t.add_argument("--backend", choices=["local", "ray"],
                   help="where the round runs: local (default), or ray: encoding as a Ray Data job and training on Ray "
                        "Train workers (DDP), on the cluster at RAY_ADDRESS, else a local one (pip install -r "
                        "requirements-ray.txt)")
    t.add_argument("--workers", type=int, help="Ray Train workers and encoder actors for --backend ray (default 2)")
    t.add_argument("--evaluate", action="store_true", help="also score the round on the warm and cold protocols")
    t.add_argument("--quick", action="store_true",
                   help="apply the thumbs now: adjust the active version to them in seconds (no full retraining)")
    f = _workspace(sub.add_parser("feedback", help="record a thumb: up, down, or cleared (taken back)"))
    f.add_argument("--user", required=True)
    f.add_argument("--item", required=True)
    f.add_argument("--label", required=True, choices=["up", "down", "cleared"])
    f.add_argument("--annotator", default="cli")
    _workspace(sub.add_parser("status", help="data, model versions, feedback and job state")).add_argument(
        "--json", action="store_true")
    x = _workspace(sub.add_parser("export", help="write feedback.csv, items.csv and the active model to a folder"))
    x.add_argument("--out", required=True)


def _model_commands(sub) -> None:
    """recommend, evaluate, activate."""
    r = _workspace(sub.add_parser("recommend", help="top-k lists as user_id,item_id,rank,score"))
    who = r.add_mutually_exclusive_group(required=True)
    who.add_argument("--user")
    who.add_argument("--all-users", action="store_true")
    r.add_argument("-k", type=int, default=10)
    r.add_argument("--candidates", help="file with one item id a line: rank only these")
    r.add_argument("--out", help="CSV file to write (default: stdout)")
    r.add_argument("--version", help="model version (default: the active one)")
    e = _workspace(sub.add_parser("evaluate", help="metrics of the active model's settings and the baselines"))
    e.add_argument("--json", dest="json_out", help="also write the metrics to this JSON file")
    e.add_argument("-k", type=int, default=10)
    _workspace(sub.add_parser("activate", help="make an older model version active (rollback)")).add_argument("version")


def _workspace(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--workspace", required=True, help="workspace folder")
    return p


def _import_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--interactions", help="behaviour log: CSV, TSV, Parquet or JSON Lines")
    p.add_argument("--items", help="item catalog with an id column and text columns")
    p.add_argument("--tags", help="optional free-text tags file (user_id,item_id,tag)")
    for flag in ("user-col", "item-col", "time-col", "rating-col", "event-col", "catalog-item-col"):
        p.add_argument(f"--{flag}", help=f"column name to use ({flag.replace('-col', '')}); default: detected")
    p.add_argument("--text-columns", help="comma-separated catalog columns that make the item text")
    p.add_argument("--template", help="item text template, e.g. '{title}. Genres: {genres}'")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from recsys import commands
    try:
        return getattr(commands, f"cmd_{args.command}")(args) or 0
    except RecTuneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a read-only home, a full disk, a path too long: one line, not a traceback
        print(f"error: {_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def _os_error(exc: OSError) -> str:
    where = f"{exc.filename}: " if exc.filename else ""
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{where}permission denied or read-only; choose a writable folder."
    if exc.errno == errno.ENAMETOOLONG:
        return f"{where}the path is too long; choose a shorter one."
    return f"{where}{exc.strerror or exc}"
