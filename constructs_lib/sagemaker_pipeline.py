"""`SageMakerPipeline`: a SageMaker Pipeline definition deployed as `AWS::SageMaker::Pipeline`.

Its parts live beside it: step-code staging in `_step_code`, the execution role derived
from the definition in `_pipeline_role`, the definition's analysis in `_pipeline_steps`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

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
from constructs_lib._pipeline_role import PipelineRole
from constructs_lib._pipeline_steps import refuse
from constructs_lib._principals import sagemaker_principal
from constructs_lib._step_code import (
    acknowledge_bucket_deployment,
    stage_step_code,
    upload_bucket,
)
from constructs_lib._step_code import (  # public: re-exported from here
    step_code_staging_folder as step_code_staging_folder,
)
from constructs_lib._validate import Checks, Shown
from constructs_lib.vpc_config import VpcConfig

METRIC_NAMESPACE = "AWS/Sagemaker/ModelBuildingPipeline"
DEFAULT_INLINE_LIMIT = 100_000
"""Definitions longer than this many characters go to S3 instead of the template."""
MAX_DEFINITION_CHARS = 1_048_576
_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$")
_NAME_ALLOWED = "1-256 letters, digits and single hyphens, starting with a letter or digit"


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
            refuse("definition", f"{path}, which cannot be read ({exc.strerror})", _SOURCES_ALLOWED)
        definition = _parse_json(text, where)
    elif isinstance(source, HasDefinition):
        where = f"{type(source).__name__}.definition()"
        produced = source.definition()
        if isinstance(produced, Mapping):
            definition = dict(produced)
        elif isinstance(produced, str):
            definition = _parse_json(produced, where)
        else:
            refuse(
                "definition",
                f"{where}, which returned {type(produced).__name__}",
                "an object whose .definition() returns JSON text or a dict",
            )
    else:
        refuse("definition", f"a {type(source).__name__} {source!r}", _SOURCES_ALLOWED)
    steps = definition.get("Steps") if isinstance(definition, dict) else None
    if not isinstance(steps, list) or not steps:
        refuse(
            "definition",
            f"{where}, which has no steps",
            "a JSON object with a non-empty 'Steps' list",
        )
    return dict(definition)


def _parse_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        refuse(
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
    steps and the ECR repositories of the steps' images, and with `vpc` the
    network-interface permissions jobs in a VPC need. The construct refuses, naming
    the step and its JSON path: other step types, a `VpcConfig` when `vpc` is not
    given (or one naming other subnets or groups), a job step without one when `vpc`
    is given, IAM roles
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
        vpc: VpcConfig | None = None,
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
        :param vpc: the subnets and security groups the definition's jobs run in. Every
            job step must then name them in its `VpcConfig` (and no others), and the
            created role gets the network-interface permissions SageMaker documents for
            jobs in a VPC, limited to these subnets and groups. Default: none, and a
            definition with a `VpcConfig` is refused.
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
        if vpc is not None:
            check.instance("vpc", vpc, VpcConfig, "a VpcConfig or None")
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
        self.vpc = vpc
        """The subnets and security groups the jobs run in (None: no VPC)."""
        self.definition = load_definition(definition)
        """The definition as given, placeholders still in it."""
        text = json.dumps(self.definition, separators=(",", ":"))
        if len(text) > MAX_DEFINITION_CHARS:
            refuse(
                "definition",
                f"{len(text):,} characters",
                f"at most {MAX_DEFINITION_CHARS:,} (SageMaker's limit)",
            )
        self._role_policy = PipelineRole(
            self,
            self.definition,
            artifact_bucket=artifact_bucket,
            artifact_prefix=self.artifact_prefix,
            data_read_prefixes=self.data_read_prefixes,
            kms_key=self.kms_key,
            pass_roles=self.pass_roles,
            external_buckets=self.external_buckets,
            callback_queues=self.callback_queues,
            image_repositories=self.image_repositories,
            vpc=vpc,
        )
        needs = self._role_policy.check() if role is None else None

        staged = stage_step_code(
            self,
            step_sources or {},
            text,
            bucket=artifact_bucket,
            code_prefix=f"{self.artifact_prefix}code/",
        )
        self.step_source_assets: dict[str, s3_assets.Asset] = staged.assets
        """Step-source name -> the CDK asset (a zip laid out `<name>/<hash>/...`)."""
        self.step_source_urls: dict[str, str] = staged.urls
        """Step-source name -> the S3 URL `placeholders.step_source(name)` becomes."""
        self.step_code_deployment: s3_deployment.BucketDeployment | None = staged.deployment
        """The deployment that copies every step source into the artifact bucket."""

        self.role: iam.IRole = role or iam.Role(
            self,
            "Role",
            assumed_by=sagemaker_principal(self),
            description=f"Runs the steps of SageMaker pipeline {pipeline_name}",
        )
        """The execution role: `role`, or the one created and derived from the definition."""
        if needs is not None:
            self._role_policy.grant(self.role, needs)

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

    def image_repository_arns(self, step_type: str | None = None) -> list[str]:
        """ECR repositories of the images the definition's steps use (of one step type,
        e.g. `RegisterModel` for the inference image, when given): literal ECR URIs and
        the `image_repositories` the other images come from."""
        return self._role_policy.image_repository_arns(step_type)

    # -- definition and uploads ----------------------------------------------------

    def _depend_on_uploads(self) -> None:
        """Executions must find their code (and SageMaker the definition) in place."""
        uploads = [u for u in (self.step_code_deployment, self.definition_upload) if u]
        if uploads:
            self.resource.node.add_dependency(*uploads)
            acknowledge_bucket_deployment(self, uploads[0])

    def _substitute(self, text: str, extra: Mapping[str, str]) -> str:
        values = {
            placeholders.ROLE_ARN: self.role.role_arn,
            placeholders.BUCKET_NAME: self.artifact_bucket.bucket_name,
            **dict(extra),
        }
        if self.kms_key is not None:
            values[placeholders.KMS_KEY_ARN] = self.kms_key.key_arn
        elif placeholders.KMS_KEY_ARN in text:
            refuse(
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

    def _definition_in_s3(self, body: str) -> Any:
        resolved = json.dumps(Stack.of(self).resolve(body), sort_keys=True)
        digest = hashlib.sha256(resolved.encode()).hexdigest()[:20]
        prefix = f"{self.artifact_prefix}definitions/"
        file_name = f"{digest}.json"
        upload = s3_deployment.BucketDeployment(
            self,
            "DefinitionUpload",
            sources=[s3_deployment.Source.data(file_name, body)],
            destination_bucket=upload_bucket(self, self.artifact_bucket),
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
