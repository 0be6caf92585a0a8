"""Editing one model's pinned version in the promotion manifest text."""

from __future__ import annotations

import difflib

import pytest
import yaml
from approval_support import MANIFEST_TEXT

from lambdas.approval.manifest import (
    ManifestError,
    environment_names,
    model_names,
    set_version,
    versions,
)

COMMENTED = """\
# top comment
models:   # trailing comment
  # the classifier is promoted by the approval function
  tabular-classifier:
    staging: 3   # pinned by PR #12

    prod: null
  "diabetes-regressor":
    staging: 3
    prod: 2
other:
  tabular-classifier:
    staging: 5
"""


def _changed(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_sample_manifest_changes_one_line() -> None:
    after = set_version(MANIFEST_TEXT, "tabular-classifier", "staging", 7)
    assert _changed(MANIFEST_TEXT, after) == ["-    staging: null", "+    staging: 7"]
    assert yaml.safe_load(after)["models"] == {
        "tabular-classifier": {"staging": 7, "prod": None},
        "diabetes-regressor": {"staging": 4, "prod": 3},
    }


def test_only_the_model_s_own_pin_changes() -> None:
    after = set_version(COMMENTED, "diabetes-regressor", "staging", 8)
    assert _changed(COMMENTED, after) == ["-    staging: 3", "+    staging: 8"]
    assert "    staging: 3   # pinned by PR #12" in after  # the classifier's pin
    assert after.endswith("other:\n  tabular-classifier:\n    staging: 5\n")


def test_trailing_comment_spacing_and_comment_lines_are_kept() -> None:
    after = set_version(COMMENTED, "tabular-classifier", "staging", 4)
    assert _changed(COMMENTED, after) == [
        "-    staging: 3   # pinned by PR #12",
        "+    staging: 4   # pinned by PR #12",
    ]
    comments = [line for line in COMMENTED.splitlines() if "#" in line]
    assert [line for line in after.splitlines() if "#" in line] == [
        c.replace("staging: 3 ", "staging: 4 ") for c in comments
    ]


def test_none_writes_null_and_edits_are_idempotent() -> None:
    assert "    staging: null   # pinned" in set_version(
        COMMENTED, "tabular-classifier", "staging", None
    )
    once = set_version(COMMENTED, "tabular-classifier", "prod", 9)
    assert set_version(once, "tabular-classifier", "prod", 9) == once


def test_crlf_line_endings_are_kept() -> None:
    crlf = MANIFEST_TEXT.replace("\n", "\r\n")
    after = set_version(crlf, "tabular-classifier", "prod", 2)
    assert after == set_version(MANIFEST_TEXT, "tabular-classifier", "prod", 2).replace(
        "\n", "\r\n"
    )


def test_names_and_versions_in_file_order() -> None:
    assert model_names(COMMENTED) == ["tabular-classifier", "diabetes-regressor"]
    assert environment_names(COMMENTED, "diabetes-regressor") == ["staging", "prod"]
    assert versions(COMMENTED) == {
        "tabular-classifier": {"staging": 3, "prod": None},
        "diabetes-regressor": {"staging": 3, "prod": 2},
    }
    assert versions(MANIFEST_TEXT) == yaml.safe_load(MANIFEST_TEXT)["models"]


def test_unknown_model_names_the_known_ones() -> None:
    with pytest.raises(
        ManifestError,
        match=r"model 'churn' is not in .*\['tabular-classifier', 'diabetes-regressor'\]",
    ):
        set_version(MANIFEST_TEXT, "churn", "staging", 1)


def test_unknown_environment_names_the_model_s_environments() -> None:
    with pytest.raises(
        ManifestError,
        match=r"models.tabular-classifier has no 'qa' key; environments: \['staging', 'prod'\]",
    ):
        set_version(MANIFEST_TEXT, "tabular-classifier", "qa", 1)


def test_manifest_without_models() -> None:
    text = "environments:\n  staging:\n    version: 1\n"
    with pytest.raises(ManifestError, match="no top-level 'models:'"):
        set_version(text, "tabular-classifier", "staging", 1)


def test_inline_mapping_is_refused_rather_than_rewritten() -> None:
    text = "models:\n  tabular-classifier: {staging: 1, prod: 1}\n"
    with pytest.raises(ManifestError, match="inline value"):
        set_version(text, "tabular-classifier", "staging", 2)


@pytest.mark.parametrize(
    ("pin", "got"),
    [("three", "'three'"), ("0", "'0'"), ("{a: 1}", "'{a: 1}'"), ("\n      version: 3", None)],
    ids=["word", "zero", "flow-mapping", "nested-mapping"],
)
def test_a_pin_that_is_not_a_version_is_refused(pin: str, got: str | None) -> None:
    text = f"models:\n  tabular-classifier:\n    staging: {pin}\n    prod: 1\n"
    shown = got or "a nested mapping"
    message = f"models.tabular-classifier.staging: got {shown}; allowed a positive integer"
    with pytest.raises(ManifestError, match=message.replace("{", r"\{")):
        set_version(text, "tabular-classifier", "staging", 2)
    with pytest.raises(ManifestError, match="allowed a positive integer"):
        versions(text)


@pytest.mark.parametrize("version", [0, -1, True, "3"])
def test_version_must_be_positive_integer(version: object) -> None:
    with pytest.raises(ManifestError, match="positive integer"):
        set_version(MANIFEST_TEXT, "tabular-classifier", "staging", version)  # type: ignore[arg-type]
