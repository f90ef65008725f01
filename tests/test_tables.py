"""The bad-input corpus: every case is refused with a message naming the file and the problem, or accepted
with a warning that counts what was dropped. Never a traceback."""
from __future__ import annotations

import zipfile
from pathlib import Path

import pandas as pd
import pytest

from recsys.data import ImportConfig, import_dataset, load_catalog, load_interactions
from recsys.errors import DataError
from recsys.tables import is_unnamed, read_table, sniff_delimiter

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


FIXTURES = Path(__file__).parent / "fixtures"


def test_a_utf8_bom_does_not_stay_in_the_first_column_name(tmp_path):
    df = read_table(write(tmp_path, "log.csv", "\ufeffuser_id,item_id\nu1,i1\n".encode()))
    assert df.columns.tolist() == ["user_id", "item_id"]


def test_windows_1252_text_keeps_curly_quotes_and_the_euro_sign(tmp_path):
    df = read_table(write(tmp_path, "items.csv", "item_id,title\ni1,Tom\u2019s \u20ac5 caf\u00e9\n".encode("cp1252")))
    assert df["title"].tolist() == ["Tom\u2019s \u20ac5 caf\u00e9"] and df.attrs["encoding"] == "cp1252"


def test_a_single_column_file_with_windows_line_ends_reads_as_one_column(tmp_path):
    df = read_table(write(tmp_path, "items.csv", b"item_id\r\n1\r\n2\r\nHello, world\r\n"))
    assert df.columns.tolist() == ["item_id"] and df["item_id"].tolist() == ["1", "2", "Hello, world"]


@pytest.mark.parametrize("text, expected", [("a,b\n1,2\n", ","), ("a\tb, c\n1\t2\n", "\t"), ("a;b\n1,5;2\n", ";"),
                                            ('"x,y";"z"\n1;2\n', ";"), ("id\r\n1\r\n", "\t"), ("a b c\n1 2 3\n", r"\s+")])
def test_the_delimiter_is_never_a_line_break_letter_or_digit(text, expected):
    assert sniff_delimiter(text) == expected


def test_a_tsv_saved_as_txt_is_read_by_its_tabs(tmp_path):
    df = read_table(write(tmp_path, "log.txt", "user_id\titem_id\ttitle, long\nu1\ti1\ta, b\n"))
    assert df.values.tolist() == [["u1", "i1", "a, b"]]


def test_quoted_fields_may_hold_line_breaks(tmp_path):
    df = read_table(write(tmp_path, "items.csv", 'item_id,body\ni1,"two\r\nlines"\ni2,one\n'))
    assert df["body"].tolist() == ["two\r\nlines", "one"]


def test_header_names_lose_surrounding_quotes_and_spaces_but_keep_hyphens_and_dots(tmp_path):
    df = read_table(write(tmp_path, "items.csv", " 'ISBN' ,\"Book-Title\" , a.b \nx,y,z\n"))
    assert df.columns.tolist() == ["ISBN", "Book-Title", "a.b"]


def test_recbole_type_suffixes_are_dropped_and_other_colons_kept(tmp_path):
    recbole = read_table(write(tmp_path, "x.inter.txt", "user_id:token\titem_id:token\ttimestamp:float\nu\ti\t1\n"))
    assert recbole.columns.tolist() == ["user_id", "item_id", "timestamp"]
    assert read_table(write(tmp_path, "log.csv", "user:id,item_id\nu,i\n")).columns.tolist() == ["user:id", "item_id"]


def test_a_trailing_delimiter_adds_no_column_and_an_index_column_stays_unnamed(tmp_path):
    assert read_table(write(tmp_path, "a.csv", "user_id,item_id,\nu1,i1,\n")).columns.tolist() == ["user_id", "item_id"]
    df = read_table(write(tmp_path, "b.csv", ",user_id,item_id\n0,u1,i1\n"))
    assert df.columns.tolist() == ["Unnamed: 0", "user_id", "item_id"] and is_unnamed(df.columns[0])


def test_a_few_malformed_lines_are_skipped_and_counted_with_the_first_line_number():
    df = read_table(FIXTURES / "bx_books.csv")
    assert (len(df), df.attrs["skipped_lines"], df.attrs["first_bad_line"]) == (12, 1, 9)
    assert "0000000135" not in df["ISBN"].tolist()


def test_backslash_escaped_quotes_are_read_as_quotes():
    titles = read_table(FIXTURES / "bx_books.csv").set_index("ISBN")["Book-Title"]
    assert titles["0000000054"] == 'The "Quiet" Garden' and titles["0000000097"] == 'Dr. "Fix" and the Clock'


def test_a_field_that_ends_in_a_backslash_is_read_plainly(tmp_path):
    df = read_table(write(tmp_path, "paths.csv", 'path,name\n"C:\\temp\\",x\n"D:\\",y\n'))
    assert df.values.tolist() == [["C:\\temp\\", "x"], ["D:\\", "y"]]


def test_a_file_of_mostly_malformed_lines_is_refused_naming_the_first_bad_line(tmp_path):
    path = write(tmp_path, "log.csv", "a,b\n1,2\n1,2,3\n4,5\n1,2,3\n1,2,3\n")
    with pytest.raises(DataError, match=r"log.csv: 3 of 5 rows do not line up .* at line 3"):
        read_table(path)


def test_any_value_error_while_parsing_becomes_a_data_error_naming_the_file(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("Only length-1 line terminators supported")
    monkeypatch.setattr(pd, "read_csv", broken)
    with pytest.raises(DataError, match="odd.csv: cannot be read as a table"):
        read_table(write(tmp_path, "odd.csv", "a,b\n1,2\n"))
