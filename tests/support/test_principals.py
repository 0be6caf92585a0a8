"""The confused-deputy check itself: it catches an unconditioned service principal."""

from __future__ import annotations

from typing import Any

from tests.support.principals import service_grants, unconditioned

ACCOUNT = "111111111111"


def role(condition: dict[str, Any] | None = None, service: str = "sagemaker.amazonaws.com"):  # type: ignore[no-untyped-def]
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if condition:
        statement["Condition"] = condition
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {"AssumeRolePolicyDocument": {"Statement": [statement]}},
    }


def check(**resources: Any) -> list[str]:
    template = {"Resources": resources}
    return unconditioned(service_grants(template, "s"), ACCOUNT, template)


def test_a_new_unconditioned_principal_is_reported() -> None:
    assert check(R=role()) == ["s/R (AWS::IAM::Role) -> sagemaker.amazonaws.com"]


def test_a_source_of_another_account_does_not_count() -> None:
    other = {"ArnLike": {"aws:SourceArn": "arn:aws:sagemaker:eu-west-1:999999999999:*"}}
    assert check(R=role(other)) != []


def test_a_source_naming_this_account_or_a_local_resource_counts() -> None:
    own = {"ArnLike": {"aws:SourceArn": f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:*"}}
    permission = {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "Principal": "events.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": ["Rule", "Arn"]},
        },
    }
    assert check(R=role(own), P=permission, Rule={"Type": "AWS::Events::Rule"}) == []


def test_documented_impossibilities_are_excused_and_nothing_else() -> None:
    topic_policy = {
        "Type": "AWS::SNS::TopicPolicy",
        "Properties": {
            "PolicyDocument": {
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}},
                    {"Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"}},
                ]
            }
        },
    }
    assert check(T=topic_policy) == ["s/T (AWS::SNS::TopicPolicy) -> cloudwatch.amazonaws.com"]
    assert check(L=role(service="lambda.amazonaws.com")) == []
