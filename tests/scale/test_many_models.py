"""Proof of scale: 20 generated models (every feature on), and a model added by files alone.

Each stack must stay under 80% of CloudFormation's limits (500 resources, 200 outputs,
200 parameters, 1 MB template body from S3), the names AWS needs unique must be, and
the shared stacks must not grow with the number of models.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.scale.generate import generate, model_name

pytestmark = pytest.mark.xdist_group("scale")

MODELS = 20
LIMITS = {"Resources": 500, "Outputs": 200, "Parameters": 200}
TEMPLATE_BYTES = 1_048_576
SHARE = 0.8
# Physical names AWS requires unique (per account and region) and where they are set.
NAMED = {
    "AWS::SageMaker::Endpoint": "EndpointName",
    "AWS::SageMaker::Pipeline": "PipelineName",
    "AWS::SageMaker::ModelPackageGroup": "ModelPackageGroupName",
    "AWS::SageMaker::MonitoringSchedule": "MonitoringScheduleName",
    "AWS::SageMaker::DataQualityJobDefinition": "JobDefinitionName",
    "AWS::SageMaker::ModelQualityJobDefinition": "JobDefinitionName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::Events::Rule": "Name",
    "AWS::IAM::Role": "RoleName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::KMS::Alias": "AliasName",
}


def synthesize(config_dir: Path, outdir: Path) -> dict[str, dict[str, Any]]:
    from aws_cdk import App

    from app import build_app
    from config.settings import load_settings
    from tests.conftest import cdk_context

    os.environ.setdefault("CDK_VALIDATION", "false")
    app = App(outdir=str(outdir), context=cdk_context())
    # Limits and names, not findings: the packs run on the reference app and per construct.
    build_app(app, load_settings(config_dir), nag=False)
    return {s.stack_name: s.template for s in app.synth().stacks}


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    root = tmp_path_factory.mktemp("many")
    generate(root / "config", MODELS)
    return synthesize(root / "config", root / "cdk.out"), root / "cdk.out"


def test_every_model_gets_its_build_and_serving_stacks(many):
    templates, _ = many
    expected = {"mlops-build", "mlops-staging", "mlops-prod"}
    for index in range(1, MODELS + 1):
        name = model_name(index)
        expected |= {f"mlops-{name}-build", f"mlops-{name}-staging", f"mlops-{name}-prod"}
    assert set(templates) == expected


def test_every_stack_stays_under_80_percent_of_cloudformation_limits(many):
    templates, outdir = many
    over = []
    for stack, template in templates.items():
        for section, limit in LIMITS.items():
            count = len(template.get(section, {}))
            if count > SHARE * limit:
                over.append(f"{stack}: {count} {section} (limit {limit})")
        size = (outdir / f"{stack}.template.json").stat().st_size
        if size > SHARE * TEMPLATE_BYTES:
            over.append(f"{stack}: {size} bytes (limit {TEMPLATE_BYTES})")
    assert over == []


def test_names_aws_needs_unique_are_unique_per_account(many):
    templates, _ = many
    names: Counter[tuple[str, str, str]] = Counter()
    for stack, template in templates.items():
        account = stack.rsplit("-", 1)[-1]  # build, staging, prod: one account each here
        for resource in template["Resources"].values():
            key = NAMED.get(resource["Type"])
            value = resource.get("Properties", {}).get(key) if key else None
            if isinstance(value, str):
                names[(account, resource["Type"], value)] += 1
    assert [name for name, count in names.items() if count > 1] == []
    assert len(names) > 5 * MODELS  # the check did see the generated models' names


def test_shared_stacks_do_not_grow_with_models(many):
    """Adding a model changes no shared stack: none of them names a model."""
    templates, _ = many
    for stack in ("mlops-build", "mlops-staging", "mlops-prod"):
        text = json.dumps(templates[stack])
        assert "generated-model" not in text, stack
