"""Every synthesized template: cfn-lint clean, cdk-nag clean, build stack snapshot."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from tests.app.conftest import BUILD

STACKS = ["mlops-build", "mlops-staging", "mlops-prod"]


@pytest.mark.parametrize("stack", STACKS)
def test_cfn_lint_finds_no_errors(synthesized, stack):
    from cfnlint.api import ManualArgs, lint_file

    template = synthesized.outdir / f"{stack}.template.json"
    matches = lint_file(template, config=ManualArgs(regions=["eu-west-1"]))
    errors = [
        f"{m.rule.id} {m.path_string}: {m.message}" for m in matches if m.rule.id.startswith("E")
    ]
    assert errors == []


def test_cdk_nag_ran_and_passed(synthesized):
    """Synth would have raised on any unacknowledged finding; the report says it ran."""
    report_path = synthesized.outdir / "validation-report.json"
    if report_path.exists():
        report = json.loads(report_path.read_text())
        assert all(p["conclusion"] == "success" for p in report["pluginReports"])
    acknowledged = [
        entry
        for t in synthesized.templates.values()
        for r in t["Resources"].values()
        for entry in r.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]
    assert all(entry.get("reason") for entry in acknowledged)


def test_every_stack_is_named_for_its_environment(synthesized):
    assert sorted(synthesized.templates) == sorted(STACKS)


def mask(template: dict[str, Any]) -> dict[str, Any]:
    """The template with asset hashes (which change with any code edit) masked."""
    text = json.dumps(template, sort_keys=True)
    text = re.sub(r"[0-9a-f]{64}", "<asset-hash>", text)
    return json.loads(text)


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


def test_build_stack_snapshot(synthesized, snapshot_json):
    assert mask(synthesized.templates[BUILD]) == snapshot_json
