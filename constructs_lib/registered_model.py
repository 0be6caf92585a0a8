"""`RegisteredModel`: a SageMaker model created from a Model Registry package version."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from constructs_lib._logs import allow_sagemaker_logs
from constructs_lib._nag import (
    READ_GRANT_FINDINGS,
    Finding,
    acknowledge,
    acknowledge_inline_policy,
    imported_key_findings,
    wildcard_resource,
)
from constructs_lib._principals import sagemaker_principal
from constructs_lib._validate import Checks
from constructs_lib.vpc_config import VpcConfig, allow_network_interfaces

_PACKAGE_ARN = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/[a-z0-9-]+/[1-9]\d*$"
)
_ECR_REPOSITORY_ARN = re.compile(r"^arn:aws[a-z-]*:ecr:[a-z0-9-]+:\d{12}:repository/.+$")
# VpcConfig: 1-16 subnets and 1-5 security groups
# (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_VpcConfig.html), ids in
# the formats CloudFormation validates (AWS::EC2::Subnet.Id, AWS::EC2::SecurityGroup.Id).
_SUBNET_ID = re.compile(r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$")
_SECURITY_GROUP_ID = re.compile(r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$")


@dataclass(frozen=True, kw_only=True)
class ModelVpc:
    """Subnets and security groups the model's containers run in, by id. Kept for
    compatibility: `VpcConfig` does the same and also takes `ec2.ISubnet` and
    `ec2.ISecurityGroup`."""

    subnet_ids: Sequence[str]
    """Private subnet ids (`subnet-...`), 1 to 16. Required."""
    security_group_ids: Sequence[str]
    """Security group ids (`sg-...`), 1 to 5. Required."""

    def __post_init__(self) -> None:
        check = Checks("ModelVpc")
        for prop, value, pattern, most in (
            ("subnet_ids", self.subnet_ids, _SUBNET_ID, 16),
            ("security_group_ids", self.security_group_ids, _SECURITY_GROUP_ID, 5),
        ):
            kind = pattern.pattern[1:].split("-")[0]
            if check.strings(prop, value, pattern, f"{kind}-<8 or 17 hex digits>") and not (
                1 <= len(list(value)) <= most
            ):
                check.fail(prop, list(value), f"1 to {most} ids")
        check.done()


class IModel(Protocol):
    """What an endpoint needs of the model it serves (a `RegisteredModel`, or your own).

    `network_isolation` and `vpc` let the endpoint refuse what serverless endpoints
    cannot do; `grant_describe_alarms` lets SageMaker read the rollback alarms.
    """

    @property
    def model_name(self) -> str: ...
    @property
    def role(self) -> iam.IRole: ...
    @property
    def network_isolation(self) -> bool: ...
    @property
    def vpc(self) -> VpcConfig | None: ...
    def grant_describe_alarms(self, alarm_arns: Sequence[str]) -> iam.Grant: ...


class RegisteredModel(Construct):
    """An `AWS::SageMaker::Model` whose container is a registered model package version.

    The package ARN is given, never looked up: which version an environment serves is
    pinned in git. Changing the ARN replaces the model (and with it the endpoint
    config), which an endpoint rolls out with its deployment guardrails.

    The model gets its own role, allowed only to read the model artifacts under
    `artifact_prefix` of `artifact_bucket` (and decrypt them with its key), pull
    from the listed image repositories, and write its logs. `node.default_child` is
    the `CfnModel`.

    Example::

        model = RegisteredModel(stack, "Model",
            model_package_arn=registry.package_arn(7),
            artifact_bucket=bucket, artifact_prefix="pipelines/churn/",
            image_repository_arns=["arn:aws:ecr:eu-west-1:141502667606:repository/sagemaker-scikit-learn"])
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model_package_arn: str,
        artifact_bucket: s3.IBucket,
        artifact_prefix: str,
        image_repository_arns: Sequence[str] = (),
        network_isolation: bool = True,
        vpc: VpcConfig | ModelVpc | None = None,
    ) -> None:
        """Create the model and its role.

        :param model_package_arn: `arn:...:model-package/<group>/<version>`. Required.
        :param artifact_bucket: the bucket (often in the build account) holding the
            model artifacts; read access is limited to `artifact_prefix`, and to
            decrypting with the bucket's `encryption_key` when it has one. Required.
        :param artifact_prefix: key prefix (folder, ending with '/') of the model
            artifacts, e.g. `pipelines/churn/`. Required.
        :param image_repository_arns: ECR repositories of the inference images. Default:
            none (SageMaker-provided images need no pull permission of the role).
        :param network_isolation: default True: the container has no network access.
            Serverless endpoints need False.
        :param vpc: the subnets and security groups the model's containers run in; the
            role then gets the network-interface permissions SageMaker documents, limited
            to them. Default: none, the model runs outside your VPC (serverless endpoints
            need none).
        """
        super().__init__(scope, construct_id)
        check = Checks("RegisteredModel")
        check.text(
            "model_package_arn",
            model_package_arn,
            _PACKAGE_ARN,
            "arn:<partition>:sagemaker:<region>:<account>:model-package/<group>/<version>",
        )
        check.has("artifact_bucket", artifact_bucket, "bucket_name", "an s3.IBucket")
        check.key_prefix("artifact_prefix", artifact_prefix)
        check.strings(
            "image_repository_arns",
            image_repository_arns,
            _ECR_REPOSITORY_ARN,
            "ECR repository ARN (arn:<partition>:ecr:<region>:<account>:repository/<name>)",
        )
        check.instance("network_isolation", network_isolation, bool, "True or False")
        if vpc is not None:
            check.instance("vpc", vpc, (VpcConfig, ModelVpc), "a VpcConfig or None")
        check.done()
        self.model_package_arn = model_package_arn
        self.network_isolation = network_isolation
        self.vpc: VpcConfig | None = (
            VpcConfig(subnets=list(vpc.subnet_ids), security_groups=list(vpc.security_group_ids))
            if isinstance(vpc, ModelVpc)
            else vpc
        )
        """The subnets and security groups the model runs in (None: outside your VPC)."""
        vpc = self.vpc
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=sagemaker_principal(self),
            description="Serves one registered model version",
        )
        pattern = f"{artifact_prefix}*"
        artifact_bucket.grant_read(self.role, pattern)
        findings: dict[str | Finding, str] = {
            wildcard_resource(self, artifact_bucket.arn_for_objects(pattern)): "Model artifacts"
            " live under per-execution keys below the pipeline's prefix; the key is only"
            " known once the package exists.",
            **imported_key_findings(self, artifact_bucket),
        }
        if image_repository_arns:
            self.role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                    resources=list(image_repository_arns),
                )
            )
            self.role.add_to_principal_policy(
                iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"])
            )
            findings["AwsSolutions-IAM5[Resource::*]"] = (
                "ecr:GetAuthorizationToken has no resource-level permissions; pulls are"
                " limited to the listed repositories."
            )
        logs = allow_sagemaker_logs(self.role, "/aws/sagemaker/Endpoints/*")
        findings[wildcard_resource(self, logs)] = (
            "Endpoint containers log to /aws/sagemaker/Endpoints/<endpoint name>, one"
            " stream per instance."
        )
        findings.update({k: v for k, v in READ_GRANT_FINDINGS.items()})
        if vpc is not None:
            network = allow_network_interfaces(
                self, self.role, vpc.subnet_ids, vpc.security_group_ids
            )
            for finding, reason in network.items():
                findings[finding] = (
                    f"{findings[finding]} {reason}" if finding in findings else reason
                )
        acknowledge(self.role, findings)
        acknowledge_inline_policy(self.role, "the model's execution role")

        self.resource = sagemaker.CfnModel(
            self,
            "Resource",
            execution_role_arn=self.role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                model_package_name=model_package_arn
            ),
            enable_network_isolation=network_isolation,
            vpc_config=(
                sagemaker.CfnModel.VpcConfigProperty(
                    subnets=vpc.subnet_ids, security_group_ids=vpc.security_group_ids
                )
                if vpc
                else None
            ),
        )
        self.resource.node.add_dependency(self.role)
        self.model_name: str = self.resource.attr_model_name

    def grant_describe_alarms(self, alarm_arns: Sequence[str]) -> iam.Grant:
        """Let SageMaker, as this model's role, read the rollback alarms while it shifts
        traffic to this model (`cloudwatch:DescribeAlarms` on exactly those alarms)."""
        return iam.Grant.add_to_principal(
            grantee=self.role,
            actions=["cloudwatch:DescribeAlarms"],
            resource_arns=list(alarm_arns),
        )
