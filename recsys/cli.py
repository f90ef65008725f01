"""`python -m recsys ...`: the same operations the app's buttons run. User errors exit 2 with `error: ...`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from recsys.errors import RecTuneError


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m recsys", description="RecTune: tune a recommender from logs.")
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="import data (if given) and train the next round")
    _workspace(t)
    t.add_argument("--interactions", help="behaviour log: CSV, TSV, Parquet or JSON Lines")
    t.add_argument("--items", help="item catalog with an id column and text columns")
    t.add_argument("--tags", help="optional free-text tags file (user_id,item_id,tag)")
    for flag in ("user-col", "item-col", "time-col", "rating-col", "event-col", "catalog-item-col"):
        t.add_argument(f"--{flag}", help=f"column name to use ({flag.replace('-col', '')}); default: detected")
    t.add_argument("--text-columns", help="comma-separated catalog columns that make the item text")
    t.add_argument("--template", help="item text template, e.g. '{title}. Genres: {genres}'")
    t.add_argument("--config", help="JSON file of training settings (TrainConfig fields)")
    t.add_argument("--encoder", help="sentence-transformers folder or hub id (default: packaged MiniLM)")
    t.add_argument("--encoder-tuning", choices=["none", "lora", "full"], help="also tune the language model")
    t.add_argument("--max-seconds", type=float, help="training-loop time budget")
    t.add_argument("--evaluate", action="store_true", help="also score the round on the warm and cold protocols")
    r = sub.add_parser("recommend", help="top-k lists as user_id,item_id,rank,score")
    _workspace(r)
    who = r.add_mutually_exclusive_group(required=True)
    who.add_argument("--user")
    who.add_argument("--all-users", action="store_true")
    r.add_argument("-k", type=int, default=10)
    r.add_argument("--candidates", help="file with one item id a line: rank only these")
    r.add_argument("--out", help="CSV file to write (default: stdout)")
    r.add_argument("--version", help="model version (default: the active one)")
    f = sub.add_parser("feedback", help="record a thumbs up or down")
    _workspace(f)
    f.add_argument("--user", required=True)
    f.add_argument("--item", required=True)
    f.add_argument("--label", required=True, choices=["up", "down"])
    f.add_argument("--annotator", default="cli")
    s = sub.add_parser("status", help="data, model versions, feedback and job state")
    _workspace(s)
    s.add_argument("--json", action="store_true")
    e = sub.add_parser("evaluate", help="metrics of the active model's settings and the baselines")
    _workspace(e)
    e.add_argument("--json", dest="json_out", help="also write the metrics to this JSON file")
    e.add_argument("-k", type=int, default=10)
    a = sub.add_parser("activate", help="make an older model version active (rollback)")
    _workspace(a)
    a.add_argument("version")
    x = sub.add_parser("export", help="write the ledger (feedback.csv) and the active model's files to a folder")
    _workspace(x)
    x.add_argument("--out", required=True)
    d = sub.add_parser("demo", help="generate the bundled synthetic demo data set")
    d.add_argument("--out", default="assets/demo")
    b = sub.add_parser("bench", help="speed, memory and (with ../shared) quality table")
    b.add_argument("--json", dest="json_out", default="bench.json")
    b.add_argument("--quick", action="store_true", help="skip the ml-latest-small quality runs")
    return ap


def _workspace(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workspace", required=True, help="workspace folder")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from recsys import commands
    try:
        return getattr(commands, f"cmd_{args.command}")(args) or 0
    except RecTuneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def print_json(obj: object, path: str | None = None) -> None:
    text = json.dumps(obj, indent=2, default=str)
    if path:
        Path(path).write_text(text)
    else:
        print(text)
