"""One deploy environment's shared pieces: its artifact store and GitHub deploy access."""

from __future__ import annotations

from aws_cdk import Environment, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from config.settings import EnvironmentSettings, GitHubSettings
from constructs_lib._nag import acknowledge, wildcard_resource
from constructs_lib.artifact_store import ArtifactStore
from constructs_lib.github_deploy_access import GitHubDeployAccess
from stacks.build import removal_policy


def github_provider_owner(scope: Construct, account: str) -> Stack | None:
    """The stack of the app (constructed so far, in order) that gets GitHub's OIDC
    provider in `account`, if any: an account has one provider, so the app makes it in
    the first stack there and the others refer to it."""
    for child in scope.node.children:
        if (
            isinstance(child, Stack)
            and child.account == account
            and getattr(child, "owns_github_provider", False)
        ):
            return child
    return None


class EnvironmentStack(Stack):
    """`mlops-<environment>`: what every model served in one environment shares.

    One artifact store (captured requests and monitoring reports, each model under its
    endpoint's prefixes), because buckets are an account-wide quota and one key and
    policy are simpler to audit than one per model; GitHub's OIDC provider and the
    environment's deploy role, because an account has one provider and the workflow
    deploys the environment as a whole. Model stacks reference the store explicitly.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        settings: EnvironmentSettings,
        github: GitHubSettings | None,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=Environment(account=settings.account, region=settings.region),
            description=f"SageMaker MLOps {name}, shared by its models: artifact store,"
            " GitHub deploy access",
        )
        self.environment_name = name
        self.artifacts = ArtifactStore(
            self, "Artifacts", removal_policy=removal_policy(settings.removal_policy)
        )
        self.messaging_key = kms.Key(
            self,
            "MessagingKey",
            enable_key_rotation=True,
            description=f"SageMaker MLOps {name}: alarm topics and dead-letter queues",
            removal_policy=removal_policy(settings.removal_policy),
        )
        """Encrypts what the models served here send (alarm topics, forwarded alarms'
        dead-letter queues): the store's key stays for stored data only."""
        self.owns_github_provider = False
        """Whether this stack gets the account's GitHub OIDC provider."""
        if github is not None:
            # One provider per account: an earlier stack of the app in this account
            # gets it, this one trusts it at its fixed ARN and deploys after that stack.
            owner = github_provider_owner(scope, settings.account)
            if owner is not None:
                self.add_stack_dependency(owner, "GitHub's OIDC provider of this account")
            mode = "existing" if owner is not None else github.oidc_provider
            self.owns_github_provider = mode != "existing"
            # Only jobs running in the GitHub environment of the same name, on a deploy
            # branch, may deploy here; give that environment required reviewers for prod.
            self.github = GitHubDeployAccess(
                self,
                "GitHub",
                repository=github.repository,
                branches=github.deploy_branches,
                environments=[name],
                require_ref=github.require_ref,
                provider=mode,
                role_name_prefix=f"mlops-github-{name}",
            )
            # The deploy workflow's smoke test invokes every endpoint served here with
            # this role: one statement for all models (a statement per model would fill
            # IAM's 10,240-character limit of a role's inline policies at ~30 models).
            endpoints = self.format_arn(service="sagemaker", resource="endpoint", resource_name="*")
            self.github.deploy_role.add_to_principal_policy(
                iam.PolicyStatement(actions=["sagemaker:InvokeEndpoint"], resources=[endpoints])
            )
            acknowledge(
                self.github.deploy_role,
                {
                    wildcard_resource(self, endpoints): "The smoke test invokes every"
                    " endpoint of this environment; endpoints come and go with the models"
                    " pinned here.",
                },
            )
