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


def test_every_value_class_field_says_what_it_is_and_its_default():
    import dataclasses

    import pdoc.doc

    missing = []
    for name in constructs_lib.__all__:
        cls = getattr(constructs_lib, name)
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            continue
        documented = pdoc.doc.Class(cls.__module__, cls.__name__, cls, (cls.__module__, name))
        for field in dataclasses.fields(cls):
            doc = documented.get(field.name)
            text = doc.docstring if doc else ""
            if "Default" not in text and "Required" not in text:
                missing.append(f"{name}.{field.name}: {text!r}")
    assert missing == []
