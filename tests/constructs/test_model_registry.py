"""ModelRegistry: the model package group, its cross-account policy and grants."""

from __future__ import annotations

import pytest
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template

from constructs_lib.errors import ConfigurationError
from constructs_lib.model_registry import IModelPackageGroup, ModelRegistry


def test_group_without_readers_has_no_policy(stack):
    ModelRegistry(stack, "Registry", model_package_group_name="churn", description="d")
    t = Template.from_stack(stack)
    t.has_resource(
        "AWS::SageMaker::ModelPackageGroup",
        {
            "Properties": {
                "ModelPackageGroupName": "churn",
                "ModelPackageGroupDescription": "d",
                "ModelPackageGroupPolicy": Match.absent(),
            },
            "DeletionPolicy": "Retain",
        },
    )


def test_reader_accounts_get_read_only_resource_policy(stack):
    ModelRegistry(
        stack, "Registry", model_package_group_name="churn", reader_accounts=["222222222222"]
    )
    group = Template.from_stack(stack).find_resources("AWS::SageMaker::ModelPackageGroup")
    (resource,) = group.values()
    policy = stack.resolve(resource["Properties"]["ModelPackageGroupPolicy"])
    actions = sorted(
        a
        for s in policy["Statement"]
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    )
    assert actions == [
        "sagemaker:CreateModel",
        "sagemaker:DescribeModelPackage",
        "sagemaker:DescribeModelPackageGroup",
        "sagemaker:ListModelPackages",
    ]
    principals = {str(s["Principal"]) for s in policy["Statement"]}
    assert all("222222222222" in p for p in principals)
    resources = [s["Resource"] for s in policy["Statement"]]
    assert resources == [
        "arn:aws:sagemaker:eu-west-1:111111111111:model-package-group/churn",
        "arn:aws:sagemaker:eu-west-1:111111111111:model-package/churn/*",
    ]


def test_package_arn_is_built_without_lookup_and_lower_cased(stack):
    registry = ModelRegistry(stack, "Registry", model_package_group_name="Churn-Model")
    assert (
        stack.resolve(registry.package_arn(7))
        == "arn:aws:sagemaker:eu-west-1:111111111111:model-package/churn-model/7"
    )


@pytest.mark.parametrize("version", [0, -1, True])
def test_package_arn_rejects_non_positive_versions(stack, version):
    registry = ModelRegistry(stack, "Registry", model_package_group_name="churn")
    with pytest.raises(ConfigurationError, match="version: got"):
        registry.package_arn(version)


def test_bad_group_name_names_prop_and_value(stack):
    with pytest.raises(ConfigurationError, match=r"model_package_group_name: got 'bad_name'"):
        ModelRegistry(stack, "Registry", model_package_group_name="bad_name")


def test_bad_reader_account_names_prop_and_value(stack):
    with pytest.raises(ConfigurationError, match=r"reader_accounts: got \['123'\]"):
        ModelRegistry(stack, "Registry", model_package_group_name="g", reader_accounts=["123"])


@pytest.mark.parametrize(
    ("grant", "action"),
    [
        ("grant_register", "sagemaker:CreateModelPackage"),
        ("grant_approve", "sagemaker:UpdateModelPackage"),
        ("grant_read", "sagemaker:DescribeModelPackage"),
    ],
)
def test_grants_are_scoped_to_the_group(stack, grant, action):
    registry = ModelRegistry(stack, "Registry", model_package_group_name="churn")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    getattr(registry, grant)(role)
    (policy,) = Template.from_stack(stack).find_resources("AWS::IAM::Policy").values()
    statement, *listing = policy["Properties"]["PolicyDocument"]["Statement"]
    assert action in statement["Action"]
    # ListModelPackages has no resource-level permissions: its own statement on "*".
    assert listing == (
        []
        if grant == "grant_register"
        else [{"Action": "sagemaker:ListModelPackages", "Effect": "Allow", "Resource": "*"}]
    )
    assert "sagemaker:UpdateModelPackage" not in statement["Action"] or grant == "grant_approve"
    assert "arn:aws:sagemaker:eu-west-1:111111111111:model-package/churn/*" in statement["Resource"]
    assert {"Fn::GetAtt": ["Registry4DB9CCA5", "ModelPackageGroupArn"]} in statement["Resource"]


def test_created_and_imported_groups_are_model_package_groups(stack):
    created = ModelRegistry(stack, "Registry", model_package_group_name="churn")
    imported = ModelRegistry.from_model_package_group_name(stack, "Imported", "churn")
    assert isinstance(created, IModelPackageGroup) and isinstance(imported, IModelPackageGroup)
    assert created.node.default_child is created.resource


def test_imported_group_builds_its_arns_without_lookup(stack):
    group = ModelRegistry.from_model_package_group_name(
        stack, "Group", "House-Prices", account="222222222222", region="us-east-1"
    )
    assert group.model_package_group_name == "House-Prices"
    assert stack.resolve(group.model_package_group_arn) == (
        "arn:aws:sagemaker:us-east-1:222222222222:model-package-group/house-prices"
    )
    assert stack.resolve(group.package_arn(3)) == (
        "arn:aws:sagemaker:us-east-1:222222222222:model-package/house-prices/3"
    )
    same_account = ModelRegistry.from_model_package_group_name(stack, "Here", "churn")
    assert stack.resolve(same_account.package_arn()) == (
        "arn:aws:sagemaker:eu-west-1:111111111111:model-package/churn/*"
    )


def test_imported_group_grants_are_scoped_to_it(stack):
    group = ModelRegistry.from_model_package_group_name(stack, "Group", "churn")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    grant = group.grant_approve(role)
    assert isinstance(grant, iam.Grant)
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": Match.array_with(["sagemaker:UpdateModelPackage"]),
                                "Resource": [
                                    "arn:aws:sagemaker:eu-west-1:111111111111:"
                                    "model-package-group/churn",
                                    "arn:aws:sagemaker:eu-west-1:111111111111:"
                                    "model-package/churn/*",
                                ],
                            }
                        )
                    ]
                )
            }
        },
    )


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        (
            "bad_name",
            {},
            "ModelRegistry.from_model_package_group_name model_package_group_name: got"
            " 'bad_name'; allowed 1-63",
        ),
        ("g", {"account": "123"}, "from_model_package_group_name account: got '123'"),
        ("g", {"region": "europe"}, "from_model_package_group_name region: got 'europe'"),
    ],
)
def test_bad_import_names_prop_and_value(stack, name, kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        ModelRegistry.from_model_package_group_name(stack, "Group", name, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"description": "x" * 1025}, "ModelRegistry description: got 'x+'; allowed at most 1024"),
        (
            {"removal_policy": "retain"},
            "ModelRegistry removal_policy: got a str 'retain'; allowed a RemovalPolicy",
        ),
        ({"reader_accounts": "222222222222"}, "ModelRegistry reader_accounts: got a str"),
    ],
)
def test_bad_registry_props_name_prop_and_value(stack, kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        ModelRegistry(stack, "Registry", model_package_group_name="g", **kwargs)
