"""RealtimeEndpoint: variants, KMS, data capture, guardrails, autoscaling, metrics, errors."""

from __future__ import annotations

import json

import pytest
from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template

from constructs_lib.artifact_store import ArtifactStore
from constructs_lib.errors import ConfigurationError
from constructs_lib.realtime_endpoint import (
    Autoscaling,
    DataCapture,
    InstanceVariant,
    RealtimeEndpoint,
    ServerlessVariant,
    TrafficShift,
    has_nvme_storage,
)
from tests.constructs.serving import endpoint, serverless_endpoint


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
    t.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Action": "cloudwatch:DescribeAlarms"})]
                )
            }
        },
    )


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


def test_serverless_variant_keeps_its_kms_key(stack):
    serverless_endpoint(
        stack,
        variant=ServerlessVariant(
            memory_size_in_mb=2048, max_concurrency=10, provisioned_concurrency=2
        ),
    )
    Template.from_stack(stack).has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            # On serverless endpoints the key encrypts the copied image; it used to be dropped.
            "KmsKeyId": Match.any_value(),
            "DataCaptureConfig": Match.absent(),
            "ProductionVariants": [
                Match.object_like(
                    {
                        "ServerlessConfig": {
                            "MemorySizeInMB": 2048,
                            "MaxConcurrency": 10,
                            "ProvisionedConcurrency": 2,
                        }
                    }
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


def test_metric_options_reach_the_metric(stack):
    ep = endpoint(stack)
    metric = ep.metric_model_latency(color="#ff0000", label="p99", period=Duration.minutes(5))
    assert (metric.color, metric.label, metric.statistic) == ("#ff0000", "p99", "p99")
    assert metric.period.to_seconds() == 300
    assert ep.metric("ModelSetupTime", statistic="Maximum").metric_name == "ModelSetupTime"


def test_serverless_metrics_follow_what_serverless_publishes(stack):
    ep = serverless_endpoint(stack)
    assert ep.metric_memory_utilization().namespace == "AWS/SageMaker"
    assert ep.metric_concurrency_utilization().metric_name == (
        "ServerlessConcurrentExecutionsUtilization"
    )
    assert ep.metric_model_setup_time().metric_name == "ModelSetupTime"
    with pytest.raises(ConfigurationError, match="RealtimeEndpoint metric CPUUtilization: got a"):
        ep.metric_cpu_utilization()


def test_instance_endpoint_has_no_serverless_metrics(stack):
    with pytest.raises(ConfigurationError, match="metric ModelSetupTime: got an InstanceVariant"):
        endpoint(stack).metric_model_setup_time()


def test_default_child_is_the_endpoint(stack):
    ep = endpoint(stack)
    assert ep.node.default_child is ep.resource


def test_grant_invoke_allows_invoking_this_endpoint_only(stack):
    ep = endpoint(stack)
    role = iam.Role(stack, "Caller", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    grant = ep.grant_invoke(role)
    assert isinstance(grant, iam.Grant)
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [{"Ref": Match.string_like_regexp("^Caller")}],
            "PolicyDocument": {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": [
                            "sagemaker:InvokeEndpoint",
                            "sagemaker:InvokeEndpointAsync",
                            "sagemaker:InvokeEndpointWithResponseStream",
                        ],
                        "Resource": "arn:aws:sagemaker:eu-west-1:111111111111:endpoint/churn-test",
                    }
                ]
            },
        },
    )


def test_imported_endpoint_grants_and_metrics(stack):
    imported = RealtimeEndpoint.from_endpoint_name(stack, "Existing", "Fraud-Scoring")
    assert imported.endpoint_name == "Fraud-Scoring"
    assert imported.endpoint_arn == (
        "arn:aws:sagemaker:eu-west-1:111111111111:endpoint/fraud-scoring"
    )
    role = iam.Role(stack, "Caller", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    imported.grant_invoke(role)
    metric = imported.metric("Invocations")
    metric.create_alarm(stack, "Calls", threshold=1, evaluation_periods=1)
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    Match.object_like(
                        {
                            "Action": Match.array_with(["sagemaker:InvokeEndpoint"]),
                            "Resource": "arn:aws:sagemaker:eu-west-1:111111111111:endpoint/fraud-scoring",
                        }
                    )
                ]
            }
        },
    )
    t.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "Invocations",
            "Namespace": "AWS/SageMaker",
            "Dimensions": Match.array_with([{"Name": "EndpointName", "Value": "Fraud-Scoring"}]),
        },
    )
    t.resource_count_is("AWS::SageMaker::Endpoint", 0)


def test_imported_endpoint_name_is_checked(stack):
    with pytest.raises(
        ConfigurationError,
        match="RealtimeEndpoint.from_endpoint_name endpoint_name: got 'bad_name'",
    ):
        RealtimeEndpoint.from_endpoint_name(stack, "Existing", "bad_name")


# -- one test per validation error ---------------------------------------------------------


def test_min_above_max():
    with pytest.raises(
        ConfigurationError,
        match=r"Autoscaling min_capacity: got 5; allowed at most max_capacity \(2\)",
    ):
        Autoscaling(min_capacity=5, max_capacity=2, target_invocations_per_instance=10)


def test_capacity_given_as_a_string():
    with pytest.raises(
        ConfigurationError, match=r"Autoscaling max_capacity: got a str '4'; allowed a whole"
    ):
        Autoscaling(min_capacity=1, max_capacity="4", target_invocations_per_instance=10)  # type: ignore[arg-type]


def test_cooldown_must_be_a_duration():
    with pytest.raises(
        ConfigurationError,
        match=r"Autoscaling scale_in_cooldown: got an int 300; allowed a Duration",
    ):
        Autoscaling(
            min_capacity=1,
            max_capacity=2,
            target_invocations_per_instance=10,
            scale_in_cooldown=300,  # type: ignore[arg-type]
        )


def test_initial_count_outside_min_max(stack):
    with pytest.raises(
        ConfigurationError,
        match=r"RealtimeEndpoint variant: got initial_instance_count 1; allowed an"
        r" initial_instance_count within autoscaling min_capacity..max_capacity \(2..4\)",
    ):
        endpoint(
            stack,
            autoscaling=Autoscaling(
                min_capacity=2, max_capacity=4, target_invocations_per_instance=10
            ),
        )


def test_instance_count_given_as_a_string():
    with pytest.raises(
        ConfigurationError,
        match=r"InstanceVariant initial_instance_count: got a str '2'; allowed a whole number",
    ):
        InstanceVariant(instance_type="ml.m5.large", initial_instance_count="2")  # type: ignore[arg-type]


def test_bad_instance_type():
    with pytest.raises(
        ConfigurationError,
        match=r"InstanceVariant instance_type: got 'm5.large'; allowed ml.<family>.<size>",
    ):
        InstanceVariant(instance_type="m5.large")


def test_linear_without_step_size():
    with pytest.raises(
        ConfigurationError,
        match=r"TrafficShift step_percent: got None; allowed a whole number from 10% to 50%"
        " with type LINEAR",
    ):
        TrafficShift(type="LINEAR")


def test_step_size_with_all_at_once():
    with pytest.raises(
        ConfigurationError,
        match=r"TrafficShift step_percent: got 10; allowed None with type ALL_AT_ONCE",
    ):
        TrafficShift(type="ALL_AT_ONCE", step_percent=10)


def test_step_size_given_as_a_bool():
    with pytest.raises(ConfigurationError, match=r"TrafficShift step_percent: got True; allowed"):
        TrafficShift(type="CANARY", step_percent=True)


@pytest.mark.parametrize(
    ("shift", "percent", "allowed"),
    [("CANARY", 60, "1% to 50%"), ("LINEAR", 5, "10% to 50%"), ("LINEAR", 51, "10% to 50%")],
)
def test_step_size_outside_sagemaker_limits(shift, percent, allowed):
    with pytest.raises(
        ConfigurationError,
        match=f"TrafficShift step_percent: got {percent}%; allowed a whole number from {allowed}"
        f" with type {shift}",
    ):
        TrafficShift(type=shift, step_percent=percent)


def test_wait_interval_must_be_a_duration():
    with pytest.raises(
        ConfigurationError, match=r"TrafficShift wait_interval: got an int 600; allowed a Duration"
    ):
        TrafficShift(wait_interval=600)  # type: ignore[arg-type]


def test_baking_period_over_limit():
    with pytest.raises(
        ConfigurationError,
        match=r"TrafficShift wait_interval: got 3601 s; allowed a Duration from 0 s to 3600 s",
    ):
        canary(wait_interval=Duration.seconds(3601))


def test_execution_timeout_below_limit():
    with pytest.raises(
        ConfigurationError,
        match=r"TrafficShift maximum_execution_timeout: got 60 s; allowed a Duration from 600 s",
    ):
        canary(maximum_execution_timeout=Duration.seconds(60))


def test_unknown_shift_type_is_named():
    with pytest.raises(
        ConfigurationError, match="TrafficShift type: got 'BLUE'; allowed 'ALL_AT_ONCE' or"
    ):
        TrafficShift(type="BLUE")  # type: ignore[arg-type]


@pytest.mark.parametrize("percent", [-1, 101])
def test_sampling_outside_0_100(stack, percent):
    with pytest.raises(
        ConfigurationError,
        match=f"DataCapture sampling_percentage: got {percent}%; allowed a whole number from 0%"
        " to 100%",
    ):
        DataCapture(
            bucket=ArtifactStore(stack, "S").bucket, prefix="x/", sampling_percentage=percent
        )


def test_capture_prefix_needs_a_trailing_slash(stack):
    with pytest.raises(
        ConfigurationError, match=r"DataCapture prefix: got 'datacapture/churn'; allowed"
    ):
        DataCapture(bucket=ArtifactStore(stack, "S").bucket, prefix="datacapture/churn")


def test_capture_bucket_must_be_a_bucket():
    with pytest.raises(ConfigurationError, match=r"DataCapture bucket: got a str 'b'"):
        DataCapture(bucket="b", prefix="x/")  # type: ignore[arg-type]


def test_variant_given_as_a_string(stack):
    with pytest.raises(
        ConfigurationError,
        match=r"RealtimeEndpoint variant: got a str 'ml.m5.large'; allowed an InstanceVariant"
        " or ServerlessVariant",
    ):
        endpoint(stack, variant="ml.m5.large")


def test_model_given_as_a_string(stack):
    with pytest.raises(ConfigurationError, match=r"RealtimeEndpoint model: got a str 'churn'"):
        endpoint(stack, model="churn")


def test_kms_with_nvme_instance_type(stack):
    with pytest.raises(
        ConfigurationError,
        match="RealtimeEndpoint kms_key: got a key with instance_type ml.m5d.large, which has"
        " NVMe instance storage",
    ):
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
        ("ml.inf2.xlarge", False),  # Inferentia2: EBS only
        ("ml.dl1.24xlarge", True),
    ],
)
def test_nvme_detection(instance_type, nvme):
    assert has_nvme_storage(instance_type) is nvme


def test_canary_on_inf1_is_refused(stack):
    with pytest.raises(
        ConfigurationError,
        match="RealtimeEndpoint traffic_shift: got type CANARY with instance_type ml.inf1.xlarge;"
        " allowed type ALL_AT_ONCE for Inf1",
    ):
        endpoint(
            stack, variant=InstanceVariant(instance_type="ml.inf1.xlarge"), traffic_shift=canary()
        )


def test_serverless_cannot_autoscale(stack):
    with pytest.raises(
        ConfigurationError,
        match="RealtimeEndpoint autoscaling: got an Autoscaling; allowed None with a"
        " ServerlessVariant",
    ):
        serverless_endpoint(
            stack,
            autoscaling=Autoscaling(
                min_capacity=1, max_capacity=2, target_invocations_per_instance=5
            ),
        )


def test_serverless_cannot_canary(stack):
    with pytest.raises(
        ConfigurationError,
        match="RealtimeEndpoint traffic_shift: got type CANARY; allowed type ALL_AT_ONCE with a"
        " ServerlessVariant",
    ):
        serverless_endpoint(stack, traffic_shift=canary())


def test_serverless_cannot_capture_data(stack):
    with pytest.raises(
        ConfigurationError,
        match="RealtimeEndpoint data_capture: got a DataCapture; allowed None with a"
        " ServerlessVariant",
    ):
        store = ArtifactStore(stack, "Capture")
        serverless_endpoint(stack, data_capture=DataCapture(bucket=store.bucket, prefix="c/"))


def test_serverless_cannot_serve_an_isolated_model(stack):
    with pytest.raises(
        ConfigurationError,
        match=r"RealtimeEndpoint model: got a model with network_isolation=True; allowed"
        r" network_isolation=False with a ServerlessVariant",
    ):
        endpoint(stack, variant=ServerlessVariant(memory_size_in_mb=2048), data_capture=None)


def test_serverless_cannot_serve_a_model_in_a_vpc(stack):
    from constructs_lib.registered_model import ModelVpc

    vpc = ModelVpc(
        subnet_ids=["subnet-0123456789abcdef0"], security_group_ids=["sg-0123456789abcdef0"]
    )
    with pytest.raises(
        ConfigurationError,
        match="RealtimeEndpoint model: got a model with a vpc; allowed no vpc with a"
        " ServerlessVariant",
    ):
        endpoint(
            stack,
            variant=ServerlessVariant(memory_size_in_mb=2048),
            data_capture=None,
            model_props={"network_isolation": False, "vpc": vpc},
        )


def test_bad_serverless_memory():
    with pytest.raises(
        ConfigurationError, match="ServerlessVariant memory_size_in_mb: got 1000; allowed 1024"
    ):
        ServerlessVariant(memory_size_in_mb=1000)  # type: ignore[arg-type]


def test_serverless_concurrency_over_200():
    with pytest.raises(
        ConfigurationError,
        match="ServerlessVariant max_concurrency: got 201; allowed a whole number from 1 to 200",
    ):
        ServerlessVariant(memory_size_in_mb=2048, max_concurrency=201)


def test_provisioned_concurrency_above_max():
    with pytest.raises(
        ConfigurationError,
        match=r"ServerlessVariant provisioned_concurrency: got 6; allowed at most max_concurrency"
        r" \(5\)",
    ):
        ServerlessVariant(memory_size_in_mb=2048, provisioned_concurrency=6)


def test_provisioned_concurrency_zero():
    with pytest.raises(
        ConfigurationError, match="ServerlessVariant provisioned_concurrency: got 0; allowed"
    ):
        ServerlessVariant(memory_size_in_mb=2048, provisioned_concurrency=0)


def test_canary_without_rollback_alarm_fails_synth(stack):
    endpoint(stack, traffic_shift=canary())
    with pytest.raises(
        Exception,
        match="RealtimeEndpoint rollback_alarms: got none; allowed 1 to 10 with traffic_shift"
        " type CANARY",
    ):
        Template.from_stack(stack)


def test_an_eleventh_rollback_alarm_is_refused(stack):
    ep = endpoint(stack)
    for i in range(10):
        ep.add_rollback_alarm(alarm(stack, f"A{i}"))
    with pytest.raises(
        ConfigurationError, match="RealtimeEndpoint rollback_alarms: got an 11th; allowed 1 to 10"
    ):
        ep.add_rollback_alarm(alarm(stack, "A10"))


def test_model_role_may_write_captured_data_under_its_prefix(stack):
    endpoint(stack)
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [{"Ref": Match.string_like_regexp("^ModelRole")}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": Match.array_with(["s3:PutObject"]),
                                "Resource": {
                                    "Fn::Join": [
                                        "",
                                        [
                                            {"Fn::GetAtt": [Match.any_value(), "Arn"]},
                                            "/datacapture/churn/*",
                                        ],
                                    ]
                                },
                            }
                        ),
                        Match.object_like({"Action": Match.array_with(["kms:GenerateDataKey*"])}),
                    ]
                )
            },
        },
    )


@pytest.mark.parametrize("name", ["bad_name", "-x", "a" * 64])
def test_bad_endpoint_name_is_named(stack, name):
    with pytest.raises(ConfigurationError, match="RealtimeEndpoint endpoint_name: got"):
        endpoint(stack, endpoint_name=name)


def test_endpoint_name_must_be_literal(stack):
    from aws_cdk import Aws

    with pytest.raises(
        ConfigurationError, match="RealtimeEndpoint endpoint_name: got a token; allowed a literal"
    ):
        endpoint(stack, endpoint_name=Aws.STACK_NAME)


def test_autoscaling_acts_through_the_service_linked_role(stack):
    """No role of our own for Application Auto Scaling: it uses its service-linked role."""
    endpoint(stack, autoscaling=Autoscaling(min_capacity=1, max_capacity=2,
                                            target_invocations_per_instance=100))  # fmt: skip
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {
            "RoleARN": "arn:aws:iam::111111111111:role/aws-service-role/sagemaker."
            "application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_"
            "SageMakerEndpoint"
        },
    )
    principals = json.dumps(t.find_resources("AWS::IAM::Role"))
    assert "application-autoscaling" not in principals
