"""SageMakerPipeline: definition sources, deploy-time values, staged step code, S3 offload,
the role derived step type by step type, imports, grants, metrics."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Aws, Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match, Template

from constructs_lib import placeholders
from constructs_lib.artifact_store import ArtifactStore
from constructs_lib.errors import ConfigurationError
from constructs_lib.sagemaker_pipeline import SageMakerPipeline
from tests.support.staged_code import job_commands, missing_step_code, staged_objects

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


def pipeline_of(
    stack,
    store,
    *steps: dict,
    parameters: list | None = None,
    construct_id: str = "Pipeline",
    **kwargs,
):
    """A pipeline of hand-written `steps` (see STEP_TYPES) without step sources."""
    return SageMakerPipeline(
        stack,
        construct_id,
        pipeline_name="p",
        definition=definition_of(*steps, parameters=parameters),
        artifact_bucket=store.bucket,
        **kwargs,
    )


def rendered_definition(template: dict) -> dict[str, Any]:
    """The pipeline's definition from a synthesized template, references as 'X'."""
    (pipeline,) = [
        r for r in template["Resources"].values() if r["Type"] == "AWS::SageMaker::Pipeline"
    ]
    parts = pipeline["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]["Fn::Join"][1]
    return json.loads("".join(p if isinstance(p, str) else "X" for p in parts))


def test_placeholders_become_cloudformation_values(stack, store, code):
    pipeline = make(stack, store, code)
    text = body(stack)
    assert "Token[" not in text
    assert placeholders.any_left(text) == []
    role_arn = json.dumps(stack.resolve(pipeline.role.role_arn))
    assert role_arn in text
    assert json.dumps(stack.resolve(store.bucket.bucket_name)) in text
    assert json.dumps(stack.resolve(store.key.key_arn)) in text
    assert "cdk-hnb659fds-assets" not in text  # code is read from the artifact bucket


# -- step code --------------------------------------------------------------------------


def test_step_source_keeps_its_file_name_under_a_content_prefix(stack, store, code):
    pipeline = make(stack, store, code)
    digest = hashlib.sha256(b"prep.py\0" + code.read_bytes() + b"\0").hexdigest()[:16]
    key = f"pipelines/p/code/prep/{digest}/prep.py"
    assert stack.resolve(pipeline.step_source_urls["prep"]) == {
        "Fn::Join": ["", ["s3://", stack.resolve(store.bucket.bucket_name), f"/{key}"]]
    }
    assert f"/{key}" in body(stack)
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "Custom::CDKBucketDeployment",
        {
            "DestinationBucketName": stack.resolve(store.bucket.bucket_name),
            "DestinationBucketKeyPrefix": "pipelines/p/code/",
            "SourceObjectKeys": [pipeline.step_source_assets["prep"].s3_object_key],
            "Prune": False,
            "RetainOnDelete": True,
        },
    )
    (resource,) = t.find_resources("AWS::SageMaker::Pipeline").values()
    assert any(d.startswith("PipelineStepCode") for d in resource["DependsOn"])


def test_folder_source_leaves_out_vcs_environments_and_caches(stack, store, tmp_path):
    folder = tmp_path / "code"
    for name in (".git", ".venv", "node_modules", ".mypy_cache", ".ruff_cache", "__pycache__"):
        (folder / name).mkdir(parents=True)
        (folder / name / "x.py").write_text("")
    (folder / "run.py").write_text("print(1)\n")
    definition = processing_definition(placeholders.step_source("code") + "/")
    make(stack, store, None, definition=definition, step_sources={"code": folder})
    assembly = stack.node.root.synth()
    template = assembly.get_stack_by_name("Test").template
    objects = staged_objects(template, Path(assembly.directory))
    assert [k.split("/", 5)[-1] for k in objects] == ["run.py"]


def test_step_code_is_staged_in_a_folder_of_this_user(code):
    import os
    import tempfile

    from constructs_lib.sagemaker_pipeline import step_code_staging_folder

    folder = step_code_staging_folder()
    assert folder.parent == Path(tempfile.gettempdir())
    assert folder.name == f"cdk-step-code-{os.getuid()}"
    assert folder.stat().st_uid == os.getuid()


def test_step_code_changes_prefix_only_when_its_content_does(code):
    from aws_cdk import App, Environment, Stack

    urls = []
    for content in ("print(1)\n", "print(1)\n", "print(2)\n"):
        code.write_text(content)
        stack = Stack(App(), "S", env=Environment(account="111111111111", region="eu-west-1"))
        pipeline = make(stack, ArtifactStore(stack, "Store"), code)
        urls.append(stack.resolve(pipeline.step_source_urls["prep"])["Fn::Join"][1][-1])
    assert urls[0] == urls[1] != urls[2]


def test_every_step_source_shares_one_deployment(stack, store, tmp_path):
    sources = {}
    for name in ("a", "b", "c"):
        sources[name] = tmp_path / f"{name}.py"
        sources[name].write_text(f"print({name!r})\n")
    definition = processing_definition()
    inputs = definition["Steps"][0]["Arguments"]["ProcessingInputs"]
    inputs[0]["S3Input"]["S3Uri"] = placeholders.step_source("a")
    for name in ("b", "c"):
        inputs.append(
            json.loads(json.dumps(inputs[0]).replace("step-source/a", f"step-source/{name}"))
        )
        inputs[-1]["InputName"] = name
        inputs[-1]["S3Input"]["LocalPath"] = f"/opt/ml/processing/input/{name}"
    make(stack, store, None, definition=definition, step_sources=sources)
    t = Template.from_stack(stack)
    assert len(t.find_resources("Custom::CDKBucketDeployment")) == 1
    assert len(t.find_resources("AWS::Lambda::LayerVersion")) == 1


def test_pipeline_role_reads_code_only_under_its_own_prefix(stack, store, code):
    make(stack, store, code)
    policies = Template.from_stack(stack).find_resources("AWS::IAM::Policy")
    (policy,) = [p for k, p in policies.items() if k.startswith("PipelineRoleDefaultPolicy")]
    assert "cdk-hnb659fds-assets" not in json.dumps(policy)


def test_folder_source_becomes_a_prefix_and_keeps_its_layout(stack, store, tmp_path):
    folder = tmp_path / "src"
    (folder / "pkg").mkdir(parents=True)
    (folder / "run.py").write_text("import pkg\n")
    (folder / "pkg" / "__init__.py").write_text("")
    definition = processing_definition(placeholders.step_source("src") + "/")
    definition["Steps"][0]["Arguments"]["AppSpecification"]["ContainerEntrypoint"] = [
        "python3",
        "/opt/ml/processing/input/code/run.py",
    ]
    pipeline = make(stack, store, None, definition=definition, step_sources={"src": folder})
    url = stack.resolve(pipeline.step_source_urls["src"])["Fn::Join"][1][-1]
    assert url.endswith("/") and "//" not in body(stack).replace("s3://", "")
    assembly = stack.node.root.synth()
    template = assembly.get_stack_by_name("Test").template
    objects = staged_objects(template, Path(assembly.directory))
    assert sorted(k.split("/", 5)[-1] for k in objects) == ["pkg/__init__.py", "run.py"]
    assert missing_step_code(rendered_definition(template), objects) == []


def test_every_job_command_exists_in_the_staged_code(stack, store, tmp_path):
    """A hand-written definition: a processing script, a script-mode training archive."""
    script = tmp_path / "steps" / "prep.py"
    script.parent.mkdir()
    script.write_text("print('prep')\n")
    (script.parent / "other.py").write_text("print('not staged with prep')\n")
    archive = tmp_path / "sourcedir.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(script, arcname="train.py")
    definition = processing_definition()
    definition["Steps"][0]["Arguments"]["AppSpecification"]["ContainerEntrypoint"] = [
        "python3",
        "/opt/ml/processing/input/code/prep.py",
    ]
    definition["Steps"].append(
        training_step(
            HyperParameters={
                "sagemaker_program": "train.py",
                "sagemaker_submit_directory": placeholders.step_source("train"),
            }
        )
    )
    make(stack, store, None, definition=definition, step_sources={"prep": script, "train": archive})
    assembly = stack.node.root.synth()
    template = assembly.get_stack_by_name("Test").template
    objects = staged_objects(template, Path(assembly.directory))
    assert sorted(Path(k).name for k in objects) == ["prep.py", "sourcedir.tar.gz"]
    rendered = rendered_definition(template)
    assert [(s, c) for s, c, _ in job_commands(rendered, objects)] == [
        ("Prep", "/opt/ml/processing/input/code/prep.py"),
        ("Train", "train.py"),
    ]
    assert missing_step_code(rendered, objects) == []
    # ... and the check notices a command the staged code lacks.
    rendered["Steps"][0]["Arguments"]["AppSpecification"]["ContainerEntrypoint"][1] = (
        "/opt/ml/processing/input/code/other.py"
    )
    assert missing_step_code(rendered, objects) == ["Prep: /opt/ml/processing/input/code/other.py"]


def test_training_code_from_the_code_channel_is_found_in_the_staged_code(stack, store, tmp_path):
    """Network-isolated training: the archive arrives as the `code` channel and
    sagemaker_submit_directory names its path in the container."""
    script = tmp_path / "train.py"
    script.write_text("print('train')\n")
    archive = tmp_path / "sourcedir.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(script, arcname="train.py")
    train = training_step(
        HyperParameters={
            "sagemaker_program": "train.py",
            "sagemaker_submit_directory": "/opt/ml/input/data/code/sourcedir.tar.gz",
        },
        EnableNetworkIsolation=True,
        EnableInterContainerTrafficEncryption=True,
    )
    train["Arguments"]["InputDataConfig"].append(
        {
            "ChannelName": "code",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": placeholders.step_source("train"),
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
        }
    )
    make(stack, store, None, definition=definition_of(train), step_sources={"train": archive})
    assembly = stack.node.root.synth()
    template = assembly.get_stack_by_name("Test").template
    objects = staged_objects(template, Path(assembly.directory))
    rendered = rendered_definition(template)
    assert [(s, c) for s, c, _ in job_commands(rendered, objects)] == [("Train", "train.py")]
    assert missing_step_code(rendered, objects) == []
    # A path no channel delivers is noticed.
    rendered["Steps"][0]["Arguments"]["HyperParameters"]["sagemaker_submit_directory"] = (
        "/opt/ml/input/data/source/sourcedir.tar.gz"
    )
    assert missing_step_code(rendered, objects) == ["Train: train.py"]


# -- definition sources and errors ------------------------------------------------------


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
    with pytest.raises(
        ConfigurationError,
        match=r"definition: got definition file .*broken.json, which is not valid JSON: line 1",
    ):
        make(stack, store, code, definition=path)


def test_missing_definition_file_is_named(stack, store, code, tmp_path):
    with pytest.raises(
        ConfigurationError, match=r"definition: got .*nowhere.json, which cannot be read"
    ):
        make(stack, store, code, definition=tmp_path / "nowhere.json")


@pytest.mark.parametrize("definition", [{"Version": "2020-12-01"}, {"Steps": []}])
def test_definition_without_steps_is_rejected(stack, store, code, definition):
    with pytest.raises(
        ConfigurationError,
        match="which has no steps; allowed a JSON object with a non-empty 'Steps' list",
    ):
        make(stack, store, code, definition=definition)


def test_unsupported_definition_type_is_rejected(stack, store, code):
    with pytest.raises(
        ConfigurationError,
        match="definition: got a int 42; allowed a dict, the path of a JSON file",
    ):
        make(stack, store, code, definition=42)


def test_missing_step_source_folder_is_named(stack, store, tmp_path):
    with pytest.raises(
        ConfigurationError, match=r"step_sources\['prep'\]: got .*missing, which does not exist"
    ):
        make(stack, store, None, step_sources={"prep": tmp_path / "missing"})


def test_step_source_used_but_not_given(stack, store, code):
    with pytest.raises(
        ConfigurationError,
        match=r"step_sources: got \[\]; allowed every name the definition refers to: \['prep'\]",
    ):
        make(stack, store, code, step_sources={})


def test_step_source_given_but_unused(stack, store, code):
    with pytest.raises(
        ConfigurationError,
        match=r"step_sources: got \['extra', 'prep'\]; .* \['extra'\] are not referenced",
    ):
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
    with pytest.raises(
        ConfigurationError, match="kms_key: got none, and artifact_bucket has no encryption key"
    ):
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
    statements = role_statements(stack)

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
    roles = Template.from_stack(stack).find_resources("AWS::IAM::Role")
    assert [k for k in roles if k.startswith("Pipeline")] == []  # only BucketDeployment's
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

    with pytest.raises(ConfigurationError, match=r"got Broken.definition\(\), which returned int"):
        make(stack, store, code, definition=Broken())


def test_max_parallel_steps_must_be_positive(stack, store, code):
    with pytest.raises(ConfigurationError, match="max_parallel_execution_steps: got 0"):
        make(stack, store, code, max_parallel_execution_steps=0)


def test_definition_over_sagemaker_limit_is_rejected(stack, store, code):
    definition = processing_definition()
    definition["Steps"][0]["Description"] = "x" * 1_048_576
    with pytest.raises(
        ConfigurationError,
        match="definition: got 1,0[0-9,]+ characters; allowed at most 1,048,576",
    ):
        make(stack, store, code, definition=definition)


def test_bad_step_source_name_is_named():
    with pytest.raises(
        ConfigurationError, match="placeholders.step_source name: got 'a b'; allowed"
    ):
        placeholders.step_source("a b")


# -- the created role, step type by step type -------------------------------------------

ROLE = placeholders.ROLE_ARN
BUCKET = f"s3://{placeholders.BUCKET_NAME}"
SM = "arn:aws:sagemaker:eu-west-1:111111111111"
GET_MODEL_DATA = {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
RESOURCES = {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30}


def step(name: str, kind: str, arguments: dict, **fields) -> dict:
    return {"Name": name, "Type": kind, "Arguments": arguments, **fields}


def definition_of(*steps: dict, parameters: list | None = None) -> dict:
    return {"Version": "2020-12-01", "Parameters": parameters or [], "Steps": list(steps)}


def training_step(**overrides) -> dict:
    return step(
        "Train",
        "Training",
        {
            "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
            "OutputDataConfig": {"S3OutputPath": f"{BUCKET}/pipelines/p/training"},
            "ResourceConfig": RESOURCES,
            "RoleArn": ROLE,
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
            "InputDataConfig": [
                {
                    "ChannelName": "train",
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": {
                                "Std:Join": {
                                    "On": "/",
                                    "Values": [
                                        f"{BUCKET}/pipelines/p",
                                        {"Get": "Execution.PipelineExecutionId"},
                                        "train",
                                    ],
                                }
                            },
                        }
                    },
                }
            ],
            **overrides,
        },
    )


def check_step(kind: str) -> dict:
    """A QualityCheck or ClarifyCheck step: a processing job plus baseline settings."""
    arguments = processing_definition(code=f"{BUCKET}/pipelines/p/analysis/")["Steps"][0][
        "Arguments"
    ]
    return step(
        "Check",
        kind,
        arguments,
        CheckType="DATA_QUALITY",
        SkipCheck=False,
        RegisterNewBaseline=True,
    )


STEP_TYPES = {
    "Training": training_step(),
    "Tuning": step(
        "Tune",
        "Tuning",
        {
            "HyperParameterTuningJobConfig": {
                "Strategy": "Bayesian",
                "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2},
            },
            "TrainingJobDefinition": {
                "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
                "OutputDataConfig": {"S3OutputPath": f"{BUCKET}/pipelines/p/tuning"},
                "ResourceConfig": RESOURCES,
                "RoleArn": ROLE,
                "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
            },
        },
    ),
    "Transform": step(
        "Score",
        "Transform",
        {
            "ModelName": {"Get": "Steps.CreateModel.ModelName"},
            "TransformInput": {
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"{BUCKET}/pipelines/p/batch/",
                    }
                }
            },
            "TransformOutput": {"S3OutputPath": f"{BUCKET}/pipelines/p/scores/"},
            "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m5.large"},
        },
    ),
    "Model": step(
        "CreateModel",
        "Model",
        {
            "ExecutionRoleArn": ROLE,
            "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": GET_MODEL_DATA},
        },
    ),
    "RegisterModel": step(
        "Register",
        "RegisterModel",
        {
            "ModelPackageGroupName": "Churn",
            "InferenceSpecification": {
                "Containers": [{"Image": IMAGE, "ModelDataUrl": GET_MODEL_DATA}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            "ModelApprovalStatus": "PendingManualApproval",
        },
    ),
    "Lambda": step(
        "Notify",
        "Lambda",
        {"model": GET_MODEL_DATA},
        FunctionArn="arn:aws:lambda:eu-west-1:111111111111:function:notify",
        OutputParameters=[{"OutputName": "status", "OutputType": "String"}],
    ),
    "Callback": step(
        "Approve",
        "Callback",
        {"model": GET_MODEL_DATA},
        SqsQueueUrl="https://sqs.eu-west-1.amazonaws.com/111111111111/approvals",
        OutputParameters=[{"OutputName": "approved", "OutputType": "Boolean"}],
    ),
    "EMR": step(
        "Spark",
        "EMR",
        {
            "ClusterId": "j-1ABCDEFGHIJKL",
            "StepConfig": {
                "HadoopJarStep": {
                    "Jar": "command-runner.jar",
                    "Args": ["spark-submit", f"{BUCKET}/pipelines/p/emr/job.py"],
                }
            },
        },
    ),
    "AutoML": step(
        "AutoPilot",
        "AutoML",
        {
            "AutoMLJobConfig": {"CompletionCriteria": {"MaxCandidates": 3}},
            "InputDataConfig": [
                {
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": f"{BUCKET}/pipelines/p/automl/",
                        }
                    },
                    "TargetAttributeName": "y",
                }
            ],
            "OutputDataConfig": {"S3OutputPath": f"{BUCKET}/pipelines/p/automl-out/"},
            "RoleArn": ROLE,
        },
    ),
}


def role_statements(stack) -> list[dict]:
    policies = Template.from_stack(stack).find_resources("AWS::IAM::Policy")
    return [
        s
        for k, p in policies.items()
        if "RoleDefaultPolicy" in k and not k.startswith("Custom")
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def has_statement(stack, actions: list[str] | str, resource) -> None:
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_equals(
                            {"Action": actions, "Effect": "Allow", "Resource": resource}
                        )
                    ]
                )
            }
        },
    )


def allows(stack, action: str, resource) -> bool:
    """Whether a statement of the pipeline role allows `action` on `resource` (statements
    CDK merged included)."""

    def listed(value) -> list:
        return value if isinstance(value, list) else [value]

    return any(
        action in listed(s["Action"]) and resource in listed(s["Resource"])
        for s in role_statements(stack)
    )


def job_actions(job: str, *extra: str) -> list[str]:
    return sorted(
        [f"sagemaker:{v}{job}" for v in ("Create", "Describe", "Stop")]
        + ["sagemaker:AddTags", *(f"sagemaker:{e}" for e in extra)]
    )


@pytest.mark.parametrize(
    ("kind", "job", "resource"),
    [
        ("Training", "TrainingJob", "training-job"),
        ("Transform", "TransformJob", "transform-job"),
    ],
)
def test_job_steps_may_run_their_jobs_only(stack, store, kind, job, resource):
    pipeline_of(stack, store, STEP_TYPES[kind])
    has_statement(stack, job_actions(job), f"{SM}:{resource}/pipelines-*")
    assert "ProcessingJob" not in json.dumps(role_statements(stack))


def test_tuning_step_may_also_list_its_training_jobs(stack, store):
    # The service authorization reference scopes the list action to hyper-parameter-tuning-job.
    pipeline_of(stack, store, STEP_TYPES["Tuning"])
    has_statement(
        stack,
        job_actions("HyperParameterTuningJob", "ListTrainingJobsForHyperParameterTuningJob"),
        f"{SM}:hyper-parameter-tuning-job/pipelines-*",
    )


@pytest.mark.parametrize("kind", ["QualityCheck", "ClarifyCheck"])
def test_check_steps_run_processing_jobs(stack, store, kind):
    pipeline_of(stack, store, check_step(kind))
    has_statement(stack, job_actions("ProcessingJob"), f"{SM}:processing-job/pipelines-*")


@pytest.mark.parametrize(
    ("model", "hosted"),
    [({"Get": "Steps.CreateModel.ModelName"}, "pipelines-*"), ("Churn-Model", "churn-model")],
)
def test_clarify_check_with_a_model_may_host_it_on_a_shadow_endpoint_only(
    stack, store, model, hosted
):
    check = check_step("ClarifyCheck")
    check.update(CheckType="MODEL_BIAS", ModelName=model)
    pipeline_of(stack, store, check)
    for action in (
        "CreateEndpoint",
        "CreateEndpointConfig",
        "DeleteEndpoint",
        "DeleteEndpointConfig",
        "DescribeEndpoint",
        "InvokeEndpoint",
    ):
        for resource in ("endpoint/sm-clarify-*", "endpoint-config/sm-clarify-*"):
            assert allows(stack, f"sagemaker:{action}", f"{SM}:{resource}"), action
    assert not allows(stack, "sagemaker:CreateEndpoint", f"{SM}:endpoint/*")
    assert allows(stack, "sagemaker:DescribeModel", f"{SM}:model/{hosted}")


def test_clarify_check_without_a_model_hosts_nothing(stack, store):
    pipeline_of(stack, store, check_step("ClarifyCheck"))
    assert "sm-clarify" not in json.dumps(role_statements(stack))


def test_automl_step_may_run_automl_jobs(stack, store):
    pipeline_of(stack, store, STEP_TYPES["AutoML"])
    has_statement(
        stack,
        [
            "sagemaker:AddTags",
            "sagemaker:CreateAutoMLJob",
            "sagemaker:CreateAutoMLJobV2",
            "sagemaker:DescribeAutoMLJob",
            "sagemaker:DescribeAutoMLJobV2",
            "sagemaker:StopAutoMLJob",
        ],
        f"{SM}:automl-job/pipelines-*",
    )


def test_custom_job_name_prefix_is_granted_too(stack, store):
    pipeline_of(stack, store, training_step(TrainingJobName="Churn-Train"))
    has_statement(
        stack,
        job_actions("TrainingJob"),
        [f"{SM}:training-job/churn-train-*", f"{SM}:training-job/pipelines-*"],
    )


def test_model_step_may_create_pipeline_models(stack, store):
    pipeline_of(stack, store, STEP_TYPES["Model"])
    has_statement(
        stack,
        ["sagemaker:AddTags", "sagemaker:CreateModel", "sagemaker:DescribeModel"],
        f"{SM}:model/pipelines-*",
    )


def test_register_model_step_may_register_into_its_group_only(stack, store):
    pipeline_of(stack, store, STEP_TYPES["RegisterModel"])
    has_statement(
        stack,
        [
            "sagemaker:AddTags",
            "sagemaker:CreateModelPackage",
            "sagemaker:DescribeModelPackage",
            "sagemaker:DescribeModelPackageGroup",
        ],
        [f"{SM}:model-package-group/churn", f"{SM}:model-package/churn/*"],
    )


def test_register_model_group_from_a_parameter_uses_its_default(stack, store):
    register = json.loads(json.dumps(STEP_TYPES["RegisterModel"]))
    register["Arguments"]["ModelPackageGroupName"] = {"Get": "Parameters.Group"}
    pipeline_of(
        stack,
        store,
        register,
        parameters=[{"Name": "Group", "Type": "String", "DefaultValue": "fraud"}],
    )
    assert f"{SM}:model-package/fraud/*" in json.dumps(role_statements(stack))


def test_lambda_step_may_invoke_its_function_only(stack, store):
    pipeline_of(stack, store, STEP_TYPES["Lambda"])
    has_statement(
        stack, "lambda:InvokeFunction", "arn:aws:lambda:eu-west-1:111111111111:function:notify"
    )


def test_lambda_step_function_may_be_a_token(stack, store):
    from aws_cdk import aws_lambda as lambda_

    function = lambda_.Function.from_function_name(stack, "Fn", "notify")
    notify = json.loads(json.dumps(STEP_TYPES["Lambda"]))
    notify["FunctionArn"] = function.function_arn
    pipeline_of(stack, store, notify)
    has_statement(stack, "lambda:InvokeFunction", stack.resolve(function.function_arn))


def test_callback_step_may_send_to_its_queue_only(stack, store):
    pipeline_of(stack, store, STEP_TYPES["Callback"])
    has_statement(stack, "sqs:SendMessage", "arn:aws:sqs:eu-west-1:111111111111:approvals")


def test_callback_queue_known_at_deploy_time_must_be_listed(stack, store):
    queue = sqs.Queue(stack, "Approvals", enforce_ssl=True)
    approve = json.loads(json.dumps(STEP_TYPES["Callback"]))
    approve["SqsQueueUrl"] = queue.queue_url
    with pytest.raises(
        ConfigurationError,
        match=r"got queue '<Approvals[0-9A-F]+>' in step 'Approve' at Steps\[0\]\.SqsQueueUrl;"
        " allowed a literal queue URL, or a queue listed in callback_queues",
    ):
        pipeline_of(stack, store, approve)


def test_listed_callback_queue_is_granted_with_its_key(stack, store):
    key = kms.Key(stack, "QueueKey", enable_key_rotation=True)
    queue = sqs.Queue(stack, "Approvals", encryption_master_key=key, enforce_ssl=True)
    approve = json.loads(json.dumps(STEP_TYPES["Callback"]))
    approve["SqsQueueUrl"] = queue.queue_url
    pipeline_of(stack, store, approve, callback_queues=[queue])
    has_statement(
        stack,
        ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"],
        stack.resolve(queue.queue_arn),
    )
    assert allows(stack, "kms:GenerateDataKey*", stack.resolve(key.key_arn))


def test_listed_queue_matches_a_literal_url_too(stack, store):
    queue = sqs.Queue.from_queue_attributes(
        stack,
        "Approvals",
        queue_arn="arn:aws:sqs:eu-west-1:111111111111:approvals",
        key_arn="arn:aws:kms:eu-west-1:111111111111:key/abcd",
    )
    pipeline_of(stack, store, STEP_TYPES["Callback"], callback_queues=[queue])
    assert allows(stack, "kms:GenerateDataKey*", "arn:aws:kms:eu-west-1:111111111111:key/abcd")
    assert allows(stack, "sqs:SendMessage", "arn:aws:sqs:eu-west-1:111111111111:approvals")


def test_emr_step_may_manage_steps_on_its_cluster_only(stack, store):
    pipeline_of(stack, store, STEP_TYPES["EMR"])
    has_statement(
        stack,
        [
            "elasticmapreduce:AddJobFlowSteps",
            "elasticmapreduce:CancelSteps",
            "elasticmapreduce:DescribeStep",
        ],
        "arn:aws:elasticmapreduce:eu-west-1:111111111111:cluster/j-1ABCDEFGHIJKL",
    )
    has_statement(
        stack,
        ["events:DescribeRule", "events:PutRule", "events:PutTargets"],
        "arn:aws:events:eu-west-1:111111111111:rule/SageMakerPipelineExecutionEMRStepStatusUpdateRule",
    )


def test_emr_serverless_step_needs_its_role_in_pass_roles(stack, store):
    job_role = iam.Role.from_role_arn(stack, "JobRole", "arn:aws:iam::111111111111:role/emr-job")
    spark = step(
        "Spark",
        "EMRServerless",
        {
            "ApplicationId": "00fabc",
            "ExecutionRoleArn": job_role.role_arn,
            "JobConfig": {
                "executionRoleArn": job_role.role_arn,
                "jobDriver": {"sparkSubmit": {"entryPoint": f"{BUCKET}/pipelines/p/spark/job.py"}},
            },
        },
    )
    with pytest.raises(
        ConfigurationError,
        match=r"role 'arn:aws:iam::111111111111:role/emr-job' in step 'Spark' at Steps\[0\]\.Arguments\.ExecutionRoleArn",
    ):
        pipeline_of(stack, store, spark)
    pipeline_of(stack, store, spark, construct_id="Allowed", pass_roles=[job_role])
    app = "arn:aws:emr-serverless:eu-west-1:111111111111:/applications/00fabc"
    has_statement(
        stack,
        ["emr-serverless:CancelJobRun", "emr-serverless:GetJobRun", "emr-serverless:StartJobRun"],
        [app, f"{app}/jobruns/*"],
    )
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_equals(
                            {
                                "Action": "iam:PassRole",
                                "Condition": {
                                    "StringEquals": {
                                        "iam:PassedToService": "emr-serverless.amazonaws.com"
                                    }
                                },
                                "Effect": "Allow",
                                "Resource": "arn:aws:iam::111111111111:role/emr-job",
                            }
                        )
                    ]
                )
            }
        },
    )


def test_fail_and_nested_condition_steps_need_nothing_but_their_branches(stack, store):
    inner = step(
        "Inner",
        "Condition",
        {
            "Conditions": [{"Type": "Equals", "LeftValue": 1, "RightValue": 1}],
            "IfSteps": [STEP_TYPES["Lambda"]],
            "ElseSteps": [step("Stop", "Fail", {"ErrorMessage": "no"})],
        },
    )
    outer = step(
        "Outer",
        "Condition",
        {
            "Conditions": [{"Type": "Equals", "LeftValue": 1, "RightValue": 1}],
            "IfSteps": [inner],
            "ElseSteps": [],
        },
    )
    pipeline_of(stack, store, outer)
    actions = {
        a
        for s in role_statements(stack)
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert "lambda:InvokeFunction" in actions
    assert not any(a.startswith("sagemaker:") for a in actions)


def test_external_bucket_is_granted_the_prefixes_the_definition_names(stack, store):
    data = s3.Bucket.from_bucket_name(stack, "Data", "shared-data")
    train = training_step()
    train["Arguments"]["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = (
        "s3://shared-data/churn/train/"
    )
    train["Arguments"]["OutputDataConfig"]["S3OutputPath"] = "s3://shared-data/churn/models"
    with pytest.raises(
        ConfigurationError,
        match=r"bucket 'shared-data' in step 'Train' at Steps\[0\]\.Arguments\.OutputDataConfig\.S3OutputPath",
    ):
        pipeline_of(stack, store, train)
    pipeline_of(stack, store, train, construct_id="Allowed", external_buckets=[data])
    statements = json.dumps(role_statements(stack))
    assert "arn:aws:s3:::shared-data/churn/train/*" in statements
    writes = [s for s in role_statements(stack) if "s3:PutObject" in s["Action"]]
    assert any("arn:aws:s3:::shared-data/churn/models*" in json.dumps(s) for s in writes)
    assert not any("shared-data/churn/train/" in json.dumps(s) for s in writes)


def test_parameter_default_in_another_bucket_is_refused(stack, store):
    train = training_step()
    source = train["Arguments"]["InputDataConfig"][0]["DataSource"]["S3DataSource"]
    source["S3Uri"] = {"Get": "Parameters.InputData"}
    with pytest.raises(ConfigurationError, match=r"bucket 'elsewhere' in step 'Train'"):
        pipeline_of(
            stack,
            store,
            train,
            parameters=[
                {"Name": "InputData", "Type": "String", "DefaultValue": "s3://elsewhere/x/"}
            ],
        )


def test_artifact_bucket_key_outside_the_granted_prefixes_is_refused(stack, store):
    train = training_step()
    train["Arguments"]["OutputDataConfig"]["S3OutputPath"] = f"{BUCKET}/other-team/models"
    with pytest.raises(
        ConfigurationError,
        match=r"key 'other-team/models' of artifact_bucket in step 'Train' at Steps\[0\]\.Arguments\.OutputDataConfig\.S3OutputPath; allowed keys under artifact_prefix 'pipelines/p/'",
    ):
        pipeline_of(stack, store, train)


def test_other_role_in_a_definition_is_refused(stack, store):
    train = training_step(RoleArn="arn:aws:iam::111111111111:role/admin")
    with pytest.raises(
        ConfigurationError,
        match=r"SageMakerPipeline definition: got role 'arn:aws:iam::111111111111:role/admin' in step 'Train' at Steps\[0\]\.Arguments\.RoleArn; allowed placeholders.ROLE_ARN .* or a role listed in pass_roles",
    ):
        pipeline_of(stack, store, train)


def test_pass_roles_allow_a_job_to_run_as_another_role(stack, store):
    trainer = iam.Role.from_role_arn(stack, "Other", "arn:aws:iam::111111111111:role/trainer")
    pipeline = pipeline_of(
        stack, store, training_step(RoleArn=trainer.role_arn), pass_roles=[trainer]
    )
    # Same action and condition as the pipeline's own role: CDK merges the two.
    has_statement_with_condition = Match.object_equals(
        {
            "Action": "iam:PassRole",
            "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            "Effect": "Allow",
            "Resource": [
                "arn:aws:iam::111111111111:role/trainer",
                stack.resolve(pipeline.role.role_arn),
            ],
        }
    )
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {"PolicyDocument": {"Statement": Match.array_with([has_statement_with_condition])}},
    )


@pytest.mark.parametrize("form", ["from_role_name", "f-string"])
def test_role_arns_that_are_partly_tokens_are_refused_or_passed(stack, store, form):
    if form == "from_role_name":
        trainer = iam.Role.from_role_name(stack, "Trainer", "trainer")
        arn = trainer.role_arn  # arn:${Token[AWS.Partition]}:iam::111111111111:role/trainer
    else:
        arn = f"arn:aws:iam::{Aws.ACCOUNT_ID}:role/trainer"
        trainer = iam.Role.from_role_arn(stack, "Trainer", arn)
    with pytest.raises(
        ConfigurationError,
        match=r"got role 'arn:.*:iam::.*:role/trainer' in step 'Train' at Steps\[0\]\.Arguments"
        r"\.RoleArn; allowed placeholders.ROLE_ARN",
    ):
        pipeline_of(stack, store, training_step(RoleArn=arn))
    pipeline_of(
        stack, store, training_step(RoleArn=arn), construct_id="Allowed", pass_roles=[trainer]
    )
    assert allows(stack, "iam:PassRole", stack.resolve(trainer.role_arn))


def test_role_known_only_at_run_time_is_refused(stack, store):
    train = training_step(RoleArn={"Get": "Parameters.TrainingRole"})
    with pytest.raises(
        ConfigurationError,
        match=r"got role '' in step 'Train' at Steps\[0\]\.Arguments\.RoleArn; .*a role known"
        " only at run time needs role=",
    ):
        pipeline_of(stack, store, train, parameters=[{"Name": "TrainingRole", "Type": "String"}])


def test_output_under_a_read_only_prefix_is_refused(stack, store):
    train = training_step()
    train["Arguments"]["OutputDataConfig"]["S3OutputPath"] = f"{BUCKET}/datasets/churn/models"
    with pytest.raises(
        ConfigurationError,
        match=r"got output key 'datasets/churn/models' of artifact_bucket in step 'Train' at"
        r" Steps\[0\]\.Arguments\.OutputDataConfig\.S3OutputPath; allowed keys under"
        r" artifact_prefix 'pipelines/p/' for outputs \(where a job writes\);"
        r" data_read_prefixes \['datasets/'\] are read-only",
    ):
        pipeline_of(stack, store, train, data_read_prefixes=["datasets/"])


def image_asset(stack, tmp_path):
    from aws_cdk import aws_ecr_assets as ecr_assets

    (tmp_path / "image").mkdir()
    (tmp_path / "image" / "Dockerfile").write_text(
        "FROM public.ecr.aws/docker/library/python:3.12\n"
    )
    return ecr_assets.DockerImageAsset(stack, "Image", directory=str(tmp_path / "image"))


REGION_JOIN = {
    "Std:Join": {
        "On": "",
        "Values": [
            "683313688378.dkr.ecr.",
            {"Get": "Parameters.Region"},
            ".amazonaws.com/sagemaker-xgboost:1.7-1",
        ],
    }
}


@pytest.mark.parametrize("image", ["asset", "join"])
def test_image_known_only_at_deploy_time_needs_its_repository(stack, store, tmp_path, image):
    uri = image_asset(stack, tmp_path).image_uri if image == "asset" else REGION_JOIN
    train = training_step()
    train["Arguments"]["AlgorithmSpecification"]["TrainingImage"] = uri
    with pytest.raises(
        ConfigurationError,
        match=r"got image '.*' in step 'Train' at Steps\[0\]\.Arguments\.AlgorithmSpecification"
        r"\.TrainingImage; allowed a literal ECR image URI, or an image of a repository listed"
        " in image_repositories",
    ):
        pipeline_of(
            stack,
            store,
            train,
            parameters=[{"Name": "Region", "Type": "String", "DefaultValue": "eu-west-1"}],
        )


def test_listed_repository_of_an_image_asset_is_pulled_from(stack, store, tmp_path):
    asset = image_asset(stack, tmp_path)
    train = training_step()
    train["Arguments"]["AlgorithmSpecification"]["TrainingImage"] = asset.image_uri
    pipeline = pipeline_of(stack, store, train, image_repositories=[asset.repository])
    repository = stack.resolve(asset.repository.repository_arn)
    assert allows(stack, "ecr:BatchGetImage", repository)
    assert allows(stack, "ecr:GetAuthorizationToken", "*")
    assert stack.resolve(pipeline.image_repository_arns("Training")) == [repository]
    assert "${Token[" not in json.dumps(Template.from_stack(stack).to_json())


def test_listed_repository_matches_an_image_joined_from_a_parameter_by_name(stack, store):
    from aws_cdk import aws_ecr as ecr

    xgboost = ecr.Repository.from_repository_arn(
        stack, "XGBoost", "arn:aws:ecr:eu-west-1:683313688378:repository/sagemaker-xgboost"
    )
    train = training_step()
    train["Arguments"]["AlgorithmSpecification"]["TrainingImage"] = REGION_JOIN
    pipeline_of(
        stack,
        store,
        train,
        parameters=[{"Name": "Region", "Type": "String", "DefaultValue": "eu-west-1"}],
        image_repositories=[xgboost],
    )
    assert allows(
        stack,
        "ecr:BatchGetImage",
        "arn:aws:ecr:eu-west-1:683313688378:repository/sagemaker-xgboost",
    )


@pytest.mark.parametrize(
    ("kind", "path"),
    [("Processing", "NetworkConfig.VpcConfig"), ("Training", "VpcConfig")],
)
def test_steps_in_a_vpc_are_refused_with_the_way_out(stack, store, kind, path):
    if kind == "Processing":
        job = check_step("QualityCheck")
        job["Type"] = "Processing"
        job["Arguments"]["NetworkConfig"] = {
            "VpcConfig": {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}
        }
    else:
        job = training_step(VpcConfig={"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]})
    with pytest.raises(
        ConfigurationError,
        match=rf"step '{job['Name']}' \({kind}\) at Steps\[0\]: VpcConfig at Steps\[0\]\.Arguments"
        rf"\.{path}; allowed steps without VpcConfig, or vpc= the VpcConfig the steps use \(the"
        r" created role then gets the network-interface permissions SageMaker documents:"
        r" ec2:CreateNetworkInterface,",
    ):
        pipeline_of(stack, store, job)


# -- jobs in a VPC ---------------------------------------------------------------------

SUBNETS = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
GROUPS = ["sg-0123456789abcdef0"]


def vpc_jobs(subnets: list[str] = SUBNETS, groups: list[str] = GROUPS) -> list[dict]:
    """A processing and a training step in the VPC."""
    vpc = {"Subnets": subnets, "SecurityGroupIds": groups}
    processing = check_step("QualityCheck")
    processing["Type"] = "Processing"
    processing["Arguments"]["NetworkConfig"] = {
        "EnableNetworkIsolation": True,
        "EnableInterContainerTrafficEncryption": True,
        "VpcConfig": vpc,
    }
    return [processing, training_step(VpcConfig=vpc)]


def test_jobs_in_the_given_vpc_get_the_network_interface_permissions(stack, store):
    from constructs_lib.vpc_config import VpcConfig

    pipeline = pipeline_of(
        stack, store, *vpc_jobs(), vpc=VpcConfig(subnets=SUBNETS, security_groups=GROUPS)
    )
    assert pipeline.vpc is not None
    statements = role_statements(stack)
    by_action = {
        action: s
        for s in statements
        for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        if action.startswith("ec2:")
    }
    assert set(by_action) == {
        "ec2:CreateNetworkInterface",
        "ec2:CreateNetworkInterfacePermission",
        "ec2:DeleteNetworkInterface",
        "ec2:DeleteNetworkInterfacePermission",
        "ec2:DescribeDhcpOptions",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSubnets",
        "ec2:DescribeVpcs",
    }
    create = json.dumps(by_action["ec2:CreateNetworkInterface"]["Resource"])
    for subnet in SUBNETS:
        assert f":subnet/{subnet}" in create
    assert f":security-group/{GROUPS[0]}" in create
    assert ":network-interface/*" in create
    # Sharing and deleting interfaces: only those in the given subnets.
    for action in ("ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface"):
        condition = by_action[action]["Condition"]["ArnLike"]["ec2:Subnet"]
        assert len(condition) == len(SUBNETS)
        assert all(SUBNETS[i] in json.dumps(c) for i, c in enumerate(condition))
    assert by_action["ec2:DescribeVpcs"]["Resource"] == "*"
    assert "Condition" not in by_action["ec2:DescribeVpcs"]


def test_no_network_interface_permissions_without_a_vpc(stack, store):
    pipeline_of(stack, store, training_step())
    actions = json.dumps([s["Action"] for s in role_statements(stack)])
    assert "ec2:" not in actions


def test_a_step_in_other_subnets_is_refused(stack, store):
    from constructs_lib.vpc_config import VpcConfig

    with pytest.raises(
        ConfigurationError,
        match=r"step 'Train' \(Training\) at Steps\[1\]: VpcConfig.Subnets"
        r" \['subnet-0000000000000000a'\] at Steps\[1\]\.Arguments\.VpcConfig; allowed a"
        r" non-empty list of the vpc's Subnets",
    ):
        processing, _train = vpc_jobs()
        pipeline_of(
            stack,
            store,
            processing,
            training_step(
                VpcConfig={"Subnets": ["subnet-0000000000000000a"], "SecurityGroupIds": GROUPS}
            ),
            vpc=VpcConfig(subnets=SUBNETS, security_groups=GROUPS),
        )


def test_a_job_step_outside_the_given_vpc_is_refused(stack, store):
    from constructs_lib.vpc_config import VpcConfig

    processing, _train = vpc_jobs()
    with pytest.raises(
        ConfigurationError,
        match=r"step 'Train' \(Training\) at Steps\[1\]: no VpcConfig; allowed every job step"
        r" in the VPC given as vpc=",
    ):
        pipeline_of(
            stack,
            store,
            processing,
            training_step(),
            vpc=VpcConfig(subnets=SUBNETS, security_groups=GROUPS),
        )


def test_vpc_must_be_a_vpc_config(stack, store):
    with pytest.raises(
        ConfigurationError, match=r"SageMakerPipeline vpc: got a dict .*; allowed a VpcConfig"
    ):
        pipeline_of(stack, store, training_step(), vpc={"subnets": SUBNETS})


def test_lambda_function_must_be_an_arn(stack, store):
    notify = json.loads(json.dumps(STEP_TYPES["Lambda"]))
    notify["FunctionArn"] = "notify"
    with pytest.raises(
        ConfigurationError,
        match=r"step 'Notify' \(Lambda\) at Steps\[0\]: FunctionArn 'notify'; allowed a Lambda"
        r" function ARN \(arn:<partition>:lambda:<region>:<account>:function:<name>",
    ):
        pipeline_of(stack, store, notify)


def acknowledged(construct) -> set[str]:
    return {
        finding.split("::", 1)[1]
        for entry in construct.node.metadata
        if entry.type == "aws:cdk:acknowledged-rules"
        for finding in entry.data
    }


def test_wildcard_resource_is_acknowledged_only_for_image_pulls(stack, store):
    without_images = pipeline_of(stack, store, STEP_TYPES["Lambda"])
    with_images = pipeline_of(stack, store, training_step(), construct_id="Training")
    assert "AwsSolutions-IAM5[Resource::*]" not in acknowledged(without_images.role)
    assert "AwsSolutions-IAM5[Resource::*]" in acknowledged(with_images.role)


def test_unknown_step_type_is_refused_with_the_way_out(stack, store):
    with pytest.raises(
        ConfigurationError,
        match=r"got step 'Deploy' \(Endpoint\) at Steps\[0\]: step type 'Endpoint'; allowed step types Processing, .*; for other types pass role=",
    ):
        pipeline_of(stack, store, step("Deploy", "Endpoint", {"EndpointName": "x"}))


def test_unknown_step_type_is_accepted_with_a_given_role(stack, store):
    role = iam.Role.from_role_arn(stack, "Existing", "arn:aws:iam::111111111111:role/existing")
    pipeline_of(stack, store, step("Deploy", "Endpoint", {"EndpointName": "x"}), role=role)


def test_emr_step_that_creates_a_cluster_is_refused(stack, store):
    spark = json.loads(json.dumps(STEP_TYPES["EMR"]))
    del spark["Arguments"]["ClusterId"]
    spark["Arguments"]["ClusterConfig"] = {"Instances": {}}
    with pytest.raises(
        ConfigurationError,
        match=r"step 'Spark' \(EMR\) at Steps\[0\]: an EMR step that creates its cluster",
    ):
        pipeline_of(stack, store, spark)


def test_emr_serverless_step_that_creates_its_application_is_refused(stack, store):
    spark = step(
        "Spark", "EMRServerless", {"ApplicationConfig": {"type": "SPARK"}, "JobConfig": {}}
    )
    with pytest.raises(
        ConfigurationError, match="an EMR Serverless step that creates its application"
    ):
        pipeline_of(stack, store, spark)


def test_callback_step_without_a_queue_url_is_refused(stack, store):
    approve = json.loads(json.dumps(STEP_TYPES["Callback"]))
    approve["SqsQueueUrl"] = "approvals"
    with pytest.raises(
        ConfigurationError, match=r"SqsQueueUrl 'approvals'; allowed an SQS queue URL"
    ):
        pipeline_of(stack, store, approve)


def test_lambda_step_without_a_function_is_refused(stack, store):
    notify = json.loads(json.dumps(STEP_TYPES["Lambda"]))
    del notify["FunctionArn"]
    with pytest.raises(ConfigurationError, match="FunctionArn None; allowed a Lambda function ARN"):
        pipeline_of(stack, store, notify)


def test_register_model_group_known_only_at_run_time_is_refused(stack, store):
    register = json.loads(json.dumps(STEP_TYPES["RegisterModel"]))
    register["Arguments"]["ModelPackageGroupName"] = {"Get": "Steps.Name.Output"}
    with pytest.raises(ConfigurationError, match="ModelPackageGroupName .*; allowed a group name"):
        pipeline_of(stack, store, register)


# -- props, imports, metrics ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"artifact_prefix": "pipelines/p"},
            "artifact_prefix: got 'pipelines/p'; allowed an S3 key prefix of the folder",
        ),
        ({"data_read_prefixes": ["datasets/x*"]}, r"data_read_prefixes\[0\]: got 'datasets/x\*'"),
        (
            {"data_read_prefixes": "datasets/"},
            "data_read_prefixes: got a str 'datasets/'; allowed a list",
        ),
        ({"inline_size_limit": "100"}, "inline_size_limit: got a str '100'"),
        ({"pass_roles": "arn:aws:iam::1:role/x"}, "pass_roles: got a str .*; allowed a list"),
        ({"external_buckets": None}, "external_buckets: got a NoneType None; allowed a list"),
        (
            {"callback_queues": "approvals"},
            "callback_queues: got a str 'approvals'; allowed a list of sqs.IQueue",
        ),
        (
            {"callback_queues": ["https://sqs.eu-west-1.amazonaws.com/1/q"]},
            r"callback_queues\[0\]: got a str 'https://.*'; allowed an sqs.IQueue",
        ),
        (
            {"image_repositories": "repo"},
            "image_repositories: got a str 'repo'; allowed a list of ecr.IRepository",
        ),
        (
            {"image_repositories": ["repo"]},
            r"image_repositories\[0\]: got a str 'repo'; allowed an ecr.IRepository",
        ),
        (
            {"pass_roles": ["arn:aws:iam::1:role/x"]},
            r"pass_roles\[0\]: got a str 'arn:aws:iam::1:role/x'; allowed an iam.IRole",
        ),
    ],
)
def test_prop_errors_name_the_prop(stack, store, code, kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        make(stack, store, code, **kwargs)


def test_from_pipeline_name_builds_the_arn_and_grants(stack):
    imported = SageMakerPipeline.from_pipeline_name(stack, "Imported", "Churn-Training")
    assert stack.resolve(imported.pipeline_arn) == f"{SM}:pipeline/churn-training"
    grantee = iam.Role(stack, "Starter", assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"))
    grant = imported.grant_start_execution(grantee)
    assert isinstance(grant, iam.Grant)
    has_statement(
        stack,
        ["sagemaker:DescribePipeline", "sagemaker:StartPipelineExecution"],
        f"{SM}:pipeline/churn-training",
    )
    assert imported.metric_executions_failed().dimensions == {"PipelineName": "Churn-Training"}


def test_from_pipeline_name_checks_the_name(stack):
    with pytest.raises(
        ConfigurationError, match="SageMakerPipeline.from_pipeline_name pipeline_name: got 'a b'"
    ):
        SageMakerPipeline.from_pipeline_name(stack, "Imported", "a b")


def test_metric_takes_any_metric_option(stack, store, code):
    pipeline = make(stack, store, code)
    metric = pipeline.metric_executions_failed(
        color="#ff0000", label="failed", period=Duration.hours(1)
    )
    assert (metric.color, metric.label, metric.period.to_hours()) == ("#ff0000", "failed", 1)


def test_artifact_bucket_may_be_named_literally(stack, code):
    store = ArtifactStore(stack, "Named", bucket_name="churn-artifacts")
    train = training_step()
    train["Arguments"]["OutputDataConfig"]["S3OutputPath"] = "s3://churn-artifacts/pipelines/p/out"
    pipeline_of(stack, store, train)


def test_pipeline_resource_is_the_default_child(stack, store, code):
    pipeline = make(stack, store, code)
    assert pipeline.node.default_child is pipeline.resource


def test_volume_key_grants_only_for_aws_resources(stack, store, code):
    """The pipeline role may create grants on the artifact key only for AWS resources
    (SageMaker's job volumes), never hand the key to a principal."""
    pipeline = make(stack, store, code, kms_key=store.key)
    statements = [
        s
        for p in Template.from_stack(stack).find_resources("AWS::IAM::Policy").values()
        if "PipelineRole" in json.dumps(p["Properties"]["Roles"])
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if "kms:CreateGrant" in json.dumps(s["Action"])
    ]
    assert pipeline.kms_key is store.key
    (statement,) = statements
    assert statement["Action"] == "kms:CreateGrant"
    assert statement["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    assert statement["Resource"] == stack.resolve(store.key.key_arn)
