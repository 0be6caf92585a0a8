"""`RegisteredModel`: a SageMaker model created from a Model Registry package version."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from constructs_lib._logs import allow_sagemaker_logs
from constructs_lib._nag import (
    READ_GRANT_FINDINGS,
    acknowledge,
    imported_key_findings,
    wildcard_resource,
)
from constructs_lib.errors import ConfigurationError

_PACKAGE_ARN = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/[a-z0-9-]+/[1-9]\d*$"
)


@dataclass(frozen=True, kw_only=True)
class ModelVpc:
    """Subnets and security groups the model's containers run in."""

    subnet_ids: Sequence[str]
    security_group_ids: Sequence[str]

    def __post_init__(self) -> None:
        if not self.subnet_ids or not self.security_group_ids:
            raise ConfigurationError(
                f"ModelVpc: got subnet_ids={list(self.subnet_ids)},"
                f" security_group_ids={list(self.security_group_ids)}; both need at least one id"
            )


class RegisteredModel(Construct):
    """An `AWS::SageMaker::Model` whose container is a registered model package version.

    The package ARN is given, never looked up: which version an environment serves is
    pinned in git. Changing the ARN replaces the model (and with it the endpoint
    config), which an endpoint rolls out with its deployment guardrails.

    The model gets its own role, allowed only to read the model artifacts under
    `artifact_prefix` of `artifact_bucket` (and decrypt them with its key), pull
    from the listed image repositories, and write its logs.

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
        vpc: ModelVpc | None = None,
    ) -> None:
        """Create the model and its role.

        :param model_package_arn: `arn:...:model-package/<group>/<version>`.
        :param artifact_bucket: the bucket (often in the build account) holding the
            model artifacts; read access is limited to `artifact_prefix`, and to
            decrypting with the bucket's `encryption_key` when it has one.
        :param artifact_prefix: key prefix of the model artifacts, e.g. `pipelines/x/`.
        :param image_repository_arns: ECR repositories of the inference images. Default:
            none (SageMaker-provided images need no pull permission of the role).
        :param network_isolation: default True: the container has no network access.
        :param vpc: default none: the model runs outside your VPC.
        """
        super().__init__(scope, construct_id)
        if not Token.is_unresolved(model_package_arn) and not _PACKAGE_ARN.match(model_package_arn):
            raise ConfigurationError(
                f"RegisteredModel model_package_arn: got {model_package_arn!r}; expected"
                " arn:<partition>:sagemaker:<region>:<account>:model-package/<group>/<version>"
            )
        self.model_package_arn = model_package_arn
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Serves one registered model version",
        )
        pattern = f"{artifact_prefix.rstrip('*')}*"
        artifact_bucket.grant_read(self.role, pattern)
        findings = {
            wildcard_resource(self, artifact_bucket.arn_for_objects(pattern)): "Model artifacts"
            " live under per-execution keys below the pipeline's prefix; the key is only"
            " known once the package exists.",
            **READ_GRANT_FINDINGS,
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
        acknowledge(self.role, findings)

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
                    subnets=list(vpc.subnet_ids), security_group_ids=list(vpc.security_group_ids)
                )
                if vpc
                else None
            ),
        )
        self.resource.node.add_dependency(self.role)
        self.model_name = self.resource.attr_model_name

    def grant_describe_alarms(self, alarm_arns: Sequence[str]) -> None:
        """Let SageMaker read the rollback alarms while it shifts traffic to this model."""
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["cloudwatch:DescribeAlarms"], resources=list(alarm_arns))
        )
