"""VPC settings: validated where they are written, and carried into every job, monitor and
model of the synthesized app (a copy of `config/` with `vpc:` turned on)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from config.settings import CONFIG_DIR, load_settings
from constructs_lib.errors import ConfigurationError
from tests.conftest import cdk_context
from tests.support.hardening import network_problems, unpinned_images

MODEL = "tabular-classifier"
BUILD_SUBNETS = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
BUILD_GROUPS = ["sg-0123456789abcdef0"]
STAGING_SUBNETS = ["subnet-0000000000000000a"]
STAGING_GROUPS = ["sg-0000000a", "sg-0000000b"]


def vpc_yaml(subnets: list[str], groups: list[str]) -> str:
    return (
        f"vpc:\n  subnet_ids: {json.dumps(subnets)}\n  security_group_ids: {json.dumps(groups)}\n"
    )


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def with_vpc(config_dir: Path) -> Path:
    """The build account's and staging's VPC turned on."""
    build = config_dir / "build.yaml"
    build.write_text(build.read_text() + vpc_yaml(BUILD_SUBNETS, BUILD_GROUPS))
    staging = config_dir / "staging.yaml"
    staging.write_text(staging.read_text() + vpc_yaml(STAGING_SUBNETS, STAGING_GROUPS))
    return config_dir


def test_shipped_settings_leave_the_vpc_off():
    settings = load_settings(CONFIG_DIR)
    assert settings.build.vpc is None
    assert all(e.vpc is None for e in settings.environments.values())
    for model in settings.models.values():
        assert all(s is None or s.endpoint.vpc is None for s in model.environments.values())


@pytest.mark.parametrize(
    ("file", "subnets", "groups", "message"),
    [
        (
            "staging.yaml",
            ["subnet-1"],
            BUILD_GROUPS,
            r"staging.yaml: vpc.subnet_ids: got \['subnet-1'\]; 'subnet-1' is not an id; allowed"
            r" 1 to 16 ids, each subnet- and 8 or 17 hex digits",
        ),
        (
            "build.yaml",
            BUILD_SUBNETS,
            ["sg-0000000a"] * 6,
            r"build.yaml: vpc.security_group_ids: got \[.*\]; 6 ids; allowed 1 to 5 ids, each sg-",
        ),
        (
            "prod.yaml",
            [],
            BUILD_GROUPS,
            r"prod.yaml: vpc.subnet_ids: got \[\]; 0 ids; allowed 1 to 16 ids",
        ),
        (
            "prod.yaml",
            BUILD_SUBNETS,
            ["subnet-0123456789abcdef0"],
            r"prod.yaml: vpc.security_group_ids: got \['subnet-0123456789abcdef0'\];"
            r" 'subnet-0123456789abcdef0' is not an id",
        ),
    ],
)
def test_bad_vpc_settings_name_file_key_value_and_rule(config_dir, file, subnets, groups, message):
    path = config_dir / file
    path.write_text(path.read_text() + vpc_yaml(subnets, groups))
    with pytest.raises(ConfigurationError, match=message):
        load_settings(config_dir)


def test_a_vpc_needs_both_lists(config_dir):
    path = config_dir / "build.yaml"
    path.write_text(path.read_text() + "vpc:\n  subnet_ids: [subnet-0123456789abcdef0]\n")
    with pytest.raises(
        ConfigurationError, match=r"build.yaml: vpc.security_group_ids: required setting is missing"
    ):
        load_settings(config_dir)


def _synth(config_dir: Path, outdir: Path) -> dict[str, dict[str, Any]]:
    from aws_cdk import App

    from app import build_app

    settings = load_settings(config_dir, environments=["staging"], models=[MODEL])
    app = App(context=cdk_context(), outdir=str(outdir))
    build_app(app, settings)
    assembly = app.synth()
    return {s.stack_name: s.template for s in assembly.stacks}


def _resources(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r["Properties"] for r in template["Resources"].values() if r["Type"] == kind]


def _definition(template: dict[str, Any]) -> dict[str, Any]:
    (pipeline,) = _resources(template, "AWS::SageMaker::Pipeline")
    body = pipeline["PipelineDefinition"]["PipelineDefinitionBody"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    return json.loads("".join(p if isinstance(p, str) else "X" for p in parts))


def _ec2_actions(template: dict[str, Any]) -> set[str]:
    return {
        action
        for policy in _resources(template, "AWS::IAM::Policy")
        for statement in policy["PolicyDocument"]["Statement"]
        for action in (
            [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        )
        if action.startswith("ec2:")
    }


def test_vpc_settings_reach_every_job_monitor_and_model(config_dir, tmp_path):
    """Synthesized with every cdk-nag pack: the network-interface grants are acknowledged."""
    templates = _synth(with_vpc(config_dir), tmp_path / "out")

    build = templates[f"mlops-{MODEL}-build"]
    definition = _definition(build)
    assert network_problems(definition, (BUILD_SUBNETS, BUILD_GROUPS)) == []
    assert unpinned_images(definition) == []
    assert "ec2:CreateNetworkInterface" in _ec2_actions(build)

    deploy = templates[f"mlops-{MODEL}-staging"]
    (model,) = _resources(deploy, "AWS::SageMaker::Model")
    assert model["VpcConfig"] == {"Subnets": STAGING_SUBNETS, "SecurityGroupIds": STAGING_GROUPS}
    assert model["EnableNetworkIsolation"] is True
    (job,) = _resources(deploy, "AWS::SageMaker::DataQualityJobDefinition")
    assert job["NetworkConfig"] == {
        "EnableNetworkIsolation": True,
        "EnableInterContainerTrafficEncryption": True,
        "VpcConfig": {"Subnets": STAGING_SUBNETS, "SecurityGroupIds": STAGING_GROUPS},
    }
    assert unpinned_images(deploy) == []
    assert {"ec2:CreateNetworkInterface", "ec2:DescribeVpcs"} <= _ec2_actions(deploy)


def test_a_serverless_model_must_opt_out_of_the_environment_vpc(config_dir):
    from aws_cdk import App

    from app import build_app

    model = config_dir / "models" / f"{MODEL}.yaml"
    text = model.read_text()
    staging = text.index("  staging:")
    head, rest = text[:staging], text[staging:]
    rest = rest.replace(
        "        instance_type: ml.m5.large\n        initial_instance_count: 1\n",
        "        memory_size_in_mb: 2048\n",
        1,
    )
    rest = rest.replace("    endpoint:", "    endpoint:\n      network_isolation: false", 1)
    rest = rest.replace(
        "      data_capture:\n        sampling_percentage: 100\n", "      data_capture: null\n", 1
    )
    rest = rest.replace(
        '    monitoring:\n      schedule_expression: cron(0 0 ? * * *)   # daily\n      drift_features: ["mean radius", "mean texture", "worst area"]\n',
        "    monitoring: null\n",
        1,
    )
    model.write_text(head + rest)
    settings = load_settings(with_vpc(config_dir), environments=["staging"], models=[MODEL])
    with pytest.raises(
        ConfigurationError,
        match=r"environments.staging.endpoint.vpc: got the environment's vpc \(config/staging"
        r".yaml\); allowed `vpc: null` with a serverless variant",
    ):
        build_app(App(context=cdk_context()), settings)
    model.write_text(
        (head + rest).replace(
            "      network_isolation: false", "      network_isolation: false\n      vpc: null", 1
        )
    )
    settings = load_settings(config_dir, environments=["staging"], models=[MODEL])
    build_app(App(context=cdk_context()), settings)
