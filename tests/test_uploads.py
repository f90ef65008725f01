from __future__ import annotations

import pytest

from recsys.errors import DataError
from recsys.uploads import safe_name, save_upload


@pytest.mark.parametrize("name, expected", [("../../etc/passwd.csv", "passwd.csv"), ("..\\..\\x.csv", "x.csv"),
                                            ("my log (1).csv", "my_log_1_.csv"), ("/abs/path.tsv", "path.tsv"),
                                            (".hidden.csv", "hidden.csv")])
def test_uploaded_names_become_safe_names(name, expected):
    assert safe_name(name) == expected


def test_uploads_stay_inside_the_folder(tmp_path):
    path = save_upload(tmp_path / "uploads", "log", "../../../evil.csv", b"a,b\n1,2\n", 1000)
    assert path == tmp_path / "uploads" / "log" / "evil.csv" and path.read_bytes() == b"a,b\n1,2\n"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["evil.csv", "log", "uploads"]


def test_a_long_upload_name_is_shortened_keeping_its_type(tmp_path):
    path = save_upload(tmp_path, "items", "a" * 200 + ".csv", b"a,b\n1,2\n", 1000)
    assert path.name == "a" * 116 + ".csv"


def test_oversize_and_unsupported_uploads_are_refused(tmp_path):
    with pytest.raises(DataError, match="over the upload limit"):
        save_upload(tmp_path, "log", "big.csv", b"x" * 2000, 1000)
    with pytest.raises(DataError, match="unsupported file type"):
        save_upload(tmp_path, "log", "sheet.xlsx", b"x", 1000)
