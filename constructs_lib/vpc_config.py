"""`VpcConfig`: the subnets and security groups SageMaker jobs, monitors and models run in.

One value class for `SageMakerPipeline`, `DataQualityMonitor` and `RegisteredModel`, as
aws-cdk-lib constructs take `vpc_subnets`/`security_groups`: subnets and groups as
`ec2.ISubnet`/`ec2.ISecurityGroup` (a VPC built in the app, or imported by id with
`ec2.Subnet.from_subnet_id`), or their ids as text. No VPC lookup happens at synth.

Limits (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_VpcConfig.html):
1-16 subnets and 1-5 security groups, ids in the formats CloudFormation validates
(`AWS::EC2::Subnet.Id`, `AWS::EC2::SecurityGroup.Id`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Stack, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_lib._nag import Finding, wildcard_resource
from constructs_lib._validate import Checks, Shown, typed

SUBNET_ID = re.compile(r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$")
SECURITY_GROUP_ID = re.compile(r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$")
MAX_SUBNETS = 16
MAX_SECURITY_GROUPS = 5

NETWORK_INTERFACE_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface",
    "ec2:DeleteNetworkInterfacePermission",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
)
"""What SageMaker documents an execution role needs for jobs and models in a VPC."""
_UNSCOPED_ACTIONS = (
    "ec2:DeleteNetworkInterfacePermission",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
)


@dataclass(frozen=True, kw_only=True)
class VpcConfig:
    """Subnets and security groups SageMaker places the containers' network interfaces in.

    Example::

        VpcConfig(subnets=vpc.private_subnets, security_groups=[group])
        VpcConfig(subnets=["subnet-0123456789abcdef0"], security_groups=["sg-0123456789abcdef0"])
    """

    subnets: Sequence[ec2.ISubnet | str]
    """Private subnets: `ec2.ISubnet`s or subnet ids (`subnet-` and 8 or 17 hex digits),
    1 to 16. Required."""
    security_groups: Sequence[ec2.ISecurityGroup | str]
    """Security groups: `ec2.ISecurityGroup`s or ids (`sg-` and 8 or 17 hex digits), 1 to
    5. Required."""

    def __post_init__(self) -> None:
        check = Checks("VpcConfig")
        _check_ids(check, "subnets", self.subnets, "subnet_id", SUBNET_ID, MAX_SUBNETS)
        _check_ids(
            check,
            "security_groups",
            self.security_groups,
            "security_group_id",
            SECURITY_GROUP_ID,
            MAX_SECURITY_GROUPS,
        )
        check.done()

    @property
    def subnet_ids(self) -> list[str]:
        """The subnets' ids (tokens for subnets built in the app)."""
        return [s if isinstance(s, str) else s.subnet_id for s in self.subnets]

    @property
    def security_group_ids(self) -> list[str]:
        """The security groups' ids (tokens for groups built in the app)."""
        return [g if isinstance(g, str) else g.security_group_id for g in self.security_groups]


def _check_ids(
    check: Checks,
    prop: str,
    values: Any,
    attribute: str,
    pattern: re.Pattern[str],
    most: int,
) -> None:
    kind = pattern.pattern[1:].split("-")[0]
    allowed = f"an ec2.{'ISubnet' if kind == 'subnet' else 'ISecurityGroup'} or {kind}-<8 or 17 hex digits>"
    if not isinstance(values, list | tuple):
        check.fail(prop, typed(values), f"a list of 1 to {most} (each {allowed})")
        return
    for index, value in enumerate(values):
        if isinstance(value, str):
            if not (Token.is_unresolved(value) or pattern.fullmatch(value)):
                check.fail(f"{prop}[{index}]", value, allowed)
        elif not hasattr(value, attribute):
            check.fail(f"{prop}[{index}]", typed(value), allowed)
    if not 1 <= len(values) <= most:
        check.fail(prop, Shown(f"{len(values)} items"), f"1 to {most}")


def vpc_config_ids(vpc: VpcConfig | Any) -> tuple[list[str], list[str]]:
    """(subnet ids, security group ids) of a `VpcConfig` or a legacy `ModelVpc`."""
    if isinstance(vpc, VpcConfig):
        return vpc.subnet_ids, vpc.security_group_ids
    return list(vpc.subnet_ids), list(vpc.security_group_ids)


def allow_network_interfaces(
    scope: Construct, role: iam.IRole, subnet_ids: Sequence[str], security_group_ids: Sequence[str]
) -> dict[str | Finding, str]:
    """Give `role` the network-interface permissions SageMaker documents for VPC jobs and
    models, scoped where EC2 allows; returns the cdk-nag findings to acknowledge.

    Creating an interface is limited to the given subnets and security groups; creating
    an attach permission for one, and deleting one, to interfaces in those subnets
    (`ec2:Subnet`). The describe calls and `DeleteNetworkInterfacePermission` (which acts
    on a permission id) support no resource-level scoping. Subnet ARNs take any account,
    so subnets shared from a network account (AWS RAM) work.
    """
    stack = Stack.of(scope)
    interfaces = stack.format_arn(service="ec2", resource="network-interface", resource_name="*")
    subnets = [
        stack.format_arn(service="ec2", account="*", resource="subnet", resource_name=s)
        for s in subnet_ids
    ]
    groups = [
        stack.format_arn(service="ec2", account="*", resource="security-group", resource_name=g)
        for g in security_group_ids
    ]
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["ec2:CreateNetworkInterface"], resources=[interfaces, *subnets, *groups]
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface"],
            resources=[interfaces],
            conditions={"ArnLike": {"ec2:Subnet": subnets}},
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=list(_UNSCOPED_ACTIONS), resources=["*"])
    )
    findings: dict[str | Finding, str] = {
        "AwsSolutions-IAM5[Resource::*]": "EC2 Describe* calls and"
        " DeleteNetworkInterfacePermission have no resource-level permissions (SageMaker"
        " needs them to place and remove the containers' network interfaces in the VPC).",
        wildcard_resource(scope, interfaces): "Network interfaces SageMaker creates for"
        " the jobs are named when created; creating, sharing and deleting them is limited"
        " to the configured subnets and security groups.",
    }
    for arn in [*subnets, *groups]:
        findings[wildcard_resource(scope, arn)] = (
            "The configured subnet or security group, in whichever account owns it (a VPC"
            " shared through AWS RAM belongs to the network account)."
        )
    return findings
