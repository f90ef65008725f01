"""Data: upload a behaviour log, a catalog and optional tags (or use the demo), map columns, preview the
item text, import. Uploaded text is shown as data (dataframes, st.text), never as markdown or HTML."""
from __future__ import annotations

import streamlit as st

from recsys.service import (
    ROOT,
    ImportConfig,
    ImportRequest,
    RecTuneError,
    demo_paths,
    detect_catalog_template,
    detect_log_columns,
    preview_texts,
    read_upload,
)
from ui.common import alert, page_setup

service = page_setup("Data")
report = service.ws.report()
if report is not None:
    with st.expander("Current data", expanded=False):
        st.text("\n".join(report.lines()))
        st.text(f"What counts as a positive (read from the data; the threshold and a 'not rated' value can be "
                f"changed on the Train page, the event weights with the CLI's --event-weights): "
                f"{service.positives_rule().describe()}")

source = st.radio("Source", ["Upload files", "Bundled demo (synthetic bookshop)"], horizontal=True, key="data_source")


def uploaded(role: str, label: str, required: bool = True):
    file = st.file_uploader(label, type=["csv", "tsv", "txt", "parquet", "jsonl", "json"], key=f"upload_{role}")
    if file is None:
        return None
    try:
        return service.save_upload(role, file.name, file.getvalue())
    except RecTuneError as exc:
        alert("error", exc)
        return None


def preview(path, what: str):
    try:
        df = read_upload(path)
    except RecTuneError as exc:
        alert("error", exc)
        return None
    skipped = df.attrs.get("skipped_lines", 0)
    st.text(f"{what}: {len(df):,} rows, first 10 below" + (f" ({skipped:,} malformed lines skipped)" if skipped else ""))
    st.dataframe(df.head(10), hide_index=True, width="stretch")
    return df


FLAG_WORDS = {"--user-col": "the 'user' picker above", "--item-col": "the 'item' picker above",
              "--time-col": "the 'time' picker above", "--rating-col": "the 'rating' picker above",
              "--event-col": "the 'event' picker above", "--catalog-item-col": "the catalog item id picker above",
              "--text-columns or a template": "the item text template above", "--template": "the template above"}


def page_words(message: str) -> str:
    """Import messages name CLI flags; on this page the same choice is a picker."""
    for flag, words in FLAG_WORDS.items():
        message = message.replace(flag, words)
    return message


def run_import(log_path, items_path, tags_path, config: ImportConfig) -> None:
    try:
        with st.spinner("Importing and encoding the catalog..."):
            rep = service.import_files(ImportRequest(log_path, items_path, tags_path, config))
    except RecTuneError as exc:
        alert("error", f"Import refused, nothing changed: {page_words(str(exc))}")
        return
    st.success("Imported. An untuned model is active; train a round on the Train page.")
    st.text("\n".join(rep.lines()))


if source.startswith("Bundled"):
    st.write("A synthetic bookshop made by RecTune's own seeded generator (recsys/demo.py): 1,600 books, "
             "700 readers, ~31,600 events. No real people or products.")
    if st.button("Import the demo data", key="import_demo"):
        run_import(*demo_paths(ROOT), None, ImportConfig())
    st.stop()

log_path = uploaded("log", "Behaviour log (user, item, time, optional rating/event)")
items_path = uploaded("items", "Item catalog (item id + text columns)")
tags_path = uploaded("tags", "Optional tags (user_id, item_id, tag)")
log_df = preview(log_path, "Log") if log_path else None
items_df = preview(items_path, "Catalog") if items_path else None
if log_df is None or items_df is None:
    st.stop()

st.subheader("Columns")
detected = detect_log_columns(log_df)
options = [None, *log_df.columns]
cols = st.columns(5)
chosen = {role: cols[i].selectbox(role.replace("_col", ""), options, index=options.index(detected[role]),
                                  key=f"map_{role}") for i, role in enumerate(detected)}
item_col, template_default = detect_catalog_template(items_df)
cat_options = list(items_df.columns)
catalog_item = st.selectbox("Catalog item id column", cat_options,
                            index=cat_options.index(item_col) if item_col in cat_options else 0, key="map_catalog_item")
if chosen["item_col"]:
    cover = service.catalog_coverage(log_df[chosen["item_col"]], items_df[catalog_item])
    st.text(f"The catalog covers {cover.matched:,} of the log's {cover.log_items:,} items ({cover.share:.0%}).")
    if cover.share < 0.5:
        st.warning("Few log items are in the catalog: check that both files use the same ids and the right id "
                   "columns are chosen above.")
        st.text(f"Log ids not in the catalog, e.g.: {', '.join(cover.log_examples)}\n"
                f"Catalog ids not in the log, e.g.: {', '.join(cover.catalog_examples)}")
template = st.text_input("Item text template ({column} placeholders)", template_default, key="template")
try:
    st.text("Item text preview (first items, shortened):")
    for text in preview_texts(items_df, template, 5, 300):
        st.text(text)
except RecTuneError as exc:
    alert("error", exc)
running = service.job().active
if running:
    st.info("A training round is running in this workspace: import when it has finished.")
if st.button("Import", type="primary", key="import_button", disabled=running):
    try:
        config = ImportConfig(**chosen, catalog_item_col=catalog_item, template=template)
    except ValueError as exc:
        alert("error", exc)
    else:
        run_import(log_path, items_path, tags_path, config)
