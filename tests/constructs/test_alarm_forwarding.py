"""AlarmForwarding: the rule to another account's bus, its role, queue and alarm."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Environment, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, ServerlessChecks

from constructs_lib.alarm_forwarding import AlarmForwarding
from constructs_lib.errors import ConfigurationError
from constructs_lib.notification_topic import NotificationTopic
from tests.app.test_templates import lint_errors
from tests.conftest import ACCOUNT, REGION, cdk_context

BUILD_ACCOUNT = "999999999999"


def alarm(stack: Stack, name: str = "Drift") -> cloudwatch.Alarm:
    return cloudwatch.Metric(
        namespace="aws/sagemaker/Endpoints/data-metrics",
        metric_name="feature_baseline_drift_age",
        dimensions_map={"Endpoint": "churn-prod", "MonitoringSchedule": "churn-prod-dq"},
    ).create_alarm(stack, name, threshold=0.2, evaluation_periods=1)


def forwarding(stack: Stack, **kwargs):  # type: ignore[no-untyped-def]
    kwargs.setdefault("alarms", [alarm(stack)])
    kwargs.setdefault("target_account", BUILD_ACCOUNT)
    return AlarmForwarding(stack, "Forward", **kwargs)


def test_rule_sends_alarms_entering_alarm_to_the_other_accounts_default_bus(stack):
    f = forwarding(stack)
    assert f.node.default_child is f.rule
    Template.from_stack(stack).has_resource_properties(
        "AWS::Events::Rule",
        {
            "Name": f.rule_name,
            "EventPattern": {
                "source": ["aws.cloudwatch"],
                "detail-type": ["CloudWatch Alarm State Change"],
                "resources": [{"Fn::GetAtt": [Match.string_like_regexp("^Drift"), "Arn"]}],
                "detail": {"state": {"value": ["ALARM"]}},
            },
            "Targets": [
                {
                    "Arn": f"arn:aws:events:{REGION}:{BUILD_ACCOUNT}:event-bus/default",
                    "Id": Match.any_value(),
                    "RoleArn": {"Fn::GetAtt": [Match.string_like_regexp("^ForwardRole"), "Arn"]},
                    "DeadLetterConfig": {"Arn": Match.any_value()},
                }
            ],
        },
    )


def test_role_is_trusted_by_this_rule_only_and_puts_on_one_bus(stack):
    f = forwarding(stack)
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    Match.object_like(
                        {
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Condition": {
                                "StringEquals": {"aws:SourceAccount": ACCOUNT},
                                "ArnEquals": {
                                    "aws:SourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/"
                                    f"{f.rule_name}"
                                },
                            },
                        }
                    )
                ]
            }
        },
    )
    t.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    {
                        "Action": "events:PutEvents",
                        "Effect": "Allow",
                        "Resource": f"arn:aws:events:{REGION}:{BUILD_ACCOUNT}:event-bus/default",
                    }
                ]
            }
        },
    )


def test_dead_letters_are_encrypted_and_alarm_the_topic(stack):
    topic = sns.Topic(stack, "Topic")
    forwarding(stack, topic=topic, target_region="eu-central-1")
    t = Template.from_stack(stack)
    t.has_resource_properties("AWS::SQS::Queue", {"KmsMasterKeyId": Match.any_value()})
    t.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    t.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmDescription": Match.string_like_regexp("did not reach the build account"),
            "AlarmActions": [{"Ref": Match.string_like_regexp("^Topic")}],
        },
    )
    (rule,) = t.find_resources("AWS::Events::Rule").values()
    assert rule["Properties"]["Targets"][0]["Arn"].startswith("arn:aws:events:eu-central-1:")
    # The queue takes only this rule's dead letters.
    (policy,) = t.find_resources("AWS::SQS::QueuePolicy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"][-1:]
    assert "aws:SourceArn" in json.dumps(statement["Condition"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alarms": []}, "alarms: got 0 alarms; allowed 1 to 20"),
        ({"alarms": "Drift"}, "alarms: got a str 'Drift'"),
        ({"alarms": ["Drift"]}, r"alarms\[0\]: got a str 'Drift'; allowed a cloudwatch.IAlarm"),
        ({"target_account": "1111"}, "target_account: got '1111'; allowed a 12-digit account"),
        ({"target_region": "europe"}, "target_region: got 'europe'; allowed an AWS region"),
        ({"key": "alias/x"}, "key: got a str 'alias/x'; allowed a kms.IKey"),
        ({"topic": "arn:aws:sns:eu-west-1:111111111111:t"}, "topic: got a str"),
    ],
)
def test_invalid_props(stack, kwargs, match):
    with pytest.raises(ConfigurationError, match=f"^AlarmForwarding .*{match}"):
        forwarding(stack, **kwargs)


def test_four_nag_packs_and_cfn_lint_are_clean(tmp_path):
    app = App(
        outdir=str(tmp_path), context={**cdk_context(), "@aws-cdk/core:validateTemplates": False}
    )
    stack = Stack(app, "Forwarding", env=Environment(account=ACCOUNT, region=REGION))
    topic = NotificationTopic(stack, "Topic", display_name="Alarms").topic
    acknowledged = alarm(stack)
    from aws_cdk import aws_cloudwatch_actions as cw_actions

    acknowledged.add_alarm_action(cw_actions.SnsAction(topic))
    AlarmForwarding(
        stack, "WithTopic", alarms=[acknowledged], target_account=BUILD_ACCOUNT, topic=topic
    )
    AlarmForwarding(stack, "WithoutTopic", alarms=[acknowledged], target_account=BUILD_ACCOUNT)
    Validations.of(app).add_plugins(
        AwsSolutionsChecks(app),
        NIST80053R5Checks(app),
        HIPAASecurityChecks(app),
        ServerlessChecks(app),
    )
    try:
        app.synth()
    except Exception:
        report = json.loads((tmp_path / "validation-report.json").read_text())
        found = sorted(
            {
                f"{v['ruleName']} {c['constructPath']}"
                for p in report["pluginReports"]
                for v in p["violations"]
                for c in v["violatingConstructs"]
            }
        )
        raise AssertionError("\n".join(found)) from None
    assert lint_errors(tmp_path / "Forwarding.template.json") == []
