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


def acknowledgements(synthesized) -> dict[str, str]:
    """Every cdk-nag acknowledgement recorded in the cloud assembly: finding id -> reason."""
    found: dict[str, str] = {}
    for stack in STACKS:
        metadata = json.loads((synthesized.outdir / f"{stack}.metadata.json").read_text())
        for path, entries in metadata.items():
            for entry in entries:
                if entry["type"] == "aws:cdk:acknowledged-rules":
                    found.update(
                        {f"{path} {rule}": reason for rule, reason in entry["data"].items()}
                    )
    return found


def test_every_acknowledgement_names_one_finding_and_a_reason(synthesized):
    found = acknowledgements(synthesized)
    assert len(found) > 20
    for key, reason in found.items():
        rule = key.split(" ", 1)[1]
        assert re.fullmatch(r"AwsSolutions::AwsSolutions-[A-Z]+\d+(\[[^\]]+\])?", rule), rule
        assert rule != "AwsSolutions::AwsSolutions-IAM5", "IAM5 must name the exact finding"
        assert len(reason) >= 20, key


def test_cdk_nag_fails_synth_on_an_unacknowledged_finding(tmp_path):
    """The app really runs cdk-nag: a queue without a dead-letter queue stops synth."""
    from aws_cdk import App
    from aws_cdk import aws_sqs as sqs

    from app import build_app
    from config.settings import load_settings
    from tests.conftest import cdk_context

    app = App(outdir=str(tmp_path), context=cdk_context())
    stacks = build_app(app, load_settings(environments=[]))
    sqs.Queue(stacks["build"], "Unchecked", enforce_ssl=True)
    with pytest.raises(Exception, match="ValidationFailed") as failure:
        app.synth()
    del failure
    report = json.loads((tmp_path / "validation-report.json").read_text())
    violations = {
        v["ruleName"]: [c["constructPath"] for c in v["violatingConstructs"]]
        for plugin in report["pluginReports"]
        for v in plugin["violations"]
    }
    assert violations == {"AwsSolutions-SQS3": ["mlops-build/Unchecked/Resource"]}


def test_every_stack_is_named_for_its_environment(synthesized):
    assert sorted(synthesized.templates) == sorted(STACKS)


def mask(template: dict[str, Any]) -> dict[str, Any]:
    """The template with asset hashes (which change with any code edit) masked."""
    text = json.dumps(template, sort_keys=True)
    text = re.sub(r"[0-9a-f]{64}", "<asset-hash>", text)
    # Step code is staged under code/<name>/<first 16 of its asset hash>/.
    text = re.sub(r"(/code/[A-Za-z0-9_.-]+/)[0-9a-f]{16}/", r"\1<code-hash>/", text)
    return json.loads(text)


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


def test_build_stack_snapshot(synthesized, snapshot_json):
    assert mask(synthesized.templates[BUILD]) == snapshot_json
