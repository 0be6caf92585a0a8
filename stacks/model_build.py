"""One model's build side: its registry group, pipeline, approval and retraining."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from aws_cdk import ArnFormat, Duration, Environment, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from config.settings import BuildSettings, ModelSettings
from constructs_lib.errors import ConfigurationError
from constructs_lib.model_approval import ModelApproval
from constructs_lib.model_registry import ModelRegistry
from constructs_lib.pipeline_notifications import PipelineNotifications
from constructs_lib.retraining_schedule import RetrainingSchedule
from constructs_lib.retraining_trigger import RetrainingTrigger
from constructs_lib.sagemaker_pipeline import SageMakerPipeline
from constructs_lib.vpc_config import VpcConfig
from stacks.build import (
    BUILD_DIR,
    PIPELINES_PREFIX,
    BuildStack,
    cached_definition,
    pipeline_package,
    removal_policy,
)
from stacks.deploy import settings_errors


class ModelBuildStack(Stack):
    """Where one model is built: `mlops-<model>-build`.

    Per model, so one model's change (or broken pipeline) deploys, fails and rolls back
    alone: the registry group, the pipeline and its role, the approval rule and function
    (its policy, thresholds and promotion are the model's own, and its reserved
    concurrency and dead-letter queue cannot be starved by another model's events),
    failure notifications and the retraining schedule. It uses the shared stack's bucket
    and its key, the topic and its messaging key (`shared`), the app's only cross-stack references on the build side.
    With `retraining.on_alarms`, a `RetrainingTrigger` matches the alarm events the deploy
    accounts (`accounts`: every environment's account, by name) forward to this
    account's default bus, by account and by the alarms' fixed names.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model: ModelSettings,
        build: BuildSettings,
        shared: BuildStack,
        file: str,
        accounts: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=Environment(account=build.account, region=build.region),
            description=f"SageMaker MLOps build side of model {model.name}: registry,"
            " pipeline, approval, retraining",
        )
        self.model_settings = model
        accounts = accounts or {}
        package = pipeline_package(model.pipeline.package, file)
        artifacts = shared.artifacts
        with settings_errors(file, "registry"):
            self.registry = ModelRegistry(
                self,
                "Registry",
                model_package_group_name=model.group,
                description=model.registry.description or None,
                reader_accounts=shared.reader_accounts,
                removal_policy=removal_policy(build.removal_policy),
            )
        _check_parameters(package, model.pipeline.parameters, file)
        _check_drift_features(package, model, file)
        # Every job runs in build.yaml's vpc, when it has one (the definition names it, and
        # the pipeline's role may place network interfaces there).
        vpc = build.vpc
        network: dict[str, Any] = (
            {"subnet_ids": vpc.subnet_ids, "security_group_ids": vpc.security_group_ids}
            if vpc
            else {}
        )
        try:
            definition = cached_definition(
                package,
                BUILD_DIR / "definitions" / model.pipeline.package,
                pipeline_name=model.pipeline_name,
                model_package_group_name=model.group,
                region=build.region,
                **network,
                **model.pipeline.parameters,
            )
        except (ConfigurationError, TypeError) as exc:
            raise ConfigurationError(f"{file}: pipeline.parameters: {exc}") from None
        with settings_errors(file, "pipeline"):
            self.pipeline = SageMakerPipeline(
                self,
                "Pipeline",
                pipeline_name=model.pipeline_name,
                definition=definition,
                artifact_bucket=artifacts.bucket,
                kms_key=artifacts.key,
                artifact_prefix=f"{PIPELINES_PREFIX}{model.pipeline_name}/",
                step_sources=package.step_sources(BUILD_DIR / model.name),
                data_read_prefixes=[package.data_prefix(model.pipeline_name)],
                vpc=(
                    VpcConfig(subnets=vpc.subnet_ids, security_groups=vpc.security_group_ids)
                    if vpc
                    else None
                ),
                description=f"Builds model {model.name}",
            )
        self.inference_image_repositories = self.pipeline.image_repository_arns("RegisterModel")
        github = build.github
        approval = model.approval
        with settings_errors(file, "approval"):
            self.approval = ModelApproval(
                self,
                "Approval",
                registry=self.registry,
                artifacts=artifacts,
                evaluation_prefix=self.pipeline.artifact_prefix,
                topic=shared.topic,
                key=shared.messaging_key,
                policy=approval.policy,
                thresholds=approval.metric_thresholds(),
                primary_metric=approval.primary_metric,
                primary_metric_direction=approval.primary_metric_direction,
                problem_type=approval.problem_type,
                report_metrics=approval.report_metrics,
                target_environment=build.promotion_target,
                promotion_model=model.name,
                github_repository=github.repository if github else None,
                github_base_branch=github.base_branch if github else "main",
                github_token_secret_name=github.token_secret_name if github else None,
            )
        self.failures = PipelineNotifications(
            self, "PipelineFailures", pipeline=self.pipeline, topic=shared.topic,
            topic_key=shared.messaging_key,
        )  # fmt: skip
        retraining = model.retraining
        with settings_errors(file, "retraining"):
            self.retraining = RetrainingSchedule(
                self,
                "Retraining",
                pipeline=self.pipeline,
                key=shared.messaging_key,
                schedule_expression=retraining.schedule_expression,
                parameters=retraining.parameters,
                enabled=retraining.enabled,
            )
        self.trigger: RetrainingTrigger | None = None
        """Starts the pipeline on the deploy accounts' alarms (`retraining.on_alarms`)."""
        on_alarms = retraining.on_alarms
        # Alarms by fixed name in each environment's account (none where not served).
        watched = {
            (accounts[env], name)
            for env in (on_alarms.environments if on_alarms else [])
            for name in model.retraining_alarm_names(env)
        }
        alarms = [
            cloudwatch.Alarm.from_alarm_arn(
                self,
                f"Alarm-{account}-{name}",
                self.format_arn(
                    service="cloudwatch",
                    account=account,
                    resource="alarm",
                    resource_name=name,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                ),
            )
            for account, name in sorted(watched)
        ]
        if on_alarms is not None and alarms:
            with settings_errors(file, "retraining.on_alarms"):
                self.trigger = RetrainingTrigger(
                    self,
                    "RetrainingTrigger",
                    pipeline=self.pipeline,
                    alarms=alarms,
                    key=shared.messaging_key,
                    min_interval=Duration.hours(on_alarms.min_interval_hours),
                    parameters=(
                        on_alarms.parameters
                        if on_alarms.parameters is not None
                        else retraining.parameters
                    ),
                    topic=shared.topic,
                    source_accounts=sorted({account for account, _ in watched}),
                )


def _check_drift_features(package: ModuleType, model: ModelSettings, file: str) -> None:
    """Drift alarms watch `feature_baseline_drift_<feature>`, named after the baseline
    dataset's header: a feature the package's data does not have would alarm on a metric
    that never exists. Packages that export no `FEATURES` are not checked."""
    features = getattr(package, "FEATURES", None) or getattr(
        getattr(package, "pipeline", None), "FEATURES", None
    )
    if not features:
        return
    for env, serving in model.environments.items():
        if serving is None:
            continue
        watched = [
            (f"environments.{env}.monitoring.drift_features", serving.monitoring),
            (
                f"environments.{env}.batch.monitoring.drift_features",
                serving.batch.monitoring if serving.batch else None,
            ),
        ]
        for key, monitoring in watched:
            unknown = [
                f for f in (monitoring.drift_features if monitoring else []) if f not in features
            ]
            if unknown:
                raise ConfigurationError(
                    f"{file}: {key}: got {unknown[0]!r}; allowed the features of the"
                    f" baseline dataset's header ({', '.join(features)})"
                )


def _check_parameters(package: ModuleType, parameters: Mapping[str, Any], file: str) -> None:
    """Parameters the package's `build_pipeline` does not take, named with those it does."""
    signature = inspect.signature(package.build_pipeline)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return  # the package checks them itself
    accepted = sorted(
        name
        for name, p in signature.parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
        and name not in ("pipeline_name", "model_package_group_name", "region")
    )
    unknown = sorted(set(parameters) - set(accepted))
    if unknown:
        raise ConfigurationError(
            f"{file}: pipeline.parameters.{unknown[0]}: got {parameters[unknown[0]]!r};"
            f" allowed only parameters of pipelines.{package.__name__.rsplit('.', 1)[-1]}"
            f".build_pipeline: {', '.join(accepted)}"
        )
