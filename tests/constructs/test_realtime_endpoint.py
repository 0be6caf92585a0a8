"""RealtimeEndpoint: variants, KMS, data capture, guardrails, autoscaling, metrics, errors."""

from __future__ import annotations

import pytest
from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk.assertions import Match, Template

from constructs_lib.errors import ConfigurationError
from constructs_lib.realtime_endpoint import (
    Autoscaling,
    DataCapture,
    InstanceVariant,
    ServerlessVariant,
    TrafficShift,
    has_nvme_storage,
)
from tests.constructs.serving import endpoint


def alarm(stack, name="A"):
    return cloudwatch.Alarm(
        stack,
        name,
        metric=cloudwatch.Metric(namespace="AWS/SageMaker", metric_name="Invocation5XXErrors"),
        threshold=1,
        evaluation_periods=1,
    )


def canary(**kwargs):
    return TrafficShift(type="CANARY", step_percent=10, **kwargs)


def test_endpoint_config_has_kms_capture_and_no_name(stack):
    ep = endpoint(stack)
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "EndpointConfigName": Match.absent(),
            "KmsKeyId": Match.any_value(),
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": 1,
                    "InitialVariantWeight": 1,
                    "ModelName": Match.any_value(),
                }
            ],
            "DataCaptureConfig": {
                "EnableCapture": True,
                "InitialSamplingPercentage": 100,
                "DestinationS3Uri": Match.any_value(),
                "KmsKeyId": Match.any_value(),
                "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                "CaptureContentTypeHeader": {
                    "CsvContentTypes": ["text/csv"],
                    "JsonContentTypes": ["application/json"],
                },
            },
        },
    )
    assert ep.endpoint_name == "churn-test"


def test_all_at_once_by_default_and_no_retained_properties(stack):
    endpoint(stack)
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::SageMaker::Endpoint",
        {
            "EndpointName": "churn-test",
            "DeploymentConfig": {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {
                        "Type": "ALL_AT_ONCE",
                        "WaitIntervalInSeconds": 300,
                    },
                    "TerminationWaitInSeconds": 300,
                    "MaximumExecutionTimeoutInSeconds": 3600,
                },
                "AutoRollbackConfiguration": Match.absent(),
            },
            "RetainAllVariantProperties": False,
        },
    )


def test_canary_with_rollback_alarms(stack):
    ep = endpoint(stack, traffic_shift=canary(wait_interval=Duration.minutes(10)))
    ep.add_rollback_alarm(alarm(stack))
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::SageMaker::Endpoint",
        {
            "DeploymentConfig": {
                "BlueGreenUpdatePolicy": Match.object_like(
                    {
                        "TrafficRoutingConfiguration": {
                            "Type": "CANARY",
                            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
                            "WaitIntervalInSeconds": 600,
                        }
                    }
                ),
                "AutoRollbackConfiguration": {
                    "Alarms": [{"AlarmName": {"Ref": Match.any_value()}}]
                },
            }
        },
    )
    # The model's role may read the alarm while SageMaker shifts traffic.
    policies = t.find_resources("AWS::IAM::Policy")
    assert "cloudwatch:DescribeAlarms" in str(policies)


def test_linear_uses_linear_step_size(stack):
    ep = endpoint(stack, traffic_shift=TrafficShift(type="LINEAR", step_percent=20))
    ep.add_rollback_alarm(alarm(stack))
    Template.from_stack(stack).has_resource_properties(
        "AWS::SageMaker::Endpoint",
        {
            "DeploymentConfig": Match.object_like(
                {
                    "BlueGreenUpdatePolicy": Match.object_like(
                        {
                            "TrafficRoutingConfiguration": {
                                "Type": "LINEAR",
                                "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 20},
                                "WaitIntervalInSeconds": 300,
                            }
                        }
                    )
                }
            )
        },
    )


def test_autoscaling_tracks_invocations_and_retains_instance_count(stack):
    endpoint(
        stack,
        variant=InstanceVariant(instance_type="ml.m5.large", initial_instance_count=2),
        autoscaling=Autoscaling(
            min_capacity=2,
            max_capacity=5,
            target_invocations_per_instance=250,
            scale_in_cooldown=Duration.minutes(10),
            scale_out_cooldown=Duration.seconds(30),
        ),
    )
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::SageMaker::Endpoint",
        {
            "RetainAllVariantProperties": True,
            "ExcludeRetainedVariantProperties": [
                {"VariantPropertyType": "DesiredWeight"},
                {"VariantPropertyType": "DataCaptureConfig"},
            ],
        },
    )
    t.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {
            "ServiceNamespace": "sagemaker",
            "ResourceId": "endpoint/churn-test/variant/AllTraffic",
            "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
            "MinCapacity": 2,
            "MaxCapacity": 5,
        },
    )
    t.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
                },
                "TargetValue": 250,
                "ScaleInCooldown": 600,
                "ScaleOutCooldown": 30,
            },
        },
    )


def test_serverless_variant(stack):
    endpoint(stack, variant=ServerlessVariant(memory_size_in_mb=2048, max_concurrency=10))
    Template.from_stack(stack).has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "KmsKeyId": Match.absent(),
            "ProductionVariants": [
                Match.object_like(
                    {"ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 10}}
                )
            ],
        },
    )


def test_metrics_name_endpoint_and_variant(stack):
    ep = endpoint(stack)
    latency = ep.metric_model_latency()
    assert (latency.namespace, latency.metric_name, latency.statistic) == (
        "AWS/SageMaker",
        "ModelLatency",
        "p99",
    )
    assert latency.dimensions == {"EndpointName": "churn-test", "VariantName": "AllTraffic"}
    assert ep.metric_cpu_utilization().namespace == "/aws/sagemaker/Endpoints"
    assert ep.metric_invocation_5xx_errors(statistic="Average").statistic == "Average"


# -- one test per validation error ---------------------------------------------------------


def test_min_above_max():
    with pytest.raises(ConfigurationError, match="autoscaling.min_capacity: got 5, more than"):
        Autoscaling(min_capacity=5, max_capacity=2, target_invocations_per_instance=10)


def test_initial_count_outside_min_max(stack):
    with pytest.raises(
        ConfigurationError, match=r"variant.initial_instance_count: got 1; must be within .*2..4"
    ):
        endpoint(
            stack,
            autoscaling=Autoscaling(
                min_capacity=2, max_capacity=4, target_invocations_per_instance=10
            ),
        )


def test_linear_without_step_size():
    with pytest.raises(
        ConfigurationError, match="deployment.step_percent: LINEAR needs a step size"
    ):
        TrafficShift(type="LINEAR")


def test_step_size_with_all_at_once():
    with pytest.raises(ConfigurationError, match="only applies to CANARY or LINEAR"):
        TrafficShift(type="ALL_AT_ONCE", step_percent=10)


@pytest.mark.parametrize("percent", [-1, 101])
def test_sampling_outside_0_100(stack, percent):
    with pytest.raises(
        ConfigurationError,
        match=f"data_capture.sampling_percentage: got {percent}%; allowed 0 to 100%",
    ):
        DataCapture(bucket=None, prefix="x", sampling_percentage=percent)  # type: ignore[arg-type]


def test_baking_period_over_limit():
    with pytest.raises(
        ConfigurationError, match="deployment.wait_interval: got 3601 s; allowed 0 to 3600 s"
    ):
        canary(wait_interval=Duration.seconds(3601))


def test_execution_timeout_below_limit():
    with pytest.raises(
        ConfigurationError, match="maximum_execution_timeout: got 60 s; allowed 600"
    ):
        canary(maximum_execution_timeout=Duration.seconds(60))


def test_kms_with_nvme_instance_type(stack):
    with pytest.raises(ConfigurationError, match="ml.m5d.large, which has NVMe instance storage"):
        endpoint(stack, variant=InstanceVariant(instance_type="ml.m5d.large"))


def test_nvme_instance_type_without_kms_is_fine(stack):
    endpoint(stack, variant=InstanceVariant(instance_type="ml.g5.xlarge"), kms_key=None)
    Template.from_stack(stack).has_resource_properties(
        "AWS::SageMaker::EndpointConfig", {"KmsKeyId": Match.absent()}
    )


@pytest.mark.parametrize(
    ("instance_type", "nvme"),
    [
        ("ml.m5.large", False),
        ("ml.m5d.xlarge", True),
        ("ml.g4dn.xlarge", True),
        ("ml.c5.xlarge", False),
        ("ml.g5.2xlarge", True),
    ],
)
def test_nvme_detection(instance_type, nvme):
    assert has_nvme_storage(instance_type) is nvme


def test_serverless_cannot_autoscale(stack):
    with pytest.raises(ConfigurationError, match="serverless variants scale by max_concurrency"):
        endpoint(
            stack,
            variant=ServerlessVariant(memory_size_in_mb=2048),
            autoscaling=Autoscaling(
                min_capacity=1, max_capacity=2, target_invocations_per_instance=5
            ),
        )


def test_serverless_cannot_canary(stack):
    with pytest.raises(ConfigurationError, match="serverless endpoints only shift ALL_AT_ONCE"):
        endpoint(stack, variant=ServerlessVariant(memory_size_in_mb=2048), traffic_shift=canary())


def test_bad_serverless_memory():
    with pytest.raises(
        ConfigurationError, match="variant.memory_size_in_mb: got 1000; allowed 1024"
    ):
        ServerlessVariant(memory_size_in_mb=1000)  # type: ignore[arg-type]


def test_canary_without_rollback_alarm_fails_synth(stack):
    endpoint(stack, traffic_shift=canary())
    with pytest.raises(Exception, match="CANARY needs at least one"):
        Template.from_stack(stack)


def test_more_than_ten_rollback_alarms_fails_synth(stack):
    ep = endpoint(stack)
    for i in range(11):
        ep.add_rollback_alarm(alarm(stack, f"A{i}"))
    with pytest.raises(Exception, match="got 11; SageMaker allows 1 to 10"):
        Template.from_stack(stack)


def test_model_role_may_write_captured_data_under_its_prefix(stack):
    ep = endpoint(stack)
    policies = Template.from_stack(stack).find_resources("AWS::IAM::Policy")
    (policy,) = [p for k, p in policies.items() if k.startswith("ModelRoleDefaultPolicy")]
    text = str(stack.resolve(policy["Properties"]["PolicyDocument"]))
    assert "/datacapture/churn/*" in text
    assert "s3:PutObject" in text
    assert "kms:GenerateDataKey*" in text
    assert ep.model.role is not None


@pytest.mark.parametrize(
    ("shift", "percent", "allowed"),
    [("CANARY", 60, "1 to 50%"), ("LINEAR", 5, "10 to 50%"), ("LINEAR", 51, "10 to 50%")],
)
def test_step_size_outside_sagemaker_limits(shift, percent, allowed):
    with pytest.raises(
        ConfigurationError,
        match=f"deployment.step_percent \\({shift}\\): got {percent}%; allowed {allowed}",
    ):
        TrafficShift(type=shift, step_percent=percent)


@pytest.mark.parametrize("name", ["bad_name", "-x", "a" * 64])
def test_bad_endpoint_name_is_named(stack, name):
    with pytest.raises(ConfigurationError, match="endpoint_name: got"):
        endpoint(stack, endpoint_name=name)


def test_endpoint_name_must_be_literal(stack):
    from aws_cdk import Aws

    with pytest.raises(ConfigurationError, match="endpoint_name: got a token"):
        endpoint(stack, endpoint_name=Aws.STACK_NAME)


def test_unknown_shift_type_is_named():
    with pytest.raises(
        ConfigurationError, match="deployment.type: got 'BLUE'; allowed ALL_AT_ONCE"
    ):
        TrafficShift(type="BLUE")  # type: ignore[arg-type]
