"""Deploy stacks: pinned model, guarded endpoint, autoscaling, monitoring, alarms."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from config.settings import load_settings
from constructs_lib.errors import ConfigurationError

STAGING, PROD = "mlops-staging", "mlops-prod"


def props(synthesized, stack, resource_type):
    return synthesized.only(stack, resource_type)["Properties"]


@pytest.mark.parametrize(("stack", "version"), [(STAGING, 2), (PROD, 1)])
def test_model_serves_the_pinned_version_without_lookup(synthesized, stack, version):
    model = props(synthesized, stack, "AWS::SageMaker::Model")
    assert model["PrimaryContainer"] == {
        "ModelPackageName": f"arn:aws:sagemaker:eu-west-1:111111111111:model-package/tabular-classifier/{version}"
    }
    assert model["EnableNetworkIsolation"] is True


@pytest.mark.parametrize("stack", [STAGING, PROD])
def test_endpoint_config_encrypted_capturing_and_unnamed(synthesized, stack):
    config = props(synthesized, stack, "AWS::SageMaker::EndpointConfig")
    assert "EndpointConfigName" not in config
    assert "KmsKeyId" in config
    capture = config["DataCaptureConfig"]
    assert capture["EnableCapture"] is True
    assert "KmsKeyId" in capture
    expected = {STAGING: 100, PROD: 20}[stack]
    assert capture["InitialSamplingPercentage"] == expected


def test_prod_shifts_canary_with_rollback_alarms(synthesized):
    endpoint = props(synthesized, PROD, "AWS::SageMaker::Endpoint")
    policy = endpoint["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == {
        "Type": "CANARY",
        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 25},
        "WaitIntervalInSeconds": 600,
    }
    assert policy["TerminationWaitInSeconds"] == 300
    assert policy["MaximumExecutionTimeoutInSeconds"] == 3600
    alarms = endpoint["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]
    assert len(alarms) == 2
    alarm_ids = {a["AlarmName"]["Ref"] for a in alarms}
    metrics = {
        synthesized.templates[PROD]["Resources"][a]["Properties"]["MetricName"] for a in alarm_ids
    }
    assert metrics == {"Invocation5XXErrors", "ModelLatency"}
    assert endpoint["RetainAllVariantProperties"] is True


def test_staging_shifts_all_at_once(synthesized):
    endpoint = props(synthesized, STAGING, "AWS::SageMaker::Endpoint")
    routing = endpoint["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing == {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 300}
    assert endpoint["RetainAllVariantProperties"] is False


def test_prod_autoscaling_from_settings(synthesized):
    target = props(synthesized, PROD, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 6)
    assert target["ResourceId"] == "endpoint/tabular-classifier-prod/variant/AllTraffic"
    policy = props(synthesized, PROD, "AWS::ApplicationAutoScaling::ScalingPolicy")
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == 300
    assert (tracking["ScaleInCooldown"], tracking["ScaleOutCooldown"]) == (600, 60)
    assert synthesized.resources(STAGING, "AWS::ApplicationAutoScaling::ScalableTarget") == {}


@pytest.mark.parametrize(
    ("stack", "schedule"), [(STAGING, "cron(0 0 ? * * *)"), (PROD, "cron(0 * ? * * *)")]
)
def test_monitoring_schedule_against_package_baseline(synthesized, stack, schedule):
    monitoring = props(synthesized, stack, "AWS::SageMaker::MonitoringSchedule")
    assert (
        monitoring["MonitoringScheduleConfig"]["ScheduleConfig"]["ScheduleExpression"] == schedule
    )
    job = props(synthesized, stack, "AWS::SageMaker::DataQualityJobDefinition")
    assert (
        monitoring["MonitoringScheduleConfig"]["MonitoringJobDefinitionName"]
        == job["JobDefinitionName"]
    )
    lookup = json.dumps(props(synthesized, stack, "Custom::AWS"))
    assert "describeModelPackage" in lookup
    assert "model-package/tabular-classifier/" in lookup


@pytest.mark.parametrize("stack", [STAGING, PROD])
def test_alarms_topic_and_dashboard(synthesized, stack):
    alarms = synthesized.resources(stack, "AWS::CloudWatch::Alarm").values()
    metrics = {a["Properties"]["MetricName"] for a in alarms}
    assert {
        "Invocation5XXErrors",
        "Invocation4XXErrors",
        "ModelLatency",
        "CPUUtilization",
        "MemoryUtilization",
        "feature_baseline_drift_mean_radius",
    } <= metrics
    topic = props(synthesized, stack, "AWS::SNS::Topic")
    assert "KmsMasterKeyId" in topic
    topic_id = next(iter(synthesized.resources(stack, "AWS::SNS::Topic")))
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": topic_id}] for a in alarms)
    synthesized.only(stack, "AWS::CloudWatch::Dashboard")


def flatten(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{path}/{key}"))
        return out
    if isinstance(value, list):
        out = {}
        for index, item in enumerate(value):
            out.update(flatten(item, f"{path}[{index}]"))
        return out
    return {path: value}


# What may differ between staging and prod, each because a setting differs.
EXPLAINED = re.compile(
    r"|".join(
        [
            r"DeletionPolicy|UpdateReplacePolicy",  # removal_policy
            r"InitialInstanceCount",  # endpoint.variant
            r"InitialSamplingPercentage",  # endpoint.data_capture
            r"BlueGreenUpdatePolicy|AutoRollbackConfiguration",  # endpoint.deployment
            r"RetainAllVariantProperties|ExcludeRetainedVariantProperties",  # autoscaling
            r"ScheduleExpression|JobDefinitionName",  # monitoring.schedule_expression
            r"/Threshold=|AlarmDescription",  # alarms.*
            r"ModelPackageName|model-package",  # promotion.yaml pin
            r"DashboardBody",  # shows the alarms above
        ]
    )
)


def normalized(template: dict[str, Any], env: str, account: str) -> dict[str, Any]:
    text = json.dumps(template)
    text = text.replace(account, "<account>").replace(env, "<env>")
    text = re.sub(r"[0-9a-f]{64}", "<hash>", text)
    return flatten(json.loads(text))


def test_staging_and_prod_differ_only_where_settings_differ(synthesized):
    staging = normalized(synthesized.templates[STAGING], "staging", "222222222222")
    prod = normalized(synthesized.templates[PROD], "prod", "333333333333")
    only_prod = {p for p in prod if p not in staging}
    shared = {p for p in prod if p in staging and prod[p] != staging[p]}
    autoscaling = re.compile(r"ScalableTarget|ScalingPolicy|Autoscaling|InvocationsPerInstance")
    unexplained = sorted(
        p
        for p in shared | only_prod
        if not EXPLAINED.search(f"{p}={prod.get(p)}") and not autoscaling.search(p)
    )
    assert unexplained == []
    assert {p for p in staging if p not in prod} <= {p for p in staging if EXPLAINED.search(p)}


def test_changing_one_pin_changes_only_that_environments_model(tmp_path, synthesized):
    """Moving staging from v2 to v3 leaves prod's template byte-identical and changes
    only the package ARN (model, baseline lookup, output) in staging's."""
    import shutil

    from tests.app.conftest import synthesize

    config = tmp_path / "config"
    shutil.copytree("config", config, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    manifest = config / "promotion.yaml"
    text = manifest.read_text()
    manifest.write_text(text.replace("    version: 2", "    version: 3", 1))
    again = synthesize(tmp_path / "out", config_dir=config)
    assert again.templates[PROD] == synthesized.templates[PROD]
    # Synth is deterministic: the build stack, untouched by pins, comes out the same.
    assert again.templates["mlops-build"] == synthesized.templates["mlops-build"]
    before = flatten(synthesized.templates[STAGING])
    after = flatten(again.templates[STAGING])
    changed = sorted(p for p in after if before.get(p) != after[p])
    assert changed, "the pin change must reach the template"
    assert all(
        "model-package" in json.dumps(after[p]) or "JobDefinitionName" in p for p in changed
    ), changed


def test_unpinned_environment_synthesizes_clean_without_an_endpoint(tmp_path):
    """The first deploy, before any model is approved: `version: null` for staging.
    cdk-nag runs in this synth too, and cfn-lint checks the template."""
    import shutil

    from cfnlint.api import ManualArgs, lint_file

    from tests.app.conftest import synthesize

    config = tmp_path / "config"
    shutil.copytree("config", config, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    manifest = config / "promotion.yaml"
    manifest.write_text(manifest.read_text().replace("    version: 2", "    version: null", 1))
    result = synthesize(tmp_path / "out", environments=["staging"], config_dir=config)
    kinds = {r["Type"] for r in result.templates[STAGING]["Resources"].values()}
    assert not kinds & {
        "AWS::SageMaker::Model",
        "AWS::SageMaker::Endpoint",
        "AWS::SageMaker::MonitoringSchedule",
        "AWS::CloudWatch::Alarm",
    }
    assert "AWS::S3::Bucket" in kinds  # the environment's artifact store is still there
    matches = lint_file(
        tmp_path / "out" / f"{STAGING}.template.json", config=ManualArgs(regions=["eu-west-1"])
    )
    assert [m for m in matches if m.rule.id.startswith("E")] == []


def deploy(settings_env, **overrides):
    """Build one deploy stack from the shipped settings with some settings changed."""
    from aws_cdk import App

    from stacks.deploy import DeployStack
    from tests.conftest import cdk_context

    settings = load_settings()
    env = settings.environments[settings_env]
    endpoint = env.endpoint.model_copy(update=overrides.pop("endpoint", {}))
    monitoring = overrides.pop("monitoring", {})
    if monitoring is not None and env.monitoring is not None:
        monitoring = env.monitoring.model_copy(update=monitoring)
    alarms = env.alarms.model_copy(update=overrides.pop("alarms", {}))
    env = env.model_copy(update={"endpoint": endpoint, "monitoring": monitoring, "alarms": alarms})
    return DeployStack(
        App(context=cdk_context()),
        f"mlops-{settings_env}",
        name=settings_env,
        settings=env,
        build=settings.build,
        pin=settings.promotion.environments[settings_env],
        pipeline_prefix="pipelines/tabular-classifier/",
        image_repository_arns=[],
    )


def test_bad_setting_names_file_and_key():
    from config.settings import AutoscalingSettings

    bad = AutoscalingSettings(min_capacity=4, max_capacity=2, target_invocations_per_instance=10)
    with pytest.raises(
        ConfigurationError,
        match=r"^config/prod.yaml: endpoint.autoscaling: Autoscaling min_capacity: got 4; allowed"
        r" at most max_capacity \(2\)",
    ):
        deploy("prod", endpoint={"autoscaling": bad})


def test_nvme_instance_with_volume_kms_is_refused():
    from config.settings import InstanceVariantSettings

    with pytest.raises(
        ConfigurationError,
        match=r"^config/staging.yaml: endpoint: RealtimeEndpoint kms_key: got a key with"
        r" instance_type ml.m5d.large, which has NVMe",
    ):
        deploy(
            "staging", endpoint={"variant": InstanceVariantSettings(instance_type="ml.m5d.large")}
        )


def test_bad_monitoring_schedule_names_file_and_key():
    with pytest.raises(
        ConfigurationError,
        match=r"^config/staging.yaml: monitoring: DataQualityMonitor schedule_expression: got"
        r" 'daily'",
    ):
        deploy("staging", monitoring={"schedule_expression": "daily"})


def test_sampling_outside_range_names_file_and_key():
    from config.settings import DataCaptureSettings

    with pytest.raises(
        ConfigurationError,
        match=r"^config/staging.yaml: endpoint.data_capture: DataCapture sampling_percentage: got"
        r" 150%; allowed a whole number from 0% to 100%",
    ):
        deploy("staging", endpoint={"data_capture": DataCaptureSettings(sampling_percentage=150)})


SERVERLESS = {
    "variant": {"memory_size_in_mb": 2048, "max_concurrency": 10},
    "network_isolation": False,
    "data_capture": None,
}


def serverless(**changes):
    from config.settings import ServerlessVariantSettings

    endpoint = {**SERVERLESS, **changes}
    endpoint["variant"] = ServerlessVariantSettings(**endpoint["variant"])
    return endpoint


def test_serverless_environment_synthesizes_without_capture_or_monitor():
    from aws_cdk.assertions import Match, Template

    stack = deploy("staging", endpoint=serverless(), monitoring=None)
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "ProductionVariants": [
                Match.object_like(
                    {"ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 10}}
                )
            ],
            "DataCaptureConfig": Match.absent(),
        },
    )
    t.resource_count_is("AWS::SageMaker::MonitoringSchedule", 0)
    metrics = {
        a["Properties"]["MetricName"] for a in t.find_resources("AWS::CloudWatch::Alarm").values()
    }
    assert "CPUUtilization" not in metrics
    assert "ServerlessConcurrentExecutionsUtilization" in metrics


def test_serverless_with_network_isolation_names_file_and_key():
    with pytest.raises(
        ConfigurationError,
        match=r"^config/staging.yaml: endpoint: RealtimeEndpoint model: got a model with"
        r" network_isolation=True; allowed network_isolation=False with a ServerlessVariant",
    ):
        deploy("staging", endpoint=serverless(network_isolation=True), monitoring=None)


def test_serverless_with_monitoring_names_file_and_key():
    with pytest.raises(
        ConfigurationError,
        match=r"^config/staging.yaml: monitoring: DataQualityMonitor endpoint: got"
        r" 'tabular-classifier-staging' with a ServerlessVariant",
    ):
        deploy("staging", endpoint=serverless())


def test_cpu_threshold_on_serverless_names_file_and_key():
    with pytest.raises(
        ConfigurationError,
        match=r"^config/staging.yaml: alarms: EndpointAlarms thresholds: got"
        r" cpu_utilization_percent=70; allowed cpu_utilization_percent=None",
    ):
        deploy(
            "staging",
            endpoint=serverless(),
            monitoring=None,
            alarms={"cpu_utilization_percent": 70},
        )
