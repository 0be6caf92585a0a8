"""A model deploy stack: one model's endpoint, monitoring and alarms in one environment."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aws_cdk import CfnOutput, Duration, Environment, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_s3 as s3
from constructs import Construct

from config.settings import (
    BuildSettings,
    EndpointServing,
    EndpointSettings,
    ModelQualitySettings,
    ModelSettings,
    ServerlessVariantSettings,
    VpcSettings,
    alarm_name,
)
from constructs_lib.alarm_forwarding import AlarmForwarding
from constructs_lib.data_quality_monitor import DataQualityMonitor
from constructs_lib.endpoint_alarms import AlarmThresholds, EndpointAlarms
from constructs_lib.errors import ConfigurationError
from constructs_lib.metrics import ProblemType
from constructs_lib.model_quality_monitor import ModelQualityMonitor
from constructs_lib.model_registry import ModelRegistry
from constructs_lib.realtime_endpoint import (
    Autoscaling,
    DataCapture,
    InstanceVariant,
    RealtimeEndpoint,
    ServerlessVariant,
    TrafficShift,
)
from constructs_lib.registered_model import RegisteredModel
from constructs_lib.vpc_config import VpcConfig
from stacks.build import imported_build_artifacts
from stacks.environment import EnvironmentStack

DASHBOARD_METRICS: dict[ProblemType, tuple[str, ...]] = {
    "binary_classification": ("accuracy", "auc", "f1", "precision", "recall"),
    "multiclass_classification": ("accuracy", "weighted_f1"),
    "regression": ("rmse", "mae", "r2"),
}
"""Model-quality metrics every model's dashboard graphs, besides those with thresholds."""


class ModelDeployStack(Stack):
    """`mlops-<model>-<environment>`: one model behind a guarded, watched endpoint.

    Which version is served comes from `config/promotion.yaml` alone; the package ARN is
    built from the build account, region, group and version, with no lookup. Captured
    data and reports go to the environment's shared store (`environment`). The model and
    its monitoring jobs run in the model's `endpoint.vpc`, else the environment's `vpc`
    (`environment_vpc`), else outside any VPC. With `monitoring.model_quality`, a
    model-quality schedule compares predictions with the labels under the store's
    ground-truth prefix; with `retraining.on_alarms` naming this environment, the drift
    and model-quality alarms get fixed names and their ALARM events go to the build
    account's default event bus, where the model's `RetrainingTrigger` starts the
    pipeline.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model: ModelSettings,
        serving: EndpointServing,
        version: int,
        environment: EnvironmentStack,
        build: BuildSettings,
        pipeline_prefix: str,
        image_repository_arns: list[str],
        file: str,
        environment_vpc: VpcSettings | None = None,
    ) -> None:
        settings = serving
        name = environment.environment_name
        super().__init__(
            scope,
            construct_id,
            env=Environment(account=environment.account, region=environment.region),
            description=f"SageMaker MLOps {name}: model {model.name} v{version}, its"
            " endpoint, monitoring and alarms",
        )
        self.artifacts = environment.artifacts
        self.messaging_key = environment.messaging_key
        """Encrypts the alarm topic and the forwarded alarms' dead-letter queue."""
        endpoint_settings = settings.endpoint
        registry = ModelRegistry.from_model_package_group_name(
            self, "Registry", model.group, account=build.account, region=build.region
        )
        self.model_package_arn = registry.package_arn(version)
        build_bucket = imported_build_artifacts(self, build)
        self._key = f"environments.{name}."
        self.environment_name = name
        vpc = self._vpc(file, endpoint_settings, environment_vpc)
        with settings_errors(file, self._key + "endpoint.vpc"):
            self.vpc = (
                VpcConfig(subnets=vpc.subnet_ids, security_groups=vpc.security_group_ids)
                if vpc
                else None
            )
            """Where the model and its monitoring jobs run (None: outside any VPC)."""
        with settings_errors(file, self._key + "endpoint"):
            self.model = RegisteredModel(
                self,
                "Model",
                model_package_arn=self.model_package_arn,
                artifact_bucket=build_bucket,
                artifact_prefix=pipeline_prefix,
                image_repository_arns=image_repository_arns,
                network_isolation=endpoint_settings.network_isolation,
                vpc=self.vpc,
            )
        self.endpoint = self._endpoint(file, endpoint_settings)
        self._watch(file, model, settings, build, build_bucket, pipeline_prefix)
        CfnOutput(self, "ServedModel", value=self.model_package_arn)
        CfnOutput(self, "EndpointName", value=endpoint_settings.name)
        CfnOutput(self, "AlarmTopicArn", value=self.alarms.topic.topic_arn)

    def _vpc(
        self, file: str, endpoint: EndpointSettings, environment_vpc: VpcSettings | None
    ) -> VpcSettings | None:
        """The model's own `endpoint.vpc` when the file sets it (`null`: none), else the
        environment's; a serverless variant cannot take the environment's."""
        if "vpc" in endpoint.model_fields_set:
            return endpoint.vpc
        if environment_vpc is not None and isinstance(endpoint.variant, ServerlessVariantSettings):
            raise ConfigurationError(
                f"{file}: {self._key}endpoint.vpc: got the environment's vpc (config/"
                f"{self.environment_name}.yaml); allowed `vpc: null` with a serverless variant"
                " (Serverless Inference does not run in a VPC)"
            )
        return environment_vpc

    def _endpoint(self, file: str, endpoint_settings: EndpointSettings) -> RealtimeEndpoint:
        """The endpoint, each value class built under the YAML key it comes from."""
        v = endpoint_settings.variant
        with settings_errors(file, self._key + "endpoint.variant"):
            variant: InstanceVariant | ServerlessVariant = (
                ServerlessVariant(
                    memory_size_in_mb=v.memory_size_in_mb,  # type: ignore[arg-type]
                    max_concurrency=v.max_concurrency,
                    provisioned_concurrency=v.provisioned_concurrency,
                )
                if isinstance(v, ServerlessVariantSettings)
                else InstanceVariant(
                    instance_type=v.instance_type, initial_instance_count=v.initial_instance_count
                )
            )
        d = endpoint_settings.deployment
        with settings_errors(file, self._key + "endpoint.deployment"):
            traffic_shift = TrafficShift(
                type=d.type,
                step_percent=d.step_percent,
                wait_interval=Duration.seconds(d.wait_interval),
                termination_wait=Duration.seconds(d.termination_wait),
                maximum_execution_timeout=Duration.seconds(d.maximum_execution_timeout),
            )
        a = endpoint_settings.autoscaling
        with settings_errors(file, self._key + "endpoint.autoscaling"):
            autoscaling = (
                Autoscaling(
                    min_capacity=a.min_capacity,
                    max_capacity=a.max_capacity,
                    target_invocations_per_instance=a.target_invocations_per_instance,
                    scale_in_cooldown=Duration.seconds(a.scale_in_cooldown),
                    scale_out_cooldown=Duration.seconds(a.scale_out_cooldown),
                )
                if a
                else None
            )
        c = endpoint_settings.data_capture
        with settings_errors(file, self._key + "endpoint.data_capture"):
            data_capture = (
                DataCapture(
                    bucket=self.artifacts.bucket,
                    prefix=f"datacapture/{endpoint_settings.name}/",
                    sampling_percentage=c.sampling_percentage,
                    kms_key=self.artifacts.key,
                )
                if c
                else None
            )
        with settings_errors(file, self._key + "endpoint"):
            return RealtimeEndpoint(
                self,
                "Endpoint",
                endpoint_name=endpoint_settings.name,
                model=self.model,
                variant=variant,
                traffic_shift=traffic_shift,
                autoscaling=autoscaling,
                data_capture=data_capture,
                kms_key=self.artifacts.key if endpoint_settings.volume_encryption else None,
            )

    def _watch(
        self,
        file: str,
        model: ModelSettings,
        settings: EndpointServing,
        build: BuildSettings,
        build_bucket: s3.IBucket,
        pipeline_prefix: str,
    ) -> None:
        assert self.model_package_arn is not None
        m = settings.monitoring
        endpoint_name = settings.endpoint.name
        forwarded = set(model.retraining_alarm_names(self.environment_name))
        self.quality: ModelQualityMonitor | None = None
        """The model-quality monitor (`monitoring.model_quality`), or None."""
        if m is not None and m.model_quality is not None:
            with settings_errors(file, self._key + "monitoring.model_quality"):
                self.quality = self._model_quality(
                    model, m.model_quality, build_bucket, pipeline_prefix
                )
        self.monitor: DataQualityMonitor | None = None
        if m is not None:
            with settings_errors(file, self._key + "monitoring"):
                self.monitor = DataQualityMonitor(
                    self,
                    "DataQuality",
                    endpoint=self.endpoint,
                    model_package_arn=self.model_package_arn,
                    baseline_bucket=build_bucket,
                    baseline_prefix=pipeline_prefix,
                    output_bucket=self.artifacts.bucket,
                    output_prefix=f"monitoring/{settings.endpoint.name}/",
                    schedule_expression=m.schedule_expression,
                    instance_type=m.instance_type,
                    max_runtime=Duration.seconds(m.max_runtime),
                    kms_key=self.artifacts.key,
                    vpc=self.vpc,
                )
        with settings_errors(file, self._key + "alarms"):
            thresholds = AlarmThresholds(**settings.alarms.model_dump())
            self.alarms = EndpointAlarms(
                self,
                "Alarms",
                endpoint=self.endpoint,
                topic_key=self.messaging_key,
                thresholds=thresholds,
                monitor=self.monitor,
                drift_features=m.drift_features if m else (),
                drift_threshold=m.drift_threshold if m else 0.2,
            )
        for feature, drift in zip(m.drift_features if m else (), self.alarms.drift, strict=True):
            _name(drift, alarm_name(endpoint_name, "drift", feature), forwarded)
        retraining = [a for a in self.alarms.drift if _named(a) in forwarded]
        if self.quality is not None:
            assert m is not None and m.model_quality is not None
            quality_alarms = []
            for threshold in m.model_quality.metric_thresholds():
                alarm = self.quality.alarm(threshold)
                _name(
                    alarm, alarm_name(endpoint_name, "model-quality", threshold.metric), forwarded
                )
                quality_alarms.append(alarm)
            retraining += [a for a in quality_alarms if _named(a) in forwarded]
            shown = DASHBOARD_METRICS[self.quality.problem_type]
            metrics = [
                *m.model_quality.thresholds,
                *(n for n in shown if n not in m.model_quality.thresholds),
            ]
            self.alarms.add_monitor(self.quality, alarms=quality_alarms, metrics=metrics)
        self.forwarding: AlarmForwarding | None = None
        """Sends the retraining alarms' ALARM events to the build account (or None)."""
        if retraining:
            with settings_errors(file, "retraining.on_alarms"):
                self.forwarding = AlarmForwarding(
                    self,
                    "RetrainingAlarms",
                    alarms=retraining,
                    target_account=build.account,
                    target_region=build.region,
                    key=self.messaging_key,
                    topic=self.alarms.topic,
                )

    def _model_quality(
        self,
        model: ModelSettings,
        q: ModelQualitySettings,
        build_bucket: s3.IBucket,
        pipeline_prefix: str,
    ) -> ModelQualityMonitor:
        """The model-quality schedule: labels from the environment's store, baseline
        from the served package (its `ModelMetrics.ModelQuality.Constraints`)."""
        problem_type = model.model_quality_problem_type(q)
        assert problem_type is not None  # settings require one
        endpoint_name = self.endpoint.endpoint_name
        return ModelQualityMonitor(
            self,
            "ModelQuality",
            endpoint=self.endpoint,
            problem_type=problem_type,
            ground_truth_bucket=self.artifacts.bucket,
            ground_truth_prefix=model.ground_truth_prefix(self.environment_name),
            output_bucket=self.artifacts.bucket,
            output_prefix=f"model-quality/{endpoint_name}/",
            model_package_arn=self.model_package_arn,
            baseline_bucket=build_bucket,
            baseline_prefix=pipeline_prefix,
            start_time_offset=q.start_time_offset,
            end_time_offset=q.end_time_offset,
            inference_attribute=q.inference_attribute,
            probability_attribute=q.probability_attribute,
            probability_threshold=q.probability_threshold,
            schedule_expression=q.schedule_expression,
            instance_type=q.instance_type,
            max_runtime=Duration.seconds(q.max_runtime),
            kms_key=self.artifacts.key,
            vpc=self.vpc,
        )


def _name(alarm: cloudwatch.Alarm, name: str, forwarded: set[str]) -> None:
    """Give `alarm` its fixed name when another account matches it by ARN."""
    if name in forwarded:
        cfn = alarm.node.default_child
        assert isinstance(cfn, cloudwatch.CfnAlarm)
        cfn.alarm_name = name


def _named(alarm: cloudwatch.Alarm) -> str | None:
    """The fixed name `_name` gave `alarm`, if any."""
    cfn = alarm.node.default_child
    return cfn.alarm_name if isinstance(cfn, cloudwatch.CfnAlarm) else None


@contextmanager
def settings_errors(file: str, key: str) -> Iterator[None]:
    """Re-raise a construct's ConfigurationError as `<file>: <key>: <message>`, naming
    the settings file and the YAML key the failing props came from."""
    try:
        yield
    except ConfigurationError as exc:
        raise ConfigurationError(f"{file}: {key}: {exc}") from None
