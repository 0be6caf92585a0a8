"""Every resource that keeps a fixed name after its stack is deleted (DeletionPolicy Retain)
is listed, with its recovery, in the README's "Recovering a stack" table: re-creating the
stack fails on exactly these ("already exists"), so each needs a written way out."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import REPO_ROOT

RETAINED = ("Retain", "RetainExceptOnCreate", "Snapshot")


def fixed(value: Any) -> bool:
    """A name CloudFormation does not generate: text, or text joined with the partition,
    account or region (nothing that changes when the stack is re-created)."""
    if isinstance(value, str):
        return True
    if isinstance(value, dict) and "Fn::Join" in value:
        return all(
            isinstance(p, str)
            or (isinstance(p, dict) and str(p.get("Ref", "")).startswith("AWS::"))
            for p in value["Fn::Join"][1]
        )
    return False


def retained_with_fixed_names(templates: dict[str, dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(stack, resource type, name property) of every retained resource with a fixed name."""
    found = set()
    for stack, template in templates.items():
        for resource in template["Resources"].values():
            if resource.get("DeletionPolicy") not in RETAINED:
                continue
            for key, value in resource.get("Properties", {}).items():
                if key.endswith("Name") and fixed(value):
                    found.add((stack, resource["Type"], key))
    return found


def readme_rows() -> list[tuple[str, str, str]]:
    """(stack pattern, resource type, name property) of each row of the README's table."""
    text = (REPO_ROOT / "README.md").read_text()
    assert "\n## Recovering a stack\n" in text, (
        "README.md lacks the 'Recovering a stack' section (see its table format in"
        " tests/app/test_recovery.py)"
    )
    section = text.split("\n## Recovering a stack\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[1].startswith("AWS::"):
            rows.append((cells[0], cells[1], cells[2]))
    return rows


def listed(row: tuple[str, str, str], found: tuple[str, str, str]) -> bool:
    """Whether the README's `row` (a stack pattern like `mlops-<model>-build`) covers it."""
    literal = re.split(r"<[^>]+>", row[0])
    pattern = ".+".join(re.escape(part) for part in literal)
    return bool(re.fullmatch(pattern, found[0])) and row[1:] == found[1:]


def test_every_fixed_name_retained_resource_has_a_recovery(synthesized):
    rows = readme_rows()
    assert rows
    for found in sorted(retained_with_fixed_names(synthesized.templates)):
        assert any(listed(row, found) for row in rows), (
            f"{found} keeps a fixed name after its stack is deleted: add its recovery to"
            " README 'Recovering a stack'"
        )


def test_an_unlisted_resource_fails_the_check():
    rows = [("mlops-<model>-build", "AWS::SageMaker::ModelPackageGroup", "ModelPackageGroupName")]
    assert listed(
        rows[0], ("mlops-churn-build", "AWS::SageMaker::ModelPackageGroup", "ModelPackageGroupName")
    )
    assert not listed(rows[0], ("mlops-build", "AWS::S3::Bucket", "BucketName"))
    assert not listed(
        rows[0], ("mlops-churn-prod", "AWS::SageMaker::ModelPackageGroup", "ModelPackageGroupName")
    )


def test_the_check_sees_the_build_bucket_and_the_registries(synthesized):
    found = retained_with_fixed_names(synthesized.templates)
    assert ("mlops-build", "AWS::S3::Bucket", "BucketName") in found
    assert (
        "mlops-diabetes-regressor-build",
        "AWS::SageMaker::ModelPackageGroup",
        "ModelPackageGroupName",
    ) in found
