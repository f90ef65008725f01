"""CSV files people open in spreadsheets: the ledger with titles, the item texts, a model version.
Cells that a spreadsheet would run as a formula (= + - @, tab, carriage return first) are neutralised."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from recsys.feedback import FeedbackLedger
from recsys.workspace import Workspace

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells starting with a formula character get a leading apostrophe (OWASP's advice
    for CSV injection); numbers stay numbers."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(lambda v: f"'{v}" if isinstance(v, str) and v.startswith(FORMULA_START) else v)
    return out


def to_safe_csv(frame: pd.DataFrame) -> bytes:
    return neutralise_formulas(frame).to_csv(index=False).encode()


def ledger_with_titles(ledger: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """The ledger frame with the item's title beside its id (items: indexed by item_id, with 'title')."""
    titles = ledger["item_id"].map(items["title"]) if len(ledger) else pd.Series(dtype=object)
    return ledger.assign(title=titles.fillna("")) if len(ledger) else ledger.assign(title=pd.Series(dtype=object))


def export_workspace(ws: Workspace, out: Path) -> list[Path]:
    """feedback.csv (with titles), items.csv (item_id, title, category, text: the exact text the encoder
    sees) and a copy of the active version's folder. Returns what was written."""
    out.mkdir(parents=True, exist_ok=True)
    items = ws.load_dataset().items if ws.has_data() else pd.DataFrame(columns=["item_id", "title", "category", "text"])
    ledger = ledger_with_titles(FeedbackLedger(ws.ledger_path).frame(), items.set_index("item_id"))
    written = [out / "feedback.csv", out / "items.csv"]
    written[0].write_bytes(to_safe_csv(ledger))
    written[1].write_bytes(to_safe_csv(items[["item_id", "title", "category", "text"]]))
    version = ws.active_version()
    if version is not None:
        shutil.copytree(version.path, out / version.name, dirs_exist_ok=True)
        written.append(out / version.name)
    return written
