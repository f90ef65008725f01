"""Item text from catalog columns: which columns, in what order, and how a template renders them."""
from __future__ import annotations

import pandas as pd
import pytest

from recsys.errors import DataError
from recsys.text import (
    category_column,
    default_template,
    render_texts,
    resolve_template,
    text_like_columns,
    title_column,
)

BOOKS = pd.DataFrame({"ISBN": ["034545104X"], "Book-Title": ["Salt &amp; Stone"], "Book Author": ["Ana P\u00e9rez"],
                      "a.b": ["x"], "Year-Of-Publication": ["1998"]})


def test_placeholders_may_name_columns_with_hyphens_spaces_and_dots():
    texts = render_texts(BOOKS, "{Book-Title} by {Book Author} ({a.b}, {Year-Of-Publication})", 100)
    assert texts.tolist() == ["Salt & Stone by Ana P\u00e9rez (x, 1998)"]


def test_a_placeholder_matches_its_column_ignoring_case_and_punctuation_when_only_one_column_fits():
    assert resolve_template("{book title} / {ISBN}", list(BOOKS.columns)) == "{Book-Title} / {ISBN}"
    with pytest.raises(DataError, match=r"names \{NAME\}, which is not a column"):
        resolve_template("{NAME}", ["Name", "name"])


def test_a_placeholder_naming_no_column_is_refused_with_the_columns_listed():
    with pytest.raises(DataError) as err:
        render_texts(BOOKS, "{Book-Title}. {Title}", 100)
    assert str(err.value) == ("the catalog: the item-text template names {Title}, which is not a column; "
                              "available columns: ISBN, Book-Title, Book Author, a.b, Year-Of-Publication.")


def test_a_template_without_any_placeholder_is_refused():
    with pytest.raises(DataError, match="has no {column} placeholder"):
        resolve_template("just words", ["title"], "items.csv")


def test_default_labels_read_naturally_for_any_column_name():
    template = default_template(["Book-Title", "Year-Of-Publication", "Book Author", "US Gross", "lifeExp", "genres"])
    assert template == ("{Book-Title}. Year of publication: {Year-Of-Publication}. Book author: {Book Author}. "
                        "US gross: {US Gross}. Life exp: {lifeExp}. Genres: {genres}")


def test_name_columns_come_first_long_bodies_last_and_links_and_ids_are_left_out():
    body = "Skip to content | Home | Shop. " + "A long page about the thing itself. " * 4
    df = pd.DataFrame({"url": ["https://shop.example/a", "https://shop.example/b"], "body": [body, body],
                       "code": ["B00031", "B00032"], "page_title": ["Lamp", "Desk"], "author": ["Ann Lee", "Bo Li"],
                       "Image-URL-S": ["x.jpg", "y.jpg"], "checksum": ["5d41402abc4b2a76b9719d911017c592"] * 2,
                       "price": ["3.50", "4"], "Unnamed: 0": ["words here", "more words"]})
    assert text_like_columns(df) == ["page_title", "author", "body"]


def test_entities_are_unescaped_even_when_escaped_twice():
    df = pd.DataFrame({"title": ["Rosa&#39;s Caf&eacute;", "Salt &amp;amp; Stone", "Fish &lt;3"]})
    assert render_texts(df, "{title}", 100).tolist() == ["Rosa's Caf\u00e9", "Salt & Stone", "Fish <3"]


def test_html_tags_are_dropped_from_long_bodies_but_a_short_name_keeps_them_literally():
    body = "<p>A <b>sharp</b> lemon curd in a crisp shell, served cold.</p><script>track()</script>" * 2
    df = pd.DataFrame({"name": ["<script>alert(1)</script>"], "body": [body]})
    assert render_texts(df, "{name}. Body: {body}", 300).tolist() == [
        "<script>alert(1)</script>. Body: A sharp lemon curd in a crisp shell, served cold. "
        "A sharp lemon curd in a crisp shell, served cold"]


def test_empty_fields_drop_out_and_a_field_ending_in_punctuation_takes_no_extra_period():
    df = pd.DataFrame({"title": ["Really?", "", "Heat"], "genres": ["Drama|Crime", "Sea", "nan"]})
    assert render_texts(df, "{title}. Genres: {genres}", 100).tolist() == [
        "Really? Genres: Drama, Crime", "Genres: Sea", "Heat"]


def test_the_title_comes_from_a_name_like_column_and_categories_from_genre_like_names():
    df = pd.DataFrame({"ISBN": ["034545104X"], "Publisher": ["Kettle Press"], "Book-Title": ["Salt"],
                       "category_id": ["12"], "Book-Category": ["Fiction"]})
    assert (title_column(df), category_column(df)) == ("Book-Title", "Book-Category")
    for name in ("genre", "category_name", "Major Genre", "Genres"):
        assert category_column(pd.DataFrame({"title": ["x"], name: ["Drama"]})) == name


def test_without_a_name_like_column_the_title_is_the_first_template_column_with_short_words():
    df = pd.DataFrame({"district": ["101-Bois-de-Liesse"], "winner": ["Joly"]})
    assert title_column(df) is None
    assert title_column(df, fallback=("district", "winner")) == "district"
