"""Deploy side: each model's pinned model, guarded endpoint, autoscaling, monitoring and
alarms (`mlops-<model>-<env>`), on its environment's shared store (`mlops-<env>`)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from config.settings import load_settings
from constructs_lib.errors import ConfigurationError
from tests.app.conftest import (
    CLASSIFIER,
    CLASSIFIER_PROD,
    CLASSIFIER_STAGING,
    PROD,
    REGRESSOR,
    REGRESSOR_PROD,
    REGRESSOR_STAGING,
    STAGING,
)

INSTANCE_STACKS = [CLASSIFIER_STAGING, CLASSIFIER_PROD, REGRESSOR_PROD]
"""The deploy stacks with instance-backed endpoints (regressor staging is serverless)."""


def props(synthesized, stack, resource_type):
    return synthesized.only(stack, resource_type)["Properties"]


@pytest.mark.parametrize(
    ("stack", "model", "version", "isolated"),
    [
        (CLASSIFIER_STAGING, CLASSIFIER, 2, True),
        (CLASSIFIER_PROD, CLASSIFIER, 1, True),
        (REGRESSOR_STAGING, REGRESSOR, 1, False),  # serverless: no network isolation
        (REGRESSOR_PROD, REGRESSOR, 1, True),
    ],
)
def test_model_serves_the_pinned_version_without_lookup(
    synthesized, stack, model, version, isolated
):
    model_props = props(synthesized, stack, "AWS::SageMaker::Model")
    arn = f"arn:aws:sagemaker:eu-west-1:111111111111:model-package/{model}/{version}"
    assert model_props["PrimaryContainer"] == {"ModelPackageName": arn}
    assert model_props["EnableNetworkIsolation"] is isolated
    outputs = synthesized.templates[stack]["Outputs"]
    assert outputs["ServedModel"]["Value"] == arn
    env = stack.rsplit("-", 1)[-1]
    assert outputs["EndpointName"]["Value"] == f"{model}-{env}"
    endpoint = props(synthesized, stack, "AWS::SageMaker::Endpoint")
    assert endpoint["EndpointName"] == f"{model}-{env}"


@pytest.mark.parametrize(
    ("stack", "sampling"), [(CLASSIFIER_STAGING, 100), (CLASSIFIER_PROD, 20), (REGRESSOR_PROD, 20)]
)
def test_endpoint_config_encrypted_capturing_and_unnamed(synthesized, stack, sampling):
    config = props(synthesized, stack, "AWS::SageMaker::EndpointConfig")
    assert "EndpointConfigName" not in config
    assert "KmsKeyId" in config
    capture = config["DataCaptureConfig"]
    assert capture["EnableCapture"] is True
    assert "KmsKeyId" in capture
    assert capture["InitialSamplingPercentage"] == sampling


def test_models_capture_to_their_own_prefix_of_the_shared_store(synthesized):
    """Both models in prod write to `mlops-prod`'s one store, each under its endpoint."""
    for model in (CLASSIFIER, REGRESSOR):
        config = props(synthesized, f"mlops-{model}-prod", "AWS::SageMaker::EndpointConfig")
        uri = config["DataCaptureConfig"]["DestinationS3Uri"]
        text = json.dumps(uri)
        assert '"StackName": "mlops-prod"' in text
        assert uri["Fn::Join"][1][-1] == f"/datacapture/{model}-prod"
    kinds = {r["Type"] for r in synthesized.templates[PROD]["Resources"].values()}
    assert "AWS::S3::Bucket" in kinds
    assert not kinds & {"AWS::SageMaker::Endpoint", "AWS::SageMaker::Model"}
    for stack in (CLASSIFIER_PROD, REGRESSOR_PROD):
        assert synthesized.resources(stack, "AWS::S3::Bucket") == {}


@pytest.mark.parametrize(("stack", "canary"), [(CLASSIFIER_PROD, 25), (REGRESSOR_PROD, 10)])
def test_prod_shifts_canary_with_rollback_alarms(synthesized, stack, canary):
    endpoint = props(synthesized, stack, "AWS::SageMaker::Endpoint")
    policy = endpoint["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == {
        "Type": "CANARY",
        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": canary},
        "WaitIntervalInSeconds": 600,
    }
    assert policy["TerminationWaitInSeconds"] == 300
    assert policy["MaximumExecutionTimeoutInSeconds"] == 3600
    alarms = endpoint["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]
    assert len(alarms) == 2
    alarm_ids = {a["AlarmName"]["Ref"] for a in alarms}
    metrics = {
        synthesized.templates[stack]["Resources"][a]["Properties"]["MetricName"] for a in alarm_ids
    }
    assert metrics == {"Invocation5XXErrors", "ModelLatency"}
    assert endpoint["RetainAllVariantProperties"] is True


def test_classifier_staging_shifts_all_at_once(synthesized):
    endpoint = props(synthesized, CLASSIFIER_STAGING, "AWS::SageMaker::Endpoint")
    routing = endpoint["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing == {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 300}
    assert endpoint["RetainAllVariantProperties"] is False


def test_regressor_staging_is_serverless_without_capture_or_monitor(synthesized):
    config = props(synthesized, REGRESSOR_STAGING, "AWS::SageMaker::EndpointConfig")
    (variant,) = config["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    assert "InstanceType" not in variant
    assert "DataCaptureConfig" not in config
    kinds = {r["Type"] for r in synthesized.templates[REGRESSOR_STAGING]["Resources"].values()}
    assert not kinds & {
        "AWS::SageMaker::MonitoringSchedule",
        "AWS::SageMaker::DataQualityJobDefinition",
        "AWS::ApplicationAutoScaling::ScalableTarget",
    }
    alarms = synthesized.resources(REGRESSOR_STAGING, "AWS::CloudWatch::Alarm").values()
    metrics = {a["Properties"]["MetricName"] for a in alarms}
    assert "CPUUtilization" not in metrics
    assert "ServerlessConcurrentExecutionsUtilization" in metrics
    latency = [a for a in alarms if a["Properties"]["MetricName"] == "ModelLatency"]
    # model_latency_p99_ms: 1000, in microseconds (the metric's unit).
    assert [a["Properties"]["Threshold"] for a in latency] == [1_000_000]


@pytest.mark.parametrize(
    ("stack", "capacity", "target", "cooldowns"),
    [(CLASSIFIER_PROD, (2, 6), 300, (600, 60)), (REGRESSOR_PROD, (2, 4), 200, (300, 60))],
)
def test_prod_autoscaling_from_settings(synthesized, stack, capacity, target, cooldowns):
    scalable = props(synthesized, stack, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert (scalable["MinCapacity"], scalable["MaxCapacity"]) == capacity
    endpoint = stack.removeprefix("mlops-")
    assert scalable["ResourceId"] == f"endpoint/{endpoint}/variant/AllTraffic"
    policy = props(synthesized, stack, "AWS::ApplicationAutoScaling::ScalingPolicy")
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == target
    assert (tracking["ScaleInCooldown"], tracking["ScaleOutCooldown"]) == cooldowns


def test_staging_has_no_autoscaling(synthesized):
    for stack in (CLASSIFIER_STAGING, REGRESSOR_STAGING):
        assert synthesized.resources(stack, "AWS::ApplicationAutoScaling::ScalableTarget") == {}


@pytest.mark.parametrize(
    ("stack", "schedule"),
    [
        (CLASSIFIER_STAGING, "cron(0 0 ? * * *)"),
        (CLASSIFIER_PROD, "cron(0 * ? * * *)"),
        (REGRESSOR_PROD, "cron(0 * ? * * *)"),
    ],
)
def test_monitoring_schedule_against_package_baseline(synthesized, stack, schedule):
    (monitoring,) = [
        s["Properties"]
        for s in synthesized.resources(stack, "AWS::SageMaker::MonitoringSchedule").values()
        if s["Properties"]["MonitoringScheduleConfig"].get("MonitoringType", "DataQuality")
        == "DataQuality"
    ]  # model quality: tests/app/test_loop.py
    assert (
        monitoring["MonitoringScheduleConfig"]["ScheduleConfig"]["ScheduleExpression"] == schedule
    )
    job = props(synthesized, stack, "AWS::SageMaker::DataQualityJobDefinition")
    assert (
        monitoring["MonitoringScheduleConfig"]["MonitoringJobDefinitionName"]
        == job["JobDefinitionName"]
    )
    model = stack.removeprefix("mlops-").rsplit("-", 1)[0]
    assert job["JobDefinitionName"].startswith(f"{model}-")
    lookup = json.dumps(list(synthesized.resources(stack, "Custom::AWS").values()))
    assert "describeModelPackage" in lookup
    assert f"model-package/{model}/" in lookup


@pytest.mark.parametrize(
    ("stack", "drift"),
    [
        (CLASSIFIER_STAGING, "mean radius"),
        (CLASSIFIER_PROD, "mean radius"),
        (REGRESSOR_PROD, "bmi"),
    ],
)
def test_alarms_topic_and_dashboard(synthesized, stack, drift):
    alarms = synthesized.resources(stack, "AWS::CloudWatch::Alarm").values()
    metrics = {a["Properties"]["MetricName"] for a in alarms}
    assert {
        "Invocation5XXErrors",
        "Invocation4XXErrors",
        "ModelLatency",
        "CPUUtilization",
        "MemoryUtilization",
        f"feature_baseline_drift_{drift}",
    } <= metrics
    topic = props(synthesized, stack, "AWS::SNS::Topic")
    assert "KmsMasterKeyId" in topic
    topic_id = next(iter(synthesized.resources(stack, "AWS::SNS::Topic")))
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": topic_id}] for a in alarms)
    synthesized.only(stack, "AWS::CloudWatch::Dashboard")


def test_environment_stacks_hold_only_shared_pieces(synthesized):
    for stack in (STAGING, PROD):
        kinds = {r["Type"] for r in synthesized.templates[stack]["Resources"].values()}
        assert kinds <= {
            "AWS::S3::Bucket",
            "AWS::S3::BucketPolicy",
            "AWS::KMS::Key",
            "AWS::KMS::Alias",
            "AWS::IAM::OIDCProvider",
            "AWS::IAM::Role",
            "AWS::IAM::Policy",
            # GitHubDeployAccess's provider "ensure" mode: AwsCustomResource, its
            # function and that function's encrypted log group.
            "Custom::AWS",
            "AWS::Lambda::Function",
            "AWS::Logs::LogGroup",
            # ArtifactStore with removal_policy destroy (staging) empties its buckets.
            "Custom::S3AutoDeleteObjects",
        }, stack
    # staging removes, prod retains (removal_policy of each environment file).
    for stack, policy in [(STAGING, "Delete"), (PROD, "Retain")]:
        buckets = synthesized.resources(stack, "AWS::S3::Bucket").values()
        assert len(buckets) == 2  # the store and its access logs
        assert {b["DeletionPolicy"] for b in buckets} == {policy}


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
            r"ModelPackageName|model-package|^/Description=",  # promotion.yaml pin
            r"DashboardBody",  # shows the alarms above
            r"^/Resources/ModelQuality",  # monitoring.model_quality
            r"^/Resources/RetrainingAlarms|/AlarmName=",  # retraining.on_alarms
        ]
    )
)


def normalized(template: dict[str, Any], env: str, account: str) -> dict[str, Any]:
    text = json.dumps(template)
    text = text.replace(account, "<account>").replace(env, "<env>")
    text = re.sub(r"[0-9a-f]{64}", "<hash>", text)
    # Logical ids and names CDK derives from construct paths that hold the stack name
    # (a policy on an imported role) end in a hash of that path.
    text = re.sub(r"(?:[0-9A-F]{8}){1,2}(?=\")", "<id>", text)
    return flatten(json.loads(text))


def test_staging_and_prod_differ_only_where_settings_differ(synthesized):
    staging = normalized(synthesized.templates[CLASSIFIER_STAGING], "staging", "222222222222")
    prod = normalized(synthesized.templates[CLASSIFIER_PROD], "prod", "333333333333")
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


def test_changing_one_pin_changes_only_that_models_stack_in_that_environment(synthesized, variant):
    """`variant` moves the classifier's staging pin from v2 to v3 (and adds a model):
    every other stack both apps have is byte-identical, and the classifier's staging
    stack changes only where the package ARN shows (model, baseline lookup, output)."""
    same = sorted(set(synthesized.templates) & set(variant.templates) - {CLASSIFIER_STAGING})
    assert CLASSIFIER_PROD in same
    for stack in same:
        assert variant.templates[stack] == synthesized.templates[stack], stack
    before = flatten(synthesized.templates[CLASSIFIER_STAGING])
    after = flatten(variant.templates[CLASSIFIER_STAGING])
    changed = sorted(p for p in after if before.get(p) != after[p])
    assert changed, "the pin change must reach the template"
    assert all(
        "model-package" in json.dumps(after[p]) or "JobDefinitionName" in p or p == "/Description"
        for p in changed
    ), changed
    assert set(before) == set(after)


def test_adding_a_model_leaves_the_shared_build_stack_alone(synthesized, variant):
    """Adding a model by files changes no shared stack, so `cdk deploy mlops-<new>-*`
    does not redeploy `mlops-build` (BucketDeployment's owner tag, one per model, once
    landed on the shared bucket, which holds at most 50 tags)."""
    for shared in ("mlops-build", STAGING, PROD):
        assert variant.templates[shared] == synthesized.templates[shared], shared


def test_unpinned_model_has_no_stack_in_that_environment(variant):
    """`variant` pins nothing for the regressor in staging (`staging: null`): no
    `mlops-diabetes-regressor-staging`, while its prod stack and the environment's shared
    stack stay."""
    assert REGRESSOR_STAGING not in variant.templates
    assert REGRESSOR_STAGING not in variant.stacks
    assert {REGRESSOR_PROD, STAGING, CLASSIFIER_STAGING} <= set(variant.templates)
    kinds = {r["Type"] for r in variant.templates[STAGING]["Resources"].values()}
    assert "AWS::S3::Bucket" in kinds  # the environment's artifact store is still there


def deploy(model: str, environment: str, **overrides: Any):  # type: ignore[no-untyped-def]
    """Build one model's deploy stack from the shipped settings with some settings
    changed (no synth)."""
    from aws_cdk import App

    from stacks.deploy import ModelDeployStack
    from stacks.environment import EnvironmentStack
    from tests.conftest import cdk_context

    settings = load_settings(environments=[environment], models=[model])
    model_settings = settings.models[model]
    serving = model_settings.serving(environment)
    assert serving is not None
    endpoint = serving.endpoint.model_copy(update=overrides.pop("endpoint", {}))
    monitoring = overrides.pop("monitoring", {})
    if monitoring is not None:
        monitoring = serving.monitoring and serving.monitoring.model_copy(update=monitoring)
    alarms = serving.alarms.model_copy(update=overrides.pop("alarms", {}))
    serving = serving.model_copy(
        update={"endpoint": endpoint, "monitoring": monitoring, "alarms": alarms}
    )
    app = App(context=cdk_context())
    shared = EnvironmentStack(
        app,
        f"mlops-{environment}",
        name=environment,
        settings=settings.environments[environment],
        github=settings.build.github,
    )
    return ModelDeployStack(
        app,
        f"mlops-{model}-{environment}",
        model=model_settings,
        serving=serving,
        version=1,
        environment=shared,
        build=settings.build,
        pipeline_prefix=f"pipelines/{model}/",
        image_repository_arns=[],
        file=f"config/models/{model}.yaml",
    )


CLASSIFIER_FILE = r"^config/models/tabular-classifier.yaml: "


def test_bad_setting_names_file_and_key():
    from config.settings import AutoscalingSettings

    bad = AutoscalingSettings(min_capacity=4, max_capacity=2, target_invocations_per_instance=10)
    with pytest.raises(
        ConfigurationError,
        match=CLASSIFIER_FILE + r"environments.prod.endpoint.autoscaling: Autoscaling"
        r" min_capacity: got 4; allowed at most max_capacity \(2\)",
    ):
        deploy(CLASSIFIER, "prod", endpoint={"autoscaling": bad})


def test_nvme_instance_with_volume_kms_is_refused():
    from config.settings import InstanceVariantSettings

    with pytest.raises(
        ConfigurationError,
        match=CLASSIFIER_FILE + r"environments.staging.endpoint: RealtimeEndpoint kms_key: got"
        r" a key with instance_type ml.m5d.large, which has NVMe",
    ):
        deploy(
            CLASSIFIER,
            "staging",
            endpoint={"variant": InstanceVariantSettings(instance_type="ml.m5d.large")},
        )


def test_bad_monitoring_schedule_names_file_and_key():
    with pytest.raises(
        ConfigurationError,
        match=CLASSIFIER_FILE + r"environments.staging.monitoring: DataQualityMonitor"
        r" schedule_expression: got 'daily'",
    ):
        deploy(CLASSIFIER, "staging", monitoring={"schedule_expression": "daily"})


def test_sampling_outside_range_names_file_and_key():
    from config.settings import DataCaptureSettings

    with pytest.raises(
        ConfigurationError,
        match=CLASSIFIER_FILE + r"environments.staging.endpoint.data_capture: DataCapture"
        r" sampling_percentage: got 150%; allowed a whole number from 0% to 100%",
    ):
        deploy(
            CLASSIFIER,
            "staging",
            endpoint={"data_capture": DataCaptureSettings(sampling_percentage=150)},
        )


def test_canary_step_on_the_regressor_names_its_file():
    from config.settings import DeploymentSettings

    with pytest.raises(
        ConfigurationError,
        match=r"^config/models/diabetes-regressor.yaml: environments.prod.endpoint.deployment:"
        r" TrafficShift",
    ):
        deploy(
            REGRESSOR,
            "prod",
            endpoint={"deployment": DeploymentSettings(type="CANARY", step_percent=150)},
        )


SERVERLESS = {
    "variant": {"memory_size_in_mb": 2048, "max_concurrency": 10},
    "network_isolation": False,
    "data_capture": None,
}


def serverless(**changes: Any) -> dict[str, Any]:
    from config.settings import ServerlessVariantSettings

    endpoint = {**SERVERLESS, **changes}
    endpoint["variant"] = ServerlessVariantSettings(**endpoint["variant"])
    return endpoint


def test_serverless_with_network_isolation_names_file_and_key():
    with pytest.raises(
        ConfigurationError,
        match=CLASSIFIER_FILE + r"environments.staging.endpoint: RealtimeEndpoint model: got a"
        r" model with network_isolation=True; allowed network_isolation=False with a"
        r" ServerlessVariant",
    ):
        deploy(CLASSIFIER, "staging", endpoint=serverless(network_isolation=True), monitoring=None)


def test_serverless_with_monitoring_names_file_and_key():
    with pytest.raises(
        ConfigurationError,
        match=CLASSIFIER_FILE + r"environments.staging.monitoring: DataQualityMonitor endpoint:"
        r" got 'tabular-classifier-staging' with a ServerlessVariant",
    ):
        deploy(CLASSIFIER, "staging", endpoint=serverless())


def test_cpu_threshold_on_serverless_names_file_and_key():
    with pytest.raises(
        ConfigurationError,
        match=r"^config/models/diabetes-regressor.yaml: environments.staging.alarms:"
        r" EndpointAlarms thresholds: got cpu_utilization_percent=70; allowed"
        r" cpu_utilization_percent=None",
    ):
        deploy(REGRESSOR, "staging", alarms={"cpu_utilization_percent": 70})


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_the_environments_deploy_role_may_invoke_its_endpoints_for_the_smoke_test(synthesized, env):
    """The deploy workflow's smoke test runs as `mlops-github-<env>-deploy`: one statement
    in the environment's stack covers every model (a policy per model stack would fill
    IAM's 10,240-character limit on a role's inline policies at ~30 models)."""
    account = {"staging": "222222222222", "prod": "333333333333"}[env]
    (role,) = [
        r
        for r in synthesized.resources(f"mlops-{env}", "AWS::IAM::Role").values()
        if r["Properties"].get("RoleName") == f"mlops-github-{env}-deploy"
    ]
    policies = synthesized.resources(f"mlops-{env}", "AWS::IAM::Policy").values()
    statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    (invoke,) = [s for s in statements if s["Action"] == "sagemaker:InvokeEndpoint"]
    assert invoke["Resource"] == f"arn:aws:sagemaker:eu-west-1:{account}:endpoint/*"
    assert role["Properties"]["RoleName"] == f"mlops-github-{env}-deploy"
    for model_stack in (f"mlops-tabular-classifier-{env}", f"mlops-diabetes-regressor-{env}"):
        assert all(
            p["Properties"].get("Roles") != [f"mlops-github-{env}-deploy"]
            for p in synthesized.resources(model_stack, "AWS::IAM::Policy").values()
        )
