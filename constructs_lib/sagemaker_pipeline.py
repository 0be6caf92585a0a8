"""`SageMakerPipeline`: a SageMaker Pipeline definition deployed as `AWS::SageMaker::Pipeline`."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from aws_cdk import ArnFormat, Duration, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_s3_deployment as s3_deployment
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from constructs_lib import placeholders
from constructs_lib._logs import allow_sagemaker_logs
from constructs_lib._nag import acknowledge, granted_wildcards, wildcard_resource
from constructs_lib.errors import ConfigurationError

METRIC_NAMESPACE = "AWS/Sagemaker/ModelBuildingPipeline"
DEFAULT_INLINE_LIMIT = 100_000
"""Definitions longer than this many characters go to S3 instead of the template."""
MAX_DEFINITION_CHARS = 1_048_576
_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$")
_ECR_IMAGE = re.compile(
    r"(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([a-z0-9._/-]+?)(?=[:@\"])"
)

# SageMaker job actions the execution role needs, by the step types that start them.
# Pipelines name every job `pipelines-<execution id>-<step>-...`, so the role is scoped
# to those names.
_JOB_ACTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Processing": ("processing-job", ("Create", "Describe", "Stop")),
    "QualityCheck": ("processing-job", ("Create", "Describe", "Stop")),
    "ClarifyCheck": ("processing-job", ("Create", "Describe", "Stop")),
    "Training": ("training-job", ("Create", "Describe", "Stop")),
    "Transform": ("transform-job", ("Create", "Describe", "Stop")),
    "Tuning": ("hyper-parameter-tuning-job", ("Create", "Describe", "Stop")),
}
_JOB_ACTION_NAMES = {
    "processing-job": "ProcessingJob",
    "training-job": "TrainingJob",
    "transform-job": "TransformJob",
    "hyper-parameter-tuning-job": "HyperParameterTuningJob",
}


@runtime_checkable
class HasDefinition(Protocol):
    """Anything with `.definition()` returning the definition as JSON text or a dict
    (a SageMaker SDK `Pipeline`, v2 or v3, is one)."""

    def definition(self) -> str | Mapping[str, Any]: ...


DefinitionSource = Mapping[str, Any] | Path | str | HasDefinition
"""A definition dict, the path of a JSON file, or an object with `.definition()`."""


def load_definition(source: DefinitionSource) -> dict[str, Any]:
    """Turn any accepted definition source into a dict, or raise ConfigurationError."""
    if isinstance(source, Mapping):
        definition: Any = json.loads(json.dumps(source))
        where = "the definition dict"
    elif isinstance(source, str | Path):
        path = Path(source)
        where = f"definition file {path}"
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"SageMakerPipeline definition: cannot read {path}: {exc.strerror}"
            ) from None
        definition = _parse_json(text, where)
    elif isinstance(source, HasDefinition):
        where = f"{type(source).__name__}.definition()"
        produced = source.definition()
        if isinstance(produced, Mapping):
            definition = dict(produced)
        elif isinstance(produced, str):
            definition = _parse_json(produced, where)
        else:
            raise ConfigurationError(
                f"SageMakerPipeline definition: {where} returned {type(produced).__name__};"
                " expected JSON text or a dict"
            )
    else:
        raise ConfigurationError(
            f"SageMakerPipeline definition: got {type(source).__name__}; expected a dict,"
            " the path of a JSON file, or an object with .definition()"
        )
    steps = definition.get("Steps") if isinstance(definition, dict) else None
    if not isinstance(steps, list) or not steps:
        raise ConfigurationError(
            f"SageMakerPipeline definition: {where} has no steps; expected a JSON object"
            " with a non-empty 'Steps' list"
        )
    return dict(definition)


def _parse_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"SageMakerPipeline definition: {where} is not valid JSON:"
            f" line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None


class SageMakerPipeline(Construct):
    """A SageMaker Pipeline whose definition is built in code and deployed by CDK.

    The definition refers to deploy-time values through `constructs_lib.placeholders`
    (role ARN, bucket name, KMS key ARN, step-source URLs); each is replaced with its
    CloudFormation value, so the deployed definition holds real ARNs and URLs and no
    token text. Step-source files and folders become S3 assets. A definition longer
    than `inline_size_limit` characters is written to the artifact bucket under a key
    derived from its content and referenced by `PipelineDefinitionS3Location`.

    Example::

        pipeline = SageMakerPipeline(stack, "Pipeline",
            pipeline_name="churn",
            definition=build_pipeline(role_arn=placeholders.ROLE_ARN, ...),
            artifact_bucket=store.bucket, kms_key=store.key,
            step_sources={"preprocess": Path("steps/preprocess.py")})
        pipeline.grant_start_execution(scheduler_role)
        pipeline.metric_execution_failed().create_alarm(...)
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        pipeline_name: str,
        definition: DefinitionSource,
        artifact_bucket: s3.IBucket,
        kms_key: kms.IKey | None = None,
        role: iam.IRole | None = None,
        step_sources: Mapping[str, str | Path] | None = None,
        substitutions: Mapping[str, str] | None = None,
        artifact_prefix: str | None = None,
        data_read_prefixes: Sequence[str] = (),
        description: str | None = None,
        max_parallel_execution_steps: int | None = None,
        inline_size_limit: int = DEFAULT_INLINE_LIMIT,
    ) -> None:
        """Create the pipeline, its step-source assets and (unless given) its role.

        :param pipeline_name: 1-256 letters, digits and hyphens; also names jobs' logs.
        :param definition: a dict, a JSON file path, or an object with `.definition()`.
        :param artifact_bucket: where the pipeline's jobs read and write; replaces
            `placeholders.BUCKET_NAME`.
        :param kms_key: replaces `placeholders.KMS_KEY_ARN`; the role may use it for
            volumes and outputs. Default: the bucket's key (error if the definition
            uses the placeholder and neither exists).
        :param role: an existing execution role; it must already have every permission
            the steps need. Default: a new least-privilege role (see `role`).
        :param step_sources: step-source name -> local file or folder, referenced in the
            definition as `placeholders.step_source(name)`. Default: none.
        :param substitutions: extra literal text -> value (often a token) replacements
            applied to the definition. Default: none.
        :param artifact_prefix: key prefix the created role may read and write.
            Default `pipelines/<pipeline_name>/`.
        :param data_read_prefixes: further key prefixes in `artifact_bucket` the created
            role may read (input datasets). Default: none.
        :param description: the pipeline description. Default: none.
        :param max_parallel_execution_steps: cap on concurrently running steps.
            Default: SageMaker's (50).
        :param inline_size_limit: definitions longer than this go to S3. Default 100,000.
        """
        super().__init__(scope, construct_id)
        if not Token.is_unresolved(pipeline_name) and not _NAME.match(pipeline_name):
            raise ConfigurationError(
                f"SageMakerPipeline pipeline_name: got {pipeline_name!r}; allowed 1-256"
                " letters, digits and single hyphens, starting with a letter or digit"
            )
        if max_parallel_execution_steps is not None and max_parallel_execution_steps < 1:
            raise ConfigurationError(
                "SageMakerPipeline max_parallel_execution_steps: got"
                f" {max_parallel_execution_steps}; must be at least 1"
            )
        if not 1 <= inline_size_limit <= MAX_DEFINITION_CHARS:
            raise ConfigurationError(
                f"SageMakerPipeline inline_size_limit: got {inline_size_limit};"
                f" allowed 1 to {MAX_DEFINITION_CHARS}"
            )
        self.pipeline_name = pipeline_name
        self.artifact_bucket = artifact_bucket
        self.kms_key = kms_key or artifact_bucket.encryption_key
        self.artifact_prefix = artifact_prefix or f"pipelines/{pipeline_name}/"
        self.definition = load_definition(definition)
        text = json.dumps(self.definition, separators=(",", ":"))
        if len(text) > MAX_DEFINITION_CHARS:
            raise ConfigurationError(
                f"SageMakerPipeline definition: {len(text):,} characters; SageMaker allows"
                f" at most {MAX_DEFINITION_CHARS:,}"
            )

        self.step_source_assets = self._assets(step_sources or {}, text)
        self.role: iam.IRole = role or iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"Runs the steps of SageMaker pipeline {pipeline_name}",
        )
        if role is None:
            self._grant_steps(data_read_prefixes)

        body = self._substitute(text, substitutions or {})
        self.definition_s3_key: str | None = None
        if len(text) > inline_size_limit:
            pipeline_definition: Any = self._definition_in_s3(body)
        else:
            # CfnPipeline types this property as Any: give CloudFormation's own keys.
            pipeline_definition = {"PipelineDefinitionBody": body}
        self.resource = sagemaker.CfnPipeline(
            self,
            "Resource",
            pipeline_name=pipeline_name,
            role_arn=self.role.role_arn,
            pipeline_definition=pipeline_definition,
            pipeline_description=description,
            parallelism_configuration=(
                sagemaker.CfnPipeline.ParallelismConfigurationProperty(
                    max_parallel_execution_steps=max_parallel_execution_steps
                )
                if max_parallel_execution_steps
                else None
            ),
        )
        self.resource.node.add_dependency(self.role)
        self.pipeline_arn = Stack.of(self).format_arn(
            service="sagemaker",
            resource="pipeline",
            resource_name=pipeline_name
            if Token.is_unresolved(pipeline_name)
            else pipeline_name.lower(),
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )

    # -- definition ------------------------------------------------------------------

    def _assets(self, sources: Mapping[str, str | Path], text: str) -> dict[str, s3_assets.Asset]:
        used = {m.group(1) for m in placeholders.STEP_SOURCE_PATTERN.finditer(text)}
        missing = sorted(used - set(sources))
        if missing:
            raise ConfigurationError(
                f"SageMakerPipeline step_sources: the definition refers to {missing} but"
                f" step_sources has only {sorted(sources)}"
            )
        unused = sorted(set(sources) - used)
        if unused:
            raise ConfigurationError(
                f"SageMakerPipeline step_sources: {unused} not referenced by the definition;"
                " use placeholders.step_source(name) where the step's code goes"
            )
        assets = {}
        for name, raw in sorted(sources.items()):
            path = Path(raw).resolve()
            if not path.exists():
                raise ConfigurationError(
                    f"SageMakerPipeline step_sources[{name!r}]: {raw} does not exist;"
                    " expected a file or folder holding the step's code"
                )
            assets[name] = s3_assets.Asset(
                self,
                f"StepSource-{name}",
                path=str(path),
                exclude=["__pycache__", "*.pyc", ".pytest_cache"],
            )
        return assets

    def _substitute(self, text: str, extra: Mapping[str, str]) -> str:
        values = {
            placeholders.ROLE_ARN: self.role.role_arn,
            placeholders.BUCKET_NAME: self.artifact_bucket.bucket_name,
            **dict(extra),
        }
        if self.kms_key is not None:
            values[placeholders.KMS_KEY_ARN] = self.kms_key.key_arn
        elif placeholders.KMS_KEY_ARN in text:
            raise ConfigurationError(
                "SageMakerPipeline kms_key: the definition uses placeholders.KMS_KEY_ARN but"
                " no kms_key was given and artifact_bucket has no encryption key"
            )
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        return placeholders.STEP_SOURCE_PATTERN.sub(
            lambda m: self.step_source_assets[m.group(1)].s3_object_url, text
        )

    def _definition_in_s3(self, body: str) -> Any:
        resolved = json.dumps(Stack.of(self).resolve(body), sort_keys=True)
        digest = hashlib.sha256(resolved.encode()).hexdigest()[:20]
        prefix = f"{self.artifact_prefix}definitions/"
        file_name = f"{digest}.json"
        upload = s3_deployment.BucketDeployment(
            self,
            "DefinitionUpload",
            sources=[s3_deployment.Source.data(file_name, body)],
            destination_bucket=self.artifact_bucket,
            destination_key_prefix=prefix,
            prune=False,
            retain_on_delete=True,
        )
        acknowledge(
            Stack.of(self),
            {
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaBasicExecutionRole]": "CDK's BucketDeployment handler writes its"
                " logs with the AWS basic execution policy; it holds no data access.",
                "AwsSolutions-L1": "BucketDeployment's handler runtime is chosen by aws-cdk-lib"
                " and upgraded with it.",
            },
        )
        acknowledge(
            upload.handler_role,
            {
                "AwsSolutions-IAM5[Action::s3:GetObject*]": "Granted by BucketDeployment to"
                " read the staged definition asset.",
                "AwsSolutions-IAM5[Action::s3:GetBucket*]": "Granted by BucketDeployment.",
                "AwsSolutions-IAM5[Action::s3:List*]": "Granted by BucketDeployment.",
                "AwsSolutions-IAM5[Action::s3:DeleteObject*]": "Granted by BucketDeployment"
                " (prune is off, so nothing is deleted).",
                "AwsSolutions-IAM5[Action::s3:Abort*]": "Granted by BucketDeployment.",
                "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": "Writes KMS-encrypted"
                " objects into the artifact bucket.",
                "AwsSolutions-IAM5[Action::kms:ReEncrypt*]": "Granted with the bucket's key.",
                **{
                    finding: "BucketDeployment reads its staged asset and writes the"
                    " definition object; it cannot name the object before deployment."
                    for finding in granted_wildcards(upload.handler_role)
                },
            },
        )
        self.definition_s3_key = prefix + file_name
        self.definition_upload = upload
        return {
            "PipelineDefinitionS3Location": {
                "Bucket": upload.deployed_bucket.bucket_name,
                "Key": self.definition_s3_key,
            }
        }

    # -- permissions -----------------------------------------------------------------

    def _grant_steps(self, data_read_prefixes: Sequence[str]) -> None:
        """Least privilege for the created role, derived from the definition's steps."""
        stack = Stack.of(self)
        role = self.role
        wildcards: dict[str, str] = {}
        by_resource: dict[str, set[str]] = {}
        for step in _all_steps(self.definition["Steps"]):
            job = _JOB_ACTIONS.get(str(step.get("Type")))
            if job:
                by_resource.setdefault(job[0], set()).update(job[1])
        for resource, verbs in sorted(by_resource.items()):
            name = _JOB_ACTION_NAMES[resource]
            jobs = stack.format_arn(
                service="sagemaker", resource=resource, resource_name="pipelines-*"
            )
            wildcards[jobs] = (
                "SageMaker Pipelines names each job pipelines-<execution id>-<step>; the name"
                " is unknown before the execution starts."
            )
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=[f"sagemaker:{verb}{name}" for verb in sorted(verbs)]
                    + ["sagemaker:AddTags"],
                    resources=[jobs],
                )
            )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        logs = allow_sagemaker_logs(role, "/aws/sagemaker/*")
        wildcards[logs] = (
            "SageMaker jobs write to /aws/sagemaker/ProcessingJobs and /TrainingJobs log"
            " groups, one stream per job."
        )
        repositories = self.image_repository_arns()
        if repositories:
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=[
                        "ecr:BatchGetImage",
                        "ecr:GetDownloadUrlForLayer",
                        "ecr:BatchCheckLayerAvailability",
                    ],
                    resources=repositories,
                )
            )
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"])
            )
        bucket = self.artifact_bucket
        self.artifact_bucket.grant_read_write(role, f"{self.artifact_prefix}*")
        wildcards[bucket.arn_for_objects(f"{self.artifact_prefix}*")] = (
            "Pipeline jobs write per-execution keys below the pipeline's own prefix."
        )
        for prefix in data_read_prefixes:
            bucket.grant_read(role, f"{prefix.rstrip('*')}*")
            wildcards[bucket.arn_for_objects(f"{prefix.rstrip('*')}*")] = (
                "Read access to the input dataset prefix the pipeline trains on."
            )
        for asset in self.step_source_assets.values():
            asset.grant_read(role)
            wildcards[asset.bucket.arn_for_objects("*")] = (
                "asset.grant_read on the CDK assets bucket; step code is read by object key."
            )
        if self.kms_key is not None:
            # Training and processing volumes encrypted with the key need a grant.
            self.kms_key.grant(role, "kms:CreateGrant", "kms:DescribeKey")
            self.kms_key.grant_encrypt_decrypt(role)
        self._acknowledge_role_findings(wildcards)

    def _acknowledge_role_findings(self, wildcard_arns: dict[str, str]) -> None:
        findings = {
            "AwsSolutions-IAM5[Resource::*]": "ecr:GetAuthorizationToken has no resource-level"
            " permissions; image pulls themselves are limited to the definition's repositories.",
            "AwsSolutions-IAM5[Action::s3:GetObject*]": "bucket.grant_read_write: object reads"
            " (object, version, ACL, tagging), limited to the pipeline's prefix.",
            "AwsSolutions-IAM5[Action::s3:GetBucket*]": "bucket.grant_read_write: bucket"
            " location and settings, needed by SageMaker's S3 downloader.",
            "AwsSolutions-IAM5[Action::s3:List*]": "bucket.grant_read_write: listing the"
            " pipeline's prefix (S3Prefix inputs).",
            "AwsSolutions-IAM5[Action::s3:DeleteObject*]": "bucket.grant_read_write: jobs"
            " overwrite outputs of a re-run step.",
            "AwsSolutions-IAM5[Action::s3:Abort*]": "bucket.grant_read_write: aborting"
            " multipart uploads of large model artifacts.",
            "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": "Encrypting outputs and volumes"
            " with the artifact key.",
            "AwsSolutions-IAM5[Action::kms:ReEncrypt*]": "grant_encrypt_decrypt on the artifact"
            " key only.",
        }
        for arn, reason in wildcard_arns.items():
            findings[wildcard_resource(self, arn)] = reason
        acknowledge(self.role, findings)

    def image_repository_arns(self, step_type: str | None = None) -> list[str]:
        """ECR repositories of the images the definition's steps use (of one step type,
        e.g. `RegisterModel` for the inference image, when given)."""
        steps = [
            s for s in _all_steps(self.definition["Steps"]) if step_type in (None, s.get("Type"))
        ]
        stack = Stack.of(self)
        return [
            stack.format_arn(
                service="ecr",
                account=account,
                region=region,
                resource="repository",
                resource_name=repo,
            )
            for account, region, repo in sorted(set(_ECR_IMAGE.findall(json.dumps(steps))))
        ]

    # -- grants and metrics ----------------------------------------------------------

    def grant_start_execution(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow `grantee` to start executions of this pipeline (and see how they went)."""
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["sagemaker:StartPipelineExecution", "sagemaker:DescribePipeline"],
            resource_arns=[self.pipeline_arn],
        )

    def metric(
        self,
        metric_name: str,
        *,
        statistic: str = "Sum",
        period: Duration | None = None,
        label: str | None = None,
    ) -> cloudwatch.Metric:
        """A metric SageMaker publishes for this pipeline (namespace
        `AWS/Sagemaker/ModelBuildingPipeline`, dimension `PipelineName`)."""
        return cloudwatch.Metric(
            namespace=METRIC_NAMESPACE,
            metric_name=metric_name,
            dimensions_map={"PipelineName": self.pipeline_name},
            statistic=statistic,
            period=period or Duration.minutes(5),
            label=label,
        )

    def metric_executions_started(self, **kwargs: Any) -> cloudwatch.Metric:
        """Executions started (Sum over 5 minutes unless overridden)."""
        return self.metric("ExecutionStarted", **kwargs)

    def metric_executions_succeeded(self, **kwargs: Any) -> cloudwatch.Metric:
        """Executions that succeeded (Sum over 5 minutes unless overridden)."""
        return self.metric("ExecutionSucceeded", **kwargs)

    def metric_executions_failed(self, **kwargs: Any) -> cloudwatch.Metric:
        """Executions that failed (Sum over 5 minutes unless overridden)."""
        return self.metric("ExecutionFailed", **kwargs)

    def metric_executions_stopped(self, **kwargs: Any) -> cloudwatch.Metric:
        """Executions that were stopped (Sum over 5 minutes unless overridden)."""
        return self.metric("ExecutionStopped", **kwargs)

    def metric_execution_duration(self, **kwargs: Any) -> cloudwatch.Metric:
        """Execution duration in milliseconds (Average over 5 minutes unless overridden)."""
        kwargs.setdefault("statistic", "Average")
        return self.metric("ExecutionDuration", **kwargs)


def _all_steps(steps: list[Any]) -> list[dict[str, Any]]:
    """Every step, including those nested in condition branches."""
    found: list[dict[str, Any]] = []
    for step in steps:
        if not isinstance(step, dict):
            continue
        found.append(step)
        args = step.get("Arguments")
        if step.get("Type") == "Condition" and isinstance(args, dict):
            found += _all_steps(list(args.get("IfSteps", [])) + list(args.get("ElseSteps", [])))
    return found
