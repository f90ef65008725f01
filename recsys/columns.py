"""Which column of a user's file plays which role: user id, item id, time, rating, event, tag. One detection,
used by import, the Data page's pickers and the coverage check shown before an import."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from recsys.tables import alias_column, integer_ids, is_unnamed
from recsys.text import name_words

# Matched ignoring case and punctuation, so 'User-ID', 'userId' and 'user_id' are one name; messages list
# the first six.
USER_ALIASES = ("user_id", "userId", "user", "uid", "customer_id", "visitor_id", "reviewer_id", "member_id",
                "account_id", "client_id", "session_id")
ITEM_ALIASES = ("item_id", "itemId", "movieId", "product_id", "productId", "item", "iid", "sku", "isbn", "asin",
                "book_id", "track_id", "song_id", "artist_id", "business_id", "article_id", "news_id", "video_id",
                "anime_id", "recipe_id", "game_id", "app_id", "course_id", "post_id", "listing_id", "page_id",
                "doc_id", "content_id", "stock_code", "product_code", "item_code", "product", "movie", "book", "id")
TIME_ALIASES = ("timestamp", "time", "ts", "datetime", "date", "event_time", "date_time", "event_timestamp",
                "created_at", "unix_review_time", "review_time", "rated_at", "watched_at", "played_at")
RATING_ALIASES = ("rating", "score", "weight", "stars", "overall", "book_rating", "rating_value")
EVENT_ALIASES = ("event", "event_type", "action", "behavior", "behaviour", "interaction", "interaction_type")
TAG_ALIASES = ("tag", "tags", "label")
LOG_ROLES = {"user_col": (USER_ALIASES, "user id", "--user-col"),
              "item_col": (ITEM_ALIASES, "item id", "--item-col"),
              "time_col": (TIME_ALIASES, "timestamp", "--time-col"),
              "rating_col": (RATING_ALIASES, "rating", "--rating-col"),
              "event_col": (EVENT_ALIASES, "event", "--event-col")}
# A log's only '*_id' column is its item id, unless it names one of these ('order_id', 'SessionID').
NOT_ITEM_IDS = {"order", "transaction", "invoice", "session", "review", "event", "basket", "cart", "row", "record"}

@dataclass(frozen=True)
class Coverage:
    """How many of a log's distinct item ids the catalog has, with unmatched examples from each side."""

    log_items: int
    matched: int
    log_examples: tuple[str, ...] = ()  # log ids the catalog lacks
    catalog_examples: tuple[str, ...] = ()  # catalog ids the log never uses

    @property
    def share(self) -> float:
        return self.matched / self.log_items if self.log_items else 0.0


def catalog_item_column(df: pd.DataFrame, taken: tuple[str, ...] = ()) -> str | None:
    """The item id column: a usual name (item_id, movieId, ISBN...), else the only '*_id' column left once the
    columns in `taken` (a log's user column) and ids of orders, sessions and the like are set aside."""
    return alias_column(df, ITEM_ALIASES, set(taken)) or only_column(df, taken, {"id"}, NOT_ITEM_IDS)


def only_column(df: pd.DataFrame, taken: tuple[str, ...], last_words: set[str],
                 first_words: set[str] | frozenset[str] = frozenset()) -> str | None:
    """The one column whose name ends in one of last_words ('InvoiceDate': date), or None if none or several."""
    found = [c for c in df.columns if c not in taken and not is_unnamed(c) and name_words(c)
             and name_words(c)[-1] in last_words and name_words(c)[0] not in first_words]
    return found[0] if len(found) == 1 else None


def catalog_coverage(log_item_ids: pd.Series, catalog_item_ids: pd.Series, n_examples: int = 5) -> Coverage:
    """How many distinct log item ids the catalog has, after the id normalisation import applies (1430.0 reads
    1430), with up to n unmatched examples from each side: what the Data page shows before an import."""
    log = pd.Series(integer_ids(pd.Series(log_item_ids.unique()))[0].unique())
    catalog = pd.Series(integer_ids(pd.Series(catalog_item_ids.unique()))[0].unique())
    log, catalog = log[log != ""], catalog[catalog != ""]
    in_catalog = member(log, catalog)
    return Coverage(log_items=len(log), matched=int(in_catalog.sum()),
                    log_examples=tuple(log[~in_catalog].head(n_examples)),
                    catalog_examples=tuple(catalog[~member(catalog, log)].head(n_examples)))


def member(values: pd.Series, pool: pd.Series) -> pd.Series:
    # A hash lookup: Series.isin on Arrow strings converts the pool one scalar at a time.
    return pd.Series(pd.Index(pool.unique()).get_indexer(values) >= 0, index=values.index)


def detect_log_columns(df: pd.DataFrame) -> dict[str, str | None]:
    """The columns import would pick for each role (None where nothing matches); one column plays one role."""
    out: dict[str, str | None] = {}
    for role, (aliases, _, _) in LOG_ROLES.items():
        taken = tuple(c for c in out.values() if c)
        out[role] = catalog_item_column(df, taken) if role == "item_col" else alias_column(df, aliases, set(taken))
        if role == "time_col" and out[role] is None:
            out[role] = only_column(df, taken, {"date", "time", "timestamp", "datetime"})
    return out
