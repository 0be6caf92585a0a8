"""`GitHubDeployAccess`: let GitHub Actions deploy with short-lived credentials (OIDC)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import custom_resources as cr
from constructs import Construct, IConstruct

from constructs_lib._logs import stack_log_group
from constructs_lib._nag import (
    AWS_CUSTOM_RESOURCE_PROVIDER,
    acknowledge,
    acknowledge_aws_custom_resource,
    acknowledge_inline_policy,
    wildcard_resource,
)
from constructs_lib._validate import Checks

GITHUB_OIDC_URL = "https://token.actions.githubusercontent.com"
GITHUB_OIDC_HOST = GITHUB_OIDC_URL.removeprefix("https://")
AUDIENCE = "sts.amazonaws.com"
"""The audience `aws-actions/configure-aws-credentials` asks GitHub for."""
SUBJECT_CLAIM_KEYS = ("repo", "context", "ref")
"""The repository's OIDC subject template `require_ref=True` expects (see the README)."""

ProviderMode = Literal["ensure", "create", "existing"]
"""How the account's GitHub OIDC provider is obtained (see `GitHubDeployAccess`)."""
PROVIDER_MODES: tuple[ProviderMode, ...] = ("ensure", "create", "existing")

_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_PROVIDER_ARN = re.compile(
    r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/token\.actions\.githubusercontent\.com$"
)
_REF = re.compile(r"^[A-Za-z0-9._/-]{1,200}$")
# IAM role names are at most 64 characters; the longest suffix added is "-deploy".
_ROLE_PREFIX = re.compile(r"^[A-Za-z0-9+=,.@_-]{1,57}$")
_ROLE_PREFIX_RULE = "1-57 letters, digits or +=,.@_- (role names are at most 64 characters)"


def deploy_subjects(
    repository: str, branches: Sequence[str], environments: Sequence[str], *, require_ref: bool
) -> list[str]:
    """The `sub` claims the deploy role trusts, exactly.

    With `require_ref` (the repository's subject template is `repo`, `context`, `ref`):
    each environment paired with each branch (`repo:o/r:environment:prod:ref:refs/heads/main`)
    or, with no environments, each branch's jobs in both renderings GitHub may give a job
    without an environment (`repo:o/r:ref:refs/heads/main:ref:refs/heads/main`, and the
    default template's `repo:o/r:ref:refs/heads/main`). Without it (GitHub's default
    template): `repo:o/r:environment:prod`, which names no ref, or `repo:o/r:ref:refs/heads/main`.
    """
    refs = [f"ref:refs/heads/{b}" for b in branches]
    if environments:
        if require_ref:
            return [f"repo:{repository}:environment:{e}:{r}" for e in environments for r in refs]
        return [f"repo:{repository}:environment:{e}" for e in environments]
    if require_ref:
        return [s for r in refs for s in (f"repo:{repository}:{r}:{r}", f"repo:{repository}:{r}")]
    return [f"repo:{repository}:{r}" for r in refs]


def diff_subject(repository: str, *, require_ref: bool) -> str:
    """The `sub` claim of the repository's pull-request jobs (`pull_request` events run on
    `refs/pull/<number>/merge`); a pattern when `require_ref`."""
    if require_ref:
        return f"repo:{repository}:pull_request:ref:refs/pull/*/merge"
    return f"repo:{repository}:pull_request"


class GitHubDeployAccess(Construct):
    """GitHub's OIDC provider and two roles GitHub Actions can assume in this account.

    - `deploy_role`: only from `repository`, in one of `environments` (the GitHub
      environments that carry required reviewers) *and* on one of `branches`, or with no
      environments, from jobs on `branches`; it may only assume the CDK bootstrap roles
      (deploy, file and image publishing, lookup) of this account and region.
    - `diff_role`: only from pull requests of `repository`; it may read the app's stacks
      and their templates (`cloudformation:DescribeStacks`, `GetTemplate`) and nothing
      else: it assumes no role, so `cdk diff` runs with its own credentials.

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
        require_ref: bool = True,
        provider: ProviderMode | None = None,
        existing_provider_arn: str | None = None,
        cdk_qualifier: str = "hnb659fds",
        max_session: Duration | None = None,
        role_name_prefix: str = "mlops-github",
        stack_name_prefix: str = "mlops-",
    ) -> None:
        """Create (or reuse) the provider and the two roles.

        :param repository: `owner/name`.
        :param branches: branches whose jobs may deploy (with `environments`, the branches
            those environments' jobs must run on). Default `main`.
        :param environments: GitHub environments whose jobs may deploy; when given, jobs
            outside them may not. Default none.
        :param require_ref: trust only subjects that name the ref, which needs the
            repository's OIDC subject template set to `repo`, `context`, `ref` once (see
            the README); without it an environment's subject names no branch, so any
            branch whose workflow names the environment could deploy. Default True.
        :param provider: how the account's GitHub OIDC provider is obtained: `"ensure"`
            creates it unless the account has one (a custom resource that ignores
            EntityAlreadyExists and never deletes it, so stacks sharing an account or an
            account with a provider made elsewhere both work); `"create"` makes it a
            resource of this stack (`AWS::IAM::OIDCProvider`: fails where one exists,
            deleted with the stack); `"existing"` creates nothing and trusts the provider
            at `existing_provider_arn` or at its fixed ARN in this account. Default
            `"existing"` when `existing_provider_arn` is given, else `"ensure"`.
        :param existing_provider_arn: the provider's ARN, with `provider="existing"`.
            Default the fixed ARN `oidc-provider/token.actions.githubusercontent.com`.
        :param cdk_qualifier: the CDK bootstrap qualifier. Default `hnb659fds`.
        :param max_session: default 1 hour.
        :param role_name_prefix: the roles are named `<prefix>-deploy` and `<prefix>-diff`
            so workflows can name them. Default `mlops-github`.
        :param stack_name_prefix: the diff role reads stacks whose names start with it.
            Default `mlops-`.
        """
        super().__init__(scope, construct_id)
        mode = self._check(
            repository=repository,
            branches=branches,
            environments=environments,
            require_ref=require_ref,
            provider=provider,
            existing_provider_arn=existing_provider_arn,
            role_name_prefix=role_name_prefix,
        )
        stack = Stack.of(self)
        self.repository = repository
        self.require_ref = require_ref
        self.provider_mode: ProviderMode = mode
        fixed_arn = f"arn:{stack.partition}:iam::{stack.account}:oidc-provider/{GITHUB_OIDC_HOST}"
        self.provider_resource: IConstruct | None = None
        """What creates the provider in this stack (None with `"existing"`)."""
        if mode == "create":
            native = iam.OidcProviderNative(
                self, "Provider", url=GITHUB_OIDC_URL, client_ids=[AUDIENCE]
            )
            self.provider_arn = native.oidc_provider_arn
            self.provider_resource = native
        elif mode == "ensure":
            self.provider_arn = fixed_arn
            self.provider_resource = self._ensure_provider(fixed_arn)
        else:
            self.provider_arn = existing_provider_arn or fixed_arn

        self.deploy_subjects = deploy_subjects(
            repository, branches, environments, require_ref=require_ref
        )
        """The `sub` claims `deploy_role` trusts (StringEquals)."""
        self.diff_subject = diff_subject(repository, require_ref=require_ref)
        """The `sub` claim `diff_role` trusts (StringLike with `require_ref`)."""
        session = max_session or Duration.hours(1)
        self.deploy_role = iam.Role(
            self,
            "DeployRole",
            assumed_by=self._principal({"StringEquals": self.deploy_subjects}),
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
        operator = "StringLike" if require_ref else "StringEquals"
        self.diff_role = iam.Role(
            self,
            "DiffRole",
            assumed_by=self._principal({operator: [self.diff_subject]}),
            role_name=f"{role_name_prefix}-diff",
            description=f"GitHub Actions cdk diff for pull requests of {repository}",
            max_session_duration=session,
        )
        # No sts:AssumeRole: the CDK lookup role reads the whole account (logs and Lambda
        # code included). `cdk diff` warns that it cannot assume it and reads the
        # deployed templates with these credentials instead.
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
        acknowledge_inline_policy(self.deploy_role, "GitHub's deploy role")
        acknowledge_inline_policy(self.diff_role, "GitHub's pull-request diff role")
        if self.provider_resource is not None:
            for role in (self.deploy_role, self.diff_role):
                role.node.add_dependency(self.provider_resource)

    def _principal(self, subjects: dict[str, list[str]]) -> iam.WebIdentityPrincipal:
        """GitHub's tokens for AWS (`aud`) whose `sub` matches `subjects` (operator ->
        values); the two conditions must both hold."""
        (operator, values), *_ = subjects.items()
        sub = {f"{GITHUB_OIDC_HOST}:sub": values if len(values) > 1 else values[0]}
        aud = {f"{GITHUB_OIDC_HOST}:aud": AUDIENCE}
        conditions = (
            {"StringEquals": {**aud, **sub}}
            if operator == "StringEquals"
            else {"StringEquals": aud, operator: sub}
        )
        return iam.WebIdentityPrincipal(self.provider_arn, conditions=conditions)

    def _ensure_provider(self, arn: str) -> IConstruct:
        """Create the provider unless the account has one, and make sure it accepts
        `sts.amazonaws.com`; never delete it (other stacks and tools may use it)."""

        def allow(action: str) -> cr.AwsCustomResourcePolicy:
            return cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=[f"iam:{action}"], resources=[arn])]
            )

        create = cr.AwsCustomResource(
            self,
            "Provider",
            on_create=cr.AwsSdkCall(
                service="IAM",
                action="createOpenIDConnectProvider",
                parameters={"Url": GITHUB_OIDC_URL, "ClientIDList": [AUDIENCE]},
                physical_resource_id=cr.PhysicalResourceId.of(arn),
                ignore_error_codes_matching="EntityAlreadyExists",
            ),
            policy=allow("CreateOpenIDConnectProvider"),
            install_latest_aws_sdk=False,
            memory_size=256,
            log_group=stack_log_group(self, "CustomResourceLogs"),
        )
        audience = cr.AwsCustomResource(
            self,
            "ProviderAudience",
            on_update=cr.AwsSdkCall(
                service="IAM",
                action="addClientIDToOpenIDConnectProvider",
                parameters={"OpenIDConnectProviderArn": arn, "ClientID": AUDIENCE},
                physical_resource_id=cr.PhysicalResourceId.of(f"{arn}#{AUDIENCE}"),
            ),
            policy=allow("AddClientIDToOpenIDConnectProvider"),
            install_latest_aws_sdk=False,
            memory_size=256,
            log_group=stack_log_group(self, "CustomResourceLogs"),
        )
        audience.node.add_dependency(create)
        does = "makes IAM calls on GitHub's OIDC provider of this account"
        for resource in (create, audience):
            acknowledge_aws_custom_resource(resource, does=does)
        acknowledge(
            Stack.of(self).node.find_child(AWS_CUSTOM_RESOURCE_PROVIDER),
            {
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaBasicExecutionRole]": "CDK's AwsCustomResource provider logs with the"
                " AWS basic execution policy; its IAM access here is creating GitHub's OIDC"
                " provider and adding an audience to it, on that provider's ARN only.",
                "AwsSolutions-L1": "The AwsCustomResource provider's runtime is chosen by"
                " aws-cdk-lib and upgraded with it.",
            },
        )
        return audience

    @staticmethod
    def _check(
        *,
        repository: str,
        branches: Sequence[str],
        environments: Sequence[str],
        require_ref: bool,
        provider: ProviderMode | None,
        existing_provider_arn: str | None,
        role_name_prefix: str,
    ) -> ProviderMode:
        check = Checks("GitHubDeployAccess")
        check.text("repository", repository, _REPOSITORY, "owner/name of a GitHub repository")
        for prop, refs in (("branches", branches), ("environments", environments)):
            check.strings(prop, refs, _REF, "name of letters, digits, '.', '_', '-' or '/'")
        if check.ok() and not branches:
            check.fail(
                "branches",
                [],
                "at least one branch (the ref every deploy must run on, in an environment or not)",
            )
        check.instance("require_ref", require_ref, bool, "True or False")
        check.text("role_name_prefix", role_name_prefix, _ROLE_PREFIX, _ROLE_PREFIX_RULE)
        if provider is not None:
            check.one_of("provider", provider, PROVIDER_MODES)
        if existing_provider_arn is not None:
            check.text(
                "existing_provider_arn",
                existing_provider_arn,
                _PROVIDER_ARN,
                "the ARN of an IAM OIDC provider for token.actions.githubusercontent.com",
            )
            if provider not in (None, "existing"):
                check.fail(
                    "provider",
                    provider,
                    "'existing' or None with existing_provider_arn (they are mutually"
                    " exclusive with creating one)",
                )
        check.done()
        if provider is not None:
            return provider
        return "existing" if existing_provider_arn else "ensure"
