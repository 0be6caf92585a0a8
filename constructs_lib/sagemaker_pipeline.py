"""`SageMakerPipeline`: a SageMaker Pipeline definition deployed as `AWS::SageMaker::Pipeline`."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, Protocol, runtime_checkable

from aws_cdk import ArnFormat, Duration, Resource, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_s3_deployment as s3_deployment
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from constructs_lib import placeholders
from constructs_lib._kms import allow_volume_encryption
from constructs_lib._logs import allow_sagemaker_logs
from constructs_lib._nag import Finding, acknowledge, granted_wildcards, spell, wildcard_resource
from constructs_lib._pipeline_steps import (
    JOB_STEPS,
    DefinitionStepError,
    ImageReference,
    QueueReference,
    Reference,
    StepNeeds,
    all_steps,
    analyze,
    image_references,
    literal_ecr_repositories,
    may_be_under,
    split_s3,
)
from constructs_lib._validate import Checks, Shown

METRIC_NAMESPACE = "AWS/Sagemaker/ModelBuildingPipeline"
DEFAULT_INLINE_LIMIT = 100_000
"""Definitions longer than this many characters go to S3 instead of the template."""
MAX_DEFINITION_CHARS = 1_048_576
_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$")
_NAME_ALLOWED = "1-256 letters, digits and single hyphens, starting with a letter or digit"
_CODE_EXCLUDED_DIRS = frozenset(
    {".git", ".venv", "node_modules", ".mypy_cache", ".ruff_cache", ".pytest_cache", "__pycache__"}
)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)

# SageMaker job actions, by the IAM resource type of the job a step starts. Pipelines
# name every job `pipelines-<execution id>-<step>-...` (or `<prefix>-<execution id>-...`
# with custom job prefixes), so the role is scoped to those names.
_JOB_ACTIONS: dict[str, tuple[str, ...]] = {
    "processing-job": ("CreateProcessingJob", "DescribeProcessingJob", "StopProcessingJob"),
    "training-job": ("CreateTrainingJob", "DescribeTrainingJob", "StopTrainingJob"),
    "hyper-parameter-tuning-job": (
        "CreateHyperParameterTuningJob",
        "DescribeHyperParameterTuningJob",
        "StopHyperParameterTuningJob",
        "ListTrainingJobsForHyperParameterTuningJob",
    ),
    "transform-job": ("CreateTransformJob", "DescribeTransformJob", "StopTransformJob"),
    "automl-job": (
        "CreateAutoMLJob",
        "CreateAutoMLJobV2",
        "DescribeAutoMLJob",
        "DescribeAutoMLJobV2",
        "StopAutoMLJob",
    ),
}
_JOB_NAME_FIELDS = {
    "processing-job": "ProcessingJobName",
    "training-job": "TrainingJobName",
    "hyper-parameter-tuning-job": "HyperParameterTuningJobName",
    "transform-job": "TransformJobName",
    "automl-job": "AutoMLJobName",
}
_EMR_RULE = "SageMakerPipelineExecutionEMRStepStatusUpdateRule"
_REGISTER_ACTIONS = (
    "sagemaker:AddTags",
    "sagemaker:CreateModelPackage",
    "sagemaker:DescribeModelPackage",
    "sagemaker:DescribeModelPackageGroup",
)


def _refuse(prop: str, got: str, allowed: str) -> NoReturn:
    check = Checks("SageMakerPipeline")
    check.fail(prop, Shown(got), allowed)
    check.done()
    raise AssertionError("unreachable")


def _check_list(check: Checks, prop: str, values: Any, kind: str, *members: str) -> None:
    """A list or tuple whose items have the `members` of a `kind` (e.g. `iam.IRole`)."""
    if check.instance(prop, values, (list, tuple), f"a list of {kind}"):
        for index, value in enumerate(values):
            if not all(hasattr(value, member) for member in members):
                kind_name = type(value).__name__
                check.fail(f"{prop}[{index}]", Shown(f"a {kind_name} {value!r}"), f"an {kind}")


@runtime_checkable
class HasDefinition(Protocol):
    """Anything with `.definition()` returning the definition as JSON text or a dict
    (a SageMaker SDK `Pipeline`, v2 or v3, is one)."""

    def definition(self) -> str | Mapping[str, Any]: ...


DefinitionSource = Mapping[str, Any] | Path | str | HasDefinition
"""A definition dict, the path of a JSON file, or an object with `.definition()`."""

_SOURCES_ALLOWED = "a dict, the path of a JSON file, or an object with .definition()"


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
            _refuse(
                "definition", f"{path}, which cannot be read ({exc.strerror})", _SOURCES_ALLOWED
            )
        definition = _parse_json(text, where)
    elif isinstance(source, HasDefinition):
        where = f"{type(source).__name__}.definition()"
        produced = source.definition()
        if isinstance(produced, Mapping):
            definition = dict(produced)
        elif isinstance(produced, str):
            definition = _parse_json(produced, where)
        else:
            _refuse(
                "definition",
                f"{where}, which returned {type(produced).__name__}",
                "an object whose .definition() returns JSON text or a dict",
            )
    else:
        _refuse("definition", f"a {type(source).__name__} {source!r}", _SOURCES_ALLOWED)
    steps = definition.get("Steps") if isinstance(definition, dict) else None
    if not isinstance(steps, list) or not steps:
        _refuse(
            "definition",
            f"{where}, which has no steps",
            "a JSON object with a non-empty 'Steps' list",
        )
    return dict(definition)


def _parse_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        _refuse(
            "definition",
            f"{where}, which is not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}",
            "JSON text of a pipeline definition",
        )


class IPipeline(Protocol):
    """What consumers of a pipeline use: its name and ARN, the start grant and metrics.

    Implemented by `SageMakerPipeline` and by `SageMakerPipeline.from_pipeline_name`;
    `PipelineNotifications` and `RetrainingSchedule` accept any of them.
    """

    @property
    def pipeline_name(self) -> str: ...
    @property
    def pipeline_arn(self) -> str: ...
    def grant_start_execution(self, grantee: iam.IGrantable) -> iam.Grant: ...
    def metric(self, metric_name: str, **options: Any) -> cloudwatch.Metric: ...
    def metric_executions_started(self, **options: Any) -> cloudwatch.Metric: ...
    def metric_executions_succeeded(self, **options: Any) -> cloudwatch.Metric: ...
    def metric_executions_failed(self, **options: Any) -> cloudwatch.Metric: ...
    def metric_executions_stopped(self, **options: Any) -> cloudwatch.Metric: ...
    def metric_execution_duration(self, **options: Any) -> cloudwatch.Metric: ...


class _PipelineMembers:
    """The start grant and the execution metrics every pipeline has (built or imported)."""

    pipeline_name: str

    @property
    def pipeline_arn(self) -> str:
        """`arn:<partition>:sagemaker:<region>:<account>:pipeline/<name, lower case>`."""
        name = self.pipeline_name
        return Stack.of(self).format_arn(  # type: ignore[arg-type]
            service="sagemaker",
            resource="pipeline",
            resource_name=name if Token.is_unresolved(name) else name.lower(),
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )

    def grant_start_execution(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow `grantee` to start executions of this pipeline (and see how they went)."""
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["sagemaker:StartPipelineExecution", "sagemaker:DescribePipeline"],
            resource_arns=[self.pipeline_arn],
        )

    def metric(self, metric_name: str, **options: Any) -> cloudwatch.Metric:
        """A metric SageMaker publishes for this pipeline (namespace
        `AWS/Sagemaker/ModelBuildingPipeline`, dimension `PipelineName`).

        Defaults: Sum over 5 minutes. `options` takes any `cloudwatch.MetricOptions` field
        (statistic, period, label, color, unit, ...) and overrides the defaults.
        """
        return cloudwatch.Metric(
            namespace=METRIC_NAMESPACE,
            metric_name=metric_name,
            **{
                "dimensions_map": {"PipelineName": self.pipeline_name},
                "statistic": "Sum",
                "period": Duration.minutes(5),
                **options,
            },
        )

    def metric_executions_started(self, **options: Any) -> cloudwatch.Metric:
        """Executions started (Sum over 5 minutes unless overridden)."""
        return self.metric("ExecutionStarted", **options)

    def metric_executions_succeeded(self, **options: Any) -> cloudwatch.Metric:
        """Executions that succeeded (Sum over 5 minutes unless overridden)."""
        return self.metric("ExecutionSucceeded", **options)

    def metric_executions_failed(self, **options: Any) -> cloudwatch.Metric:
        """Executions that failed (Sum over 5 minutes unless overridden)."""
        return self.metric("ExecutionFailed", **options)

    def metric_executions_stopped(self, **options: Any) -> cloudwatch.Metric:
        """Executions that were stopped (Sum over 5 minutes unless overridden)."""
        return self.metric("ExecutionStopped", **options)

    def metric_execution_duration(self, **options: Any) -> cloudwatch.Metric:
        """Execution duration in milliseconds (Average over 5 minutes unless overridden)."""
        return self.metric("ExecutionDuration", **{"statistic": "Average", **options})


class _ImportedPipeline(_PipelineMembers, Resource):
    """A pipeline that exists already, known by name (see `SageMakerPipeline.from_pipeline_name`)."""

    def __init__(self, scope: Construct, construct_id: str, pipeline_name: str) -> None:
        check = Checks("SageMakerPipeline.from_pipeline_name")
        check.text("pipeline_name", pipeline_name, _NAME, _NAME_ALLOWED)
        check.done()
        super().__init__(scope, construct_id)
        self.pipeline_name = pipeline_name


class SageMakerPipeline(_PipelineMembers, Construct):
    """A SageMaker Pipeline whose definition is built in code and deployed by CDK.

    The definition refers to deploy-time values through `constructs_lib.placeholders`
    (role ARN, bucket name, KMS key ARN, step-source URLs); each is replaced with its
    CloudFormation value, so the deployed definition holds real ARNs and URLs and no
    token text. A definition longer than `inline_size_limit` characters is written to
    the artifact bucket under a key derived from its content and referenced by
    `PipelineDefinitionS3Location`.

    **Step code keeps its name.** Each step source (a file or a folder) is copied into
    the artifact bucket under `<artifact_prefix>code/<name>/<content hash>/` by one
    `BucketDeployment` (`step_code_deployment`), keeping its file name and folder
    layout, so a processing input of
    `placeholders.step_source("preprocess")` puts `preprocess.py` at
    `<LocalPath>/preprocess.py`. The prefix changes with the content only, so running
    executions and cached steps keep the code they started with.

    **The created role is derived from the definition**, step type by step type, with
    the narrowest resources the definition allows: jobs of Processing, QualityCheck,
    ClarifyCheck, Training, Tuning, Transform and AutoML steps (named `pipelines-*`, or
    the job name prefix the step gives), models of Model steps, the model package
    groups RegisterModel steps name, the functions of Lambda steps, the queues of
    Callback steps, the clusters of EMR steps, the applications of EMRServerless
    steps and the ECR repositories of the steps' images. The construct refuses, naming
    the step and its JSON path: other step types, steps with a `VpcConfig`, IAM roles
    other than `placeholders.ROLE_ARN` that `pass_roles` does not list, buckets other
    than `artifact_bucket` that `external_buckets` does not list, outputs outside
    `artifact_prefix`, images known only at deploy time whose repository
    `image_repositories` does not list, and Callback queues known only at deploy time
    that `callback_queues` does not list. Pass `role=` to take over the permissions
    yourself.

    Example::

        pipeline = SageMakerPipeline(stack, "Pipeline",
            pipeline_name="churn",
            definition=build_pipeline(role_arn=placeholders.ROLE_ARN, ...),
            artifact_bucket=store.bucket, kms_key=store.key,
            step_sources={"preprocess": Path("steps/preprocess.py")})
        pipeline.grant_start_execution(scheduler_role)
        pipeline.metric_executions_failed().create_alarm(...)
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
        pass_roles: Sequence[iam.IRole] = (),
        external_buckets: Sequence[s3.IBucket] = (),
        callback_queues: Sequence[sqs.IQueue] = (),
        image_repositories: Sequence[ecr.IRepository] = (),
        description: str | None = None,
        max_parallel_execution_steps: int | None = None,
        inline_size_limit: int = DEFAULT_INLINE_LIMIT,
    ) -> None:
        """Create the pipeline, its staged step code and (unless given) its role.

        :param pipeline_name: 1-256 letters, digits and hyphens; also names jobs' logs.
            Required.
        :param definition: a dict, a JSON file path, or an object with `.definition()`.
            Required.
        :param artifact_bucket: where the pipeline's jobs read and write, and where step
            code is staged; replaces `placeholders.BUCKET_NAME`. Required.
        :param kms_key: replaces `placeholders.KMS_KEY_ARN`; the role may use it for
            volumes and outputs. Default: the bucket's key (error if the definition
            uses the placeholder and neither exists).
        :param role: an existing execution role; it must already have every permission
            the steps need, and the definition is not checked for step types, roles,
            buckets, queues, images or VPC settings (`pass_roles`, `external_buckets`,
            `callback_queues` and `image_repositories` grant nothing then). Default: a new
            role derived from the definition (see the class docs).
        :param step_sources: step-source name -> local file or folder, referenced in the
            definition as `placeholders.step_source(name)`, which becomes the S3 URL of
            the staged file (`.../<file name>`) or folder (`.../`). Default: none.
        :param substitutions: extra literal text -> value (often a token) replacements
            applied to the definition. Default: none.
        :param artifact_prefix: key prefix (ending with '/') the created role may read
            and write, and under which step code is staged. Default
            `pipelines/<pipeline_name>/`.
        :param data_read_prefixes: further key prefixes (each ending with '/') in
            `artifact_bucket` the created role may read (input datasets); read-only, so
            outputs there are refused. Default: none.
        :param pass_roles: IAM roles other than the pipeline's own that the definition
            names (any value under a `*RoleArn` key, or any text with `:iam::` and
            `:role/`, literal or token); the created role may pass exactly these.
            Default: none, and a definition naming another role is refused.
        :param external_buckets: buckets other than `artifact_bucket` that the
            definition names in `s3://` URIs; the created role may read the key prefix
            each URI names (and write it when the URI is an output location). Default:
            none, and a definition naming another bucket is refused.
        :param callback_queues: queues Callback steps send to; a step whose queue is one of
            them is granted `queue.grant_send_messages` (which covers the queue's KMS
            key). A KMS-encrypted queue must be listed; a literal queue URL that is not
            listed gets `sqs:SendMessage` only, and a queue URL known only at deploy time
            (a token) that is not listed is refused. Default: none.
        :param image_repositories: ECR repositories of images the definition names by
            deploy-time value (a `DockerImageAsset`'s `image_uri`: list
            `asset.repository`; a repository in the app; a URI joined from a pipeline
            parameter). An image matches a repository when its URI is the repository's
            URI plus a tag or digest, or ends with the repository's name; the role gets
            `repository.grant_pull`. Literal ECR image URIs need no entry. Default: none,
            and such an image is refused.
        :param description: the pipeline description. Default: none.
        :param max_parallel_execution_steps: cap on concurrently running steps.
            Default: SageMaker's (50).
        :param inline_size_limit: definitions longer than this go to S3. Default 100,000.
        """
        check = Checks("SageMakerPipeline")
        check.text("pipeline_name", pipeline_name, _NAME, _NAME_ALLOWED)
        if max_parallel_execution_steps is not None:
            check.integer("max_parallel_execution_steps", max_parallel_execution_steps, 1)
        check.integer("inline_size_limit", inline_size_limit, 1, MAX_DEFINITION_CHARS)
        if artifact_prefix is not None:
            check.key_prefix("artifact_prefix", artifact_prefix)
        if check.instance("data_read_prefixes", data_read_prefixes, (list, tuple), "a list"):
            for index, prefix in enumerate(data_read_prefixes):
                check.key_prefix(f"data_read_prefixes[{index}]", prefix)
        _check_list(check, "pass_roles", pass_roles, "iam.IRole", "role_arn")
        _check_list(check, "external_buckets", external_buckets, "s3.IBucket", "bucket_name")
        _check_list(
            check, "callback_queues", callback_queues, "sqs.IQueue", "queue_url", "queue_arn"
        )
        _check_list(
            check,
            "image_repositories",
            image_repositories,
            "ecr.IRepository",
            "repository_uri",
            "repository_arn",
        )
        if step_sources is not None:
            check.instance("step_sources", step_sources, Mapping, "a dict of name -> path")
        check.done()
        super().__init__(scope, construct_id)
        self.pipeline_name = pipeline_name
        """The pipeline's name."""
        self.artifact_bucket = artifact_bucket
        """Where jobs read and write and step code is staged."""
        self.kms_key = kms_key or artifact_bucket.encryption_key
        """The key that replaces `placeholders.KMS_KEY_ARN` (None if there is none)."""
        self.artifact_prefix: str = artifact_prefix or f"pipelines/{pipeline_name}/"
        """The pipeline's own key prefix in `artifact_bucket`."""
        self.data_read_prefixes = tuple(data_read_prefixes)
        """Further prefixes of `artifact_bucket` the created role may read."""
        self.pass_roles = tuple(pass_roles)
        """Roles the definition may name (and the created role may pass)."""
        self.external_buckets = tuple(external_buckets)
        """Buckets other than `artifact_bucket` the definition may name."""
        self.callback_queues = tuple(callback_queues)
        """Queues Callback steps may send to (granted with their KMS key)."""
        self.image_repositories = tuple(image_repositories)
        """Repositories of images known only at deploy time."""
        self.definition = load_definition(definition)
        """The definition as given, placeholders still in it."""
        text = json.dumps(self.definition, separators=(",", ":"))
        if len(text) > MAX_DEFINITION_CHARS:
            _refuse(
                "definition",
                f"{len(text):,} characters",
                f"at most {MAX_DEFINITION_CHARS:,} (SageMaker's limit)",
            )
        needs = self._analyze() if role is None else None

        self.step_source_assets: dict[str, s3_assets.Asset] = {}
        """Step-source name -> the CDK asset (a zip laid out `<name>/<hash>/...`)."""
        self.step_source_urls: dict[str, str] = {}
        """Step-source name -> the S3 URL `placeholders.step_source(name)` becomes."""
        self.step_code_deployment: s3_deployment.BucketDeployment | None = None
        """The deployment that copies every step source into the artifact bucket."""
        self._stage_code(step_sources or {}, text)

        self.role: iam.IRole = role or iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"Runs the steps of SageMaker pipeline {pipeline_name}",
        )
        """The execution role: `role`, or the one created and derived from the definition."""
        if needs is not None:
            self._grant_steps(needs)

        body = self._substitute(text, substitutions or {})
        self.definition_s3_key: str | None = None
        """The definition's key in the artifact bucket, when it is not inline."""
        self.definition_upload: s3_deployment.BucketDeployment | None = None
        """The deployment that writes the definition to S3, when it is not inline."""
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
        """The `AWS::SageMaker::Pipeline` (`node.default_child`)."""
        self.resource.node.add_dependency(self.role)
        self._depend_on_uploads()

    @staticmethod
    def from_pipeline_name(scope: Construct, construct_id: str, pipeline_name: str) -> IPipeline:
        """An existing pipeline in the stack's account and region, by name (no AWS call).

        :param pipeline_name: the pipeline's name. Required.
        """
        return _ImportedPipeline(scope, construct_id, pipeline_name)

    # -- step code -------------------------------------------------------------------

    def _depend_on_uploads(self) -> None:
        """Executions must find their code (and SageMaker the definition) in place."""
        uploads = [u for u in (self.step_code_deployment, self.definition_upload) if u]
        if uploads:
            self.resource.node.add_dependency(*uploads)
            _acknowledge_bucket_deployment(self, uploads[0])

    def _stage_code(self, sources: Mapping[str, str | Path], text: str) -> None:
        """Stage every step source under its own content-addressed prefix, names kept.

        Each source becomes a zip laid out `<name>/<hash>/<file or folder content>`, and
        one BucketDeployment extracts them all under `<artifact_prefix>code/` (one
        deployment, so one Lambda layer and one custom resource however many sources).
        """
        used = {m.group(1) for m in placeholders.STEP_SOURCE_PATTERN.finditer(text)}
        missing = sorted(used - set(sources))
        if missing:
            _refuse(
                "step_sources",
                repr(sorted(sources)),
                f"every name the definition refers to: {missing} are missing",
            )
        unused = sorted(set(sources) - used)
        if unused:
            _refuse(
                "step_sources",
                repr(sorted(sources)),
                "only names the definition refers to with placeholders.step_source(name);"
                f" {unused} are not referenced",
            )
        if not sources:
            return
        staging = step_code_staging_folder()
        code_prefix = f"{self.artifact_prefix}code/"
        for name, raw in sorted(sources.items()):
            path = Path(raw).resolve()
            if path.is_file():
                files, file_name = {path.name: path}, path.name
            elif path.is_dir():
                files, file_name = _code_files(path), ""
            else:
                _refuse(
                    f"step_sources[{name!r}]",
                    f"{raw}, which does not exist",
                    "a file or folder holding the step's code",
                )
            digest = _content_hash(files)
            archive = staging / f"{name}-{digest}.zip"
            if not archive.is_file():
                _write_zip(archive, f"{name}/{digest}/", files)
            self.step_source_assets[name] = s3_assets.Asset(
                self, f"StepSource-{name}", path=str(archive)
            )
            self.step_source_urls[name] = (
                f"s3://{self.artifact_bucket.bucket_name}/{code_prefix}{name}/{digest}/{file_name}"
            )
        self.step_code_deployment = s3_deployment.BucketDeployment(
            self,
            "StepCode",
            sources=[
                s3_deployment.Source.bucket(asset.bucket, asset.s3_object_key)
                for asset in self.step_source_assets.values()
            ],
            destination_bucket=self._upload_bucket(),
            destination_key_prefix=code_prefix,
            # Content-addressed: nothing to prune, and running executions keep theirs.
            prune=False,
            retain_on_delete=True,
            output_object_keys=False,
        )

    def _substitute(self, text: str, extra: Mapping[str, str]) -> str:
        values = {
            placeholders.ROLE_ARN: self.role.role_arn,
            placeholders.BUCKET_NAME: self.artifact_bucket.bucket_name,
            **dict(extra),
        }
        if self.kms_key is not None:
            values[placeholders.KMS_KEY_ARN] = self.kms_key.key_arn
        elif placeholders.KMS_KEY_ARN in text:
            _refuse(
                "kms_key",
                "none, and artifact_bucket has no encryption key",
                "a key, since the definition uses placeholders.KMS_KEY_ARN",
            )
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)

        def url(match: re.Match[str]) -> str:
            # A folder's URL ends with '/': `step_source("code") + "/x.py"` stays one slash.
            staged = self.step_source_urls[match.group(1)]
            return staged if staged.endswith("/") else staged + match.group(2)

        return re.sub(placeholders.STEP_SOURCE_PATTERN.pattern + "(/?)", url, text)

    def _upload_bucket(self) -> s3.IBucket:
        """The artifact bucket as the uploads' destination, by reference.

        BucketDeployment tags a destination bucket defined in the app with one tag per
        deployment (for ownership on delete, which `retain_on_delete` makes moot): every
        pipeline would change the bucket's stack and 50 pipelines would exhaust S3's tag
        limit. A reference to the same bucket and key carries no tags.
        """
        existing = self.node.try_find_child("UploadBucket")
        if existing is not None:
            return existing  # type: ignore[return-value]
        return s3.Bucket.from_bucket_attributes(
            self,
            "UploadBucket",
            bucket_arn=self.artifact_bucket.bucket_arn,
            bucket_name=self.artifact_bucket.bucket_name,
            encryption_key=self.artifact_bucket.encryption_key,
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
            destination_bucket=self._upload_bucket(),
            destination_key_prefix=prefix,
            prune=False,
            retain_on_delete=True,
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

    def _analyze(self) -> StepNeeds:
        """The definition's needs, with every role, bucket, queue and image it names
        accounted for (or refused)."""
        try:
            needs = analyze(self.definition)
        except DefinitionStepError as problem:
            _refuse("definition", problem.got, problem.allowed)
        self._passed_roles = self._match_roles(needs.roles)
        self._check_buckets(needs.s3)
        self._send_queues, self._plain_queues = self._match_queues(needs.queues)
        for image in needs.images:
            if self._repository_of(image) is None:
                _refuse(
                    "definition",
                    f"image {self._spelled(image.text)!r} in step {image.step!r} at {image.path}",
                    "a literal ECR image URI, or an image of a repository listed in"
                    " image_repositories (asset.repository for a DockerImageAsset), which"
                    " the role may then pull from",
                )
        return needs

    def _spelled(self, text: str) -> str:
        """`text` as CloudFormation will see it, tokens spelled `<Ref>` (see `spell`)."""
        return spell(Stack.of(self).resolve(text)) if Token.is_unresolved(text) else text

    def _match_roles(self, references: Sequence[Reference]) -> list[tuple[iam.IRole, set[str]]]:
        """Each role the definition names must be one of `pass_roles`: those, with the
        services they are passed to."""
        listed = [(self._spelled(r.role_arn), r) for r in self.pass_roles]
        services: dict[int, set[str]] = {}
        for ref in references:
            spelled = self._spelled(ref.text)
            index = next((i for i, (arn, _r) in enumerate(listed) if arn == spelled), None)
            if index is None or not ref.complete:
                _refuse(
                    "definition",
                    f"role {spelled!r} in step {ref.step!r} at {ref.path}",
                    "placeholders.ROLE_ARN (the pipeline's role) or a role listed in pass_roles"
                    + ("" if ref.complete else "; a role known only at run time needs role="),
                )
            services.setdefault(index, set()).add(
                "emr-serverless.amazonaws.com"
                if ref.step_type == "EMRServerless"
                else "sagemaker.amazonaws.com"
            )
        return [(listed[i][1], found) for i, found in sorted(services.items())]

    def _check_buckets(self, references: Sequence[Reference]) -> None:
        """Every S3 URI names `artifact_bucket` under a granted prefix (outputs under
        `artifact_prefix`), or a bucket in `external_buckets`."""
        external = {b.bucket_name for b in self.external_buckets}
        own = {placeholders.BUCKET_NAME, self.artifact_bucket.bucket_name}
        own |= _physical_names(self.artifact_bucket)
        for ref in references:
            bucket, key = split_s3(ref)
            if bucket is None or bucket in external:
                continue
            if bucket not in own:
                _refuse(
                    "definition",
                    f"bucket {bucket!r} in step {ref.step!r} at {ref.path}",
                    "artifact_bucket (placeholders.BUCKET_NAME) or a bucket listed in"
                    " external_buckets",
                )
            if ref.is_output:
                if not may_be_under(key, self.artifact_prefix, ref.complete):
                    _refuse(
                        "definition",
                        f"output key {key!r} of artifact_bucket in step {ref.step!r} at {ref.path}",
                        f"keys under artifact_prefix {self.artifact_prefix!r} for outputs"
                        " (where a job writes); data_read_prefixes"
                        f" {list(self.data_read_prefixes)} are read-only",
                    )
                continue
            prefixes = (self.artifact_prefix, *self.data_read_prefixes)
            if not any(may_be_under(key, p, ref.complete) for p in prefixes):
                _refuse(
                    "definition",
                    f"key {key!r} of artifact_bucket in step {ref.step!r} at {ref.path}",
                    f"keys under artifact_prefix {self.artifact_prefix!r} or a prefix listed"
                    f" in data_read_prefixes {list(self.data_read_prefixes)}",
                )

    def _match_queues(
        self, references: Sequence[QueueReference]
    ) -> tuple[list[sqs.IQueue], set[tuple[str, str, str]]]:
        """Listed queues the definition sends to, and literal queues it sends to otherwise."""
        listed = [(self._spelled(q.queue_url), _queue_address(q), q) for q in self.callback_queues]
        send: list[sqs.IQueue] = []
        plain: set[tuple[str, str, str]] = set()
        for ref in references:
            spelled = self._spelled(ref.url)
            queue = next(
                (q for url, at, q in listed if url == spelled or (at and at == ref.address)),
                None,
            )
            if queue is not None:
                if not any(q is queue for q in send):
                    send.append(queue)
            elif ref.address is not None:
                plain.add(ref.address)
            else:
                _refuse(
                    "definition",
                    f"queue {spelled!r} in step {ref.step!r} at {ref.path}",
                    "a literal queue URL, or a queue listed in callback_queues (which grants"
                    " sending to it and the use of its KMS key)",
                )
        return send, plain

    def _repository_of(self, image: ImageReference) -> ecr.IRepository | None:
        """The listed repository `image` comes from: its URI is the repository's URI plus
        a tag or digest, or its literal end names the repository."""
        spelled = self._spelled(image.text)
        for repository in self.image_repositories:
            uri = self._spelled(repository.repository_uri)
            if spelled == uri or spelled.startswith((uri + ":", uri + "@")):
                return repository
            name = repository.repository_name
            if (
                image.repository_name
                and not Token.is_unresolved(name)
                and name == image.repository_name
            ):
                return repository
        return None

    def _grant_steps(self, needs: StepNeeds) -> None:
        """Least privilege for the created role, derived from the definition's steps."""
        stack = Stack.of(self)
        role = self.role
        wildcards: dict[str, str] = {}

        def allow(actions: Sequence[str], resources: Sequence[str], **kwargs: Any) -> None:
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=list(actions), resources=list(resources), **kwargs)
            )

        def arn(service: str, resource: str, name: str, **kwargs: Any) -> str:
            return stack.format_arn(
                service=service, resource=resource, resource_name=name or None, **kwargs
            )

        job_prefixes = self._job_name_prefixes()
        for resource, _kinds in sorted(needs.jobs.items()):
            jobs = [arn("sagemaker", resource, f"{p}-*") for p in job_prefixes[resource]]
            for job in jobs:
                wildcards[job] = (
                    "SageMaker Pipelines names each job <prefix>-<execution id>-...; the"
                    " name is unknown before the execution starts."
                )
            allow([f"sagemaker:{a}" for a in _JOB_ACTIONS[resource]] + ["sagemaker:AddTags"], jobs)
        if needs.models:
            models = arn("sagemaker", "model", "pipelines-*")
            wildcards[models] = "Model steps create models named pipelines-<execution id>-..."
            allow(
                ["sagemaker:AddTags", "sagemaker:CreateModel", "sagemaker:DescribeModel"], [models]
            )
        for group in sorted(needs.model_package_groups):
            name = group if Token.is_unresolved(group) else group.lower()
            packages = arn(
                "sagemaker", "model-package", f"{name}/*", arn_format=ArnFormat.SLASH_RESOURCE_NAME
            )
            wildcards[packages] = (
                f"Versions of model package group {group}, which RegisterModel steps register;"
                " version numbers are assigned at registration."
            )
            allow(_REGISTER_ACTIONS, [arn("sagemaker", "model-package-group", name), packages])
        if needs.functions:
            allow(["lambda:InvokeFunction"], sorted(needs.functions))
        for queue in self._send_queues:
            queue.grant_send_messages(role)
        if self._plain_queues:
            allow(
                ["sqs:SendMessage"],
                [
                    arn("sqs", name, "", region=region, account=account)
                    for region, account, name in sorted(self._plain_queues)
                ],
            )
        if needs.emr_clusters:
            allow(
                [
                    "elasticmapreduce:AddJobFlowSteps",
                    "elasticmapreduce:CancelSteps",
                    "elasticmapreduce:DescribeStep",
                ],
                [arn("elasticmapreduce", "cluster", c) for c in sorted(needs.emr_clusters)],
            )
            # Pipelines learn a step's status from this EventBridge rule, created on first use.
            allow(
                ["events:DescribeRule", "events:PutRule", "events:PutTargets"],
                [arn("events", "rule", _EMR_RULE)],
            )
        for application in sorted(needs.emr_serverless_applications):
            runs = arn("emr-serverless", "/applications", f"{application}/jobruns/*")
            wildcards[runs] = "EMR Serverless job run ids are assigned when a run starts."
            allow(
                [
                    "emr-serverless:CancelJobRun",
                    "emr-serverless:GetJobRun",
                    "emr-serverless:StartJobRun",
                ],
                [arn("emr-serverless", "/applications", application), runs],
            )
        allow(
            ["iam:PassRole"],
            [role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        )
        for passed, services in self._passed_roles:
            allow(
                ["iam:PassRole"],
                [passed.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": _one_or_list(services)}},
            )
        logs = allow_sagemaker_logs(role, "/aws/sagemaker/*")
        wildcards[logs] = (
            "SageMaker jobs write to /aws/sagemaker/ProcessingJobs and /TrainingJobs log"
            " groups, one stream per job."
        )
        pulls_images = self._grant_pulls()
        bucket = self.artifact_bucket
        bucket.grant_read_write(role, f"{self.artifact_prefix}*")
        wildcards[bucket.arn_for_objects(f"{self.artifact_prefix}*")] = (
            "Pipeline jobs write per-execution keys (and read their staged code) below the"
            " pipeline's own prefix."
        )
        for prefix in self.data_read_prefixes:
            bucket.grant_read(role, f"{prefix}*")
            wildcards[bucket.arn_for_objects(f"{prefix}*")] = (
                "Read access to the input dataset prefix the pipeline trains on."
            )
        wildcards.update(self._grant_external_buckets(needs.s3))
        if self.kms_key is not None:
            # Training and processing volumes encrypted with the key need a grant.
            allow_volume_encryption(self.kms_key, role)
            self.kms_key.grant_encrypt_decrypt(role)
        self._acknowledge_role_findings(wildcards, pulls_images)

    def _job_name_prefixes(self) -> dict[str, list[str]]:
        """`pipelines`, plus any custom job name prefix a step gives, per job type."""
        found: dict[str, set[str]] = {resource: {"pipelines"} for resource in _JOB_ACTIONS}
        for _path, step in all_steps(self.definition["Steps"]):
            resource = JOB_STEPS.get(str(step.get("Type")))
            args = step.get("Arguments")
            if resource and isinstance(args, dict):
                prefix = args.get(_JOB_NAME_FIELDS[resource])
                if isinstance(prefix, str) and prefix:
                    found[resource].add(prefix if Token.is_unresolved(prefix) else prefix.lower())
        return {resource: sorted(prefixes) for resource, prefixes in found.items()}

    def _grant_pulls(self) -> bool:
        """Pull access to the repositories of the steps' images; whether there are any."""
        literal = self._literal_repository_arns()
        if literal:
            self.role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=[
                        "ecr:BatchGetImage",
                        "ecr:GetDownloadUrlForLayer",
                        "ecr:BatchCheckLayerAvailability",
                    ],
                    resources=literal,
                )
            )
            self.role.add_to_principal_policy(
                iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"])
            )
        listed = self._listed_repositories()
        for repository in listed:
            repository.grant_pull(self.role)
        return bool(literal or listed)

    def _grant_external_buckets(self, references: Sequence[Reference]) -> dict[str, str]:
        """Read (or, for outputs, read-write) the key prefix each URI names."""
        wildcards: dict[str, str] = {}
        by_name = {b.bucket_name: b for b in self.external_buckets}
        grants: dict[tuple[str, str], bool] = {}
        for ref in references:
            name, key = split_s3(ref)
            if name in by_name and key is not None:
                pattern = f"{key}*"
                grants[(name, pattern)] = grants.get((name, pattern), False) or ref.is_output
        for (name, pattern), write in sorted(grants.items()):
            bucket = by_name[name]
            if write:
                bucket.grant_read_write(self.role, pattern)
            else:
                bucket.grant_read(self.role, pattern)
            wildcards[bucket.arn_for_objects(pattern)] = (
                "The key prefix the definition names in an external bucket (external_buckets)."
            )
        return wildcards

    def _acknowledge_role_findings(self, wildcard_arns: dict[str, str], pulls: bool) -> None:
        findings: dict[str | Finding, str] = {
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
        if pulls:
            findings["AwsSolutions-IAM5[Resource::*]"] = (
                "ecr:GetAuthorizationToken has no resource-level permissions; image pulls"
                " themselves are limited to the definition's repositories."
            )
        for arn, reason in wildcard_arns.items():
            findings[wildcard_resource(self, arn)] = reason
        acknowledge(self.role, findings)

    def image_repository_arns(self, step_type: str | None = None) -> list[str]:
        """ECR repositories of the images the definition's steps use (of one step type,
        e.g. `RegisterModel` for the inference image, when given): literal ECR URIs and
        the `image_repositories` the other images come from."""
        listed = [r.repository_arn for r in self._listed_repositories(step_type)]
        return self._literal_repository_arns(step_type) + listed

    def _literal_repository_arns(self, step_type: str | None = None) -> list[str]:
        stack = Stack.of(self)
        return [
            stack.format_arn(
                service="ecr",
                account=account,
                region=region,
                resource="repository",
                resource_name=repo,
            )
            for account, region, repo in literal_ecr_repositories(self.definition, step_type)
        ]

    def _listed_repositories(self, step_type: str | None = None) -> list[ecr.IRepository]:
        """The `image_repositories` that images of the definition (of `step_type`) use."""
        found: list[ecr.IRepository] = []
        for image in image_references(self.definition, step_type):
            repository = self._repository_of(image)
            if repository is not None and not any(r is repository for r in found):
                found.append(repository)
        return found


def step_code_staging_folder() -> Path:
    """Where step-source zips are written before CDK copies them into the assembly: one
    folder per user under the temporary directory (content-addressed, so repeated
    synths reuse one small zip per version of a source)."""
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    folder = Path(tempfile.gettempdir()) / f"cdk-step-code-{user}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _code_files(folder: Path) -> dict[str, Path]:
    """Relative path -> file, for a folder source (VCS, virtualenvs, node_modules, caches
    and bytecode left out)."""
    return {
        path.relative_to(folder).as_posix(): path
        for path in sorted(folder.rglob("*"))
        if path.is_file()
        and path.suffix != ".pyc"
        and not _CODE_EXCLUDED_DIRS.intersection(path.relative_to(folder).parts)
    }


def _content_hash(files: Mapping[str, Path]) -> str:
    """16 hex digits of the names and bytes of `files`: the source's staging folder."""
    digest = hashlib.sha256()
    for relative, path in sorted(files.items()):
        digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _write_zip(target: Path, prefix: str, files: Mapping[str, Path]) -> None:
    """A byte-for-byte reproducible zip of `files` under `prefix` (fixed dates and modes),
    written then renamed so a concurrent synth never reads half of it."""
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative, path in sorted(files.items()):
            info = zipfile.ZipInfo(prefix + relative, date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    partial.replace(target)


def _physical_names(bucket: s3.IBucket) -> set[str]:
    """The literal name a bucket created in this app was given (`bucket_name=`), if any."""
    cfn = bucket.node.default_child
    name = getattr(cfn, "bucket_name", None) if isinstance(cfn, s3.CfnBucket) else None
    return {name} if isinstance(name, str) and not Token.is_unresolved(name) else set()


def _one_or_list(values: set[str]) -> str | list[str]:
    return next(iter(values)) if len(values) == 1 else sorted(values)


def _queue_address(queue: sqs.IQueue) -> tuple[str, str, str] | None:
    """(region, account, name) of a queue with a literal ARN."""
    arn = queue.queue_arn
    parts = arn.split(":")
    if Token.is_unresolved(arn) or len(parts) != 6:
        return None
    return (parts[3], parts[4], parts[5])


def _acknowledge_bucket_deployment(
    scope: Construct, upload: s3_deployment.BucketDeployment
) -> None:
    """cdk-nag findings of CDK's BucketDeployment handler (shared by every deployment in
    the stack), acknowledged once they are all granted."""
    acknowledge(
        Stack.of(scope),
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
            " read the staged step code and definition assets.",
            "AwsSolutions-IAM5[Action::s3:GetBucket*]": "Granted by BucketDeployment.",
            "AwsSolutions-IAM5[Action::s3:List*]": "Granted by BucketDeployment.",
            "AwsSolutions-IAM5[Action::s3:DeleteObject*]": "Granted by BucketDeployment"
            " (prune is off, so nothing is deleted).",
            "AwsSolutions-IAM5[Action::s3:Abort*]": "Granted by BucketDeployment.",
            "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": "Writes KMS-encrypted"
            " objects into the artifact bucket.",
            "AwsSolutions-IAM5[Action::kms:ReEncrypt*]": "Granted with the bucket's key.",
            granted_wildcards(upload.handler_role): "BucketDeployment reads its staged"
            " assets and writes step code and definitions; it cannot name the objects before"
            " deployment.",
        },
    )
