"""What the model-quality, bias and explainability monitors share: prop checks, the
job's role, network and cluster settings, the deploy-time baseline lookup, and metrics.

Limits checked here come from the SageMaker documentation:

- Offsets are ISO 8601 durations `-PT<n>H`, `-P<n>D` (and `-PT<n>M`), and a monitor that
  merges ground truth splits `MaxRuntimeInSeconds` between the merge job and the
  analysis, so an hourly schedule allows at most 1800 s:
  https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-model-quality-schedule.html
- `StartTimeOffset`/`EndTimeOffset` are 1-15 characters (botocore's
  `MonitoringTimeOffsetString`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Duration, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import custom_resources as cr
from constructs import Construct

from constructs_lib._kms import allow_volume_encryption
from constructs_lib._logs import allow_sagemaker_logs, stack_log_group
from constructs_lib._nag import (
    READ_GRANT_FINDINGS,
    Finding,
    acknowledge,
    acknowledge_aws_custom_resource,
    acknowledge_inline_policy,
    imported_key_findings,
    wildcard_resource,
)
from constructs_lib._principals import sagemaker_principal
from constructs_lib._validate import Checks, Shown
from constructs_lib.data_quality_monitor import (
    MAX_RUNTIME_SECONDS,
    _short,
    schedule_period_seconds,
)
from constructs_lib.realtime_endpoint import _INSTANCE_TYPE, DataCapture, RealtimeEndpoint
from constructs_lib.registered_model import _PACKAGE_ARN
from constructs_lib.vpc_config import VpcConfig, allow_network_interfaces

SCHEDULE_FORMS = (
    "cron(0 * ? * * *) (hourly), cron(0 H ? * * *) (daily at hour H, 0-23) or"
    " cron(0 H/N ? * * *) (every N hours, 1-24)"
)
_OFFSET = re.compile(r"^-P(?:(?P<days>\d+)D|T(?P<amount>\d+)(?P<unit>[HM]))$")
_S3_URI = re.compile(r"^s3://(?P<bucket>[^/]+)/(?P<key>.+)$")
LOCAL_INPUT = "/opt/ml/processing/input/endpoint"
LOCAL_OUTPUT = "/opt/ml/processing/output"


def offset_seconds(offset: str) -> int | None:
    """Seconds in a Model Monitor offset (`-PT2H` -> 7200), None if not one of its forms."""
    match = _OFFSET.match(offset) if isinstance(offset, str) and len(offset) <= 15 else None
    if match is None:
        return None
    if match.group("days") is not None:
        return int(match.group("days")) * 86400
    return int(match.group("amount")) * (3600 if match.group("unit") == "H" else 60)


# -- prop checks ------------------------------------------------------------------------


def check_endpoint(check: Checks, endpoint: Any) -> None:
    """An instance endpoint with data capture (what every Model Monitor job reads)."""
    if not check.instance("endpoint", endpoint, RealtimeEndpoint, "a RealtimeEndpoint"):
        return
    if endpoint.serverless:
        check.fail(
            "endpoint",
            Shown(f"{endpoint.endpoint_name!r} with a ServerlessVariant"),
            "an endpoint with an InstanceVariant (Model Monitor does not support serverless"
            " endpoints)",
        )
    elif endpoint.data_capture is None:
        check.fail(
            "endpoint",
            Shown(f"{endpoint.endpoint_name!r} without data_capture"),
            "an endpoint with data_capture (the job analyses the captured requests and responses)",
        )


def check_schedule(
    check: Checks, schedule_expression: Any, max_runtime: Any, *, merges_ground_truth: bool
) -> None:
    """One of Model Monitor's cron forms, and a runtime that fits in its period (half of
    it when a ground-truth merge job shares the runtime)."""
    period = (
        schedule_period_seconds(schedule_expression)
        if isinstance(schedule_expression, str)
        else None
    )
    if period is None:
        check.fail("schedule_expression", schedule_expression, SCHEDULE_FORMS)
    high = min(period or MAX_RUNTIME_SECONDS, MAX_RUNTIME_SECONDS)
    if merges_ground_truth:
        high //= 2
    check.duration("max_runtime", max_runtime, 1, high)


def check_offsets(check: Checks, start_time_offset: Any, end_time_offset: Any) -> None:
    """Both offsets in Model Monitor's form, the window's start before its end."""
    allowed = "an ISO 8601 offset into the past: -PT<n>H (hours), -P<n>D (days) or -PT<n>M"
    start = offset_seconds(start_time_offset)
    end = offset_seconds(end_time_offset)
    for prop, value, seconds in (
        ("start_time_offset", start_time_offset, start),
        ("end_time_offset", end_time_offset, end),
    ):
        if seconds is None:
            check.fail(prop, value, allowed)
    if start is not None and end is not None and start <= end:
        check.fail(
            "start_time_offset",
            start_time_offset,
            f"an offset further back than end_time_offset ({end_time_offset}): the window"
            " runs from start to end",
        )


def check_output_and_job(check: Checks, props: Mapping[str, Any]) -> None:
    """Output location, cluster, key, image and VPC props every monitor takes."""
    check.has("output_bucket", props["output_bucket"], "bucket_name", "an s3.IBucket")
    check.key_prefix("output_prefix", props["output_prefix"])
    check.text("instance_type", props["instance_type"], _INSTANCE_TYPE, "ml.<family>.<size>")
    check.integer("volume_size_in_gb", props["volume_size_in_gb"], 1, 16384)
    if props["kms_key"] is not None:
        check.has("kms_key", props["kms_key"], "key_arn", "a kms.IKey or None")
    if props["image_uri"] is not None:
        check.text("image_uri", props["image_uri"])
    if props["vpc"] is not None:
        check.instance("vpc", props["vpc"], VpcConfig, "a VpcConfig or None")


def check_baseline(
    check: Checks,
    *,
    model_package_arn: Any,
    baseline_constraints_uri: Any,
    baseline_bucket: Any,
    baseline_prefix: Any,
) -> None:
    """Exactly one baseline source, and the bucket and prefix the role may read it from."""
    if (model_package_arn is None) == (baseline_constraints_uri is None):
        check.fail(
            "model_package_arn/baseline_constraints_uri",
            Shown("both" if model_package_arn is not None else "neither"),
            "exactly one: the served package (its baseline is read at deploy time) or the"
            " constraints file's s3:// URI",
        )
    if model_package_arn is not None:
        check.text(
            "model_package_arn",
            model_package_arn,
            _PACKAGE_ARN,
            "arn:<partition>:sagemaker:<region>:<account>:model-package/<group>/<version>",
        )
    bucket_ok = check.has("baseline_bucket", baseline_bucket, "bucket_name", "an s3.IBucket")
    prefix_ok = check.key_prefix("baseline_prefix", baseline_prefix)
    if baseline_constraints_uri is not None:
        check_uri_under(
            check,
            "baseline_constraints_uri",
            baseline_constraints_uri,
            baseline_bucket if bucket_ok else None,
            baseline_prefix if prefix_ok else None,
        )


def check_uri_under(
    check: Checks, prop: str, uri: Any, bucket: s3.IBucket | None, prefix: str | None
) -> None:
    """An s3:// URI of an object below `prefix` in `bucket` (where the role may read)."""
    if not check.text(prop, uri, _S3_URI, "an s3://<bucket>/<key> URI"):
        return
    match = _S3_URI.match(uri)
    if match is None or bucket is None or prefix is None:
        return
    name = bucket.bucket_name
    expected = f"s3://{name}/{prefix}"
    if Token.is_unresolved(name) or Token.is_unresolved(prefix):
        if not match.group("key").startswith(prefix):
            check.fail(prop, uri, f"a key below {prefix!r} (the role reads only there)")
    elif not uri.startswith(expected):
        check.fail(prop, uri, f"a URI below {expected} (the role reads only there)")


# -- resources --------------------------------------------------------------------------


def package_lookup(
    scope: Construct, model_package_arn: str, fields: Sequence[str]
) -> cr.AwsCustomResource:
    """`DescribeModelPackage` on one package at deploy time, returning `fields` (id
    `Baseline`), as `DataQualityMonitor` reads its baseline."""
    lookup = cr.AwsCustomResource(
        scope,
        "Baseline",
        on_update=cr.AwsSdkCall(
            service="SageMaker",
            action="describeModelPackage",
            parameters={"ModelPackageName": model_package_arn},
            physical_resource_id=cr.PhysicalResourceId.of(model_package_arn),
            output_paths=list(fields),
        ),
        policy=cr.AwsCustomResourcePolicy.from_sdk_calls(resources=[model_package_arn]),
        install_latest_aws_sdk=False,
        memory_size=256,
        log_group=stack_log_group(scope, "CustomResourceLogs"),
    )
    acknowledge_provider(scope)
    acknowledge_aws_custom_resource(lookup, does="makes one SageMaker DescribeModelPackage call")
    return lookup


def write_json_object(
    scope: Construct,
    construct_id: str,
    *,
    bucket: s3.IBucket,
    key: str,
    body: Mapping[str, Any],
    kms_key: kms.IKey | None,
) -> str:
    """Put `body` as JSON at `key` of `bucket` at deploy time (an `AwsCustomResource`
    calling `PutObject` on that one key). Returns the object's s3:// URI."""
    stack = Stack.of(scope)
    parameters: dict[str, Any] = {
        "Bucket": bucket.bucket_name,
        "Key": key,
        "Body": stack.to_json_string(body),
        "ContentType": "application/json",
    }
    statements = [
        iam.PolicyStatement(actions=["s3:PutObject"], resources=[bucket.arn_for_objects(key)])
    ]
    if kms_key is not None:
        parameters.update(ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_key.key_arn)
        statements.append(
            iam.PolicyStatement(
                actions=["kms:GenerateDataKey", "kms:Encrypt"], resources=[kms_key.key_arn]
            )
        )
    writer = cr.AwsCustomResource(
        scope,
        construct_id,
        on_update=cr.AwsSdkCall(
            service="S3",
            action="putObject",
            parameters=parameters,
            physical_resource_id=cr.PhysicalResourceId.of(key),
        ),
        policy=cr.AwsCustomResourcePolicy.from_statements(statements),
        install_latest_aws_sdk=False,
        memory_size=256,
        log_group=stack_log_group(scope, "CustomResourceLogs"),
    )
    acknowledge_provider(scope)
    acknowledge_aws_custom_resource(writer, does="puts one S3 object (an analysis config)")
    return f"s3://{bucket.bucket_name}/{key}"


def acknowledge_provider(scope: Construct) -> None:
    """What cdk-nag reports of CDK's AwsCustomResource provider function (one per stack)."""
    acknowledge(
        Stack.of(scope),
        {
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]": "CDK's AwsCustomResource provider logs with the"
            " AWS basic execution policy; its data access is the SDK calls its policies name.",
            "AwsSolutions-L1": "The AwsCustomResource provider's runtime is chosen by"
            " aws-cdk-lib and upgraded with it.",
        },
    )


def monitor_role(
    scope: Construct,
    *,
    description: str,
    capture: DataCapture,
    output_bucket: s3.IBucket,
    output_prefix: str,
    reads: Sequence[tuple[s3.IBucket, str, str]],
    kms_key: kms.IKey | None,
    metric_namespace: str,
    vpc: VpcConfig | None,
) -> iam.Role:
    """The job's role: read the captured data and each `(bucket, prefix, why)` in `reads`,
    write reports under `output_prefix`, log, publish to `metric_namespace` only."""
    role = iam.Role(
        scope,
        "Role",
        assumed_by=sagemaker_principal(scope),
        description=description,
    )
    captured = f"{capture.prefix}*"
    reports = f"{output_prefix}*"
    capture.bucket.grant_read(role, captured)
    output_bucket.grant_read_write(role, reports)
    findings: dict[str | Finding, str] = {
        "AwsSolutions-IAM5[Action::s3:DeleteObject*]": "grant_read_write on the report"
        " prefix only: a re-run replaces its own report.",
        "AwsSolutions-IAM5[Action::s3:Abort*]": "grant_read_write on the report prefix.",
        wildcard_resource(scope, capture.bucket.arn_for_objects(captured)): "Captured"
        " requests are written per hour under the capture prefix.",
        wildcard_resource(scope, output_bucket.arn_for_objects(reports)): "Each monitoring"
        " execution writes its report under a new key.",
    }
    seen = {(id(capture.bucket), capture.prefix), (id(output_bucket), output_prefix)}
    for bucket, prefix, why in reads:
        if (id(bucket), prefix) in seen:
            continue
        seen.add((id(bucket), prefix))
        bucket.grant_read(role, f"{prefix}*")
        findings[wildcard_resource(scope, bucket.arn_for_objects(f"{prefix}*"))] = why
        findings.update(imported_key_findings(scope, bucket))
    if kms_key is not None:
        kms_key.grant_encrypt_decrypt(role)
        allow_volume_encryption(kms_key, role)
        findings["AwsSolutions-IAM5[Action::kms:GenerateDataKey*]"] = (
            "Encrypting reports and the job volume with the environment's key."
        )
        findings["AwsSolutions-IAM5[Action::kms:ReEncrypt*]"] = (
            "grant_encrypt_decrypt on the environment's key only."
        )
    if capture.kms_key is not None and capture.kms_key is not kms_key:
        capture.kms_key.grant_decrypt(role)
    logs = allow_sagemaker_logs(role, "/aws/sagemaker/ProcessingJobs*")
    findings[wildcard_resource(scope, logs)] = (
        "Monitoring jobs log to /aws/sagemaker/ProcessingJobs, one stream per job."
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": metric_namespace}},
        )
    )
    resource_star = [
        f"cloudwatch:PutMetricData has no resource-level permissions; the statement is"
        f" limited to the {metric_namespace} namespace."
    ]
    findings["AwsSolutions-IAM5[Resource::*]"] = " ".join(resource_star)
    if vpc is not None:
        network = allow_network_interfaces(scope, role, vpc.subnet_ids, vpc.security_group_ids)
        for finding, reason in network.items():
            findings[finding] = f"{findings[finding]} {reason}" if finding in findings else reason
    findings.update(READ_GRANT_FINDINGS)
    acknowledge(role, findings)
    acknowledge_inline_policy(role, "the monitoring jobs' execution role")
    return role


def with_actions(
    alarm: cloudwatch.Alarm, actions: Sequence[cloudwatch.IAlarmAction]
) -> cloudwatch.Alarm:
    """Add `actions` to `alarm`; without any, acknowledge the compliance packs'
    CloudWatchAlarmAction finding with what is true then."""
    if actions:
        alarm.add_alarm_action(*actions)
    else:
        acknowledge(
            alarm,
            {
                f"{pack}-CloudWatchAlarmAction": "No action was given when the alarm was"
                " created: it shows on the console and dashboards, and the caller may add"
                " actions (add_alarm_action)."
                for pack in ("NIST.800.53.R5", "HIPAA.Security")
            },
        )
    return alarm


def job_settings(
    *,
    role: iam.IRole,
    output_bucket: s3.IBucket,
    output_prefix: str,
    instance_type: str,
    volume_size_in_gb: int,
    max_runtime: Duration,
    kms_key: kms.IKey | None,
    vpc: VpcConfig | None,
    network_isolation: bool,
) -> dict[str, Any]:
    """Role, output, cluster, network and stopping condition of a monitoring job
    definition, as L1 keyword arguments (`<kind>_job_output_config` is `output`)."""
    key = kms_key.key_arn if kms_key else None
    network: dict[str, Any] = {
        "enable_network_isolation": network_isolation,
        "enable_inter_container_traffic_encryption": True,
    }
    if vpc is not None:
        network["vpc_config"] = {
            "subnets": list(vpc.subnet_ids),
            "security_group_ids": list(vpc.security_group_ids),
        }
    return {
        "role_arn": role.role_arn,
        "output": {
            "kms_key_id": key,
            "monitoring_outputs": [
                {
                    "s3_output": {
                        "s3_uri": f"s3://{output_bucket.bucket_name}/{output_prefix.rstrip('/')}",
                        "local_path": LOCAL_OUTPUT,
                        "s3_upload_mode": "EndOfJob",
                    }
                }
            ],
        },
        "job_resources": {
            "cluster_config": {
                "instance_count": 1,
                "instance_type": instance_type,
                "volume_size_in_gb": volume_size_in_gb,
                "volume_kms_key_id": key,
            }
        },
        "network_config": network,
        "stopping_condition": {"max_runtime_in_seconds": int(max_runtime.to_seconds())},
    }


def l1_props(props: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for a monitoring L1 from snake_case dicts: nested keys in
    camelCase (as jsii reads structs given as dicts), None values dropped, the
    `environment` map kept as it is."""

    def camel(key: str) -> str:
        head, *rest = key.split("_")
        return head + "".join(part.title() for part in rest)

    def convert(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {
                camel(k): (v if k == "environment" else convert(v))
                for k, v in value.items()
                if v is not None
            }
        if isinstance(value, list):
            return [convert(v) for v in value]
        return value

    return {k: convert(v) for k, v in props.items() if v is not None}


def content_name(stack: Stack, endpoint_name: str, kind: str, job: Any, *extra: str) -> str:
    """A job definition name that changes with its content (every property change
    replaces a job definition, so a fixed name would collide with the one replaced);
    `extra` adds what is only known at deploy time, e.g. the package ARN."""
    digest = hashlib.sha256(json.dumps(stack.resolve(job), sort_keys=True).encode())
    for part in extra:
        digest.update(part.encode())
    return f"{endpoint_name[:40]}-{kind}-{digest.hexdigest()[:12]}"


def schedule_name(endpoint_name: str, suffix: str) -> str:
    """`<endpoint>-<suffix>`, shortened to SageMaker's 63 characters."""
    return f"{_short(endpoint_name, 62 - len(suffix))}-{suffix}"


def schedule_metric(
    *,
    namespace: str,
    metric_name: str,
    endpoint_name: str,
    schedule: str,
    period: Duration,
    dimensions: Mapping[str, str] | None = None,
    **options: Any,
) -> cloudwatch.Metric:
    """A metric a monitoring schedule publishes (dimensions Endpoint, MonitoringSchedule
    and `dimensions`); `options` override the defaults (Average per schedule period)."""
    return cloudwatch.Metric(
        namespace=namespace,
        metric_name=metric_name,
        **{
            "dimensions_map": {
                "Endpoint": endpoint_name,
                "MonitoringSchedule": schedule,
                **(dimensions or {}),
            },
            "statistic": "Average",
            "period": period,
            **options,
        },
    )
