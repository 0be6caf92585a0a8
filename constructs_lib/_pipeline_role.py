"""The execution role `SageMakerPipeline` derives from its definition.

`PipelineRole.check()` analyses the definition (`_pipeline_steps.analyze`) and matches
every role, bucket, queue and image it names with what the pipeline lists (`pass_roles`,
`external_buckets`, `callback_queues`, `image_repositories`), refusing the rest.
`grant(role, needs)` then adds the narrowest statements each step type needs and
acknowledges the cdk-nag findings they cause.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import ArnFormat, Stack, Token
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from constructs_lib import placeholders
from constructs_lib._kms import allow_volume_encryption
from constructs_lib._logs import allow_sagemaker_logs
from constructs_lib._nag import (
    Finding,
    acknowledge,
    acknowledge_inline_policy,
    spell,
    wildcard_resource,
)
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
    refuse,
    split_s3,
)
from constructs_lib.vpc_config import VpcConfig, allow_network_interfaces

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


class PipelineRole:
    """What a pipeline's definition names, matched with what the pipeline lists, and the
    execution role's permissions derived from it.

    `scope` is the pipeline construct: it places ARNs in its stack and owns the role's
    wildcard acknowledgements.
    """

    def __init__(
        self,
        scope: Construct,
        definition: Mapping[str, Any],
        *,
        artifact_bucket: s3.IBucket,
        artifact_prefix: str,
        data_read_prefixes: Sequence[str],
        kms_key: kms.IKey | None,
        pass_roles: Sequence[iam.IRole],
        external_buckets: Sequence[s3.IBucket],
        callback_queues: Sequence[sqs.IQueue],
        image_repositories: Sequence[ecr.IRepository],
        vpc: VpcConfig | None = None,
    ) -> None:
        self.scope = scope
        self.vpc = vpc
        self.definition = definition
        self.artifact_bucket = artifact_bucket
        self.artifact_prefix = artifact_prefix
        self.data_read_prefixes = data_read_prefixes
        self.kms_key = kms_key
        self.pass_roles = pass_roles
        self.external_buckets = external_buckets
        self.callback_queues = callback_queues
        self.image_repositories = image_repositories

    # -- checking the definition -----------------------------------------------------

    def check(self) -> StepNeeds:
        """The definition's needs, with every role, bucket, queue and image it names
        accounted for (or refused)."""
        try:
            ids = (self.vpc.subnet_ids, self.vpc.security_group_ids) if self.vpc else None
            needs = analyze(self.definition, ids)
        except DefinitionStepError as problem:
            refuse("definition", problem.got, problem.allowed)
        self._passed_roles = self._match_roles(needs.roles)
        self._check_buckets(needs.s3)
        self._send_queues, self._plain_queues = self._match_queues(needs.queues)
        for image in needs.images:
            if self._repository_of(image) is None:
                refuse(
                    "definition",
                    f"image {self._spelled(image.text)!r} in step {image.step!r} at {image.path}",
                    "a literal ECR image URI, or an image of a repository listed in"
                    " image_repositories (asset.repository for a DockerImageAsset), which"
                    " the role may then pull from",
                )
        return needs

    def _spelled(self, text: str) -> str:
        """`text` as CloudFormation will see it, tokens spelled `<Ref>` (see `spell`)."""
        return spell(Stack.of(self.scope).resolve(text)) if Token.is_unresolved(text) else text

    def _match_roles(self, references: Sequence[Reference]) -> list[tuple[iam.IRole, set[str]]]:
        """Each role the definition names must be one of `pass_roles`: those, with the
        services they are passed to."""
        listed = [(self._spelled(r.role_arn), r) for r in self.pass_roles]
        services: dict[int, set[str]] = {}
        for ref in references:
            spelled = self._spelled(ref.text)
            index = next((i for i, (arn, _r) in enumerate(listed) if arn == spelled), None)
            if index is None or not ref.complete:
                refuse(
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
                refuse(
                    "definition",
                    f"bucket {bucket!r} in step {ref.step!r} at {ref.path}",
                    "artifact_bucket (placeholders.BUCKET_NAME) or a bucket listed in"
                    " external_buckets",
                )
            if ref.is_output:
                if not may_be_under(key, self.artifact_prefix, ref.complete):
                    refuse(
                        "definition",
                        f"output key {key!r} of artifact_bucket in step {ref.step!r} at {ref.path}",
                        f"keys under artifact_prefix {self.artifact_prefix!r} for outputs"
                        " (where a job writes); data_read_prefixes"
                        f" {list(self.data_read_prefixes)} are read-only",
                    )
                continue
            prefixes = (self.artifact_prefix, *self.data_read_prefixes)
            if not any(may_be_under(key, p, ref.complete) for p in prefixes):
                refuse(
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
                refuse(
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

    # -- granting the role -----------------------------------------------------------

    def grant(self, role: iam.IRole, needs: StepNeeds) -> None:
        """Least privilege for the created `role`, derived from the definition's steps
        (`needs`, as `check()` returned them)."""
        stack = Stack.of(self.scope)
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
        if needs.clarify_models:
            # Post-training bias and SHAP jobs host the model on a temporary shadow
            # endpoint, which Clarify names sm-clarify-<model>-<time>.
            endpoints = arn("sagemaker", "endpoint", "sm-clarify-*")
            configs = arn("sagemaker", "endpoint-config", "sm-clarify-*")
            wildcards[endpoints] = (
                "ClarifyCheck jobs name each shadow endpoint sm-clarify-<model>-<time>;"
                " the role may manage only those."
            )
            wildcards[configs] = (
                "ClarifyCheck jobs name each shadow endpoint config sm-clarify-config-<time>;"
                " the role may manage only those."
            )
            allow(
                [
                    "sagemaker:AddTags",
                    "sagemaker:CreateEndpoint",
                    "sagemaker:CreateEndpointConfig",
                    "sagemaker:DeleteEndpoint",
                    "sagemaker:DeleteEndpointConfig",
                    "sagemaker:DescribeEndpoint",
                    "sagemaker:DescribeEndpointConfig",
                    "sagemaker:InvokeEndpoint",
                ],
                [endpoints, configs],
            )
            hosted = [arn("sagemaker", "model", name) for name in sorted(needs.clarify_models)]
            for model in hosted:
                if model.endswith("*"):
                    wildcards[model] = (
                        "Model steps create models named pipelines-<execution id>-..."
                    )
            allow(["sagemaker:DescribeModel"], hosted)
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
        pulls_images = self._grant_pulls(role)
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
        wildcards.update(self._grant_external_buckets(role, needs.s3))
        if self.kms_key is not None:
            # Training and processing volumes encrypted with the key need a grant.
            allow_volume_encryption(self.kms_key, role)
            self.kms_key.grant_encrypt_decrypt(role)
        network: dict[str | Finding, str] = {}
        if self.vpc is not None and needs.vpc_steps:
            network = allow_network_interfaces(
                self.scope, role, self.vpc.subnet_ids, self.vpc.security_group_ids
            )
        self._acknowledge_role_findings(role, wildcards, pulls_images, network)

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

    def _grant_pulls(self, role: iam.IRole) -> bool:
        """Pull access to the repositories of the steps' images; whether there are any."""
        literal = self._literal_repository_arns()
        if literal:
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=[
                        "ecr:BatchGetImage",
                        "ecr:GetDownloadUrlForLayer",
                        "ecr:BatchCheckLayerAvailability",
                    ],
                    resources=literal,
                )
            )
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"])
            )
        listed = self._listed_repositories()
        for repository in listed:
            repository.grant_pull(role)
        return bool(literal or listed)

    def _grant_external_buckets(
        self, role: iam.IRole, references: Sequence[Reference]
    ) -> dict[str, str]:
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
                bucket.grant_read_write(role, pattern)
            else:
                bucket.grant_read(role, pattern)
            wildcards[bucket.arn_for_objects(pattern)] = (
                "The key prefix the definition names in an external bucket (external_buckets)."
            )
        return wildcards

    def _acknowledge_role_findings(
        self,
        role: iam.IRole,
        wildcard_arns: dict[str, str],
        pulls: bool,
        network: dict[str | Finding, str],
    ) -> None:
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
            findings[wildcard_resource(self.scope, arn)] = reason
        for finding, reason in network.items():
            findings[finding] = f"{findings[finding]} {reason}" if finding in findings else reason
        acknowledge(role, findings)
        acknowledge_inline_policy(role, "the pipeline's execution role")

    # -- image repositories ----------------------------------------------------------

    def image_repository_arns(self, step_type: str | None = None) -> list[str]:
        """ECR repositories of the images the definition's steps use (of `step_type`, when
        given): literal ECR URIs and the `image_repositories` the other images come from."""
        listed = [r.repository_arn for r in self._listed_repositories(step_type)]
        return self._literal_repository_arns(step_type) + listed

    def _literal_repository_arns(self, step_type: str | None = None) -> list[str]:
        stack = Stack.of(self.scope)
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
