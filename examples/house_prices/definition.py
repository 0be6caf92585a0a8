"""The house-prices pipeline, written by hand as a definition dict (no SageMaker SDK).

Preprocess -> Train -> Evaluate + DataQualityBaseline -> RmseGate -> Register (or Fail).
Deploy-time values are `constructs_lib.placeholders`; `SageMakerPipeline` replaces them.
Step code lands in each container under its own name: the preprocess script runs as
`/opt/ml/processing/input/code/preprocess.py`, and the training code folder is the
`code` channel at `/opt/ml/input/data/code/`.
"""

from __future__ import annotations

from typing import Any

from constructs_lib import placeholders
from constructs_lib.images import model_monitor_image

PIPELINE_NAME = "house-prices"
PREFIX = f"s3://{placeholders.BUCKET_NAME}/pipelines/{PIPELINE_NAME}"
DATA_PREFIX = "datasets/house-prices/"
SKLEARN = "141502667606.dkr.ecr.{region}.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
NETWORK = {"EnableNetworkIsolation": True, "EnableInterContainerTrafficEncryption": True}
"""Every job: no network access from the container, encrypted traffic between instances."""
KEY = placeholders.KMS_KEY_ARN
ROLE = placeholders.ROLE_ARN
REPORT = "EvaluationReport"
RMSE = "regression_metrics.rmse.value"


def _output(step: str, name: str) -> dict[str, Any]:
    """This execution's own prefix for one output of one step."""
    return {
        "Std:Join": {
            "On": "/",
            "Values": [PREFIX, {"Get": "Execution.PipelineExecutionId"}, step, name],
        }
    }


def _processing_output(step: str, name: str, local_path: str) -> dict[str, Any]:
    return {
        "OutputName": name,
        "S3Output": {
            "S3Uri": _output(step, name),
            "LocalPath": local_path,
            "S3UploadMode": "EndOfJob",
        },
    }


def _processing_input(name: str, uri: Any, local_path: str) -> dict[str, Any]:
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": local_path,
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated",
        },
    }


def _processing(
    name: str, image: str, inputs: list[Any], outputs: list[Any], **extra: Any
) -> dict[str, Any]:
    return {
        "Name": name,
        "Type": "Processing",
        "Arguments": {
            "AppSpecification": {"ImageUri": image, **extra.pop("app", {})},
            "ProcessingInputs": inputs,
            "ProcessingOutputConfig": {"Outputs": outputs, "KmsKeyId": KEY},
            "ProcessingResources": {
                "ClusterConfig": {
                    "InstanceCount": 1,
                    "InstanceType": {"Get": "Parameters.ProcessingInstanceType"},
                    "VolumeSizeInGB": 30,
                    "VolumeKmsKeyId": KEY,
                }
            },
            "RoleArn": ROLE,
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
            "NetworkConfig": dict(NETWORK),
            **extra,
        },
        "CacheConfig": {"Enabled": True, "ExpireAfter": "P30D"},
    }


def _output_uri(step: str, name: str) -> dict[str, Any]:
    return {"Get": f"Steps.{step}.ProcessingOutputConfig.Outputs['{name}'].S3Output.S3Uri"}


def _join(*values: Any, on: str = "/") -> dict[str, Any]:
    return {"Std:Join": {"On": on, "Values": list(values)}}


def pipeline_definition(*, region: str, model_package_group_name: str) -> dict[str, Any]:
    """The definition dict, for images in `region`, registering into the named group."""
    sklearn = SKLEARN.format(region=region)
    preprocess = _processing(
        "Preprocess",
        sklearn,
        [
            _processing_input(
                "code", placeholders.step_source("preprocess"), "/opt/ml/processing/input/code"
            ),
            _processing_input(
                "raw", {"Get": "Parameters.InputData"}, "/opt/ml/processing/input/raw"
            ),
        ],
        [
            _processing_output("Preprocess", "train", "/opt/ml/processing/output/train"),
            _processing_output("Preprocess", "test", "/opt/ml/processing/output/test"),
            _processing_output("Preprocess", "baseline", "/opt/ml/processing/output/baseline"),
        ],
        app={"ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/preprocess.py"]},
    )
    train = {
        "Name": "Train",
        "Type": "Training",
        "Arguments": {
            "AlgorithmSpecification": {
                "TrainingImage": sklearn,
                "TrainingInputMode": "File",
                "ContainerEntrypoint": ["python3", "/opt/ml/input/data/code/train.py"],
            },
            "InputDataConfig": [
                {
                    "ChannelName": "code",
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": placeholders.step_source("train"),
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                },
                {
                    "ChannelName": "train",
                    "ContentType": "text/csv",
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": _output_uri("Preprocess", "train"),
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                },
            ],
            "OutputDataConfig": {
                "S3OutputPath": _join(PREFIX, {"Get": "Execution.PipelineExecutionId"}, "Train"),
                "KmsKeyId": KEY,
            },
            "ResourceConfig": {
                "InstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "VolumeSizeInGB": 30,
                "VolumeKmsKeyId": KEY,
            },
            "RoleArn": ROLE,
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
            **NETWORK,
        },
        "CacheConfig": {"Enabled": True, "ExpireAfter": "P30D"},
    }
    evaluate = _processing(
        "Evaluate",
        sklearn,
        [
            _processing_input(
                "code", placeholders.step_source("evaluate"), "/opt/ml/processing/input/code"
            ),
            _processing_input(
                "model",
                {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"},
                "/opt/ml/processing/input/model",
            ),
            _processing_input(
                "test", _output_uri("Preprocess", "test"), "/opt/ml/processing/input/test"
            ),
        ],
        [_processing_output("Evaluate", "evaluation", "/opt/ml/processing/output/evaluation")],
        app={"ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/evaluate.py"]},
    )
    evaluate["PropertyFiles"] = [
        {"PropertyFileName": REPORT, "OutputName": "evaluation", "FilePath": "evaluation.json"}
    ]
    baseline = _processing(
        "DataQualityBaseline",
        # The analyzer as AWS documents it, the same image the monitor uses.
        model_monitor_image(region),
        [
            _processing_input(
                "baseline_dataset_input",
                _output_uri("Preprocess", "baseline"),
                "/opt/ml/processing/input/baseline_dataset_input",
            )
        ],
        [_processing_output("DataQualityBaseline", "baseline", "/opt/ml/processing/output")],
        Environment={
            "dataset_format": '{"csv": {"header": true, "output_columns_position": "START"}}',
            "dataset_source": "/opt/ml/processing/input/baseline_dataset_input",
            "output_path": "/opt/ml/processing/output",
            "publish_cloudwatch_metrics": "Disabled",
        },
    )

    def baseline_file(name: str) -> dict[str, Any]:
        return {
            "ContentType": "application/json",
            "S3Uri": _join(_output_uri("DataQualityBaseline", "baseline"), name),
        }

    rmse = {
        "Std:JsonGet": {
            "PropertyFile": {"Get": f"Steps.Evaluate.PropertyFiles.{REPORT}"},
            "Path": RMSE,
        }
    }
    register = {
        "Name": "Register",
        "Type": "RegisterModel",
        "Arguments": {
            "ModelPackageGroupName": model_package_group_name,
            "ModelApprovalStatus": "PendingManualApproval",
            "InferenceSpecification": {
                "Containers": [
                    {
                        "Image": sklearn,
                        "ModelDataUrl": {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"},
                        "Environment": {
                            "SAGEMAKER_PROGRAM": "inference.py",
                            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                        },
                    }
                ],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["application/json"],
                "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large", "ml.c5.large"],
                "SupportedTransformInstanceTypes": ["ml.m5.large"],
            },
            "ModelMetrics": {
                "ModelQuality": {
                    "Statistics": {
                        "ContentType": "application/json",
                        "S3Uri": _join(_output_uri("Evaluate", "evaluation"), "evaluation.json"),
                    }
                },
                "ModelDataQuality": {
                    "Statistics": baseline_file("statistics.json"),
                    "Constraints": baseline_file("constraints.json"),
                },
            },
        },
    }
    fail = {
        "Name": "RmseTooHigh",
        "Type": "Fail",
        "Arguments": {
            "ErrorMessage": _join(
                "rmse", rmse, "is above MaxRmse", {"Get": "Parameters.MaxRmse"}, on=" "
            )
        },
    }
    gate = {
        "Name": "RmseGate",
        "Type": "Condition",
        "Arguments": {
            "Conditions": [
                {
                    "Type": "LessThanOrEqualTo",
                    "LeftValue": rmse,
                    "RightValue": {"Get": "Parameters.MaxRmse"},
                }
            ],
            "IfSteps": [register],
            "ElseSteps": [fail],
        },
    }
    return {
        "Version": "2020-12-01",
        "Parameters": [
            {
                "Name": "InputData",
                "Type": "String",
                "DefaultValue": f"s3://{placeholders.BUCKET_NAME}/{DATA_PREFIX}",
            },
            {"Name": "ProcessingInstanceType", "Type": "String", "DefaultValue": "ml.m5.large"},
            {"Name": "MaxRmse", "Type": "Float", "DefaultValue": 65.0},
        ],
        "Steps": [preprocess, train, evaluate, baseline, gate],
    }
