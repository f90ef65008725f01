from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from recsys.columns import Coverage
from recsys.data import (
    ImportConfig,
    ImportReport,
    catalog_coverage,
    detect_catalog_template,
    detect_log_columns,
    import_dataset,
    load_catalog,
    load_interactions,
    parse_timestamps,
    preview_texts,
)
from recsys.errors import DataError
from recsys.positives import PositiveRule, default_rule
from recsys.tables import read_table


def test_movielens_style_columns_and_template_are_detected(tmp_path):
    items = tmp_path / "movies.csv"
    items.write_text("movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n2,Heat (1995),\n")
    log = tmp_path / "ratings.csv"
    log.write_text("userId,movieId,rating,timestamp\n7,1,4.5,100\n7,2,3,50\n")
    ds = import_dataset(log, items)
    assert ds.items["text"].tolist() == ["Toy Story (1995). Genres: Adventure, Animation", "Heat (1995)"]
    assert ds.items["category"].tolist() == ["Adventure", "(none)"]
    # sorted by time within the user: item 2 came first
    assert ds.interactions[["item_id", "timestamp", "rating"]].values.tolist() == [["2", 50, 3.0], ["1", 100, 4.5]]
    assert ds.report.template == "{title}. Genres: {genres}"
    assert (ds.report.users, ds.report.items, ds.report.interactions) == (1, 2, 2)
    assert ds.report.density == 1.0


def test_explicit_columns_and_custom_template(tmp_path):
    items = tmp_path / "items.csv"
    items.write_text("sku,name,desc\na,Lamp,Warm light\nb,Desk,Oak\n")
    log = tmp_path / "log.csv"
    log.write_text("who,what,when\nx,a,2024-01-02T00:00:00Z\nx,b,2024-01-01\n")
    cfg = ImportConfig(user_col="who", item_col="what", time_col="when", catalog_item_col="sku",
                       template="{name} - {desc}")
    ds = import_dataset(log, items, config=cfg)
    assert ds.items["text"].tolist() == ["Lamp - Warm light", "Desk - Oak"]
    assert ds.interactions["item_id"].tolist() == ["b", "a"]


def test_tags_file_enriches_item_text_with_most_frequent_tags(tmp_path):
    items = tmp_path / "items.csv"
    items.write_text("item_id,title\ni1,Alien\ni2,Heat\n")
    log = tmp_path / "log.csv"
    log.write_text("user_id,item_id,timestamp\nu,i1,1\n")
    tags = tmp_path / "tags.csv"
    tags.write_text("userId,movieId,tag\n1,i1,Scary\n2,i1,space\n3,i1,scary\n")
    ds = import_dataset(log, items, tags)
    assert ds.items["text"].tolist() == ["Alien. Tags: scary, space", "Heat"]


def test_epoch_milliseconds_are_detected():
    values = pd.Series(["1700000000000", "1700000001000"])
    assert parse_timestamps(values, "f", "ts").tolist() == [1700000000, 1700000001]


def test_missing_timestamp_column_falls_back_to_file_order(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("user_id,item_id\nu,b\nu,a\n")
    df, _ = load_interactions(log, ImportConfig())
    assert df["item_id"].tolist() == ["b", "a"] and df["timestamp"].tolist() == [0, 1]


def test_detection_helpers_for_the_data_page():
    log = pd.DataFrame(columns=["visitor_id", "product_id", "event_time", "event_type"])
    assert detect_log_columns(log) == {"user_col": "visitor_id", "item_col": "product_id", "time_col": "event_time",
                                       "rating_col": None, "event_col": "event_type"}
    cat = pd.DataFrame({"product_id": ["1"], "name": ["Lamp"], "price": ["3"], "brand": ["Acme"]})
    assert detect_catalog_template(cat) == ("product_id", "{name}. Brand: {brand}")
    assert preview_texts(cat, "{name} by {brand}") == ["Lamp by Acme"]


FIXTURES = Path(__file__).parent / "fixtures"


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def test_ids_written_as_decimals_in_one_file_match_integers_in_the_other_and_the_report_says_so(tmp_path):
    log = write(tmp_path, "ratings.csv", "userId,movieId,timestamp\n7.0,1430.0,1\n7.0,12.00,2\n8.0,1430.0,3\n")
    items = write(tmp_path, "movies.csv", "movieId,title\n1430,Heat\n12,Alien\n")
    ds = import_dataset(log, items)
    assert ds.interactions[["user_id", "item_id"]].values.tolist() == [["7", "1430"], ["7", "12"], ["8", "1430"]]
    assert ds.report.warnings == ("user ids written as decimals (7.0) were read as integers (7) in ratings.csv",
                                  "item ids written as decimals (1430.0) were read as integers (1430) in ratings.csv")


def test_catalog_ids_written_as_decimals_are_read_as_integers_too(tmp_path):
    log = write(tmp_path, "log.csv", "user_id,item_id,timestamp\nu,1430,1\n")
    items = write(tmp_path, "items.csv", "item_id,title\n1430.0,Heat\n,Blank\n")
    ds = import_dataset(log, items)
    assert ds.items["item_id"].tolist() == ["1430"]
    assert ds.report.warnings == ("item ids written as decimals (1430.0) were read as integers (1430) in items.csv",)


def test_ids_with_leading_zeros_or_fractions_keep_the_column_as_written(tmp_path):
    log = write(tmp_path, "log.csv", "user_id,item_id,timestamp\n01.0,007,1\n01.0,1.5,2\n01.0,3.0,3\n")
    items = write(tmp_path, "items.csv", "item_id,title\n007,Bond\n1.5,Half\n3.0,Three\n")
    ds = import_dataset(log, items)
    assert ds.interactions[["user_id", "item_id"]].values.tolist() == [["01.0", "007"], ["01.0", "1.5"], ["01.0", "3.0"]]
    assert ds.report.warnings == ()


def test_a_log_without_time_column_keeps_file_order_and_says_so_instead_of_1970_dates(tmp_path):
    log = write(tmp_path, "log.csv", "user_id,item_id\nu,i2\nu,i1\n")
    ds = import_dataset(log, write(tmp_path, "items.csv", "item_id,title\ni1,One\ni2,Two\n"))
    assert ds.interactions["item_id"].tolist() == ["i2", "i1"]
    assert ds.report.warnings == ("log.csv has no time column: the order of rows in the file is taken as time order",)
    assert (ds.report.file_order, ds.report.time_start, ds.report.time_end) == (True, "", "")
    assert "time span: no time column (file order)" in ds.report.lines()


def test_a_report_saved_before_file_order_existed_still_loads():
    saved = {"users": 1, "items": 2, "items_with_interactions": 2, "interactions": 2, "density": 1.0,
             "time_start": "2024-01-01", "time_end": "2024-01-02", "items_without_text": 0, "dropped": {},
             "warnings": [], "template": "{title}"}
    assert "time span: 2024-01-01 .. 2024-01-02" in ImportReport(**saved).lines()


def test_book_crossing_shaped_files_import_with_every_fix_reported():
    ds = import_dataset(FIXTURES / "bx_ratings.csv", FIXTURES / "bx_books.csv")
    items = ds.items.set_index("item_id")
    assert items.at["0000000011", "text"] == "The Salt Road. Book author: Ana P\u00e9rez. Publisher: Harbor & Sons"
    assert items.at["000000003X", "title"] == "Rosa's Kitchen" and items.at["0000000046", "title"] == "Tom\u2019s War"
    assert items.at["0000000054", "title"] == 'The "Quiet" Garden'
    assert ds.report.template == "{Book-Title}. Book author: {Book-Author}. Publisher: {Publisher}"
    assert ds.report.dropped == {"malformed line (wrong number of fields) in bx_books.csv": 1,
                                 "unknown item id (not in the catalog)": 1}
    assert ds.report.warnings == ("bx_ratings.csv has no time column: the order of rows in the file is taken as "
                                  "time order",)
    assert ds.interactions["rating"].tolist()[:3] == [0.0, 5.0, 8.0] and ds.report.users == 5
    assert default_rule(ds.interactions) == PositiveRule(pytest.approx(5.1), {}, 0.0)  # 0: read, not rated; 3-10


def test_a_catalog_led_by_a_page_body_names_items_by_their_title_and_leaves_links_out():
    catalog, _, _ = load_catalog(FIXTURES / "recipe_pages.csv", ImportConfig())
    row = catalog.set_index("item_id").loc["101"]
    assert (row["title"], row["category"]) == ("Lemon Tart & Cream", "Desserts")
    assert row["text"] == ("Lemon Tart & Cream. Category name: Desserts. Body: Skip to main content, Home, Recipes, "
                           "About us, Sign in. A sharp lemon curd in a crisp shell, served cold with whipped cream")
    assert catalog.set_index("item_id").at["105", "title"] == "Plum & Ginger Jam"


def test_a_catalog_with_only_an_id_column_is_refused_saying_what_to_add(tmp_path):
    items = write(tmp_path, "items.csv", b"item_id\r\n1\r\n2\r\n")
    with pytest.raises(DataError, match=r"items.csv: no text column found \(columns: item_id\); .* Add such a column"):
        load_catalog(items, ImportConfig())


def test_a_template_naming_a_missing_column_is_refused_naming_the_file_and_placeholder(tmp_path):
    items = write(tmp_path, "items.csv", "item_id,Book-Title\ni1,Salt\n")
    with pytest.raises(DataError, match=r"items.csv: the item-text template names \{Title\}, which is not a column"):
        load_catalog(items, ImportConfig(template="{Title}"))
    catalog, _, _ = load_catalog(items, ImportConfig(template="Book: {book-title}"))
    assert catalog["text"].tolist() == ["Book: Salt"]


def test_semicolon_files_with_decimal_commas_give_numeric_ratings(tmp_path):
    log = write(tmp_path, "log.csv", "user;item;rating;timestamp\nu1;i1;3,5;1\nu1;i2;4;2\n")
    df, _ = load_interactions(log, ImportConfig())
    assert df["rating"].tolist() == [3.5, 4.0]


def test_when_no_item_id_matches_the_error_shows_examples_from_both_files(tmp_path):
    log = write(tmp_path, "log.csv", "user_id,item_id,timestamp\nu,tt01,1\nu,tt02,2\n")
    items = write(tmp_path, "items.csv", "item_id,title\n1,One\n2,Two\n")
    with pytest.raises(DataError, match=r"log.csv: none of its item ids appear in items.csv \(log ids like tt01, "
                                        r"tt02; catalog ids like 1, 2\)"):
        import_dataset(log, items)


def test_catalog_coverage_counts_distinct_log_items_after_id_normalisation():
    coverage = catalog_coverage(pd.Series(["1.0", "2.0", "2.0", "3.0", "9.0"]), pd.Series(["1", "2", "3", "4", "5"]), 1)
    assert coverage == Coverage(log_items=4, matched=3, log_examples=("9",), catalog_examples=("4",))
    assert coverage.share == 0.75


def test_detection_matches_names_ignoring_case_and_punctuation_and_never_picks_an_unnamed_column():
    log = pd.DataFrame(columns=["Unnamed: 0", "User-ID", "ISBN", "Book-Rating"])
    assert detect_log_columns(log) == {"user_col": "User-ID", "item_col": "ISBN", "time_col": None,
                                       "rating_col": "Book-Rating", "event_col": None}
    assert detect_log_columns(pd.DataFrame(columns=["Unnamed: 0", "user_id"]))["item_col"] is None
    retail = pd.DataFrame(columns=["InvoiceNo", "StockCode", "Description", "InvoiceDate", "CustomerID"])
    assert detect_log_columns(retail) == {"user_col": "CustomerID", "item_col": "StockCode", "time_col": "InvoiceDate",
                                          "rating_col": None, "event_col": None}
    orders = pd.DataFrame(columns=["user_id", "order_id", "district_id"])
    assert detect_log_columns(orders)["item_col"] == "district_id"


def test_the_data_page_helpers_give_what_import_will_use():
    raw = read_table(FIXTURES / "bx_books.csv")
    item, template = detect_catalog_template(raw)
    ds = import_dataset(FIXTURES / "bx_ratings.csv", FIXTURES / "bx_books.csv")
    assert (item, template) == ("ISBN", ds.report.template)
    preview = preview_texts(raw, template, n=2, max_chars=30)
    assert preview == ["The Salt Road. Book author: An", "Night Trains. Book author: J\u00f6r"]
    assert preview_texts(raw, template, n=1) == ds.items["text"].tolist()[:1]


def test_a_catalogs_only_id_like_column_is_its_item_id():
    cat = pd.DataFrame({"district": ["101-Bois-de-Liesse"], "Joly": ["3024"], "district_id": ["101"]})
    assert detect_catalog_template(cat) == ("district_id", "{district}")


def test_a_real_public_catalog_shipped_with_plotly_imports_against_a_log_of_decimal_ids(tmp_path):
    """Montreal's 2013 election results by district, as the plotly package ships them (a file we did not write)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None:
        pytest.skip("plotly is not installed")
    source = Path(spec.submodule_search_locations[0]) / "package_data" / "datasets" / "election.csv.gz"
    items = write(tmp_path, "election.csv", gzip.decompress(source.read_bytes()))
    log = write(tmp_path, "votes.csv", "user_id,district_id\nu1,101.0\nu1,11.0\nu2,101.0\nu2,999.0\n")
    ds = import_dataset(log, items)
    assert ds.report.items == 58 and ds.report.template == "{district}. Winner: {winner}. Result: {result}"
    assert ds.items.set_index("item_id").loc["101", ["title", "text"]].tolist() == [
        "101-Bois-de-Liesse", "101-Bois-de-Liesse. Winner: Joly. Result: plurality"]
    assert ds.interactions["item_id"].tolist() == ["101", "11", "101"]
    assert ds.report.dropped == {"unknown item id (not in the catalog)": 1}
    assert ds.report.warnings[0] == "item ids written as decimals (101.0) were read as integers (101) in votes.csv"
