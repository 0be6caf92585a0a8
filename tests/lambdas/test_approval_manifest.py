"""Editing one pinned version in the promotion manifest text."""

from __future__ import annotations

import difflib

import pytest
from approval_support import MANIFEST_TEXT, REAL_MANIFEST

from lambdas.approval.manifest import ManifestError, environment_names, set_version

COMMENTED = """\
# top comment
environments:   # trailing comment
  # staging is promoted by the approval function
  staging:
    model_package_group: tabular-classifier
    version: 3   # pinned by PR #12

  prod:
    model_package_group: tabular-classifier
    metadata:
      version: 99
    version: null
other: {version: 5}
"""


def _changed(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_repository_manifest_changes_one_line_and_keeps_comments() -> None:
    before = REAL_MANIFEST.read_text(encoding="utf-8")
    after = set_version(before, "staging", 987654)
    removed, added = _changed(before, after)
    assert removed.startswith("-    version:") and added == "+    version: 987654"
    assert [line for line in after.splitlines() if "#" in line] == [
        line for line in before.splitlines() if "#" in line
    ]


def test_sample_manifest_changes_one_line() -> None:
    after = set_version(MANIFEST_TEXT, "staging", 7)
    assert _changed(MANIFEST_TEXT, after) == ["-    version: null", "+    version: 7"]


def test_only_the_environment_s_own_version_key_changes() -> None:
    after = set_version(COMMENTED, "prod", 8)
    assert _changed(COMMENTED, after) == ["-    version: null", "+    version: 8"]
    assert "      version: 99" in after and "other: {version: 5}" in after


def test_trailing_comment_and_spacing_are_kept() -> None:
    after = set_version(COMMENTED, "staging", 4)
    assert _changed(COMMENTED, after) == [
        "-    version: 3   # pinned by PR #12",
        "+    version: 4   # pinned by PR #12",
    ]


def test_none_writes_null_and_edits_are_idempotent() -> None:
    assert "    version: null   # pinned" in set_version(COMMENTED, "staging", None)
    once = set_version(COMMENTED, "staging", 9)
    assert set_version(once, "staging", 9) == once


def test_crlf_line_endings_are_kept() -> None:
    crlf = MANIFEST_TEXT.replace("\n", "\r\n")
    after = set_version(crlf, "prod", 2)
    assert after == set_version(MANIFEST_TEXT, "prod", 2).replace("\n", "\r\n")


def test_environment_names_in_file_order() -> None:
    assert environment_names(COMMENTED) == ["staging", "prod"]
    assert environment_names(REAL_MANIFEST.read_text(encoding="utf-8"))[:2] == ["staging", "prod"]


def test_unknown_environment_names_the_known_ones() -> None:
    with pytest.raises(ManifestError, match=r"'qa' is not in .*\['staging', 'prod'\]"):
        set_version(MANIFEST_TEXT, "qa", 1)


def test_environment_without_version_key() -> None:
    text = "environments:\n  staging:\n    model_package_group: g\n"
    with pytest.raises(ManifestError, match=r"environments.staging has no 'version' key"):
        set_version(text, "staging", 1)


def test_manifest_without_environments() -> None:
    with pytest.raises(ManifestError, match="no top-level 'environments:'"):
        set_version("pins:\n  staging:\n    version: 1\n", "staging", 1)


def test_inline_mapping_is_refused_rather_than_rewritten() -> None:
    text = "environments:\n  staging: {model_package_group: g, version: 1}\n"
    with pytest.raises(ManifestError, match="inline value"):
        set_version(text, "staging", 2)


@pytest.mark.parametrize("version", [0, -1, True])
def test_version_must_be_positive_integer(version: int) -> None:
    with pytest.raises(ManifestError, match="positive integer"):
        set_version(MANIFEST_TEXT, "staging", version)
