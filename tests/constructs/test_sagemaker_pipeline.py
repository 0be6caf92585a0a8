"""SageMakerPipeline: definition sources, deploy-time values, S3 offload, role, grants, metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from constructs_lib import placeholders
from constructs_lib.artifact_store import ArtifactStore
from constructs_lib.errors import ConfigurationError
from constructs_lib.sagemaker_pipeline import SageMakerPipeline

IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"


def processing_definition(code: str = placeholders.step_source("prep")) -> dict:
    """A minimal but real processing-step definition using every placeholder."""
    return {
        "Version": "2020-12-01",
        "Parameters": [],
        "Steps": [
            {
                "Name": "Prep",
                "Type": "Processing",
                "Arguments": {
                    "RoleArn": placeholders.ROLE_ARN,
                    "AppSpecification": {"ImageUri": IMAGE},
                    "ProcessingInputs": [
                        {
                            "InputName": "code",
                            "S3Input": {
                                "S3Uri": code,
                                "LocalPath": "/opt/ml/processing/input/code",
                                "S3DataType": "S3Prefix",
                                "S3InputMode": "File",
                            },
                        }
                    ],
                    "ProcessingOutputConfig": {
                        "KmsKeyId": placeholders.KMS_KEY_ARN,
                        "Outputs": [
                            {
                                "OutputName": "out",
                                "S3Output": {
                                    "S3Uri": f"s3://{placeholders.BUCKET_NAME}/pipelines/p/out",
                                    "LocalPath": "/opt/ml/processing/output",
                                    "S3UploadMode": "EndOfJob",
                                },
                            }
                        ],
                    },
                    "ProcessingResources": {
                        "ClusterConfig": {
                            "InstanceCount": 1,
                            "InstanceType": "ml.m5.large",
                            "VolumeSizeInGB": 30,
                        }
                    },
                },
            }
        ],
    }


@pytest.fixture
def code(tmp_path: Path) -> Path:
    path = tmp_path / "prep.py"
    path.write_text("print('preprocess')\n")
    return path


@pytest.fixture
def store(stack):
    return ArtifactStore(stack, "Store")


def make(stack, store, code, **kwargs):
    kwargs.setdefault("definition", processing_definition())
    kwargs.setdefault("step_sources", {"prep": code})
    return SageMakerPipeline(
        stack, "Pipeline", pipeline_name="p", artifact_bucket=store.bucket, **kwargs
    )


def body(stack) -> str:
    """The definition body as CloudFormation will see it, intrinsics rendered as text."""
    (pipeline,) = Template.from_stack(stack).find_resources("AWS::SageMaker::Pipeline").values()
    return json.dumps(pipeline["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"])


def test_placeholders_become_cloudformation_values(stack, store, code):
    pipeline = make(stack, store, code)
    text = body(stack)
    assert "Token[" not in text
    assert placeholders.any_left(text) == []
    role_arn = json.dumps(stack.resolve(pipeline.role.role_arn))
    assert role_arn in text
    assert json.dumps(stack.resolve(store.bucket.bucket_name)) in text
    assert json.dumps(stack.resolve(store.key.key_arn)) in text
    asset = pipeline.step_source_assets["prep"]
    assert asset.s3_object_key.endswith(".py")
    assert "cdk-hnb659fds-assets-111111111111-eu-west-1" in text


@pytest.mark.parametrize("form", ["dict", "path", "str-path", "json-object", "dict-object"])
def test_every_definition_source_gives_the_same_body(stack, store, code, tmp_path, form):
    definition = processing_definition()
    path = tmp_path / "definition.json"
    path.write_text(json.dumps(definition))

    class Sdk:
        def __init__(self, value):
            self.value = value

        def definition(self):
            return self.value

    sources = {
        "dict": definition,
        "path": path,
        "str-path": str(path),
        "json-object": Sdk(json.dumps(definition)),
        "dict-object": Sdk(definition),
    }
    make(stack, store, code, definition=sources[form])
    expected = json.loads(json.dumps(definition))
    rendered = json.loads(json.dumps(stack.resolve(Template.from_stack(stack).to_json())))[
        "Resources"
    ]
    (pipeline,) = [r for r in rendered.values() if r["Type"] == "AWS::SageMaker::Pipeline"]
    parts = pipeline["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]["Fn::Join"][1]
    text = "".join(p if isinstance(p, str) else "X" for p in parts)
    assert [s["Name"] for s in json.loads(text)["Steps"]] == [s["Name"] for s in expected["Steps"]]
    assert (
        json.loads(text)["Steps"][0]["Arguments"]["AppSpecification"]
        == expected["Steps"][0]["Arguments"]["AppSpecification"]
    )


def test_definition_that_is_not_json_is_named(stack, store, code, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(ConfigurationError, match=r"broken.json is not valid JSON: line 1"):
        make(stack, store, code, definition=path)


def test_missing_definition_file_is_named(stack, store, code, tmp_path):
    with pytest.raises(ConfigurationError, match=r"cannot read .*nowhere.json"):
        make(stack, store, code, definition=tmp_path / "nowhere.json")


@pytest.mark.parametrize("definition", [{"Version": "2020-12-01"}, {"Steps": []}])
def test_definition_without_steps_is_rejected(stack, store, code, definition):
    with pytest.raises(ConfigurationError, match="has no steps"):
        make(stack, store, code, definition=definition)


def test_unsupported_definition_type_is_rejected(stack, store, code):
    with pytest.raises(ConfigurationError, match="got int; expected a dict"):
        make(stack, store, code, definition=42)


def test_missing_step_source_folder_is_named(stack, store, tmp_path):
    with pytest.raises(ConfigurationError, match=r"step_sources\['prep'\]: .*missing does not"):
        make(stack, store, None, step_sources={"prep": tmp_path / "missing"})


def test_step_source_used_but_not_given(stack, store, code):
    with pytest.raises(ConfigurationError, match=r"refers to \['prep'\] but step_sources"):
        make(stack, store, code, step_sources={})


def test_step_source_given_but_unused(stack, store, code):
    with pytest.raises(ConfigurationError, match=r"\['extra'\] not referenced"):
        make(stack, store, code, step_sources={"prep": code, "extra": code})


def test_bad_pipeline_name_is_named(stack, store, code):
    with pytest.raises(ConfigurationError, match="pipeline_name: got 'bad name'"):
        SageMakerPipeline(
            stack,
            "P",
            pipeline_name="bad name",
            definition=processing_definition(),
            artifact_bucket=store.bucket,
            step_sources={"prep": code},
        )


def test_kms_placeholder_without_any_key_is_rejected(stack, code):
    bucket = s3.Bucket(stack, "Plain", enforce_ssl=True)
    with pytest.raises(ConfigurationError, match="KMS_KEY_ARN but no kms_key"):
        SageMakerPipeline(
            stack,
            "P",
            pipeline_name="p",
            definition=processing_definition(),
            artifact_bucket=bucket,
            step_sources={"prep": code},
        )


def test_large_definition_goes_to_s3_under_a_content_key(stack, store, code):
    pipeline = make(stack, store, code, inline_size_limit=100)
    t = Template.from_stack(stack)
    key = pipeline.definition_s3_key
    assert key is not None
    assert key.startswith("pipelines/p/definitions/")
    assert key.endswith(".json")
    t.has_resource_properties(
        "AWS::SageMaker::Pipeline",
        {
            "PipelineDefinition": {
                "PipelineDefinitionS3Location": {"Bucket": Match.any_value(), "Key": key}
            }
        },
    )
    t.has_resource_properties(
        "Custom::CDKBucketDeployment",
        {"DestinationBucketKeyPrefix": "pipelines/p/definitions/", "Prune": False},
    )


def test_s3_key_changes_when_content_changes(code):
    from aws_cdk import App, Environment, Stack

    keys = []
    for instance_type in ("ml.m5.large", "ml.m5.xlarge"):
        stack = Stack(App(), "S", env=Environment(account="111111111111", region="eu-west-1"))
        definition = processing_definition()
        args = definition["Steps"][0]["Arguments"]
        args["ProcessingResources"]["ClusterConfig"]["InstanceType"] = instance_type
        pipeline = make(
            stack, ArtifactStore(stack, "Store"), code, definition=definition, inline_size_limit=1
        )
        keys.append(pipeline.definition_s3_key)
    assert keys[0] != keys[1]


def test_created_role_is_least_privilege(stack, store, code):
    pipeline = make(stack, store, code)
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    Match.object_like({"Principal": {"Service": "sagemaker.amazonaws.com"}})
                ]
            },
            "ManagedPolicyArns": Match.absent(),
        },
    )
    (policy,) = t.find_resources("AWS::IAM::Policy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]

    def statement_with(action):
        found = [s for s in statements if action in json.dumps(s["Action"])]
        assert found, action
        return found[0]

    jobs = statement_with("sagemaker:CreateProcessingJob")
    assert "processing-job/pipelines-*" in json.dumps(jobs["Resource"])
    assert "CreateTrainingJob" not in json.dumps(statements)  # no training step, no grant
    passrole = statement_with("iam:PassRole")
    assert passrole["Resource"] == stack.resolve(pipeline.role.role_arn)
    assert passrole["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }
    pull = statement_with("ecr:BatchGetImage")
    assert pull["Resource"] == (
        "arn:aws:ecr:eu-west-1:141502667606:repository/sagemaker-scikit-learn"
    )
    writes = statement_with("s3:PutObject")
    assert "/pipelines/p/*" in json.dumps(writes["Resource"])
    assert "kms:CreateGrant" in json.dumps(statements)


def test_given_role_is_used_as_is(stack, store, code):
    role = iam.Role.from_role_arn(stack, "Existing", "arn:aws:iam::111111111111:role/existing")
    pipeline = make(stack, store, code, role=role)
    t = Template.from_stack(stack)
    assert t.find_resources("AWS::IAM::Role") == {}
    assert "arn:aws:iam::111111111111:role/existing" in body(stack)
    assert pipeline.role is role


def test_grant_start_execution_names_the_pipeline(stack, store, code):
    pipeline = make(stack, store, code)
    grantee = iam.Role(stack, "Starter", assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"))
    pipeline.grant_start_execution(grantee)
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [stack.resolve(grantee.role_name)],
            "PolicyDocument": {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": [
                            "sagemaker:DescribePipeline",
                            "sagemaker:StartPipelineExecution",
                        ],
                        "Resource": "arn:aws:sagemaker:eu-west-1:111111111111:pipeline/p",
                    }
                ]
            },
        },
    )


def test_metrics_use_the_pipeline_namespace_and_dimension(stack, store, code):
    pipeline = make(stack, store, code)
    failed = pipeline.metric_executions_failed()
    assert failed.namespace == "AWS/Sagemaker/ModelBuildingPipeline"
    assert failed.metric_name == "ExecutionFailed"
    assert failed.dimensions == {"PipelineName": "p"}
    assert failed.statistic == "Sum"
    duration = pipeline.metric_execution_duration(statistic="p90")
    assert (duration.metric_name, duration.statistic) == ("ExecutionDuration", "p90")


def test_definition_method_returning_other_types_is_rejected(stack, store, code):
    class Broken:
        def definition(self):
            return 42

    with pytest.raises(ConfigurationError, match=r"Broken.definition\(\) returned int"):
        make(stack, store, code, definition=Broken())


def test_max_parallel_steps_must_be_positive(stack, store, code):
    with pytest.raises(ConfigurationError, match="max_parallel_execution_steps: got 0"):
        make(stack, store, code, max_parallel_execution_steps=0)


def test_definition_over_sagemaker_limit_is_rejected(stack, store, code):
    definition = processing_definition()
    definition["Steps"][0]["Description"] = "x" * 1_048_576
    with pytest.raises(ConfigurationError, match="SageMaker allows at most 1,048,576"):
        make(stack, store, code, definition=definition)


def test_bad_step_source_name_is_named():
    with pytest.raises(ConfigurationError, match="step source name 'a b' is not allowed"):
        placeholders.step_source("a b")
