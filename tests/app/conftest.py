"""One synthesized reference app, shared by every app-level test (synth is the slow part)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ACCOUNT, REGION, cdk_context
from tests.pipelines.conftest import (  # noqa: F401 (shared fixtures)
    local_pipeline_run,
    local_pipeline_run_started,
)

BUILD = "mlops-build"


@dataclass(frozen=True)
class Synthesized:
    """The reference app after `app.synth()`: templates by stack name, and the stacks."""

    outdir: Path
    templates: dict[str, dict[str, Any]]
    stacks: dict[str, Any]

    def resources(self, stack: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.templates[stack]["Resources"].items()
            if resource["Type"] == resource_type
        }

    def only(self, stack: str, resource_type: str) -> dict[str, Any]:
        (resource,) = self.resources(stack, resource_type).values()
        return resource

    def definition_text(self) -> str:
        """The build pipeline's definition as deployed, intrinsics given stand-in values."""
        pipeline = self.only(BUILD, "AWS::SageMaker::Pipeline")
        body = pipeline["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]
        return render(body, self.templates[BUILD])

    def definition(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.definition_text())
        return parsed


def render(value: Any, template: dict[str, Any]) -> str:
    """A CloudFormation string expression as the text it becomes on deploy, with each
    reference replaced by a realistic stand-in of its type (role and key ARNs, bucket
    names), so the result can be checked against API shapes and patterns."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(render(p, template) for p in parts)
    if "Ref" in value:
        ref = value["Ref"]
        pseudo = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
        if ref in pseudo:
            return pseudo[ref]
        kind = template["Resources"][ref]["Type"]
        if kind == "AWS::S3::Bucket":
            name = template["Resources"][ref]["Properties"].get("BucketName")
            return str(name or ref.lower())
        raise AssertionError(f"unexpected Ref to {kind} in a definition")
    if "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        kind = template["Resources"][logical_id]["Type"]
        if (kind, attribute) == ("AWS::IAM::Role", "Arn"):
            return f"arn:aws:iam::{ACCOUNT}:role/{logical_id}"
        if (kind, attribute) == ("AWS::KMS::Key", "Arn"):
            return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0123abcd-{logical_id.lower()[:8]}"
        raise AssertionError(f"unexpected GetAtt {kind}.{attribute} in a definition")
    if "Fn::Sub" in value:
        return (
            str(value["Fn::Sub"])
            .replace("${AWS::AccountId}", ACCOUNT)
            .replace("${AWS::Region}", REGION)
        )
    raise AssertionError(f"unexpected intrinsic in a definition: {value}")


def synthesize(outdir: Path, environments: list[str] | None = None, config_dir: Path | None = None):  # type: ignore[no-untyped-def]
    """Synthesize the reference app in-process, cdk-nag on, as `make synth` does."""
    from aws_cdk import App

    from app import build_app
    from config.settings import CONFIG_DIR, load_settings

    app = App(outdir=str(outdir), context=cdk_context())
    stacks = build_app(app, load_settings(config_dir or CONFIG_DIR, environments))
    assembly = app.synth()
    templates = {s.stack_name: s.template for s in assembly.stacks}
    return Synthesized(outdir=outdir, templates=templates, stacks=stacks)


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    # cfn-lint runs on every template below; CDK's own template validation would
    # only repeat a subset of it at ~4 s per synth.
    os.environ.setdefault("CDK_VALIDATION", "false")
    return synthesize(tmp_path_factory.mktemp("cdk.out"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep app-level tests on one xdist worker, so the app is synthesized once."""
    for item in items:
        if "tests/app/" in item.nodeid:
            item.add_marker(pytest.mark.xdist_group("synthesized-app"))
