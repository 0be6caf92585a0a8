"""ModelBiasMonitor and ModelExplainabilityMonitor: analysis config, jobs, alarms,
validation; and all new monitors under the four cdk-nag packs and cfn-lint."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Environment, Stack, Validations
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, ServerlessChecks

from constructs_lib.artifact_store import ArtifactStore
from constructs_lib.clarify_monitors import (
    BIAS_NAMESPACE,
    EXPLAINABILITY_NAMESPACE,
    BiasAnalysis,
    BiasFacet,
    ModelBiasMonitor,
    ModelExplainabilityMonitor,
    ShapAnalysis,
)
from constructs_lib.errors import ConfigurationError
from constructs_lib.metrics import MetricThreshold
from constructs_lib.model_quality_monitor import ModelQualityMonitor
from tests.app.test_templates import lint_errors
from tests.conftest import ACCOUNT, REGION, cdk_context
from tests.constructs.serving import PACKAGE_ARN, build_bucket, endpoint

IMAGE = "131013547314.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-clarify-processing:1.0"
ANALYSIS = BiasAnalysis(
    label="churn", label_values=[1], facets=[BiasFacet(name="age", values=[40])]
)
SHAP = ShapAnalysis(baseline=[[35, 50000]], headers=["age", "income"], num_samples=50)


def bias(stack, ep=None, **kwargs):
    ep = ep if ep is not None else endpoint(stack)
    store = ArtifactStore(stack, "BiasStore")
    kwargs.setdefault("analysis", ANALYSIS)
    kwargs.setdefault("probability_attribute", "0")
    kwargs.setdefault("start_time_offset", "-P2D")
    kwargs.setdefault("end_time_offset", "-P1D")
    kwargs.setdefault("image_uri", IMAGE)
    kwargs.setdefault("model_package_arn", PACKAGE_ARN)
    return ModelBiasMonitor(
        stack,
        "Bias",
        endpoint=ep,
        ground_truth_bucket=store.bucket,
        ground_truth_prefix="ground-truth/churn/",
        output_bucket=store.bucket,
        output_prefix="monitoring/bias/",
        baseline_bucket=build_bucket(stack),
        baseline_prefix="pipelines/churn/",
        kms_key=store.key,
        **kwargs,
    )


def explainability(stack, ep=None, **kwargs):
    ep = ep if ep is not None else endpoint(stack)
    store = ArtifactStore(stack, "ShapStore")
    kwargs.setdefault("analysis", SHAP)
    kwargs.setdefault("image_uri", IMAGE)
    kwargs.setdefault("model_package_arn", PACKAGE_ARN)
    return ModelExplainabilityMonitor(
        stack,
        "Explainability",
        endpoint=ep,
        model_name=ep.model.model_name,
        output_bucket=store.bucket,
        output_prefix="monitoring/shap/",
        baseline_bucket=build_bucket(stack),
        baseline_prefix="pipelines/churn/",
        kms_key=store.key,
        **kwargs,
    )


def put_object_body(template: Template) -> dict:
    for resource in template.find_resources("Custom::AWS").values():
        text = json.dumps(resource["Properties"]["Create"])
        if "putObject" in text:
            create = resource["Properties"]["Create"]
            parts = create["Fn::Join"][1] if isinstance(create, dict) else [create]
            joined = "".join(p if isinstance(p, str) else "<ref>" for p in parts)
            return json.loads(json.loads(joined)["parameters"]["Body"])
    raise AssertionError("no putObject custom resource")


def test_bias_analysis_config_is_written_at_deploy_time(stack):
    m = bias(stack)
    t = Template.from_stack(stack)
    assert put_object_body(t) == {
        "label": "churn",
        "label_values_or_threshold": [1],
        "facet": [{"name_or_index": "age", "value_or_threshold": [40]}],
    }
    t.has_resource_properties(
        "AWS::SageMaker::ModelBiasJobDefinition",
        {
            "JobDefinitionName": m.job_definition_name,
            "ModelBiasAppSpecification": {
                "ImageUri": IMAGE,
                "ConfigUri": Match.any_value(),
                "Environment": {"publish_cloudwatch_metrics": "Enabled"},
            },
            "ModelBiasBaselineConfig": {
                "ConstraintsResource": {
                    "S3Uri": {
                        "Fn::GetAtt": [
                            Match.any_value(),
                            "ModelMetrics.Bias.PostTrainingReport.S3Uri",
                        ]
                    }
                }
            },
            "ModelBiasJobInput": {
                "EndpointInput": Match.object_like(
                    {
                        "ProbabilityAttribute": "0",
                        "StartTimeOffset": "-P2D",
                        "EndTimeOffset": "-P1D",
                    }
                ),
                "GroundTruthS3Input": Match.any_value(),
            },
            "NetworkConfig": {
                "EnableNetworkIsolation": True,
                "EnableInterContainerTrafficEncryption": True,
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": 1800},
        },
    )
    t.has_resource_properties(
        "AWS::SageMaker::MonitoringSchedule",
        {
            "MonitoringScheduleName": "churn-test-model-bias",
            "MonitoringScheduleConfig": Match.object_like({"MonitoringType": "ModelBias"}),
        },
    )


def test_bias_alarm_on_the_absolute_metric(stack):
    m = bias(stack)
    m.alarm("DPPL", facet="age", facet_value="40", label_value="1", maximum=0.1)
    Template.from_stack(stack).has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Threshold": 0.1,
            "ComparisonOperator": "GreaterThanThreshold",
            "Metrics": Match.array_with(
                [
                    Match.object_like({"Expression": "ABS(m)"}),
                    Match.object_like(
                        {
                            "MetricStat": Match.object_like(
                                {
                                    "Metric": Match.object_like(
                                        {
                                            "Namespace": BIAS_NAMESPACE,
                                            "MetricName": "bias_metric_DPPL",
                                        }
                                    )
                                }
                            )
                        }
                    ),
                ]
            ),
        },
    )


def test_explainability_uses_a_shadow_endpoint_and_no_isolation(stack):
    m = explainability(stack)
    t = Template.from_stack(stack)
    body = put_object_body(t)
    assert body["methods"]["shap"] == {
        "baseline": [[35, 50000]],
        "num_samples": 50,
        "agg_method": "mean_abs",
        "use_logit": False,
        "save_local_shap_values": False,
    }
    assert body["predictor"]["endpoint_name_prefix"] == "sm-clarify"
    assert body["headers"] == ["age", "income"]
    t.has_resource_properties(
        "AWS::SageMaker::ModelExplainabilityJobDefinition",
        {
            "JobDefinitionName": m.job_definition_name,
            "NetworkConfig": {
                "EnableNetworkIsolation": False,
                "EnableInterContainerTrafficEncryption": True,
            },
        },
    )
    policies = json.dumps(t.find_resources("AWS::IAM::Policy"))
    assert "endpoint/sm-clarify-*" in policies and "sagemaker:DeleteEndpoint" in policies


def test_explainability_alarm(stack):
    m = explainability(stack)
    m.alarm("age", maximum=0.4)
    Template.from_stack(stack).has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": EXPLAINABILITY_NAMESPACE,
            "MetricName": "feature_age",
            "Threshold": 0.4,
            "Dimensions": Match.array_with([{"Name": "ValueType", "Value": "GlobalShapValues"}]),
        },
    )


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: BiasFacet(name=""), "BiasFacet name: got ''"),
        (lambda: BiasFacet(name="age", values="40"), "BiasFacet values: got a str '40'"),
        (
            lambda: BiasAnalysis(label="c", label_values=[], facets=[BiasFacet(name="a")]),
            "label_values: got a list",
        ),
        (lambda: BiasAnalysis(label="c", label_values=[1], facets=["age"]), "facets: got a list"),
        (
            lambda: BiasAnalysis(
                label="c", label_values=[1], facets=[BiasFacet(name="a")], headers="a,b"
            ),
            "headers: got a str",
        ),
        (
            lambda: BiasAnalysis(
                label="c", label_values=[1], facets=[BiasFacet(name="a")], group_variable=3
            ),
            "group_variable: got an int 3",
        ),
        (
            lambda: ShapAnalysis(baseline="baseline.csv"),
            "ShapAnalysis baseline: got 'baseline.csv'",
        ),
        (lambda: ShapAnalysis(baseline=[]), "baseline: got a list"),
        (lambda: ShapAnalysis(baseline=[[1]], num_samples="100"), "num_samples: got a str '100'"),
        (lambda: ShapAnalysis(baseline=[[1]], agg_method="mean"), "agg_method: got 'mean'"),
        (lambda: ShapAnalysis(baseline=[[1]], use_logit="no"), "use_logit: got a str 'no'"),
        (
            lambda: ShapAnalysis(baseline=[[1]], content_type="text/plain"),
            "content_type: got 'text/plain'",
        ),
    ],
)
def test_invalid_value_classes(make, match):
    with pytest.raises(ConfigurationError, match=match):
        make()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"analysis": {"label": "churn"}}, "analysis: got a dict"),
        ({"probability_attribute": None}, "inference_attribute/probability_attribute: got None"),
        (
            {
                "probability_threshold": 0.5,
                "probability_attribute": None,
                "inference_attribute": "0",
            },
            "probability_threshold: got 0.5; allowed None without",
        ),
        (
            {"start_time_offset": "-P1D"},
            "start_time_offset: got '-P1D'; allowed an offset further back",
        ),
        ({"model_package_arn": None}, "model_package_arn/baseline_constraints_uri: got neither"),
        ({"features_attribute": 1}, "features_attribute: got an int 1"),
    ],
)
def test_invalid_bias_props(stack, kwargs, match):
    with pytest.raises(ConfigurationError, match=f"^ModelBiasMonitor .*{match}"):
        bias(stack, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"analysis": ShapAnalysis(baseline="s3://elsewhere/b.csv")},
            "analysis.baseline: got 's3://elsewhere/b.csv'",
        ),
        ({"shadow_instance_type": "large"}, "shadow_instance_type: got 'large'"),
        ({"schedule_expression": "cron(0 0 * * ? *)"}, "schedule_expression: got"),
    ],
)
def test_invalid_explainability_props(stack, kwargs, match):
    with pytest.raises(ConfigurationError, match=f"^ModelExplainabilityMonitor .*{match}"):
        explainability(stack, **kwargs)


def test_metric_bias_refuses_an_unknown_facet(stack):
    with pytest.raises(ConfigurationError, match="facet: got 'income'; allowed 'age'"):
        bias(stack).metric_bias("DPPL", facet="income", facet_value="1", label_value="1")


def test_all_monitors_pass_four_nag_packs_and_cfn_lint(tmp_path):
    """The three monitors and their custom resources, in one stack: zero unacknowledged
    findings under AwsSolutions, NIST 800-53 R5, HIPAA Security and Serverless, and no
    cfn-lint errors."""
    app = App(
        outdir=str(tmp_path), context={**cdk_context(), "@aws-cdk/core:validateTemplates": False}
    )
    stack = Stack(app, "Monitors", env=Environment(account=ACCOUNT, region=REGION))
    ep = endpoint(stack)
    store = ArtifactStore(stack, "QualityStore")
    quality = ModelQualityMonitor(
        stack,
        "Quality",
        endpoint=ep,
        problem_type="binary_classification",
        probability_attribute="0",
        probability_threshold=0.5,
        ground_truth_bucket=store.bucket,
        ground_truth_prefix="ground-truth/churn/",
        output_bucket=store.bucket,
        output_prefix="monitoring/quality/",
        baseline_bucket=build_bucket(stack),
        baseline_prefix="pipelines/churn/",
        model_package_arn=PACKAGE_ARN,
        start_time_offset="-P2D",
        end_time_offset="-P1D",
        kms_key=store.key,
    )
    quality.alarm(MetricThreshold(metric="auc", minimum=0.7))
    bias(stack, ep).alarm("DPPL", facet="age", facet_value="40", label_value="1", maximum=0.1)
    explainability(stack, ep).alarm("age", maximum=0.4)
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
    assert lint_errors(tmp_path / "Monitors.template.json") == []
