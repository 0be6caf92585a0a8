"""`RealtimeEndpoint`: a SageMaker real-time endpoint with guardrailed updates."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import jsii
from aws_cdk import Duration, IStableAnyProducer, Lazy, Stack, Token
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct, IValidation

from constructs_lib._nag import acknowledge, wildcard_resource
from constructs_lib.errors import ConfigurationError
from constructs_lib.registered_model import RegisteredModel

VARIANT_NAME = "AllTraffic"
_ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
# Instance families with local NVMe instance storage; SageMaker rejects a volume KMS key
# for them ("d" variants and the GPU/accelerator families that only come with NVMe).
_NVME_FAMILY = re.compile(r"^ml\.([a-z]+\d+[a-z]*d[a-z]*|g5|g6|g6e|p4d|p4de|p5|p5e|trn1|inf2)\.")


def has_nvme_storage(instance_type: str) -> bool:
    """Whether `instance_type` comes with NVMe instance storage (no volume KMS key then)."""
    return bool(_NVME_FAMILY.match(instance_type))


def _check_range(prop: str, value: float, low: float, high: float, unit: str = "") -> None:
    if not low <= value <= high:
        shown = int(value) if float(value).is_integer() else value
        raise ConfigurationError(f"{prop}: got {shown}{unit}; allowed {low} to {high}{unit}")


@dataclass(frozen=True, kw_only=True)
class InstanceVariant:
    """Instance-backed capacity: `instance_type` x `initial_instance_count`."""

    instance_type: str
    initial_instance_count: int = 1

    def __post_init__(self) -> None:
        if not re.match(r"^ml\.[a-z0-9]+\.[a-z0-9]+$", self.instance_type):
            raise ConfigurationError(
                f"variant.instance_type: got {self.instance_type!r}; expected ml.<family>.<size>"
            )
        _check_range("variant.initial_instance_count", self.initial_instance_count, 1, 100)


@dataclass(frozen=True, kw_only=True)
class ServerlessVariant:
    """Serverless capacity: memory per worker and maximum concurrent invocations."""

    memory_size_in_mb: Literal[1024, 2048, 3072, 4096, 5120, 6144]
    max_concurrency: int = 5

    def __post_init__(self) -> None:
        if self.memory_size_in_mb not in (1024, 2048, 3072, 4096, 5120, 6144):
            raise ConfigurationError(
                f"variant.memory_size_in_mb: got {self.memory_size_in_mb};"
                " allowed 1024, 2048, 3072, 4096, 5120 or 6144"
            )
        _check_range("variant.max_concurrency", self.max_concurrency, 1, 200)


@dataclass(frozen=True, kw_only=True)
class TrafficShift:
    """How an update moves traffic from the old (blue) fleet to the new (green) one.

    `ALL_AT_ONCE` moves everything, `CANARY` moves `step_percent` then the rest, and
    `LINEAR` moves `step_percent` at a time; `wait_interval` is the baking period after
    each step. Alarms firing during the update roll it back.
    """

    type: Literal["ALL_AT_ONCE", "CANARY", "LINEAR"] = "ALL_AT_ONCE"
    step_percent: int | None = None
    wait_interval: Duration = field(default_factory=lambda: Duration.minutes(5))
    termination_wait: Duration = field(default_factory=lambda: Duration.minutes(5))
    maximum_execution_timeout: Duration = field(default_factory=lambda: Duration.hours(1))

    def __post_init__(self) -> None:
        if self.type not in ("ALL_AT_ONCE", "CANARY", "LINEAR"):
            raise ConfigurationError(
                f"deployment.type: got {self.type!r}; allowed ALL_AT_ONCE, CANARY or LINEAR"
            )
        if self.type in ("CANARY", "LINEAR"):
            low = 1 if self.type == "CANARY" else 10  # SageMaker's TrafficRoutingConfig limits
            if self.step_percent is None:
                raise ConfigurationError(
                    f"deployment.step_percent: {self.type} needs a step size; got none"
                    f" (allowed {low} to 50 percent of capacity)"
                )
            _check_range(f"deployment.step_percent ({self.type})", self.step_percent, low, 50, "%")
        elif self.step_percent is not None:
            raise ConfigurationError(
                f"deployment.step_percent: got {self.step_percent} with ALL_AT_ONCE;"
                " a step size only applies to CANARY or LINEAR"
            )
        _check_range("deployment.wait_interval", self.wait_interval.to_seconds(), 0, 3600, " s")
        _check_range(
            "deployment.termination_wait", self.termination_wait.to_seconds(), 0, 3600, " s"
        )
        _check_range(
            "deployment.maximum_execution_timeout",
            self.maximum_execution_timeout.to_seconds(),
            600,
            28800,
            " s",
        )


@dataclass(frozen=True, kw_only=True)
class Autoscaling:
    """Target tracking on invocations per instance."""

    min_capacity: int
    max_capacity: int
    target_invocations_per_instance: int
    scale_in_cooldown: Duration = field(default_factory=lambda: Duration.minutes(5))
    scale_out_cooldown: Duration = field(default_factory=lambda: Duration.minutes(1))

    def __post_init__(self) -> None:
        _check_range("autoscaling.min_capacity", self.min_capacity, 1, 100)
        _check_range("autoscaling.max_capacity", self.max_capacity, 1, 100)
        if self.min_capacity > self.max_capacity:
            raise ConfigurationError(
                f"autoscaling.min_capacity: got {self.min_capacity}, more than"
                f" autoscaling.max_capacity {self.max_capacity}; need min <= max"
            )
        _check_range(
            "autoscaling.target_invocations_per_instance",
            self.target_invocations_per_instance,
            1,
            100_000,
        )


@dataclass(frozen=True, kw_only=True)
class DataCapture:
    """Capture requests and responses to S3 (what Model Monitor analyses)."""

    bucket: s3.IBucket
    prefix: str
    sampling_percentage: int = 100
    kms_key: kms.IKey | None = None

    def __post_init__(self) -> None:
        _check_range("data_capture.sampling_percentage", self.sampling_percentage, 0, 100, "%")

    @property
    def s3_uri(self) -> str:
        return f"s3://{self.bucket.bucket_name}/{self.prefix.strip('/')}"


class RealtimeEndpoint(Construct):
    """An endpoint config and endpoint for one `RegisteredModel`, updated safely.

    - The endpoint config is never named: every property change replaces it, and a
      generated name lets CloudFormation create the new one before removing the old.
    - Updates are blue/green (`traffic_shift`), with auto-rollback on `rollback_alarms`
      (add them with `add_rollback_alarm`; 1 to 10), a termination wait and a timeout.
    - With `autoscaling`, `RetainAllVariantProperties` is on so an update keeps the
      instance count autoscaling reached, while weights and data capture (from settings)
      still apply.
    - The volume is encrypted with `kms_key`, except on NVMe instance types, which
      SageMaker refuses a volume key for (that combination fails at synth).

    Example::

        endpoint = RealtimeEndpoint(stack, "Endpoint", endpoint_name="churn-prod",
            model=model, variant=InstanceVariant(instance_type="ml.m5.large"),
            traffic_shift=TrafficShift(type="CANARY", step_percent=10),
            autoscaling=Autoscaling(min_capacity=1, max_capacity=4,
                                    target_invocations_per_instance=200),
            data_capture=DataCapture(bucket=bucket, prefix="datacapture/churn-prod"),
            kms_key=key)
        endpoint.metric_model_latency().create_alarm(...)
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        model: RegisteredModel,
        variant: InstanceVariant | ServerlessVariant,
        traffic_shift: TrafficShift | None = None,
        autoscaling: Autoscaling | None = None,
        data_capture: DataCapture | None = None,
        kms_key: kms.IKey | None = None,
    ) -> None:
        """Create the endpoint config, the endpoint and (optionally) autoscaling.

        :param endpoint_name: fixed so clients and alarms can name it; 1-63 characters.
        :param model: the model every variant serves.
        :param variant: instance or serverless capacity.
        :param traffic_shift: default `TrafficShift()`: all at once, 5-minute baking
            period. CANARY and LINEAR need instance capacity.
        :param autoscaling: default none: the instance count stays as configured.
        :param data_capture: default none: no requests are captured (and Model Monitor
            has nothing to analyse).
        :param kms_key: encrypts the ML storage volume. Default none; must be none for
            NVMe instance types.
        """
        super().__init__(scope, construct_id)
        if Token.is_unresolved(endpoint_name):
            raise ConfigurationError(
                "RealtimeEndpoint endpoint_name: got a token; give a literal name (alarms,"
                " autoscaling and monitoring refer to it before the endpoint exists)"
            )
        if not _ENDPOINT_NAME.match(endpoint_name):
            raise ConfigurationError(
                f"RealtimeEndpoint endpoint_name: got {endpoint_name!r}; allowed 1-63 letters,"
                " digits and single hyphens"
            )
        traffic_shift = traffic_shift or TrafficShift()
        serverless = isinstance(variant, ServerlessVariant)
        if serverless and autoscaling is not None:
            raise ConfigurationError(
                "autoscaling: serverless variants scale by max_concurrency; remove autoscaling"
                " or use an instance variant"
            )
        if serverless and traffic_shift.type != "ALL_AT_ONCE":
            raise ConfigurationError(
                f"deployment.type: got {traffic_shift.type} with a serverless variant;"
                " serverless endpoints only shift ALL_AT_ONCE"
            )
        if isinstance(variant, InstanceVariant):
            if kms_key is not None and has_nvme_storage(variant.instance_type):
                raise ConfigurationError(
                    f"variant.instance_type: got {variant.instance_type}, which has NVMe instance"
                    " storage; SageMaker rejects a volume KMS key for it. Use a type without"
                    " NVMe storage (e.g. ml.m5.large) or drop kms_key"
                )
            if autoscaling is not None and not (
                autoscaling.min_capacity
                <= variant.initial_instance_count
                <= autoscaling.max_capacity
            ):
                raise ConfigurationError(
                    f"variant.initial_instance_count: got {variant.initial_instance_count};"
                    f" must be within autoscaling.min_capacity..max_capacity"
                    f" ({autoscaling.min_capacity}..{autoscaling.max_capacity})"
                )
        self.endpoint_name = endpoint_name
        self.model = model
        self.variant = variant
        self.traffic_shift = traffic_shift
        self._rollback_alarms: list[cloudwatch.IAlarm] = []

        self.config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            production_variants=[self._production_variant(variant)],
            kms_key_id=kms_key.key_arn if kms_key and not serverless else None,
            data_capture_config=self._data_capture(data_capture),
        )
        self.resource = sagemaker.CfnEndpoint(
            self,
            "Resource",
            endpoint_name=endpoint_name,
            endpoint_config_name=self.config.attr_endpoint_config_name,
            deployment_config=sagemaker.CfnEndpoint.DeploymentConfigProperty(
                blue_green_update_policy=self._blue_green(traffic_shift),
                auto_rollback_configuration=Lazy.any(_RollbackAlarms(self)),
            ),
            retain_all_variant_properties=autoscaling is not None,
            exclude_retained_variant_properties=(
                [
                    sagemaker.CfnEndpoint.VariantPropertyProperty(variant_property_type=t)
                    for t in ("DesiredWeight", "DataCaptureConfig")
                ]
                if autoscaling is not None
                else None
            ),
        )
        self.node.add_validation(_RollbackAlarmCount(self))
        self.scalable_target = self._autoscaling(autoscaling) if autoscaling else None
        if data_capture is not None:
            self._grant_capture(data_capture)

    # -- building blocks --------------------------------------------------------------

    def _production_variant(
        self, variant: InstanceVariant | ServerlessVariant
    ) -> sagemaker.CfnEndpointConfig.ProductionVariantProperty:
        if isinstance(variant, ServerlessVariant):
            return sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                variant_name=VARIANT_NAME,
                model_name=self.model.model_name,
                serverless_config=sagemaker.CfnEndpointConfig.ServerlessConfigProperty(
                    memory_size_in_mb=variant.memory_size_in_mb,
                    max_concurrency=variant.max_concurrency,
                ),
            )
        return sagemaker.CfnEndpointConfig.ProductionVariantProperty(
            variant_name=VARIANT_NAME,
            model_name=self.model.model_name,
            instance_type=variant.instance_type,
            initial_instance_count=variant.initial_instance_count,
            initial_variant_weight=1,
        )

    def _data_capture(
        self, capture: DataCapture | None
    ) -> sagemaker.CfnEndpointConfig.DataCaptureConfigProperty | None:
        if capture is None:
            return None
        return sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
            enable_capture=True,
            initial_sampling_percentage=capture.sampling_percentage,
            destination_s3_uri=capture.s3_uri,
            kms_key_id=capture.kms_key.key_arn if capture.kms_key else None,
            capture_options=[
                sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Input"),
                sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Output"),
            ],
            capture_content_type_header=sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
                csv_content_types=["text/csv"], json_content_types=["application/json"]
            ),
        )

    def _grant_capture(self, capture: DataCapture) -> None:
        """SageMaker writes captured data as the model's execution role."""
        pattern = f"{capture.prefix.strip('/')}/*"
        capture.bucket.grant_put(self.model.role, pattern)
        if capture.kms_key is not None:
            capture.kms_key.grant_encrypt(self.model.role)
        acknowledge(
            self.model.role,
            {
                wildcard_resource(self, capture.bucket.arn_for_objects(pattern)): "Captured"
                " requests are written under per-hour keys below the capture prefix.",
                "AwsSolutions-IAM5[Action::s3:Abort*]": "bucket.grant_put: aborting multipart"
                " uploads of large capture files, below the capture prefix only.",
                "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": "Encrypting captured data"
                " with the environment's key.",
                "AwsSolutions-IAM5[Action::kms:ReEncrypt*]": "grant_encrypt on the"
                " environment's key only.",
            },
        )

    @staticmethod
    def _blue_green(shift: TrafficShift) -> sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty:
        step = (
            sagemaker.CfnEndpoint.CapacitySizeProperty(
                type="CAPACITY_PERCENT", value=shift.step_percent
            )
            if shift.step_percent is not None
            else None
        )
        return sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
            traffic_routing_configuration=sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
                type=shift.type,
                wait_interval_in_seconds=int(shift.wait_interval.to_seconds()),
                canary_size=step if shift.type == "CANARY" else None,
                linear_step_size=step if shift.type == "LINEAR" else None,
            ),
            termination_wait_in_seconds=int(shift.termination_wait.to_seconds()),
            maximum_execution_timeout_in_seconds=int(shift.maximum_execution_timeout.to_seconds()),
        )

    def _autoscaling(self, scaling: Autoscaling) -> appscaling.ScalableTarget:
        target = appscaling.ScalableTarget(
            self,
            "ScalableTarget",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{self.endpoint_name}/variant/{VARIANT_NAME}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=scaling.min_capacity,
            max_capacity=scaling.max_capacity,
        )
        target.node.add_dependency(self.resource)
        target.scale_to_track_metric(
            "InvocationsPerInstance",
            target_value=scaling.target_invocations_per_instance,
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
            scale_in_cooldown=scaling.scale_in_cooldown,
            scale_out_cooldown=scaling.scale_out_cooldown,
        )
        return target

    # -- guardrails ---------------------------------------------------------------------

    def add_rollback_alarm(self, alarm: cloudwatch.IAlarm) -> None:
        """Roll an update back when `alarm` fires during it (1 to 10 alarms in all)."""
        self._rollback_alarms.append(alarm)
        self.model.grant_describe_alarms([alarm.alarm_arn])

    @property
    def rollback_alarms(self) -> tuple[cloudwatch.IAlarm, ...]:
        return tuple(self._rollback_alarms)

    # -- metrics ------------------------------------------------------------------------

    def metric(
        self,
        metric_name: str,
        *,
        namespace: str = "AWS/SageMaker",
        statistic: str = "Sum",
        period: Duration | None = None,
        label: str | None = None,
    ) -> cloudwatch.Metric:
        """A metric of this endpoint's variant (dimensions EndpointName, VariantName)."""
        return cloudwatch.Metric(
            namespace=namespace,
            metric_name=metric_name,
            dimensions_map={"EndpointName": self.endpoint_name, "VariantName": VARIANT_NAME},
            statistic=statistic,
            period=period or Duration.minutes(1),
            label=label,
        )

    def metric_invocations(self, **kwargs: Any) -> cloudwatch.Metric:
        """Requests served (Sum per minute unless overridden)."""
        return self.metric("Invocations", **kwargs)

    def metric_invocation_5xx_errors(self, **kwargs: Any) -> cloudwatch.Metric:
        """Requests the model failed with a 5xx (Sum per minute unless overridden)."""
        return self.metric("Invocation5XXErrors", **kwargs)

    def metric_invocation_4xx_errors(self, **kwargs: Any) -> cloudwatch.Metric:
        """Requests rejected with a 4xx (Sum per minute unless overridden)."""
        return self.metric("Invocation4XXErrors", **kwargs)

    def metric_model_latency(self, **kwargs: Any) -> cloudwatch.Metric:
        """Model latency in microseconds (p99 per minute unless overridden)."""
        kwargs.setdefault("statistic", "p99")
        return self.metric("ModelLatency", **kwargs)

    def metric_overhead_latency(self, **kwargs: Any) -> cloudwatch.Metric:
        """SageMaker's own overhead in microseconds (p99 per minute unless overridden)."""
        kwargs.setdefault("statistic", "p99")
        return self.metric("OverheadLatency", **kwargs)

    def metric_invocations_per_instance(self, **kwargs: Any) -> cloudwatch.Metric:
        """What autoscaling tracks (Sum per minute unless overridden)."""
        return self.metric("InvocationsPerInstance", **kwargs)

    def metric_cpu_utilization(self, **kwargs: Any) -> cloudwatch.Metric:
        """CPU use in percent across cores (Average per minute unless overridden)."""
        kwargs.setdefault("statistic", "Average")
        return self.metric("CPUUtilization", namespace="/aws/sagemaker/Endpoints", **kwargs)

    def metric_memory_utilization(self, **kwargs: Any) -> cloudwatch.Metric:
        """Memory use in percent (Average per minute unless overridden)."""
        kwargs.setdefault("statistic", "Average")
        return self.metric("MemoryUtilization", namespace="/aws/sagemaker/Endpoints", **kwargs)

    @property
    def endpoint_arn(self) -> str:
        return Stack.of(self).format_arn(
            service="sagemaker", resource="endpoint", resource_name=self.endpoint_name.lower()
        )


@jsii.implements(IStableAnyProducer)
class _RollbackAlarms:
    """Renders the rollback alarms added after construction (resolved at synth)."""

    def __init__(self, endpoint: RealtimeEndpoint) -> None:
        self._endpoint = endpoint

    def produce(self) -> Any:
        alarms = [{"alarmName": a.alarm_name} for a in self._endpoint.rollback_alarms]
        return {"alarms": alarms} if alarms else None


@jsii.implements(IValidation)
class _RollbackAlarmCount:
    """Synth-time check: SageMaker accepts 1 to 10 auto-rollback alarms."""

    def __init__(self, endpoint: RealtimeEndpoint) -> None:
        self._endpoint = endpoint

    def validate(self) -> list[str]:
        count = len(self._endpoint.rollback_alarms)
        if count > 10:
            return [f"RealtimeEndpoint rollback alarms: got {count}; SageMaker allows 1 to 10"]
        if count == 0 and self._endpoint.traffic_shift.type != "ALL_AT_ONCE":
            return [
                f"RealtimeEndpoint rollback alarms: {self._endpoint.traffic_shift.type} needs"
                " at least one (add_rollback_alarm); without one nothing can roll it back"
            ]
        return []
