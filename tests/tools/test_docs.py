"""`make docs`: the API reference builds with no warning and documents the public API."""

from __future__ import annotations

import constructs_lib
from tools import docs


def test_api_reference_builds_without_warnings(tmp_path):
    assert docs.build(tmp_path) == []
    page = (tmp_path / "constructs_lib.html").read_text()
    for name in constructs_lib.__all__:
        if name == "placeholders":  # a module: its own page
            assert (tmp_path / "constructs_lib" / "placeholders.html").is_file()
        else:
            assert f'id="{name}"' in page, f"{name} is not in the API reference"
    # Value-class fields carry their docstrings (and defaults) rather than `<factory>`.
    assert "Wait after scaling in. Default 5 minutes." in page
    assert "&lt;factory&gt;" not in page
