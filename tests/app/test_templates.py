"""Every synthesized template: cfn-lint clean, cdk-nag clean, deterministic, snapshots."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from tests.app.conftest import BUILD, CLASSIFIER, CLASSIFIER_BUILD, NEW, STACKS, build_stack

# The variant's own stacks: a serverless, unmonitored endpoint and an auto-approval.
VARIANT_STACKS = [build_stack(NEW), f"mlops-{NEW}-staging"]


def lint_errors(path) -> list[str]:  # type: ignore[no-untyped-def]
    from cfnlint.api import ManualArgs, lint_file

    matches = lint_file(path, config=ManualArgs(regions=["eu-west-1"]))
    return [
        f"{m.rule.id} {m.path_string}: {m.message}" for m in matches if m.rule.id.startswith("E")
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_cfn_lint_finds_no_errors(synthesized, stack):
    assert lint_errors(synthesized.outdir / f"{stack}.template.json") == []


@pytest.mark.parametrize("stack", VARIANT_STACKS)
def test_cfn_lint_finds_no_errors_in_an_added_model(variant, stack):
    assert lint_errors(variant.outdir / f"{stack}.template.json") == []


def acknowledgements(synthesized, stacks: list[str]) -> dict[str, str]:
    """Every cdk-nag acknowledgement recorded in the cloud assembly: finding id -> reason."""
    found: dict[str, str] = {}
    for stack in stacks:
        metadata = json.loads((synthesized.outdir / f"{stack}.metadata.json").read_text())
        for path, entries in metadata.items():
            for entry in entries:
                if entry["type"] == "aws:cdk:acknowledged-rules":
                    found.update(
                        {f"{path} {rule}": reason for rule, reason in entry["data"].items()}
                    )
    return found


PACKS = ("AwsSolutions", "NIST.800.53.R5", "HIPAA.Security", "Serverless")
"""The cdk-nag packs the app runs, by plugin name."""
ACKNOWLEDGED = re.compile(
    r"(?P<pack>AwsSolutions|NIST\.800\.53\.R5|HIPAA\.Security|Serverless)::(?P=pack)-"
    r"(?P<rule>[A-Za-z0-9]+)(?P<finding>\[[^\]]+\])?"
)
"""`<pack>::<pack>-<rule>[<finding>]`: one finding id, the finding named where the rule
reports one (IAM4/IAM5 wildcards)."""


def test_every_acknowledgement_names_one_finding_and_a_reason(synthesized, variant):
    found = {
        **acknowledgements(synthesized, STACKS),
        **acknowledgements(variant, VARIANT_STACKS),
    }
    assert len(found) > 20
    rules = [key.split(" ", 1)[1] for key in found]
    for key, reason in found.items():
        rule = key.split(" ", 1)[1]
        assert ACKNOWLEDGED.fullmatch(rule), rule
        assert len(reason) >= 20, key
    # A rule that reports findings (IAM5[Action::...]) is never acknowledged whole.
    with_findings = {r.split("[", 1)[0] for r in rules if "[" in r}
    assert with_findings >= {"AwsSolutions::AwsSolutions-IAM5", "AwsSolutions::AwsSolutions-IAM4"}
    assert [r for r in rules if r in with_findings] == []
    assert {ACKNOWLEDGED.fullmatch(r).group("pack") for r in rules} == set(PACKS)  # type: ignore[union-attr]


def test_each_model_build_stack_acknowledges_its_own_findings(synthesized):
    """Acknowledgements sit in the stack whose resource causes the finding: every model
    build stack records its own, under its own path."""
    for model in ("tabular-classifier", "diabetes-regressor"):
        stack = build_stack(model)
        found = acknowledgements(synthesized, [stack])
        assert found, stack
        assert {key.split(" ", 1)[0].split("/")[1] for key in found} == {stack}


@pytest.fixture(scope="module")
def new_findings(tmp_path_factory) -> dict[str, dict[str, list[str]]]:
    """The app (one model, no environment) with one new finding for each pack: a queue
    without a dead-letter queue (AwsSolutions-SQS3, Serverless-SQSRedrivePolicy) and a
    log group without a customer-managed key (CloudWatchLogGroupEncrypted of NIST 800-53
    R5 and HIPAA Security). Synth must raise; returns each pack's violations."""
    from aws_cdk import App
    from aws_cdk import aws_logs as logs
    from aws_cdk import aws_sqs as sqs

    from app import build_app
    from config.settings import load_settings
    from tests.conftest import cdk_context

    outdir = tmp_path_factory.mktemp("nag")
    app = App(outdir=str(outdir), context=cdk_context())
    stacks = build_app(app, load_settings(environments=[], models=[CLASSIFIER]))
    assert sorted(stacks) == [BUILD, CLASSIFIER_BUILD]
    sqs.Queue(stacks[CLASSIFIER_BUILD], "Unchecked", enforce_ssl=True)
    logs.LogGroup(stacks[CLASSIFIER_BUILD], "Unencrypted", retention=logs.RetentionDays.ONE_YEAR)
    with pytest.raises(Exception, match="ValidationFailed"):
        app.synth()
    report = json.loads((outdir / "validation-report.json").read_text())
    return {
        plugin["pluginName"]: {
            v["ruleName"]: [c["constructPath"] for c in v["violatingConstructs"]]
            for v in plugin["violations"]
        }
        for plugin in report["pluginReports"]
        if plugin["conclusion"] == "failure"
    }


QUEUE = f"{CLASSIFIER_BUILD}/Unchecked/Resource"
LOG_GROUP = f"{CLASSIFIER_BUILD}/Unencrypted/Resource"


@pytest.mark.parametrize(
    ("pack", "violations"),
    [
        ("AwsSolutions", {"AwsSolutions-SQS3": [QUEUE]}),
        ("NIST.800.53.R5", {"NIST.800.53.R5-CloudWatchLogGroupEncrypted": [LOG_GROUP]}),
        ("HIPAA.Security", {"HIPAA.Security-CloudWatchLogGroupEncrypted": [LOG_GROUP]}),
        ("Serverless", {"Serverless-SQSRedrivePolicy": [QUEUE]}),
    ],
)
def test_each_pack_stops_synth_on_a_new_finding(new_findings, pack, violations):
    """The app really runs all four packs, and each fails synth on a finding of its own
    (and on nothing else: the app itself is clean). `models=` and `environments=` limit
    the stacks built."""
    assert new_findings[pack] == violations
    assert sorted(new_findings) == sorted(PACKS)


def test_every_stack_is_named_for_its_model_and_environment(synthesized):
    assert sorted(synthesized.templates) == sorted(STACKS)
    assert sorted(synthesized.stacks) == sorted(STACKS)


def test_every_stack_in_its_account(synthesized):
    accounts = {"build": "111111111111", "staging": "222222222222", "prod": "333333333333"}
    for name in synthesized.stacks:
        assert synthesized.account(name) == accounts[name.rsplit("-", 1)[-1]], name
        assert synthesized.region(name) == "eu-west-1"


def test_cross_stack_references_are_few_and_explicit(synthesized):
    """Model stacks read only their shared stack (build side: `mlops-build`; deploy
    side: `mlops-<env>`), never another model's stack."""
    for name, template in synthesized.templates.items():
        text = json.dumps(template)
        producers = set(re.findall(r'"Fn::GetStackOutput": \{"StackName": "([^"]+)"', text))
        producers |= {e.split(":")[0] for e in re.findall(r'"Fn::ImportValue": "([^"]+)"', text)}
        if name in (BUILD, "mlops-staging", "mlops-prod"):
            assert producers == set(), name
        elif name.endswith("-build"):
            assert producers <= {BUILD}, name
        else:
            env = name.rsplit("-", 1)[-1]
            assert producers <= {f"mlops-{env}"}, name


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


def test_model_build_stack_snapshot(synthesized, snapshot_json):
    assert mask(synthesized.templates[CLASSIFIER_BUILD]) == snapshot_json


def test_shared_build_stack_snapshot(synthesized, snapshot_json):
    assert mask(synthesized.templates[BUILD]) == snapshot_json
