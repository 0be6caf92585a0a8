"""RegisteredModel: pinned package, isolation, least-privilege role, checks, grants."""

from __future__ import annotations

import json

import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template

from constructs_lib.errors import ConfigurationError
from constructs_lib.registered_model import ModelVpc
from tests.constructs.serving import PACKAGE_ARN, model

SUBNET, GROUP = "subnet-0123456789abcdef0", "sg-0123456789abcdef0"


def test_model_serves_the_pinned_package_in_isolation(stack):
    m = model(stack)
    Template.from_stack(stack).has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "PrimaryContainer": {"ModelPackageName": PACKAGE_ARN},
            "EnableNetworkIsolation": True,
            "VpcConfig": Match.absent(),
            "ModelName": Match.absent(),
        },
    )
    assert m.node.default_child is m.resource


def test_vpc_from_settings(stack):
    model(stack, vpc=ModelVpc(subnet_ids=[SUBNET], security_group_ids=[GROUP]))
    Template.from_stack(stack).has_resource_properties(
        "AWS::SageMaker::Model",
        {"VpcConfig": {"Subnets": [SUBNET], "SecurityGroupIds": [GROUP]}},
    )


def test_vpc_of_subnet_and_group_constructs_gets_network_interface_permissions(stack):
    from aws_cdk import aws_ec2 as ec2

    from constructs_lib.vpc_config import VpcConfig

    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=0, subnet_configuration=[
        ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
    ])  # fmt: skip
    group = ec2.SecurityGroup(stack, "Group", vpc=vpc)
    m = model(stack, vpc=VpcConfig(subnets=vpc.isolated_subnets, security_groups=[group]))
    assert m.vpc is not None and len(m.vpc.subnet_ids) == 2
    t = Template.from_stack(stack)
    (resource,) = t.find_resources("AWS::SageMaker::Model").values()
    config = resource["Properties"]["VpcConfig"]
    assert [s["Ref"] for s in config["Subnets"]] == [
        stack.resolve(s.subnet_id)["Ref"] for s in vpc.isolated_subnets
    ]
    assert config["SecurityGroupIds"] == [stack.resolve(group.security_group_id)]
    statements = [
        s
        for p in t.find_resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    (create,) = [s for s in statements if s["Action"] == "ec2:CreateNetworkInterface"]
    assert json.dumps(stack.resolve(group.security_group_id)) in json.dumps(create["Resource"])
    (manage,) = [s for s in statements if "ec2:DeleteNetworkInterface" in s["Action"]]
    assert len(manage["Condition"]["ArnLike"]["ec2:Subnet"]) == 2


def test_model_vpc_is_still_accepted_and_becomes_a_vpc_config(stack):
    from constructs_lib.vpc_config import VpcConfig

    m = model(stack, vpc=ModelVpc(subnet_ids=[SUBNET], security_group_ids=[GROUP]))
    assert m.vpc == VpcConfig(subnets=[SUBNET], security_groups=[GROUP])


def test_vpc_config_counts_and_ids_are_checked():
    from constructs_lib.vpc_config import VpcConfig

    with pytest.raises(
        ConfigurationError,
        match=r"VpcConfig subnets: got 17 items; allowed 1 to 16; security_groups\[0\]: got"
        r" 'sg-1'; allowed an ec2.ISecurityGroup or sg-<8 or 17 hex digits>",
    ):
        VpcConfig(subnets=[SUBNET] * 17, security_groups=["sg-1"])


def test_vpc_config_needs_lists_of_subnets_or_ids():
    from constructs_lib.vpc_config import VpcConfig

    with pytest.raises(
        ConfigurationError,
        match=r"VpcConfig subnets: got a str .*; allowed a list of 1 to 16 \(each an ec2.ISubnet"
        r" or subnet-<8 or 17 hex digits>\); security_groups\[0\]: got an int 5",
    ):
        VpcConfig(subnets=SUBNET, security_groups=[5])  # type: ignore[arg-type]


def test_vpc_needs_subnets_and_groups():
    with pytest.raises(
        ConfigurationError, match=r"ModelVpc subnet_ids: got \[\]; allowed 1 to 16 ids"
    ):
        ModelVpc(subnet_ids=[], security_group_ids=[GROUP])


def test_vpc_ids_are_checked():
    with pytest.raises(
        ConfigurationError,
        match=r"ModelVpc security_group_ids: got \['sg-1'\]; allowed each sg-<8 or 17 hex",
    ):
        ModelVpc(subnet_ids=[SUBNET], security_group_ids=["sg-1"])


def test_vpc_ids_must_be_a_list():
    with pytest.raises(ConfigurationError, match="ModelVpc subnet_ids: got a str"):
        ModelVpc(subnet_ids=SUBNET, security_group_ids=[GROUP])


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:sagemaker:eu-west-1:111111111111:model-package/churn/0",
        "arn:aws:sagemaker:eu-west-1:111111111111:model-package-group/churn",
        "churn/7",
    ],
)
def test_bad_package_arn_is_named(stack, arn):
    with pytest.raises(ConfigurationError, match="RegisteredModel model_package_arn: got"):
        model(stack, model_package_arn=arn)


@pytest.mark.parametrize("prefix", ["pipelines/churn", "/pipelines/churn/", "pipelines/*"])
def test_artifact_prefix_must_be_a_folder(stack, prefix):
    from constructs_lib.registered_model import RegisteredModel
    from tests.constructs.serving import build_bucket

    with pytest.raises(ConfigurationError, match="RegisteredModel artifact_prefix: got"):
        RegisteredModel(
            stack,
            "Model",
            model_package_arn=PACKAGE_ARN,
            artifact_bucket=build_bucket(stack),
            artifact_prefix=prefix,
        )


def test_artifact_bucket_must_be_a_bucket(stack):
    from constructs_lib.registered_model import RegisteredModel

    with pytest.raises(ConfigurationError, match="RegisteredModel artifact_bucket: got a str"):
        RegisteredModel(
            stack,
            "Model",
            model_package_arn=PACKAGE_ARN,
            artifact_bucket="my-bucket",  # type: ignore[arg-type]
            artifact_prefix="pipelines/churn/",
        )


def test_network_isolation_must_be_a_bool(stack):
    with pytest.raises(ConfigurationError, match="RegisteredModel network_isolation: got a str"):
        model(stack, network_isolation="yes")


def test_image_repositories_must_be_ecr_arns(stack):
    with pytest.raises(ConfigurationError, match="RegisteredModel image_repository_arns: got"):
        model(stack, image_repository_arns=["sagemaker-scikit-learn"])


def test_role_reads_only_artifacts_and_decrypts(stack):
    model(
        stack,
        image_repository_arns=[
            "arn:aws:ecr:eu-west-1:141502667606:repository/sagemaker-scikit-learn"
        ],
    )
    (policy,) = Template.from_stack(stack).find_resources("AWS::IAM::Policy").values()
    text = json.dumps(policy["Properties"]["PolicyDocument"])
    assert "mlops-artifacts-111111111111-eu-west-1/pipelines/churn/*" in text
    assert "s3:PutObject" not in text
    assert "kms:Decrypt" in text
    assert "repository/sagemaker-scikit-learn" in text
    assert "/aws/sagemaker/Endpoints/*" in text


def test_grant_describe_alarms_returns_a_grant_on_those_alarms(stack):
    m = model(stack)
    alarm = cloudwatch.Alarm(
        stack,
        "A",
        metric=cloudwatch.Metric(namespace="AWS/SageMaker", metric_name="Invocations"),
        threshold=1,
        evaluation_periods=1,
    )
    grant = m.grant_describe_alarms([alarm.alarm_arn])
    assert isinstance(grant, iam.Grant)
    assert grant.success
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": "cloudwatch:DescribeAlarms",
                                "Resource": {"Fn::GetAtt": [Match.string_like_regexp("^A"), "Arn"]},
                            }
                        )
                    ]
                )
            }
        },
    )
