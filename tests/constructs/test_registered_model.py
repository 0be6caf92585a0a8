"""RegisteredModel: pinned package, isolation, least-privilege role."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from constructs_lib.errors import ConfigurationError
from constructs_lib.registered_model import ModelVpc
from tests.constructs.serving import PACKAGE_ARN, model


def test_model_serves_the_pinned_package_in_isolation(stack):
    model(stack)
    Template.from_stack(stack).has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "PrimaryContainer": {"ModelPackageName": PACKAGE_ARN},
            "EnableNetworkIsolation": True,
            "VpcConfig": Match.absent(),
            "ModelName": Match.absent(),
        },
    )


def test_vpc_from_settings(stack):
    model(stack, vpc=ModelVpc(subnet_ids=["subnet-1"], security_group_ids=["sg-1"]))
    Template.from_stack(stack).has_resource_properties(
        "AWS::SageMaker::Model",
        {"VpcConfig": {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}},
    )


def test_vpc_needs_subnets_and_groups():
    with pytest.raises(ConfigurationError, match="ModelVpc: got subnet_ids=\\[\\]"):
        ModelVpc(subnet_ids=[], security_group_ids=["sg-1"])


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:sagemaker:eu-west-1:111111111111:model-package/churn/0",
        "arn:aws:sagemaker:eu-west-1:111111111111:model-package-group/churn",
        "churn/7",
    ],
)
def test_bad_package_arn_is_named(stack, arn):
    with pytest.raises(ConfigurationError, match="model_package_arn: got"):
        model(stack, model_package_arn=arn)


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
