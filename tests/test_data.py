from __future__ import annotations

import pandas as pd

from recsys.data import (
    ImportConfig,
    detect_catalog_template,
    detect_log_columns,
    import_dataset,
    load_interactions,
    parse_timestamps,
    preview_texts,
)


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
