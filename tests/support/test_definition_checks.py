"""Tests for the pipeline definition checks, on small hand-made definitions.

The definitions mirror what the SageMaker Python SDK emits (job names trimmed,
``PipelineExperimentConfig`` defaulted, condition branches nested as whole steps,
``PropertyFiles`` + ``Std:JsonGet`` for evaluation reports).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from constructs_lib._pipeline_steps import all_steps

from .definition_checks import (
    ALLOWED_ABSENT_REQUIRED,
    SCHEMA_DEFECTS,
    SCHEMA_PATH,
    STEP_TYPE_INPUT_SHAPES,
    SchemaDefect,
    _schema_errors,
    check_api_shapes,
    check_no_tokens,
    check_schema,
    require_schema,
)

REFERENCE_DIR = Path(__file__).parents[2] / ".." / "shared" / "reference"

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecutionRole"
SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
XGBOOST = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
BUCKET = "s3://mlops-artifacts-123456789012"


def _s3_input(name: str, uri: Any, local: str) -> dict[str, Any]:
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": local,
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated",
            "S3CompressionType": "None",
        },
    }


def _s3_output(name: str, uri: Any, local: str) -> dict[str, Any]:
    return {
        "OutputName": name,
        "S3Output": {"S3Uri": uri, "LocalPath": local, "S3UploadMode": "EndOfJob"},
    }


def _processing_args(script: str, inputs: list[Any], outputs: list[Any]) -> dict[str, Any]:
    return {
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceType": {"Get": "Parameters.ProcessingInstanceType"},
                "InstanceCount": 1,
                "VolumeSizeInGB": 30,
            }
        },
        "AppSpecification": {
            "ImageUri": SKLEARN,
            "ContainerEntrypoint": ["python3", f"/opt/ml/processing/input/code/{script}"],
        },
        "RoleArn": ROLE,
        "ProcessingInputs": [
            *inputs,
            _s3_input("code", f"{BUCKET}/code/{script}", "/opt/ml/processing/input/code"),
        ],
        "ProcessingOutputConfig": {"Outputs": outputs},
    }


def valid_definition() -> dict[str, Any]:
    """Processing -> Training -> Processing (evaluation) -> Condition -> RegisterModel/Fail.

    Valid for both checks: stays within what the public schema knows (no ``Std:Join``,
    no ``ModelApprovalStatus``...) apart from the four allowed lags, which it uses.
    ``sdk_v3_definition`` adds what ``SCHEMA_DEFECTS`` forgives.
    """
    train_uri = "Steps.Preprocess.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"
    test_uri = "Steps.Preprocess.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri"
    return {
        "Version": "2020-12-01",
        "Metadata": {},
        "Parameters": [
            {"Name": "ProcessingInstanceType", "Type": "String", "DefaultValue": "ml.m5.xlarge"},
            {"Name": "TrainInstanceCount", "Type": "Integer", "DefaultValue": 1},
            {"Name": "InputDataUrl", "Type": "String", "DefaultValue": f"{BUCKET}/raw/"},
            {"Name": "MseThreshold", "Type": "Float", "DefaultValue": 6.0},
        ],
        "PipelineExperimentConfig": {
            "ExperimentName": {"Get": "Execution.PipelineName"},
            "TrialName": {"Get": "Execution.PipelineExecutionId"},
        },
        "MlflowConfig": None,
        "Steps": [
            {
                "Name": "Preprocess",
                "Type": "Processing",
                "Arguments": _processing_args(
                    "preprocess.py",
                    [
                        _s3_input(
                            "input-1",
                            {"Get": "Parameters.InputDataUrl"},
                            "/opt/ml/processing/input",
                        )
                    ],
                    [
                        _s3_output("train", f"{BUCKET}/data/train", "/opt/ml/processing/train"),
                        _s3_output("test", f"{BUCKET}/data/test", "/opt/ml/processing/test"),
                    ],
                ),
                "CacheConfig": {"Enabled": True, "ExpireAfter": "P30D"},
            },
            {
                "Name": "Train",
                "Type": "Training",
                "Arguments": {
                    "AlgorithmSpecification": {
                        "TrainingImage": XGBOOST,
                        "TrainingInputMode": "File",
                    },
                    "OutputDataConfig": {"S3OutputPath": f"{BUCKET}/models"},
                    "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
                    "ResourceConfig": {
                        "VolumeSizeInGB": 30,
                        "InstanceCount": {"Get": "Parameters.TrainInstanceCount"},
                        "InstanceType": "ml.m5.xlarge",
                    },
                    "RoleArn": ROLE,
                    "InputDataConfig": [
                        {
                            "DataSource": {
                                "S3DataSource": {
                                    "S3DataType": "S3Prefix",
                                    "S3Uri": {"Get": train_uri},
                                    "S3DataDistributionType": "FullyReplicated",
                                }
                            },
                            "ContentType": "text/csv",
                            "ChannelName": "train",
                        }
                    ],
                    "HyperParameters": {"objective": "reg:squarederror", "num_round": "50"},
                    "EnableManagedSpotTraining": False,
                },
                "RetryPolicies": [
                    {
                        "ExceptionType": "SageMaker.CAPACITY_ERROR",
                        "IntervalSeconds": 60,
                        "BackoffRate": 2.0,
                        "MaxAttempts": 3,
                    }
                ],
            },
            {
                "Name": "Evaluate",
                "Type": "Processing",
                "Arguments": _processing_args(
                    "evaluate.py",
                    [
                        _s3_input(
                            "model",
                            {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"},
                            "/opt/ml/processing/model",
                        ),
                        _s3_input("test", {"Get": test_uri}, "/opt/ml/processing/test"),
                    ],
                    [
                        _s3_output(
                            "evaluation", f"{BUCKET}/evaluation", "/opt/ml/processing/evaluation"
                        )
                    ],
                ),
                "PropertyFiles": [
                    {
                        "PropertyFileName": "EvaluationReport",
                        "OutputName": "evaluation",
                        "FilePath": "evaluation.json",
                    }
                ],
            },
            {
                "Name": "CheckMse",
                "Type": "Condition",
                "Arguments": {
                    "Conditions": [
                        {
                            "Type": "LessThanOrEqualTo",
                            "LeftValue": {
                                "Std:JsonGet": {
                                    "PropertyFile": {
                                        "Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"
                                    },
                                    "Path": "regression_metrics.mse.value",
                                }
                            },
                            "RightValue": {"Get": "Parameters.MseThreshold"},
                        }
                    ],
                    "IfSteps": [
                        {
                            "Name": "RegisterModel",
                            "Type": "RegisterModel",
                            "Arguments": {
                                "ModelPackageGroupName": "AbaloneModelPackageGroup",
                                "ModelPackageDescription": "XGBoost abalone regressor",
                                "InferenceSpecification": {
                                    "Containers": [
                                        {
                                            "Image": XGBOOST,
                                            "ModelDataUrl": {
                                                "Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"
                                            },
                                        }
                                    ],
                                    "SupportedContentTypes": ["text/csv"],
                                    "SupportedResponseMIMETypes": ["text/csv"],
                                    "SupportedRealtimeInferenceInstanceTypes": [
                                        "ml.t2.medium",
                                        "ml.m5.large",
                                    ],
                                    "SupportedTransformInstanceTypes": ["ml.m5.large"],
                                },
                                "ModelMetrics": {
                                    "ModelQuality": {
                                        "Statistics": {
                                            "ContentType": "application/json",
                                            "S3Uri": f"{BUCKET}/evaluation/evaluation.json",
                                        }
                                    }
                                },
                            },
                        }
                    ],
                    "ElseSteps": [
                        {
                            "Name": "MseTooHigh",
                            "Type": "Fail",
                            "Arguments": {"ErrorMessage": "MSE above threshold"},
                        }
                    ],
                },
            },
        ],
    }


def _step(definition: dict[str, Any], name: str) -> dict[str, Any]:
    def walk(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
        for step in steps:
            if step["Name"] == name:
                return step
            args = step.get("Arguments", {})
            for key in ("IfSteps", "ElseSteps"):
                found = walk(args.get(key, []) if step["Type"] == "Condition" else [])
                if found:
                    return found
        return None

    step = walk(definition["Steps"])
    assert step is not None, name
    return step


@pytest.fixture
def definition() -> dict[str, Any]:
    return valid_definition()


@pytest.fixture
def schema() -> Path:
    if not REFERENCE_DIR.is_dir():
        pytest.skip(f"{REFERENCE_DIR.resolve()} is absent: public pipeline schema not available")
    return require_schema(SCHEMA_PATH)


# --------------------------------------------------------------------------------------
# check_api_shapes
# --------------------------------------------------------------------------------------


def test_valid_definition_passes_api_shapes(definition: dict[str, Any]) -> None:
    assert check_api_shapes(definition) == []


def test_every_mapped_step_type_names_a_real_input_shape() -> None:
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    for step_type, shape_name in STEP_TYPE_INPUT_SHAPES.items():
        shape = model.shape_for(shape_name)
        allowed = ALLOWED_ABSENT_REQUIRED[step_type]
        # Every allowance must be a required member of that shape, or it would be moot.
        assert allowed <= set(shape.required_members), (step_type, allowed)


def test_wrong_type(definition: dict[str, Any]) -> None:
    _step(definition, "Train")["Arguments"]["ResourceConfig"]["InstanceCount"] = "x"
    assert check_api_shapes(definition) == [
        "Train: Arguments.ResourceConfig.InstanceCount: expected integer, got 'x'"
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "expected boolean"),
        ("false", "expected boolean, got 'false'"),
        (None, "expected boolean, got null"),
    ],
)
def test_wrong_type_boolean(definition: dict[str, Any], value: Any, expected: str) -> None:
    _step(definition, "Train")["Arguments"]["EnableManagedSpotTraining"] = value
    errors = check_api_shapes(definition)
    if value is True:
        assert errors == []
    else:
        assert errors == [f"Train: Arguments.EnableManagedSpotTraining: {expected}"]


def test_unknown_member(definition: dict[str, Any]) -> None:
    _step(definition, "Train")["Arguments"]["ResourceConfig"]["InstanceSize"] = "large"
    assert check_api_shapes(definition) == [
        "Train: Arguments.ResourceConfig: unknown member 'InstanceSize' (not in ResourceConfig)"
    ]


def test_unknown_top_level_argument(definition: dict[str, Any]) -> None:
    args = _step(definition, "Preprocess")["Arguments"]
    args["RoleARN"] = args.pop("RoleArn")  # a typo'd member name
    assert check_api_shapes(definition) == [
        "Preprocess: Arguments: unknown member 'RoleARN' (not in CreateProcessingJobRequest)",
        "Preprocess: Arguments: missing required member 'RoleArn' of CreateProcessingJobRequest",
    ]


def test_missing_required_member(definition: dict[str, Any]) -> None:
    del _step(definition, "Evaluate")["Arguments"]["RoleArn"]
    del _step(definition, "Train")["Arguments"]["OutputDataConfig"]["S3OutputPath"]
    assert check_api_shapes(definition) == [
        "Train: Arguments.OutputDataConfig: missing required member 'S3OutputPath' "
        "of OutputDataConfig",
        "Evaluate: Arguments: missing required member 'RoleArn' of CreateProcessingJobRequest",
    ]


def test_job_name_may_be_absent_but_is_checked_when_present(definition: dict[str, Any]) -> None:
    # Absent in the valid definition (the SDK trims it); present and bad here.
    _step(definition, "Train")["Arguments"]["TrainingJobName"] = "train_job"
    _step(definition, "Preprocess")["Arguments"]["ProcessingJobName"] = "preprocess-job"
    assert check_api_shapes(definition) == [
        "Train: Arguments.TrainingJobName: 'train_job' does not match TrainingJobName "
        "pattern '[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}'"
    ]
    assert check_api_shapes(definition, check_patterns=False) == []


def test_allowance_is_per_step_type() -> None:
    # TransformJobName may be absent, ModelName (also required) may not.
    definition = {
        "Version": "2020-12-01",
        "Steps": [
            {
                "Name": "BatchScore",
                "Type": "Transform",
                "Arguments": {
                    "TransformInput": {
                        "DataSource": {
                            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"{BUCKET}/in"}
                        }
                    },
                    "TransformOutput": {"S3OutputPath": f"{BUCKET}/out"},
                    "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge"},
                },
            },
            {
                "Name": "CreateModel",
                "Type": "Model",
                "Arguments": {
                    "ExecutionRoleArn": ROLE,
                    "PrimaryContainer": {"Image": XGBOOST, "ModelDataUrl": f"{BUCKET}/m.tar.gz"},
                },
            },
        ],
    }
    assert check_api_shapes(definition) == [
        "BatchScore: Arguments: missing required member 'ModelName' of CreateTransformJobRequest"
    ]


def test_bad_enum(definition: dict[str, Any]) -> None:
    inputs = _step(definition, "Preprocess")["Arguments"]["ProcessingInputs"]
    inputs[0]["S3Input"]["S3DataType"] = "S3Folder"
    _step(definition, "RegisterModel")["Arguments"]["ModelApprovalStatus"] = "Pending"
    assert check_api_shapes(definition) == [
        "Preprocess: Arguments.ProcessingInputs[0].S3Input.S3DataType: 'S3Folder' is not a "
        "valid ProcessingS3DataType value (allowed: 'ManifestFile', 'S3Prefix')",
        "RegisterModel: Arguments.ModelApprovalStatus: 'Pending' is not a valid "
        "ModelApprovalStatus value (allowed: 'Approved', 'Rejected', 'PendingManualApproval')",
    ]


def test_bounds(definition: dict[str, Any]) -> None:
    cluster = _step(definition, "Preprocess")["Arguments"]["ProcessingResources"]["ClusterConfig"]
    cluster["InstanceCount"] = 0
    _step(definition, "Train")["Arguments"]["InputDataConfig"][0]["ChannelName"] = ""
    assert check_api_shapes(definition) == [
        "Preprocess: Arguments.ProcessingResources.ClusterConfig.InstanceCount: value 0 below "
        "minimum 1 of ProcessingInstanceCount",
        "Train: Arguments.InputDataConfig[0].ChannelName: 0 characters below minimum 1 of "
        "ChannelName",
        "Train: Arguments.InputDataConfig[0].ChannelName: '' does not match ChannelName "
        "pattern '[A-Za-z0-9\\\\.\\\\-_]+'",
    ]


def test_map_values_and_lists_are_walked(definition: dict[str, Any]) -> None:
    args = _step(definition, "Train")["Arguments"]
    args["HyperParameters"]["num_round"] = 50  # must be a string
    args["InputDataConfig"] = {"ChannelName": "train"}  # must be a list
    assert check_api_shapes(definition) == [
        'Train: Arguments.InputDataConfig: expected list, got dict {"ChannelName": "train"}',
        "Train: Arguments.HyperParameters.num_round: expected string, got 50",
    ]


@pytest.mark.parametrize(
    ("path", "expression"),
    [
        # integer
        (("ResourceConfig", "InstanceCount"), {"Get": "Parameters.TrainInstanceCount"}),
        # boolean
        (("EnableManagedSpotTraining",), {"Get": "Parameters.TrainInstanceCount"}),
        # string, from a Join over a parameter and an execution variable
        (
            ("OutputDataConfig", "S3OutputPath"),
            {
                "Std:Join": {
                    "On": "/",
                    "Values": [
                        BUCKET,
                        {"Get": "Execution.PipelineExecutionId"},
                        {"Get": "Execution.StartDateTime"},
                        "models",
                    ],
                }
            },
        ),
        # string, from a JsonGet on a property file
        (
            ("ResourceConfig", "InstanceType"),
            {
                "Std:JsonGet": {
                    "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
                    "Path": "instance_type",
                }
            },
        ),
        # map value
        (("HyperParameters", "objective"), {"Get": "Parameters.InputDataUrl"}),
        # whole list
        (("InputDataConfig",), {"Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs"}),
    ],
)
def test_expression_accepted_in_scalar_and_list_position(
    definition: dict[str, Any], path: tuple[str, ...], expression: dict[str, Any]
) -> None:
    node = _step(definition, "Train")["Arguments"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = expression
    assert check_api_shapes(definition) == []


def test_expression_rejected_in_structure_position(definition: dict[str, Any]) -> None:
    _step(definition, "Train")["Arguments"]["ResourceConfig"] = {"Get": "Parameters.InputDataUrl"}
    assert check_api_shapes(definition) == [
        "Train: Arguments.ResourceConfig: pipeline expression not allowed where "
        "ResourceConfig (object) is expected"
    ]


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ({"Std:Select": {"Values": ["a"], "Index": 0}}, "unknown pipeline expression function"),
        ({"Get": "Parameters.Nope"}, "refers to an undeclared pipeline parameter"),
        ({"Get": "Steps.Nope.ModelArtifacts.S3ModelArtifacts"}, "refers to a step that is not"),
        ({"Get": "Execution.StartTime"}, "is not a known execution variable"),
        ({"Get": "Parameter.InputDataUrl"}, "does not start with one of"),
        ({"Std:Join": {"On": "/", "Values": "s3://x"}}, "Std:Join.Values: expected list"),
        ({"Std:JsonGet": {"Path": "a.b"}}, "needs exactly one of PropertyFile or S3Uri"),
    ],
)
def test_malformed_expressions_are_reported(
    definition: dict[str, Any], expression: dict[str, Any], problem: str
) -> None:
    _step(definition, "Train")["Arguments"]["OutputDataConfig"]["S3OutputPath"] = expression
    errors = check_api_shapes(definition)
    assert len(errors) == 1, errors
    assert errors[0].startswith("Train: Arguments.OutputDataConfig.S3OutputPath")
    assert problem in errors[0]


def test_nested_condition_branches_are_checked(definition: dict[str, Any]) -> None:
    args = _step(definition, "RegisterModel")["Arguments"]
    args["InferenceSpecification"]["Containers"][0]["ImageUri"] = XGBOOST
    del args["InferenceSpecification"]["Containers"][0]["Image"]
    _step(definition, "MseTooHigh")["Arguments"]["Message"] = "x"
    assert check_api_shapes(definition) == [
        "RegisterModel: Arguments.InferenceSpecification.Containers[0]: unknown member "
        "'ImageUri' (not in ModelPackageContainerDefinition)",
        "MseTooHigh: Arguments: unknown member 'Message' (allowed: ErrorMessage)",
    ]


def test_condition_structure(definition: dict[str, Any]) -> None:
    conditions = _step(definition, "CheckMse")["Arguments"]["Conditions"]
    conditions.append({"Type": "NotEquals", "LeftValue": 1, "RightValue": 2})
    conditions.append({"Type": "Or", "Conditions": [{"Type": "Equals", "LeftValue": 1}]})
    conditions.append(
        {"Type": "Not", "Condition": {"Type": "In", "QueryValue": "a", "Values": ["a", "b"]}}
    )
    assert check_api_shapes(definition) == [
        "CheckMse: Arguments.Conditions[1].Type: unknown condition type 'NotEquals' (known: "
        "Equals, GreaterThan, GreaterThanOrEqualTo, In, LessThan, LessThanOrEqualTo, Not, Or)",
        "CheckMse: Arguments.Conditions[2].Conditions[0]: missing required member 'RightValue'",
    ]


def test_step_types_without_api_shape(definition: dict[str, Any]) -> None:
    definition["Steps"] += [
        {
            "Name": "Notify",
            "Type": "Lambda",
            "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:notify",
            "Arguments": {"model": {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}},
            "OutputParameters": [{"OutputName": "status", "OutputType": "String"}],
        },
        {
            "Name": "Spark",
            "Type": "EMR",
            "Arguments": {"ClusterId": "j-1", "StepConfig": {"HadoopJarStep": {"Jar": "x"}}},
        },
        {"Name": "Mystery", "Type": "Teleport", "Arguments": {}},
        {"Name": "Wait", "Type": "Callback", "Arguments": {}},
    ]
    errors = check_api_shapes(definition)
    assert errors[0].startswith("Mystery: Type: unknown step type 'Teleport' (known: AutoML,")
    assert errors[1:] == ["Wait: SqsQueueUrl: expected a non-empty string, got null"]


def test_check_steps_validate_processing_arguments() -> None:
    step = {
        "Name": "DataQuality",
        "Type": "QualityCheck",
        "CheckType": "DATA_QUALITY",
        "ModelPackageGroupName": "Group",
        "SkipCheck": False,
        "RegisterNewBaseline": False,
        "Arguments": _processing_args("unused.py", [], []),
    }
    step["Arguments"]["ProcessingResources"]["ClusterConfig"]["InstanceType"] = "ml.m5.xlarge"
    step["Arguments"]["StoppingCondition"] = {"MaxRuntimeInSeconds": "1h"}
    assert check_api_shapes({"Steps": [step]}) == [
        "DataQuality: Arguments.StoppingCondition.MaxRuntimeInSeconds: expected integer, got '1h'"
    ]


def test_duplicate_and_malformed_steps() -> None:
    definition = {"Steps": [{"Name": "A", "Type": "Fail", "Arguments": {}}] * 2 + ["B"]}
    assert check_api_shapes(definition) == [
        "A: Name: duplicate step name",
        "Steps[2]: expected an object, got 'B'",
    ]
    assert check_api_shapes({"Version": "2020-12-01"}) == [
        "definition: Steps: expected list, got null"
    ]


def test_real_sdk_output_shape_passes() -> None:
    """As emitted by sagemaker 3.x for a ProcessingStep with a Join output and a FailStep."""
    definition = {
        "Version": "2020-12-01",
        "Metadata": {},
        "Parameters": [{"Name": "InstanceCount", "Type": "Integer", "DefaultValue": 1}],
        "PipelineExperimentConfig": {
            "ExperimentName": {"Get": "Execution.PipelineName"},
            "TrialName": {"Get": "Execution.PipelineExecutionId"},
        },
        "MlflowConfig": None,
        "Steps": [
            {
                "Name": "Evaluate",
                "Type": "Processing",
                "Arguments": {
                    "ProcessingResources": {
                        "ClusterConfig": {
                            "InstanceType": "ml.m5.xlarge",
                            "InstanceCount": {"Get": "Parameters.InstanceCount"},
                            "VolumeSizeInGB": 30,
                        }
                    },
                    "AppSpecification": {"ImageUri": SKLEARN},
                    "RoleArn": ROLE,
                    "ProcessingOutputConfig": {
                        "Outputs": [
                            _s3_output(
                                "evaluation",
                                {
                                    "Std:Join": {
                                        "On": "/",
                                        "Values": [
                                            BUCKET,
                                            {"Get": "Execution.PipelineExecutionId"},
                                            "eval",
                                        ],
                                    }
                                },
                                "/opt/ml/processing/evaluation",
                            )
                        ]
                    },
                },
            },
            {"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": None}},
        ],
    }
    assert check_api_shapes(definition) == []


# --------------------------------------------------------------------------------------
# check_schema
# --------------------------------------------------------------------------------------


def test_valid_definition_passes_schema(definition: dict[str, Any], schema: Path) -> None:
    assert check_schema(definition, schema) == []


def test_schema_violation_names_step_and_path(definition: dict[str, Any], schema: Path) -> None:
    _step(definition, "Train")["Arguments"]["ResourceConfig"]["InstanceCount"] = "two"
    _step(definition, "MseTooHigh")["Name"] = "Mse too high"
    definition["Version"] = "2021-01-01"
    errors = check_schema(definition, schema)
    assert errors == [
        "Train: Steps[1].Arguments.ResourceConfig.InstanceCount: 'two' is not valid under "
        "any of oneOf [integer, GetFunction]",
        "Mse too high: Steps[3].Arguments.ElseSteps[0].Name: 'Mse too high' does not match "
        "'^[A-Za-z0-9\\\\-_]{1,64}$'",
        "definition: Version: '2021-01-01' is not one of ['2020-12-01']",
    ]


def test_schema_unknown_member_inside_step(definition: dict[str, Any], schema: Path) -> None:
    _step(definition, "Preprocess")["Arguments"]["ProcessingResources"]["Cluster"] = {}
    assert check_schema(definition, schema) == [
        "Preprocess: Steps[0].Arguments.ProcessingResources: Additional properties are not "
        "allowed ('Cluster' was unexpected)"
    ]


@pytest.mark.parametrize(
    "lag", ["PipelineExperimentConfig", "MlflowConfig", "PropertyFiles", "Std:JsonGet"]
)
def test_each_allowed_lag_is_accepted(schema: Path, lag: str) -> None:
    definition = valid_definition()
    # Start from a definition without any of the lags ...
    del definition["PipelineExperimentConfig"]
    del definition["MlflowConfig"]
    del _step(definition, "Evaluate")["PropertyFiles"]
    condition = _step(definition, "CheckMse")["Arguments"]["Conditions"][0]
    condition["LeftValue"] = {"Get": "Steps.Evaluate.ProcessingJobStatus"}
    condition["Type"] = "Equals"
    condition["RightValue"] = "Completed"
    assert check_schema(definition, schema) == []
    # ... then add one.
    if lag == "PipelineExperimentConfig":
        definition[lag] = {"ExperimentName": "abalone", "TrialName": {"Get": "Execution.X"}}
    elif lag == "MlflowConfig":
        definition[lag] = {
            "MlflowResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/t",
            "MlflowExperimentName": "abalone",
        }
    elif lag == "PropertyFiles":
        _step(definition, "Evaluate")[lag] = [
            {"PropertyFileName": "R", "OutputName": "evaluation", "FilePath": "e.json"}
        ]
    else:
        condition["LeftValue"] = {
            "Std:JsonGet": {
                "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.R"},
                "Path": "status",
            }
        }
    before = copy.deepcopy(definition)
    assert check_schema(definition, schema) == []
    assert definition == before  # allowances work on a copy


def test_non_lag_extra_top_level_key_is_rejected(definition: dict[str, Any], schema: Path) -> None:
    definition["ParallelismConfiguration"] = {"MaxParallelExecutionSteps": 2}
    assert check_schema(definition, schema) == [
        "definition: (root): Additional properties are not allowed "
        "('ParallelismConfiguration' was unexpected)"
    ]


def test_property_files_allowed_on_processing_steps_only(
    definition: dict[str, Any], schema: Path
) -> None:
    _step(definition, "Train")["PropertyFiles"] = _step(definition, "Evaluate")["PropertyFiles"]
    assert check_schema(definition, schema) == [
        "Train: Steps[1]: Additional properties are not allowed ('PropertyFiles' was unexpected)"
    ]


def test_json_get_allowed_only_where_get_is(definition: dict[str, Any], schema: Path) -> None:
    # CacheConfig.Enabled is a plain boolean in the schema: neither Get nor JsonGet fit.
    _step(definition, "Preprocess")["CacheConfig"]["Enabled"] = {
        "Std:JsonGet": {"PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.R"}, "Path": "a"}
    }
    assert check_schema(definition, schema) == [
        "Preprocess: Steps[0].CacheConfig.Enabled: {'Get': 'Std:JsonGet'} is not of type 'boolean'"
    ]


@pytest.mark.parametrize("change", ["app_managed", "in_condition_sdk_layout"])
def test_schema_lags_that_are_not_allowed(
    definition: dict[str, Any], schema: Path, change: str
) -> None:
    """Documented: SDK output the schema still rejects, and that check_schema does not forgive.

    Each change is valid for the API (and is what the SDK can emit), yet fails the schema;
    neither is a design allowance nor in ``SCHEMA_DEFECTS``.
    """
    if change == "app_managed":  # sagemaker.core.processing emits AppManaged: false
        _step(definition, "Preprocess")["Arguments"]["ProcessingInputs"][0]["AppManaged"] = False
    else:  # ConditionIn emits QueryValue/Values, the schema expects Value/In
        _step(definition, "CheckMse")["Arguments"]["Conditions"].append(
            {"Type": "In", "QueryValue": {"Get": "Parameters.InputDataUrl"}, "Values": ["a"]}
        )
    assert check_api_shapes(definition) == []
    assert check_schema(definition, schema) != []


# -- schema defects (SCHEMA_DEFECTS) ---------------------------------------------------

RETRY_TYPES = ["Step.SERVICE_FAULT", "Step.THROTTLING"]
JOB_RETRY_TYPES = ["SageMaker.CAPACITY_ERROR", "SageMaker.RESOURCE_LIMIT"]
EVALUATION_URI = "Steps.Evaluate.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri"


def _join(on: str, *values: Any) -> dict[str, Any]:
    return {"Std:Join": {"On": on, "Values": list(values)}}


def _retry_policies(*types: list[str]) -> list[dict[str, Any]]:
    return [
        {"BackoffRate": 2.0, "IntervalSeconds": 10, "MaxAttempts": 5, "ExceptionType": list(t)}
        for t in types
    ]


def sdk_v3_definition() -> dict[str, Any]:
    """``valid_definition`` as the v3 SDK renders it (cf. the deployed reference pipeline).

    Uses every ``SCHEMA_DEFECTS`` entry: list-valued retry ``ExceptionType``,
    ``Std:Join`` (plain, holding a ``Std:JsonGet``, nested in a Join, inside a removed
    member), ``ModelApprovalStatus`` / ``DriftCheckBaselines`` / ``SkipModelValidation``
    and container ``Environment`` on RegisterModel, ``CompressionType`` on Training.
    """
    definition = valid_definition()
    definition["PipelineExperimentConfig"] = None
    definition["Parameters"].append(
        {"Name": "ModelApprovalStatus", "Type": "String", "DefaultValue": "PendingManualApproval"}
    )
    run = {"Get": "Execution.PipelineExecutionId"}
    preprocess = _step(definition, "Preprocess")
    for output in preprocess["Arguments"]["ProcessingOutputConfig"]["Outputs"]:
        output["S3Output"]["S3Uri"] = _join("/", BUCKET, run, output["OutputName"])
    preprocess["RetryPolicies"] = _retry_policies(RETRY_TYPES)
    train = _step(definition, "Train")
    train["Arguments"]["OutputDataConfig"] = {
        "S3OutputPath": _join("/", BUCKET, _join("-", "models", run)),
        "CompressionType": "GZIP",
    }
    train["RetryPolicies"] = _retry_policies(RETRY_TYPES, JOB_RETRY_TYPES)
    register = _step(definition, "RegisterModel")
    args = register["Arguments"]
    args["ModelApprovalStatus"] = {"Get": "Parameters.ModelApprovalStatus"}
    args["SkipModelValidation"] = "None"
    args["InferenceSpecification"]["Containers"][0]["Environment"] = {
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
    }
    statistics = {
        "ContentType": "application/json",
        "S3Uri": _join("/", {"Get": EVALUATION_URI}, "evaluation.json"),
    }
    args["ModelMetrics"]["ModelQuality"]["Statistics"] = statistics
    args["DriftCheckBaselines"] = {"ModelDataQuality": {"Statistics": copy.deepcopy(statistics)}}
    register["RetryPolicies"] = _retry_policies(RETRY_TYPES)
    _step(definition, "MseTooHigh")["Arguments"]["ErrorMessage"] = _join(
        " ",
        "MSE too high:",
        {
            "Std:JsonGet": {
                "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
                "Path": "regression_metrics.mse.value",
            }
        },
        ">",
        {"Get": "Parameters.MseThreshold"},
        "after",
        3,
        "rounds",
    )
    return definition


@pytest.fixture
def sdk_v3() -> dict[str, Any]:
    return sdk_v3_definition()


def test_sdk_v3_definition_passes_both_checks(sdk_v3: dict[str, Any], schema: Path) -> None:
    before = copy.deepcopy(sdk_v3)
    assert check_api_shapes(sdk_v3) == []
    assert check_schema(sdk_v3, schema) == []
    assert sdk_v3 == before  # the rewrites work on a copy


EXPECTED_DEFECTS = {
    "retry-exception-type-list": ((), "RetryPolicies[*].ExceptionType", None),
    "std-join": ((), "any value", None),
    "register-model-approval-status": (
        ("RegisterModel",),
        "Arguments.ModelApprovalStatus",
        "CreateModelPackageInput",
    ),
    "register-model-drift-check-baselines": (
        ("RegisterModel",),
        "Arguments.DriftCheckBaselines",
        "CreateModelPackageInput",
    ),
    "register-model-skip-model-validation": (
        ("RegisterModel",),
        "Arguments.SkipModelValidation",
        "CreateModelPackageInput",
    ),
    "register-model-container-environment": (
        ("RegisterModel",),
        "Arguments.InferenceSpecification.Containers[*].Environment",
        "ModelPackageContainerDefinition",
    ),
    "training-output-compression-type": (
        ("Training",),
        "Arguments.OutputDataConfig.CompressionType",
        "OutputDataConfig",
    ),
}
REMOVALS = [d for d in SCHEMA_DEFECTS if d.api_shape is not None]


def test_schema_defects_list_is_closed() -> None:
    """Growing or changing the list has to be done here too, with a reason."""
    assert {d.key: (d.step_types, d.path, d.api_shape) for d in SCHEMA_DEFECTS} == (
        EXPECTED_DEFECTS
    )
    assert len(SCHEMA_DEFECTS) == len(EXPECTED_DEFECTS)  # no duplicate keys
    for defect in SCHEMA_DEFECTS:
        assert defect.action and defect.reason, defect.key
    for defect in REMOVALS:
        assert defect.action == "removed", defect.key
        assert defect.step_types and defect.path.startswith("Arguments."), defect.key


@pytest.mark.parametrize("defect", SCHEMA_DEFECTS, ids=lambda d: d.key)
def test_each_schema_defect_is_still_needed(
    sdk_v3: dict[str, Any], schema: Path, defect: SchemaDefect
) -> None:
    """Without its entry, the schema rejects the SDK output at the place the entry names."""
    errors = _schema_errors(sdk_v3, schema, without=frozenset({defect.key}))
    assert errors, defect.key
    if defect.key == "retry-exception-type-list":
        assert all(".RetryPolicies[" in e and ".ExceptionType:" in e for e in errors), errors
        assert any(
            e.startswith("Train: Steps[1].RetryPolicies[1].ExceptionType: ['SageMaker.")
            for e in errors
        ), errors
    elif defect.key == "std-join":
        assert all('{"Std:Join"' in e for e in errors), errors
        assert len(errors) == 5  # 2 outputs, S3OutputPath, ModelQuality, ErrorMessage
    else:
        member = defect.path.rsplit(".", 1)[-1]
        assert len(errors) == 1, errors
        assert errors[0].endswith(
            f"Additional properties are not allowed ('{member}' was unexpected)"
        )


def _botocore_shape(name: str) -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("sagemaker").shape_for(name)


# One value the API accepts for each removed member.
REMOVED_MEMBER_VALUES: dict[str, Any] = {
    "register-model-approval-status": "Approved",
    "register-model-drift-check-baselines": {
        "ModelDataQuality": {
            "Constraints": {"ContentType": "application/json", "S3Uri": f"{BUCKET}/c.json"}
        }
    },
    "register-model-skip-model-validation": "All",
    "register-model-container-environment": {"SAGEMAKER_PROGRAM": "inference.py"},
    "training-output-compression-type": "NONE",
}


@pytest.mark.parametrize("defect", REMOVALS, ids=lambda d: d.key)
def test_removed_member_is_a_real_api_member_the_schema_rejects(
    definition: dict[str, Any], schema: Path, defect: SchemaDefect
) -> None:
    (step_type,) = defect.step_types
    segments = defect.path.replace("[*]", ".[*]").split(".")
    assert segments[0] == "Arguments"
    # 1. The member exists in botocore, at that path of the step type's input shape.
    shape = _botocore_shape(STEP_TYPE_INPUT_SHAPES[step_type])
    for segment in segments[1:-1]:
        shape = shape.member if segment == "[*]" else shape.members[segment]
    assert shape.name == defect.api_shape
    assert segments[-1] in shape.members
    # 2. Added to a definition the schema accepts, it is valid for the API, rejected by
    #    the bare schema and accepted with the entry.
    step = next(s for _, s in all_steps(definition["Steps"]) if s["Type"] == step_type)
    node: Any = step
    for segment in segments[:-1]:
        node = node[0] if segment == "[*]" else node[segment]
    node[segments[-1]] = REMOVED_MEMBER_VALUES[defect.key]
    assert check_api_shapes(definition) == []
    assert check_schema(definition, schema) == []
    errors = _schema_errors(definition, schema, without=frozenset({defect.key}))
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{step['Name']}: ")
    assert errors[0].endswith(f"('{segments[-1]}' was unexpected)")


def test_schema_defect_keys_are_checked(definition: dict[str, Any], schema: Path) -> None:
    with pytest.raises(ValueError, match="not a SCHEMA_DEFECTS key"):
        _schema_errors(definition, schema, without=frozenset({"std-joins"}))


@pytest.mark.parametrize(
    ("step_name", "path", "member", "expected"),
    [
        # a real CreateModelPackage member that is not listed
        (
            "RegisterModel",
            ("Arguments",),
            "CustomerMetadataProperties",
            "RegisterModel: Steps[3].Arguments.IfSteps[0].Arguments: Additional properties "
            "are not allowed ('CustomerMetadataProperties' was unexpected)",
        ),
        # a listed member, on the wrong step type
        (
            "Train",
            ("Arguments",),
            "ModelApprovalStatus",
            "Train: Steps[1].Arguments: Additional properties are not allowed "
            "('ModelApprovalStatus' was unexpected)",
        ),
        # listed members, at the wrong path
        (
            "RegisterModel",
            ("Arguments", "InferenceSpecification"),
            "Environment",
            "RegisterModel: Steps[3].Arguments.IfSteps[0].Arguments.InferenceSpecification: "
            "Additional properties are not allowed ('Environment' was unexpected)",
        ),
        (
            "Train",
            ("Arguments",),
            "CompressionType",
            "Train: Steps[1].Arguments: Additional properties are not allowed "
            "('CompressionType' was unexpected)",
        ),
        (
            "RegisterModel",
            ("Arguments", "ModelMetrics"),
            "DriftCheckBaselines",
            "RegisterModel: Steps[3].Arguments.IfSteps[0].Arguments.ModelMetrics: Additional "
            "properties are not allowed ('DriftCheckBaselines' was unexpected)",
        ),
    ],
)
def test_members_not_listed_are_still_rejected(
    sdk_v3: dict[str, Any],
    schema: Path,
    step_name: str,
    path: tuple[str, ...],
    member: str,
    expected: str,
) -> None:
    node = _step(sdk_v3, step_name)
    for key in path:
        node = node[key]
    node[member] = "x"
    assert check_schema(sdk_v3, schema) == [expected]


ALLOWED_EXCEPTION_TYPES = (
    "['Step.SERVICE_FAULT', 'Step.THROTTLING', 'SageMaker.JOB_INTERNAL_ERROR', "
    "'SageMaker.CAPACITY_ERROR', 'SageMaker.RESOURCE_LIMIT', 'Emr.RESOURCE_LIMIT']"
)


def test_bad_exception_type_in_list_is_reported_at_its_index(
    sdk_v3: dict[str, Any], schema: Path
) -> None:
    train = _step(sdk_v3, "Train")
    train["RetryPolicies"][1]["ExceptionType"] = ["SageMaker.CAPACITY_ERROR", "SageMaker.OOPS"]
    assert check_schema(sdk_v3, schema) == [
        "Train: Steps[1].RetryPolicies[1].ExceptionType[1]: 'SageMaker.OOPS' is not one of "
        + ALLOWED_EXCEPTION_TYPES
    ]


@pytest.mark.parametrize(
    ("exception_type", "problems"),
    [
        ([], ["[] is not of type 'string'", f"[] is not one of {ALLOWED_EXCEPTION_TYPES}"]),
        (
            [["Step.THROTTLING"]],
            [
                "['Step.THROTTLING'] is not of type 'string'",
                f"['Step.THROTTLING'] is not one of {ALLOWED_EXCEPTION_TYPES}",
            ],
        ),
        ("Step.OOPS", [f"'Step.OOPS' is not one of {ALLOWED_EXCEPTION_TYPES}"]),
    ],
)
def test_malformed_exception_type_is_rejected(
    sdk_v3: dict[str, Any], schema: Path, exception_type: Any, problems: list[str]
) -> None:
    _step(sdk_v3, "Preprocess")["RetryPolicies"][0]["ExceptionType"] = exception_type
    where = "Preprocess: Steps[0].RetryPolicies[0].ExceptionType"
    if exception_type and isinstance(exception_type, list):
        where += "[0]"
    assert check_schema(sdk_v3, schema) == [f"{where}: {p}" for p in problems]


def test_other_errors_in_an_expanded_retry_policy_are_reported_once(
    sdk_v3: dict[str, Any], schema: Path
) -> None:
    _step(sdk_v3, "Train")["RetryPolicies"][1]["MaxAttempts"] = "5"
    _step(sdk_v3, "Train")["RetryPolicies"][1]["Jitter"] = True
    assert check_schema(sdk_v3, schema) == [
        "Train: Steps[1].RetryPolicies[1].MaxAttempts: '5' is not of type 'integer'",
        "Train: Steps[1].RetryPolicies[1]: Additional properties are not allowed "
        "('Jitter' was unexpected)",
    ]


@pytest.mark.parametrize(
    "join",
    [
        {"Std:Join": {"Values": ["a", "b"]}},  # no On
        {"Std:Join": {"On": 1, "Values": ["a", "b"]}},  # On not a string
        {"Std:Join": {"On": "/", "Values": "a/b"}},  # Values not a list
        {"Std:Join": {"On": "/", "Values": ["a"], "Separator": "/"}},  # extra key
        {"Std:Join": ["/", ["a", "b"]]},  # body not an object
        _join("/", "a", True),  # not a string, number or expression
        _join("/", "a", None),
        _join("/", "a", ["b"]),
        _join("/", "a", {"Value": "b"}),  # an object that is no expression
        _join("/", "a", {"Get": 1}),  # malformed Get
        _join("/", "a", {"Std:JsonGet": "x"}),  # malformed JsonGet
        _join("/", "a", _join("/", "b", {"Get": ["c"]})),  # malformed nested Join
        {"Std:Join": {"On": "/", "Values": ["a"]}, "Get": "x"},  # not a one-key expression
    ],
)
def test_malformed_join_is_rejected(
    sdk_v3: dict[str, Any], schema: Path, join: dict[str, Any]
) -> None:
    _step(sdk_v3, "Train")["Arguments"]["OutputDataConfig"]["S3OutputPath"] = join
    errors = check_schema(sdk_v3, schema)
    assert len(errors) == 1, errors
    assert errors[0].startswith("Train: Steps[1].Arguments.OutputDataConfig.S3OutputPath: ")
    assert "is not valid under any of oneOf [string, GetFunction]" in errors[0]


def test_join_accepted_only_where_get_is(sdk_v3: dict[str, Any], schema: Path) -> None:
    # CacheConfig.Enabled is a plain boolean in the schema: neither Get nor Join fit.
    _step(sdk_v3, "Preprocess")["CacheConfig"]["Enabled"] = _join("", "true")
    assert check_schema(sdk_v3, schema) == [
        "Preprocess: Steps[0].CacheConfig.Enabled: {'Get': 'Std:Join'} is not of type 'boolean'"
    ]


def test_schema_file_missing_raises(tmp_path: Path, definition: dict[str, Any]) -> None:
    with pytest.raises(FileNotFoundError):
        check_schema(definition, tmp_path / "absent.json")


# --------------------------------------------------------------------------------------
# check_no_tokens
# --------------------------------------------------------------------------------------


def test_no_tokens_in_clean_definition(definition: dict[str, Any]) -> None:
    assert check_no_tokens(json.dumps(definition)) == []


@pytest.mark.parametrize(
    ("text", "snippet"),
    [
        ('{"RoleArn": "${Token[TOKEN.123]}"}', "${Token[TOKEN.123]}"),
        ('{"Subnets": "#{Token[TOKEN.45]}"}', "#{Token[TOKEN.45]}"),
        ('{"Bucket": "s3://${TOKEN.9}/x"}', "${TOKEN.9}"),
        ('{"Region": "Token[AWS.Region.4]"}', "Token[AWS.Region.4]"),
        ('{"Ids": "[Token[TOKEN.7]]"}', "[Token[TOKEN.7]]"),
        ('{"Ids": "[Token"}', "[Token"),
        ('{"InstanceCount": -1.8881545897087626e+289}', "-1.8881545897087626e+289"),
    ],
)
def test_token_detection(text: str, snippet: str) -> None:
    assert check_no_tokens(text) == [snippet]


def test_token_detection_reports_every_occurrence() -> None:
    text = json.dumps({"A": "${Token[TOKEN.1]}", "B": "ok", "C": "arn:${Token[TOKEN.2]}:x"})
    assert check_no_tokens(text) == ["${Token[TOKEN.1]}", "${Token[TOKEN.2]}"]
    assert check_no_tokens("tokenizer Tokens token broken[0] $TOKEN") == []


def test_expressions_outside_steps_are_checked(definition: dict[str, Any]) -> None:
    definition["PipelineExperimentConfig"]["TrialName"] = {"Get": "Execution.RunId"}
    assert check_api_shapes(definition) == [
        "definition: PipelineExperimentConfig.TrialName: Get 'Execution.RunId' is not a known "
        "execution variable"
    ]


def test_require_schema_skips_when_absent(tmp_path: Path) -> None:
    with pytest.raises(pytest.skip.Exception, match="not found"):
        require_schema(tmp_path / "pipeline-definition.schema.json")
