"""`RealtimeEndpoint`: a SageMaker real-time endpoint with guardrailed updates.

Limits checked here come from the SageMaker documentation:

- Serverless Inference feature exclusions (no VPC, network isolation, data capture,
  Model Monitor, GPUs, multiple variants):
  https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html
- ProductionVariantServerlessConfig (memory 1024-6144 MB in 1 GB steps, max
  concurrency 1-200, provisioned concurrency 1-200 and at most max concurrency):
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariantServerlessConfig.html
- Blue/green traffic shifting (canary at most 50% of the fleet, linear steps 10-50%,
  waits 0-3600 s, timeout 600-28800 s) and its exclusions (Inf1 endpoints fall back to
  all at once): https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails.html
- CreateEndpointConfig `KmsKeyId` (refused for instance types with local NVMe storage;
  on serverless endpoints it encrypts the copied ECR image):
  https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import jsii
from aws_cdk import Duration, IStableAnyProducer, Lazy, Resource, Stack, Token
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct, IValidation

from constructs_lib._nag import acknowledge, wildcard_resource
from constructs_lib._validate import Checks, Shown
from constructs_lib.errors import ConfigurationError
from constructs_lib.registered_model import IModel

VARIANT_NAME = "AllTraffic"
INVOKE_ACTIONS = (
    "sagemaker:InvokeEndpoint",
    "sagemaker:InvokeEndpointAsync",
    "sagemaker:InvokeEndpointWithResponseStream",
)
"""What `grant_invoke` allows, on the endpoint's ARN only."""
SERVERLESS_MEMORY_SIZES = (1024, 2048, 3072, 4096, 5120, 6144)
_ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9-]+\.[a-z0-9]+$")
# Instance families with local NVMe instance storage; SageMaker rejects a volume KMS key
# for them ("d" variants and the GPU/accelerator families that only come with NVMe).
_NVME_FAMILY = re.compile(r"^ml\.([a-z]+\d+[a-z]*d[a-z]*|g5|g6|g6e|p4d|p4de|p5|p5e|trn1|dl1)\.")


def has_nvme_storage(instance_type: str) -> bool:
    """Whether `instance_type` comes with NVMe instance storage (no volume KMS key then)."""
    return bool(_NVME_FAMILY.match(instance_type))


@dataclass(frozen=True, kw_only=True)
class InstanceVariant:
    """Instance-backed capacity: `instance_type` x `initial_instance_count`."""

    instance_type: str
    """SageMaker hosting instance type, `ml.<family>.<size>` (e.g. `ml.m5.large`). Required."""
    initial_instance_count: int = 1
    """Instances at creation (and after every update without autoscaling). Default 1."""

    def __post_init__(self) -> None:
        check = Checks("InstanceVariant")
        check.text("instance_type", self.instance_type, _INSTANCE_TYPE, "ml.<family>.<size>")
        check.integer("initial_instance_count", self.initial_instance_count, 1)
        check.done()


@dataclass(frozen=True, kw_only=True)
class ServerlessVariant:
    """Serverless capacity: memory per worker and maximum concurrent invocations.

    Serverless endpoints run on CPUs only, outside any VPC, without network isolation,
    data capture or Model Monitor; `RealtimeEndpoint` refuses those combinations.
    """

    memory_size_in_mb: Literal[1024, 2048, 3072, 4096, 5120, 6144]
    """Memory of each worker: 1024 to 6144 in 1024 MB steps. Required."""
    max_concurrency: int = 5
    """Concurrent invocations before requests are throttled, 1 to 200. Default 5."""
    provisioned_concurrency: int | None = None
    """Workers kept warm (no cold start), 1 to 200 and at most `max_concurrency`.
    Default none: every worker starts on demand."""

    def __post_init__(self) -> None:
        check = Checks("ServerlessVariant")
        check.one_of("memory_size_in_mb", self.memory_size_in_mb, SERVERLESS_MEMORY_SIZES)
        concurrency_ok = check.integer("max_concurrency", self.max_concurrency, 1, 200)
        provisioned = self.provisioned_concurrency
        provisioned_ok = provisioned is None or check.integer(
            "provisioned_concurrency", provisioned, 1, 200
        )
        too_many = provisioned_ok and concurrency_ok and (provisioned or 0) > self.max_concurrency
        if too_many:
            check.fail(
                "provisioned_concurrency",
                provisioned,
                f"at most max_concurrency ({self.max_concurrency})",
            )
        check.done()


@dataclass(frozen=True, kw_only=True)
class TrafficShift:
    """How an update moves traffic from the old (blue) fleet to the new (green) one.

    `ALL_AT_ONCE` moves everything, `CANARY` moves `step_percent` then the rest, and
    `LINEAR` moves `step_percent` at a time; `wait_interval` is the baking period after
    each step. Alarms firing during the update roll it back.
    """

    type: Literal["ALL_AT_ONCE", "CANARY", "LINEAR"] = "ALL_AT_ONCE"
    """`ALL_AT_ONCE`, `CANARY` or `LINEAR`. Default `ALL_AT_ONCE`."""
    step_percent: int | None = None
    """Share of the new fleet's capacity per step: 1-50 for CANARY, 10-50 for LINEAR,
    none for ALL_AT_ONCE. Default none."""
    wait_interval: Duration = field(default_factory=lambda: Duration.minutes(5))
    """Baking period after each step, 0 to 3600 s. Default 5 minutes."""
    termination_wait: Duration = field(default_factory=lambda: Duration.minutes(5))
    """How long the old fleet is kept after the shift, 0 to 3600 s. Default 5 minutes."""
    maximum_execution_timeout: Duration = field(default_factory=lambda: Duration.hours(1))
    """Longest the whole update may take, 600 to 28800 s. Default 1 hour."""

    def __post_init__(self) -> None:
        check = Checks("TrafficShift")
        if check.one_of("type", self.type, ("ALL_AT_ONCE", "CANARY", "LINEAR")):
            self._check_step(check)
        check.duration("wait_interval", self.wait_interval, 0, 3600)
        check.duration("termination_wait", self.termination_wait, 0, 3600)
        check.duration("maximum_execution_timeout", self.maximum_execution_timeout, 600, 28800)
        check.done()

    def _check_step(self, check: Checks) -> None:
        step = self.step_percent
        if self.type == "ALL_AT_ONCE":
            if step is not None:
                check.fail(
                    "step_percent",
                    step,
                    "None with type ALL_AT_ONCE (steps apply to CANARY or LINEAR)",
                )
            return
        low = 1 if self.type == "CANARY" else 10
        allowed = f"a whole number from {low}% to 50% with type {self.type}"
        if isinstance(step, int) and not isinstance(step, bool) and low <= step <= 50:
            return
        shown = Shown(f"{step}%") if isinstance(step, int) and not isinstance(step, bool) else step
        check.fail("step_percent", shown if step is not None else None, allowed)


@dataclass(frozen=True, kw_only=True)
class Autoscaling:
    """Target tracking on invocations per instance (instance variants only)."""

    min_capacity: int
    """Fewest instances, at least 1. Required."""
    max_capacity: int
    """Most instances, at least `min_capacity`. Required."""
    target_invocations_per_instance: int
    """Invocations per instance per minute to hold, at least 1. Required."""
    scale_in_cooldown: Duration = field(default_factory=lambda: Duration.minutes(5))
    """Wait after scaling in. Default 5 minutes."""
    scale_out_cooldown: Duration = field(default_factory=lambda: Duration.minutes(1))
    """Wait after scaling out. Default 1 minute."""

    def __post_init__(self) -> None:
        check = Checks("Autoscaling")
        low = check.integer("min_capacity", self.min_capacity, 1)
        high = check.integer("max_capacity", self.max_capacity, 1)
        if low and high and self.min_capacity > self.max_capacity:
            check.fail(
                "min_capacity", self.min_capacity, f"at most max_capacity ({self.max_capacity})"
            )
        check.integer("target_invocations_per_instance", self.target_invocations_per_instance, 1)
        check.duration("scale_in_cooldown", self.scale_in_cooldown, 0)
        check.duration("scale_out_cooldown", self.scale_out_cooldown, 0)
        check.done()


@dataclass(frozen=True, kw_only=True)
class DataCapture:
    """Capture requests and responses to S3 (what Model Monitor analyses)."""

    bucket: s3.IBucket
    """Where captured data goes; the model's role may write under `prefix` only. Required."""
    prefix: str
    """Key prefix (a folder, ending with '/') of the captured data. Required."""
    sampling_percentage: int = 100
    """Share of requests captured, 0 to 100. Default 100."""
    kms_key: kms.IKey | None = None
    """Encrypts the captured data. Default none: the bucket's default encryption."""

    def __post_init__(self) -> None:
        check = Checks("DataCapture")
        check.has("bucket", self.bucket, "bucket_name", "an s3.IBucket")
        check.key_prefix("prefix", self.prefix)
        check.integer("sampling_percentage", self.sampling_percentage, 0, 100, "%")
        if self.kms_key is not None:
            check.has("kms_key", self.kms_key, "key_arn", "a kms.IKey or None")
        check.done()

    @property
    def s3_uri(self) -> str:
        """`s3://<bucket>/<prefix without its trailing slash>`, as SageMaker takes it."""
        return f"s3://{self.bucket.bucket_name}/{self.prefix.rstrip('/')}"


class IEndpoint(Protocol):
    """What consumers of an endpoint use: its name and ARN, invoke grants and metrics.

    Implemented by `RealtimeEndpoint` and by `RealtimeEndpoint.from_endpoint_name`.
    """

    @property
    def endpoint_name(self) -> str: ...
    @property
    def endpoint_arn(self) -> str: ...
    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant: ...
    def metric(
        self, metric_name: str, *, namespace: str = ..., **options: Any
    ) -> cloudwatch.Metric: ...


class _EndpointMetrics:
    """`grant_invoke` and the invocation metrics every endpoint has (built or imported)."""

    endpoint_name: str

    @property
    def endpoint_arn(self) -> str:
        """`arn:<partition>:sagemaker:<region>:<account>:endpoint/<name, lower case>`."""
        name = self.endpoint_name
        return Stack.of(self).format_arn(  # type: ignore[arg-type]
            service="sagemaker",
            resource="endpoint",
            resource_name=name if Token.is_unresolved(name) else name.lower(),
        )

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let `grantee` invoke this endpoint (sync, async and streaming), nothing else."""
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=list(INVOKE_ACTIONS), resource_arns=[self.endpoint_arn]
        )

    def metric(
        self, metric_name: str, *, namespace: str = "AWS/SageMaker", **options: Any
    ) -> cloudwatch.Metric:
        """A metric of this endpoint's variant (dimensions EndpointName, VariantName).

        Defaults: Sum per minute. `options` takes any `cloudwatch.MetricOptions` field
        (statistic, period, label, color, unit, ...) and overrides the defaults.
        """
        return cloudwatch.Metric(
            namespace=namespace,
            metric_name=metric_name,
            **{
                "dimensions_map": {
                    "EndpointName": self.endpoint_name,
                    "VariantName": VARIANT_NAME,
                },
                "statistic": "Sum",
                "period": Duration.minutes(1),
                **options,
            },
        )

    def metric_invocations(self, **options: Any) -> cloudwatch.Metric:
        """Requests served (Sum per minute unless overridden)."""
        return self.metric("Invocations", **options)

    def metric_invocation_5xx_errors(self, **options: Any) -> cloudwatch.Metric:
        """Requests the model failed with a 5xx (Sum per minute unless overridden)."""
        return self.metric("Invocation5XXErrors", **options)

    def metric_invocation_4xx_errors(self, **options: Any) -> cloudwatch.Metric:
        """Requests rejected with a 4xx (Sum per minute unless overridden)."""
        return self.metric("Invocation4XXErrors", **options)

    def metric_model_latency(self, **options: Any) -> cloudwatch.Metric:
        """Model latency in microseconds (p99 per minute unless overridden)."""
        return self.metric("ModelLatency", **{"statistic": "p99", **options})

    def metric_overhead_latency(self, **options: Any) -> cloudwatch.Metric:
        """SageMaker's own overhead in microseconds (p99 per minute unless overridden)."""
        return self.metric("OverheadLatency", **{"statistic": "p99", **options})


class _ImportedEndpoint(_EndpointMetrics, Resource):
    """An endpoint that exists already, known by name (see `RealtimeEndpoint.from_endpoint_name`)."""

    def __init__(self, scope: Construct, construct_id: str, endpoint_name: str) -> None:
        super().__init__(scope, construct_id)
        self.endpoint_name = endpoint_name


class RealtimeEndpoint(_EndpointMetrics, Construct):
    """An endpoint config and endpoint for one model, updated safely.

    - The endpoint config is never named: every property change replaces it, and a
      generated name lets CloudFormation create the new one before removing the old.
    - Updates are blue/green (`traffic_shift`), with auto-rollback on `rollback_alarms`
      (add them with `add_rollback_alarm`; 1 to 10), a termination wait and a timeout.
    - With `autoscaling`, `RetainAllVariantProperties` is on so an update keeps the
      instance count autoscaling reached, while weights and data capture (from the props)
      still apply.
    - `kms_key` encrypts the ML storage volume (the ECR image copy on serverless
      endpoints); NVMe instance types, which SageMaker refuses a key for, fail at synth.
    - `node.default_child` is the `CfnEndpoint`; `config` is the `CfnEndpointConfig`.

    Example::

        endpoint = RealtimeEndpoint(stack, "Endpoint", endpoint_name="churn-prod",
            model=model, variant=InstanceVariant(instance_type="ml.m5.large"),
            traffic_shift=TrafficShift(type="CANARY", step_percent=10),
            autoscaling=Autoscaling(min_capacity=1, max_capacity=4,
                                    target_invocations_per_instance=200),
            data_capture=DataCapture(bucket=bucket, prefix="datacapture/churn-prod/"),
            kms_key=key)
        endpoint.grant_invoke(api_function)
        endpoint.metric_model_latency().create_alarm(...)
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        model: IModel,
        variant: InstanceVariant | ServerlessVariant,
        traffic_shift: TrafficShift | None = None,
        autoscaling: Autoscaling | None = None,
        data_capture: DataCapture | None = None,
        kms_key: kms.IKey | None = None,
    ) -> None:
        """Create the endpoint config, the endpoint and (optionally) autoscaling.

        :param endpoint_name: fixed so clients and alarms can name it; 1-63 letters,
            digits and hyphens, not a token. Required.
        :param model: the model every variant serves (a `RegisteredModel`). Required.
        :param variant: instance or serverless capacity. Required.
        :param traffic_shift: default `TrafficShift()`: all at once, 5-minute baking
            period. CANARY and LINEAR need an instance variant (not Inf1).
        :param autoscaling: default none: the instance count stays as configured.
            Instance variants only.
        :param data_capture: default none: no requests are captured (and Model Monitor
            has nothing to analyse). Instance variants only.
        :param kms_key: encrypts the ML storage volume (serverless: the image copy).
            Default none; must be none for NVMe instance types.
        """
        super().__init__(scope, construct_id)
        traffic_shift = traffic_shift if traffic_shift is not None else TrafficShift()
        self._check(
            endpoint_name, model, variant, traffic_shift, autoscaling, data_capture, kms_key
        )
        self.endpoint_name = endpoint_name
        self.model = model
        self.variant = variant
        self.traffic_shift = traffic_shift
        self.data_capture = data_capture
        self._rollback_alarms: list[cloudwatch.IAlarm] = []

        self.config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            production_variants=[self._production_variant(variant)],
            kms_key_id=kms_key.key_arn if kms_key else None,
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

    @classmethod
    def from_endpoint_name(
        cls, scope: Construct, construct_id: str, endpoint_name: str
    ) -> IEndpoint:
        """An existing endpoint, by name: its ARN, `grant_invoke` and metrics. No AWS call."""
        check = Checks("RealtimeEndpoint.from_endpoint_name")
        check.text(
            "endpoint_name",
            endpoint_name,
            _ENDPOINT_NAME,
            "1-63 letters, digits and single hyphens",
        )
        check.done()
        return _ImportedEndpoint(scope, construct_id, endpoint_name)

    @property
    def serverless(self) -> bool:
        """Whether the variant is a `ServerlessVariant`."""
        return isinstance(self.variant, ServerlessVariant)

    # -- checks -------------------------------------------------------------------------

    @staticmethod
    def _check(
        endpoint_name: Any,
        model: Any,
        variant: Any,
        traffic_shift: Any,
        autoscaling: Any,
        data_capture: Any,
        kms_key: Any,
    ) -> None:
        check = Checks("RealtimeEndpoint")
        if isinstance(endpoint_name, str) and Token.is_unresolved(endpoint_name):
            check.fail(
                "endpoint_name",
                Shown("a token"),
                "a literal name (alarms, autoscaling and monitoring refer to it before the"
                " endpoint exists)",
            )
        else:
            check.text(
                "endpoint_name",
                endpoint_name,
                _ENDPOINT_NAME,
                "1-63 letters, digits and single hyphens",
            )
        check.has("model", model, "model_name", "an IModel such as a RegisteredModel")
        check.instance(
            "variant",
            variant,
            (InstanceVariant, ServerlessVariant),
            "an InstanceVariant or ServerlessVariant",
        )
        check.instance("traffic_shift", traffic_shift, TrafficShift, "a TrafficShift or None")
        if autoscaling is not None:
            check.instance("autoscaling", autoscaling, Autoscaling, "an Autoscaling or None")
        if data_capture is not None:
            check.instance("data_capture", data_capture, DataCapture, "a DataCapture or None")
        if kms_key is not None:
            check.has("kms_key", kms_key, "key_arn", "a kms.IKey or None")
        check.done()
        if isinstance(variant, ServerlessVariant):
            RealtimeEndpoint._check_serverless(
                check, model, traffic_shift, autoscaling, data_capture
            )
        else:
            RealtimeEndpoint._check_instance(check, variant, traffic_shift, autoscaling, kms_key)
        check.done()

    @staticmethod
    def _check_serverless(
        check: Checks, model: Any, shift: TrafficShift, autoscaling: Any, data_capture: Any
    ) -> None:
        """Serverless Inference's feature exclusions (see the module docstring)."""
        if autoscaling is not None:
            check.fail(
                "autoscaling",
                Shown("an Autoscaling"),
                "None with a ServerlessVariant (serverless endpoints scale by max_concurrency)",
            )
        if shift.type != "ALL_AT_ONCE":
            check.fail(
                "traffic_shift",
                Shown(f"type {shift.type}"),
                "type ALL_AT_ONCE with a ServerlessVariant (canary and linear steps are shares of an instance fleet)",
            )
        if data_capture is not None:
            check.fail(
                "data_capture",
                Shown("a DataCapture"),
                "None with a ServerlessVariant (Serverless Inference does not capture data)",
            )
        if getattr(model, "network_isolation", False):
            check.fail(
                "model",
                Shown("a model with network_isolation=True"),
                "network_isolation=False with a ServerlessVariant (Serverless Inference does not support network isolation)",
            )
        if getattr(model, "vpc", None) is not None:
            check.fail(
                "model",
                Shown("a model with a vpc"),
                "no vpc with a ServerlessVariant (Serverless Inference does not run in a VPC)",
            )

    @staticmethod
    def _check_instance(
        check: Checks, variant: InstanceVariant, shift: TrafficShift, autoscaling: Any, kms_key: Any
    ) -> None:
        instance_type = variant.instance_type
        if kms_key is not None and has_nvme_storage(instance_type):
            check.fail(
                "kms_key",
                Shown(f"a key with instance_type {instance_type}, which has NVMe instance storage"),
                "None for NVMe instance types (SageMaker encrypts their local storage itself and"
                " rejects a volume key); or use a type without NVMe storage such as ml.m5.large",
            )
        if shift.type != "ALL_AT_ONCE" and instance_type.startswith("ml.inf1."):
            check.fail(
                "traffic_shift",
                Shown(f"type {shift.type} with instance_type {instance_type}"),
                "type ALL_AT_ONCE for Inf1 instances (SageMaker ignores deployment guardrails on"
                " Inf1 endpoints and shifts all at once)",
            )
        if autoscaling is not None and not (
            autoscaling.min_capacity <= variant.initial_instance_count <= autoscaling.max_capacity
        ):
            check.fail(
                "variant",
                Shown(f"initial_instance_count {variant.initial_instance_count}"),
                f"an initial_instance_count within autoscaling min_capacity..max_capacity"
                f" ({autoscaling.min_capacity}..{autoscaling.max_capacity})",
            )

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
                    provisioned_concurrency=variant.provisioned_concurrency,
                ),
            )
        return sagemaker.CfnEndpointConfig.ProductionVariantProperty(
            variant_name=VARIANT_NAME,
            model_name=self.model.model_name,
            instance_type=variant.instance_type,
            initial_instance_count=variant.initial_instance_count,
            initial_variant_weight=1,
        )

    @staticmethod
    def _data_capture(
        capture: DataCapture | None,
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
        pattern = f"{capture.prefix}*"
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
            # Application Auto Scaling acts through its service-linked role for SageMaker
            # endpoints; without this CDK would create a role nothing uses.
            role=iam.Role.from_role_arn(
                self,
                "ScalingRole",
                Stack.of(self).format_arn(
                    service="iam",
                    region="",
                    resource="role",
                    resource_name="aws-service-role/sagemaker.application-autoscaling"
                    ".amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint",
                ),
                mutable=False,
            ),
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
        if len(self._rollback_alarms) == 10:
            raise ConfigurationError(
                "RealtimeEndpoint rollback_alarms: got an 11th; allowed 1 to 10"
                " (SageMaker's AutoRollbackConfiguration limit)"
            )
        self._rollback_alarms.append(alarm)
        self.model.grant_describe_alarms([alarm.alarm_arn])

    @property
    def rollback_alarms(self) -> tuple[cloudwatch.IAlarm, ...]:
        """The alarms added with `add_rollback_alarm`, in order."""
        return tuple(self._rollback_alarms)

    # -- metrics by variant kind ----------------------------------------------------------
    # Serverless endpoints publish no CPUUtilization or InvocationsPerInstance; they do
    # publish MemoryUtilization (as an invocation metric, AWS/SageMaker), ModelSetupTime
    # and ServerlessConcurrentExecutionsUtilization:
    # https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints-monitoring.html

    def _instance_only(self, metric_name: str) -> None:
        if self.serverless:
            raise ConfigurationError(
                f"RealtimeEndpoint metric {metric_name}: got a ServerlessVariant endpoint;"
                " allowed only for an InstanceVariant (serverless endpoints do not publish it)"
            )

    def _serverless_only(self, metric_name: str) -> None:
        if not self.serverless:
            raise ConfigurationError(
                f"RealtimeEndpoint metric {metric_name}: got an InstanceVariant endpoint;"
                " allowed only for a ServerlessVariant (instance endpoints do not publish it)"
            )

    def metric_invocations_per_instance(self, **options: Any) -> cloudwatch.Metric:
        """What autoscaling tracks (Sum per minute unless overridden). Instance variants."""
        self._instance_only("InvocationsPerInstance")
        return self.metric("InvocationsPerInstance", **options)

    def metric_cpu_utilization(self, **options: Any) -> cloudwatch.Metric:
        """CPU use in percent, 100 per core (Average per minute unless overridden).
        Instance variants only."""
        self._instance_only("CPUUtilization")
        return self.metric(
            "CPUUtilization",
            namespace="/aws/sagemaker/Endpoints",
            **{"statistic": "Average", **options},
        )

    def metric_memory_utilization(self, **options: Any) -> cloudwatch.Metric:
        """Memory use in percent (Average per minute unless overridden)."""
        namespace = "AWS/SageMaker" if self.serverless else "/aws/sagemaker/Endpoints"
        return self.metric(
            "MemoryUtilization", namespace=namespace, **{"statistic": "Average", **options}
        )

    def metric_model_setup_time(self, **options: Any) -> cloudwatch.Metric:
        """Cold-start time of new serverless workers, in microseconds (Maximum per
        minute unless overridden). Serverless variants only."""
        self._serverless_only("ModelSetupTime")
        return self.metric("ModelSetupTime", **{"statistic": "Maximum", **options})

    def metric_concurrency_utilization(self, **options: Any) -> cloudwatch.Metric:
        """Concurrent executions / max_concurrency, 0 to 1 (Maximum per minute unless
        overridden). Serverless variants only."""
        self._serverless_only("ServerlessConcurrentExecutionsUtilization")
        return self.metric(
            "ServerlessConcurrentExecutionsUtilization", **{"statistic": "Maximum", **options}
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
    """Synth-time check (alarms are added after construction): a CANARY or LINEAR shift
    needs at least one rollback alarm, or nothing could roll it back."""

    def __init__(self, endpoint: RealtimeEndpoint) -> None:
        self._endpoint = endpoint

    def validate(self) -> list[str]:
        shift = self._endpoint.traffic_shift.type
        if not self._endpoint.rollback_alarms and shift != "ALL_AT_ONCE":
            return [
                "RealtimeEndpoint rollback_alarms: got none; allowed 1 to 10 with"
                f" traffic_shift type {shift} (add_rollback_alarm, or EndpointAlarms)"
            ]
        return []
