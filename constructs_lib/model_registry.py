"""`ModelRegistry`: a SageMaker model package group, shareable with other accounts."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import ArnFormat, RemovalPolicy, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from constructs_lib._nag import acknowledge, wildcard_resource
from constructs_lib.errors import ConfigurationError

_GROUP_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_ACCOUNT = re.compile(r"^\d{12}$")

READ_ACTIONS = (
    "sagemaker:DescribeModelPackage",
    "sagemaker:DescribeModelPackageGroup",
    "sagemaker:ListModelPackages",
)


class ModelRegistry(Construct):
    """An `AWS::SageMaker::ModelPackageGroup` (the Model Registry for one model).

    Pipelines register versions into it; approval flips a version's status; deploy
    environments pin a version. Accounts listed in `reader_accounts` get read access
    through the group's resource policy, so a staging or prod account can create a
    model from a package registered in the build account.

    Example::

        registry = ModelRegistry(stack, "Registry", model_package_group_name="churn",
                                 reader_accounts=["222222222222"])
        registry.grant_register(pipeline.role)
        registry.package_arn(7)  # arn:...:model-package/churn/7
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model_package_group_name: str,
        description: str | None = None,
        reader_accounts: Sequence[str] = (),
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        """Create the model package group.

        :param model_package_group_name: 1-63 letters, digits and hyphens.
        :param description: shown in SageMaker Studio. Default: none.
        :param reader_accounts: 12-digit account ids allowed to describe and list the
            group's packages (and so create models from them). Default: none, and no
            resource policy is attached.
        :param removal_policy: default RETAIN: deleting the stack keeps the registered
            versions, which hold the lineage of every model ever served.
        """
        super().__init__(scope, construct_id)
        if not Token.is_unresolved(model_package_group_name) and not _GROUP_NAME.match(
            model_package_group_name
        ):
            raise ConfigurationError(
                f"ModelRegistry model_package_group_name: got {model_package_group_name!r};"
                " allowed 1-63 letters, digits and single hyphens, starting with a letter or digit"
            )
        bad = [a for a in reader_accounts if not Token.is_unresolved(a) and not _ACCOUNT.match(a)]
        if bad:
            raise ConfigurationError(
                f"ModelRegistry reader_accounts: got {bad!r}; each must be a 12-digit account id"
            )
        self.model_package_group_name = model_package_group_name
        self.reader_accounts = tuple(reader_accounts)

        self.resource = sagemaker.CfnModelPackageGroup(
            self,
            "Resource",
            model_package_group_name=model_package_group_name,
            model_package_group_description=description,
            model_package_group_policy=self._resource_policy() if reader_accounts else None,
        )
        self.resource.apply_removal_policy(removal_policy)
        self.model_package_group_arn = self.resource.attr_model_package_group_arn

    def _resource_policy(self) -> iam.PolicyDocument:
        principals = [iam.AccountPrincipal(a) for a in self.reader_accounts]
        return iam.PolicyDocument(
            statements=[
                iam.PolicyStatement(
                    sid="ReadModelPackageGroup",
                    principals=principals,
                    actions=["sagemaker:DescribeModelPackageGroup"],
                    resources=[self._group_arn()],
                ),
                iam.PolicyStatement(
                    sid="ReadModelPackages",
                    principals=principals,
                    # CreateModel: the reader account builds its model from the package.
                    actions=[
                        "sagemaker:CreateModel",
                        "sagemaker:DescribeModelPackage",
                        "sagemaker:ListModelPackages",
                    ],
                    resources=[self.package_arn()],
                ),
            ]
        )

    def _group_arn(self) -> str:
        # The resource policy cannot reference the group's own GetAtt (circular), so
        # the ARN is formatted; SageMaker lower-cases names inside ARNs.
        return Stack.of(self).format_arn(
            service="sagemaker",
            resource="model-package-group",
            resource_name=self._arn_name(),
        )

    def _arn_name(self) -> str:
        name = self.model_package_group_name
        return name if Token.is_unresolved(name) else name.lower()

    def package_arn(self, version: int | None = None) -> str:
        """The ARN of version `version` of this group, or of every version when omitted.

        No AWS call: the ARN is built from the group name, account and region, which is
        how a deploy environment pins a version deterministically.
        """
        if version is not None and (isinstance(version, bool) or version < 1):
            raise ConfigurationError(
                f"ModelRegistry package_arn version: got {version!r}; must be a positive integer"
            )
        return Stack.of(self).format_arn(
            service="sagemaker",
            resource="model-package",
            resource_name=f"{self._arn_name()}/{'*' if version is None else version}",
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )

    def _grant(self, grantee: iam.IGrantable, actions: list[str]) -> iam.Grant:
        listing = "sagemaker:ListModelPackages"
        grant = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=[a for a in actions if a != listing],
            resource_arns=[self.model_package_group_arn, self.package_arn()],
        )
        findings = {
            wildcard_resource(self, self.package_arn()): "Versions of this one model"
            " package group; version numbers are assigned at registration."
        }
        if listing in actions:
            # ListModelPackages has no resource-level permissions (the group is a request
            # parameter); what it returns is names and statuses only.
            grant = grant.combine(
                iam.Grant.add_to_principal(grantee=grantee, actions=[listing], resource_arns=["*"])
            )
            findings["AwsSolutions-IAM5[Resource::*]"] = (
                "sagemaker:ListModelPackages supports no resource-level permissions."
            )
        principal = grantee.grant_principal
        if isinstance(principal, Construct):
            acknowledge(principal, findings)
        return grant

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Describe the group, and list and describe its packages."""
        return self._grant(grantee, list(READ_ACTIONS))

    def grant_register(self, grantee: iam.IGrantable) -> iam.Grant:
        """Register new versions into the group (what a pipeline's RegisterModel step does)."""
        return self._grant(
            grantee,
            [
                "sagemaker:CreateModelPackage",
                "sagemaker:DescribeModelPackage",
                "sagemaker:DescribeModelPackageGroup",
                "sagemaker:AddTags",
            ],
        )

    def grant_approve(self, grantee: iam.IGrantable) -> iam.Grant:
        """Change the approval status of the group's packages (and read them)."""
        return self._grant(grantee, ["sagemaker:UpdateModelPackage", *READ_ACTIONS])
