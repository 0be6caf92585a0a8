"""`GitHubDeployAccess`: let GitHub Actions deploy with short-lived credentials (OIDC)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_lib._nag import acknowledge, wildcard_resource
from constructs_lib._validate import Checks

GITHUB_OIDC_URL = "https://token.actions.githubusercontent.com"
_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_PROVIDER_ARN = re.compile(
    r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/token\.actions\.githubusercontent\.com$"
)
_REF = re.compile(r"^[A-Za-z0-9._/-]{1,200}$")
# IAM role names are at most 64 characters; the longest suffix added is "-deploy".
_ROLE_PREFIX = re.compile(r"^[A-Za-z0-9+=,.@_-]{1,57}$")
_ROLE_PREFIX_RULE = "1-57 letters, digits or +=,.@_- (role names are at most 64 characters)"


class GitHubDeployAccess(Construct):
    """GitHub's OIDC provider and two roles GitHub Actions can assume in this account.

    - `deploy_role`: only from `repository` on `branches` or in `environments` (the
      GitHub environments that carry required reviewers); it may only assume the CDK
      bootstrap roles (deploy, file publishing, lookup) of this account and region.
    - `diff_role`: only from pull requests of `repository`; it may only assume the CDK
      lookup role and read CloudFormation stacks, so `cdk diff` works and a pull
      request can change nothing.

    No static keys anywhere: workflows ask for `id-token: write` and use
    `aws-actions/configure-aws-credentials` with the role ARN.

    Example::

        GitHubDeployAccess(stack, "GitHub", repository="my-org/ml-platform",
                           environments=["prod"], branches=["main"])
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        repository: str,
        branches: Sequence[str] = ("main",),
        environments: Sequence[str] = (),
        existing_provider_arn: str | None = None,
        create_provider: bool = True,
        cdk_qualifier: str = "hnb659fds",
        max_session: Duration | None = None,
        role_name_prefix: str = "mlops-github",
        stack_name_prefix: str = "mlops-",
    ) -> None:
        """Create (or reuse) the provider and the two roles.

        :param repository: `owner/name`.
        :param branches: branches whose workflows may deploy. Default `main`.
        :param environments: GitHub environments whose jobs may deploy. Default none.
        :param existing_provider_arn: an account has one GitHub provider; pass its ARN
            when another stack created it, and none is created here. Default none.
        :param create_provider: without `existing_provider_arn`: True (default) creates
            the provider here; False uses the account's provider at its fixed ARN
            (`oidc-provider/token.actions.githubusercontent.com`).
        :param cdk_qualifier: the CDK bootstrap qualifier. Default `hnb659fds`.
        :param max_session: default 1 hour.
        :param role_name_prefix: the roles are named `<prefix>-deploy` and `<prefix>-diff`
            so workflows can name them. Default `mlops-github`.
        :param stack_name_prefix: the diff role reads stacks whose names start with it.
            Default `mlops-`.
        """
        super().__init__(scope, construct_id)
        check = Checks("GitHubDeployAccess")
        check.text("repository", repository, _REPOSITORY, "owner/name of a GitHub repository")
        for prop, refs in (("branches", branches), ("environments", environments)):
            check.strings(prop, refs, _REF, "name of letters, digits, '.', '_', '-' or '/'")
        if check.ok() and not branches and not environments:
            check.fail(
                "branches",
                [],
                "at least one branch or environment (with both empty nothing could ever deploy)",
            )
        check.text("role_name_prefix", role_name_prefix, _ROLE_PREFIX, _ROLE_PREFIX_RULE)
        check.instance("create_provider", create_provider, bool, "True or False")
        if existing_provider_arn is not None:
            check.text(
                "existing_provider_arn",
                existing_provider_arn,
                _PROVIDER_ARN,
                "the ARN of an IAM OIDC provider for token.actions.githubusercontent.com",
            )
        check.done()
        stack = Stack.of(self)
        if not existing_provider_arn and not create_provider:
            existing_provider_arn = stack.format_arn(
                service="iam",
                region="",
                resource="oidc-provider",
                resource_name=GITHUB_OIDC_URL.removeprefix("https://"),
            )
        if existing_provider_arn:
            provider_arn = existing_provider_arn
        else:
            provider = iam.OidcProviderNative(
                self, "Provider", url=GITHUB_OIDC_URL, client_ids=["sts.amazonaws.com"]
            )
            provider_arn = provider.oidc_provider_arn
        self.provider_arn = provider_arn
        claim = GITHUB_OIDC_URL.removeprefix("https://")
        deploy_subjects = [f"repo:{repository}:ref:refs/heads/{b}" for b in branches] + [
            f"repo:{repository}:environment:{e}" for e in environments
        ]

        def github_principal(subjects: list[str]) -> iam.WebIdentityPrincipal:
            return iam.WebIdentityPrincipal(
                provider_arn,
                conditions={
                    "StringEquals": {f"{claim}:aud": "sts.amazonaws.com"},
                    "ForAnyValue:StringLike": {f"{claim}:sub": subjects},
                },
            )

        session = max_session or Duration.hours(1)
        self.deploy_role = iam.Role(
            self,
            "DeployRole",
            assumed_by=github_principal(deploy_subjects),
            role_name=f"{role_name_prefix}-deploy",
            description=f"GitHub Actions deploys of {repository}",
            max_session_duration=session,
        )
        # The primary resource, for escape hatches (`node.default_child`); its id stays
        # "DeployRole" so existing stacks keep the role (it has a fixed name).
        self.node.default_child = self.deploy_role
        bootstrap = [
            stack.format_arn(
                service="iam",
                region="",
                resource="role",
                resource_name=f"cdk-{cdk_qualifier}-{kind}-role-{stack.account}-{stack.region}",
            )
            for kind in ("deploy", "file-publishing", "image-publishing", "lookup")
        ]
        self.deploy_role.add_to_policy(
            iam.PolicyStatement(actions=["sts:AssumeRole"], resources=bootstrap)
        )
        self.diff_role = iam.Role(
            self,
            "DiffRole",
            assumed_by=github_principal([f"repo:{repository}:pull_request"]),
            role_name=f"{role_name_prefix}-diff",
            description=f"GitHub Actions cdk diff for pull requests of {repository}",
            max_session_duration=session,
        )
        self.diff_role.add_to_policy(
            iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[bootstrap[-1]])
        )
        stacks = stack.format_arn(
            service="cloudformation", resource="stack", resource_name=f"{stack_name_prefix}*"
        )
        self.diff_role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudformation:DescribeStacks", "cloudformation:GetTemplate"],
                resources=[stacks],
            )
        )
        acknowledge(
            self.diff_role,
            {
                wildcard_resource(self, stacks): "Reads the app's own stacks (by name prefix)"
                " and their stack ids, which CloudFormation appends after the name.",
            },
        )
