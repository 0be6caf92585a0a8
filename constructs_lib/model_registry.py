"""`ModelRegistry`: a SageMaker model package group, shareable with other accounts.

`IModelPackageGroup` is what consumers need of a group (its name and ARN, a version's
ARN, grants); `ModelRegistry` creates one, `ModelRegistry.from_model_package_group_name`
imports an existing one without an AWS call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from aws_cdk import ArnFormat, RemovalPolicy, Resource, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from constructs_lib._nag import Finding, acknowledge, wildcard_resource
from constructs_lib._validate import Checks

_GROUP_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
_GROUP_NAME_ALLOWED = "1-63 letters, digits and single hyphens, starting with a letter or digit"
_ACCOUNT = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d")
_DESCRIPTION = re.compile(r"(?s).{0,1024}")

READ_ACTIONS = (
    "sagemaker:DescribeModelPackage",
    "sagemaker:DescribeModelPackageGroup",
    "sagemaker:ListModelPackages",
)
REGISTER_ACTIONS = (
    "sagemaker:CreateModelPackage",
    "sagemaker:DescribeModelPackage",
    "sagemaker:DescribeModelPackageGroup",
    "sagemaker:AddTags",
)


@runtime_checkable
class IModelPackageGroup(Protocol):
    """A model package group: created (`ModelRegistry`) or imported
    (`ModelRegistry.from_model_package_group_name`)."""

    @property
    def model_package_group_name(self) -> str:
        """The group's name."""
        ...

    @property
    def model_package_group_arn(self) -> str:
        """The group's ARN."""
        ...

    def package_arn(self, version: int | None = None) -> str:
        """The ARN of one version of the group, or of every version when omitted."""
        ...

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Describe the group, and list and describe its packages."""
        ...

    def grant_register(self, grantee: iam.IGrantable) -> iam.Grant:
        """Register new versions into the group."""
        ...

    def grant_approve(self, grantee: iam.IGrantable) -> iam.Grant:
        """Change the approval status of the group's packages (and read them)."""
        ...


class _ModelPackageGroupMixin:
    """ARNs and grants shared by created and imported groups (mixed into a construct)."""

    model_package_group_name: str
    model_package_group_arn: str
    _arn_account: str | None = None
    _arn_region: str | None = None

    def _format_arn(self, resource: str, resource_name: str, arn_format: ArnFormat) -> str:
        assert isinstance(self, Construct)
        return Stack.of(self).format_arn(
            service="sagemaker",
            resource=resource,
            resource_name=resource_name,
            arn_format=arn_format,
            account=self._arn_account,
            region=self._arn_region,
        )

    def _arn_name(self) -> str:
        # SageMaker lower-cases names inside ARNs.
        name = self.model_package_group_name
        return name if Token.is_unresolved(name) else name.lower()

    def _group_arn(self) -> str:
        return self._format_arn(
            "model-package-group", self._arn_name(), ArnFormat.SLASH_RESOURCE_NAME
        )

    def package_arn(self, version: int | None = None) -> str:
        """The ARN of version `version` of this group, or of every version when omitted.

        No AWS call: the ARN is built from the group name, account and region, which is
        how a deploy environment pins a version deterministically.
        """
        if version is not None:
            check = Checks("ModelRegistry")
            check.integer("package_arn version", version, 1)
            check.done()
        return self._format_arn(
            "model-package",
            f"{self._arn_name()}/{'*' if version is None else version}",
            ArnFormat.SLASH_RESOURCE_NAME,
        )

    def _grant(self, grantee: iam.IGrantable, actions: Sequence[str]) -> iam.Grant:
        assert isinstance(self, Construct)
        listing = "sagemaker:ListModelPackages"
        grant = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=[a for a in actions if a != listing],
            resource_arns=[self.model_package_group_arn, self.package_arn()],
        )
        findings: dict[str | Finding, str] = {
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
        return self._grant(grantee, READ_ACTIONS)

    def grant_register(self, grantee: iam.IGrantable) -> iam.Grant:
        """Register new versions into the group (what a pipeline's RegisterModel step does)."""
        return self._grant(grantee, REGISTER_ACTIONS)

    def grant_approve(self, grantee: iam.IGrantable) -> iam.Grant:
        """Change the approval status of the group's packages (and read them)."""
        return self._grant(grantee, ["sagemaker:UpdateModelPackage", *READ_ACTIONS])


class ModelRegistry(_ModelPackageGroupMixin, Construct):
    """An `AWS::SageMaker::ModelPackageGroup` (the Model Registry for one model).

    Pipelines register versions into it; approval flips a version's status; deploy
    environments pin a version. Accounts listed in `reader_accounts` get read access
    through the group's resource policy, so a staging or prod account can create a
    model from a package registered in the build account. `node.default_child` is the
    `CfnModelPackageGroup` (also `resource`).

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

        :param model_package_group_name: 1-63 letters, digits and single hyphens.
            Required.
        :param description: shown in SageMaker Studio, at most 1024 characters.
            Default none.
        :param reader_accounts: 12-digit account ids allowed to describe and list the
            group's packages (and so create models from them). Default none, and no
            resource policy is attached.
        :param removal_policy: default `RemovalPolicy.RETAIN`: deleting the stack keeps
            the registered versions, which hold the lineage of every model ever served.
        """
        super().__init__(scope, construct_id)
        check = Checks("ModelRegistry")
        check.text(
            "model_package_group_name", model_package_group_name, _GROUP_NAME, _GROUP_NAME_ALLOWED
        )
        if description is not None:
            check.text("description", description, _DESCRIPTION, "at most 1024 characters")
        check.strings("reader_accounts", reader_accounts, _ACCOUNT, "12-digit account id")
        check.instance("removal_policy", removal_policy, RemovalPolicy, "a RemovalPolicy")
        check.done()
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

    @staticmethod
    def from_model_package_group_name(
        scope: Construct,
        construct_id: str,
        model_package_group_name: str,
        *,
        account: str | None = None,
        region: str | None = None,
    ) -> IModelPackageGroup:
        """An existing group, by name (no AWS call: its ARNs are built, not looked up).

        :param model_package_group_name: the group's name. Required.
        :param account: the account that owns the group. Default: the stack's.
        :param region: the group's region. Default: the stack's.
        """
        return ImportedModelPackageGroup(
            scope, construct_id, model_package_group_name, account=account, region=region
        )

    def _resource_policy(self) -> iam.PolicyDocument:
        # The policy cannot reference the group's own GetAtt (circular): ARNs are built.
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


class ImportedModelPackageGroup(_ModelPackageGroupMixin, Resource):
    """A model package group defined elsewhere (see
    `ModelRegistry.from_model_package_group_name`)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        model_package_group_name: str,
        *,
        account: str | None = None,
        region: str | None = None,
    ) -> None:
        """Refer to the group `model_package_group_name` in `account`/`region`
        (default: the stack's)."""
        check = Checks("ModelRegistry.from_model_package_group_name")
        check.text(
            "model_package_group_name", model_package_group_name, _GROUP_NAME, _GROUP_NAME_ALLOWED
        )
        if account is not None:
            check.text("account", account, _ACCOUNT, "a 12-digit account id")
        if region is not None:
            check.text("region", region, _REGION, "an AWS region such as eu-west-1")
        check.done()
        super().__init__(scope, construct_id, account=account, region=region)
        self.model_package_group_name = model_package_group_name
        self._arn_account = account
        self._arn_region = region
        self.model_package_group_arn = self._group_arn()
