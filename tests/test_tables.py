"""The bad-input corpus: every case is refused with a message naming the file and the problem, or accepted
with a warning that counts what was dropped. Never a traceback."""
from __future__ import annotations

import zipfile

import pandas as pd
import pytest

from recsys.data import ImportConfig, import_dataset, load_catalog, load_interactions
from recsys.errors import DataError
from recsys.tables import read_table

GOOD_ITEMS = "item_id,title,genres\ni1,Space Robot,SciFi\ni2,Cake Day,Food\ni3,Sea Ship,Sea\n"


def write(tmp_path, name, content) -> str:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


REFUSED = {
    "empty file": ("log.csv", b"", "empty"),
    "header only": ("log.csv", "user_id,item_id,timestamp\n", "no data rows"),
    "random binary": ("log.csv", bytes(range(256)) * 8, "NUL bytes"),
    "zip named csv": ("log.csv", b"PK\x03\x04" + b"\x00" * 100, "zip archive"),
    "xls named csv": ("log.csv", b"\xd0\xcf\x11\xe0" + b"\x00" * 100, "Excel"),
    "nul bytes": ("log.csv", b"user_id,item_id\nu1,i1\x00\n", "NUL bytes"),
    "ragged rows": ("log.csv", "user_id,item_id,timestamp\nu1,i1,1\nu2,i2,2,9,9\n", "line up"),
    "unclosed quote": ("log.csv", 'user_id,item_id,timestamp\nu1,"i1,1\nu2,i2,2\n', "line up"),
    "missing id column": ("log.csv", "person,thing,timestamp\nu1,i1,1\n", "no user id column"),
    "unsupported type": ("log.xlsx", "user_id,item_id\nu1,i1\n", "unsupported file type"),
    "broken parquet": ("log.parquet", b"PAR1garbage", "not a readable Parquet"),
    "unparseable times only": ("log.csv", "user_id,item_id,time\nu1,i1,soon\nu2,i2,later\n", "no readable times"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_bad_log_is_refused_with_a_message_naming_the_file(tmp_path, case):
    name, content, expected = REFUSED[case]
    log = write(tmp_path, name, content)
    items = write(tmp_path, "items.csv", GOOD_ITEMS)
    with pytest.raises(DataError) as err:
        import_dataset(log, items)
    assert name in str(err.value) and expected in str(err.value)


def test_a_directory_instead_of_a_file_is_refused(tmp_path):
    with pytest.raises(DataError, match="is a folder, not a file"):
        read_table(tmp_path)


def test_a_real_zip_renamed_to_csv_is_refused(tmp_path):
    path = tmp_path / "catalog.csv"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.csv", GOOD_ITEMS)
    with pytest.raises(DataError, match="catalog.csv: this is a zip archive"):
        read_table(path)


def test_catalog_without_text_column_is_refused(tmp_path):
    items = write(tmp_path, "items.csv", "item_id,price\ni1,3.5\ni2,4\n")
    with pytest.raises(DataError, match="items.csv: no text column found"):
        load_catalog(items, ImportConfig())


def test_semicolon_delimited_file_is_read(tmp_path):
    log = write(tmp_path, "log.csv", "user_id;item_id;timestamp\nu1;i1;1\nu1;i2;2\n")
    df, _ = load_interactions(log, ImportConfig())
    assert df["item_id"].tolist() == ["i1", "i2"]


def test_latin1_text_is_read(tmp_path):
    items = write(tmp_path, "items.csv", "item_id,title\ni1,Caf\xe9 Cr\xe8me\n".encode("latin-1"))
    catalog, _, _ = load_catalog(items, ImportConfig())
    assert catalog["text"].tolist() == ["Café Crème"]


def test_ids_with_blanks_are_stripped_and_blank_ids_dropped(tmp_path):
    log = write(tmp_path, "log.csv", "user_id,item_id,timestamp\n u1 , i1 ,1\n,i2,2\nu2,  ,3\n")
    df, dropped = load_interactions(log, ImportConfig())
    assert df[["user_id", "item_id"]].values.tolist() == [["u1", "i1"]]
    assert dropped["blank user or item id"] == 2


def test_unknown_item_ids_and_duplicates_are_dropped_and_counted(tmp_path):
    log = write(tmp_path, "log.csv", "user_id,item_id,timestamp\nu1,i1,1\nu1,i1,1\nu1,zz,2\nu1,i2,3\n")
    ds = import_dataset(log, write(tmp_path, "items.csv", GOOD_ITEMS))
    assert ds.report.dropped == {"unknown item id (not in the catalog)": 1,
                                 "duplicate row (same user, item, time, event)": 1}
    assert ds.report.interactions == 2


def test_some_unparseable_timestamps_are_dropped_and_counted(tmp_path):
    log = write(tmp_path, "log.csv", "user_id,item_id,time\nu1,i1,2024-01-01\nu1,i2,not a date\nu1,i3,2024-01-03\n")
    df, dropped = load_interactions(log, ImportConfig())
    assert dropped["unparseable timestamp"] == 1
    assert df["timestamp"].tolist() == [1704067200, 1704240000]


def test_duplicate_item_ids_with_conflicting_text_keep_the_first(tmp_path):
    items = write(tmp_path, "items.csv", "item_id,title\ni1,First\ni1,Second\ni2,Other\n")
    catalog, dropped, _ = load_catalog(items, ImportConfig())
    assert catalog.set_index("item_id").at["i1", "text"] == "First"
    assert dropped["catalog row repeating an item id (first kept)"] == 1


def test_a_2mb_text_field_is_cut_with_a_warning(tmp_path):
    items = write(tmp_path, "items.csv", "item_id,title\ni1," + "a" * 2_000_000 + "\ni2,Short\n")
    catalog, _, warnings = load_catalog(items, ImportConfig())
    assert catalog["text"].str.len().tolist() == [2000, 5]
    assert warnings == ["1 item texts longer than 2000 characters were cut"]


def test_row_limit_refuses_with_the_limit_named(tmp_path):
    log = write(tmp_path, "log.csv", "user_id,item_id\n" + "u1,i1\n" * 11)
    with pytest.raises(DataError, match="11 rows is over the limit of 10"):
        load_interactions(log, ImportConfig(max_rows=10))


def test_size_limit_refuses_with_the_limit_named(tmp_path):
    log = write(tmp_path, "log.csv", "user_id,item_id\n" + "u1,i1\n" * 1000)
    with pytest.raises(DataError, match="over the upload limit"):
        load_interactions(log, ImportConfig(max_bytes=1000))


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl", ".tsv"])
def test_parquet_jsonl_and_tsv_are_read(tmp_path, suffix):
    df = pd.DataFrame({"userId": ["u1", "u2"], "movieId": ["i1", "i2"], "ts": [5, 6]})
    path = tmp_path / f"log{suffix}"
    {".parquet": lambda: df.to_parquet(path), ".jsonl": lambda: df.to_json(path, orient="records", lines=True),
     ".tsv": lambda: df.to_csv(path, sep="\t", index=False)}[suffix]()
    out, _ = load_interactions(path, ImportConfig())
    assert out[["user_id", "item_id", "timestamp"]].values.tolist() == [["u1", "i1", 5], ["u2", "i2", 6]]
