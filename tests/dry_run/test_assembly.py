"""Reading an assembly: intrinsics with stand-ins, definitions from S3 assets, S3
downloads, event patterns, training command lines, manifest pins."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from constructs_lib.dry_run import Assembly, DryRunError
from constructs_lib.dry_run.containers import command_line
from constructs_lib.dry_run.localfs import LocalS3
from constructs_lib.dry_run.registry import matches, unpinned

DEFINITION = {"Version": "2020-12-01", "Parameters": [], "Steps": []}


def write_assembly(
    folder: Path, stacks: dict[str, dict[str, Any]], assets: dict[str, Any] | None = None
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    artifacts: dict[str, Any] = {}
    for name, template in stacks.items():
        (folder / f"{name}.template.json").write_text(json.dumps(template))
        artifacts[name] = {
            "type": "aws:cloudformation:stack",
            "environment": "aws://111111111111/eu-west-1",
            "properties": {"templateFile": f"{name}.template.json"},
        }
        if assets and name in assets:
            (folder / f"{name}.assets.json").write_text(json.dumps(assets[name]))
            artifacts[f"{name}.assets"] = {
                "type": "cdk:asset-manifest",
                "properties": {"file": f"{name}.assets.json"},
            }
    (folder / "manifest.json").write_text(json.dumps({"version": "55.0.0", "artifacts": artifacts}))
    return folder


def test_intrinsics_resolve_to_stand_ins_across_stacks(tmp_path: Path) -> None:
    producer = {
        "Resources": {
            "Data": {"Type": "AWS::S3::Bucket", "Properties": {}},
            "Key": {"Type": "AWS::KMS::Key"},
        },
        "Outputs": {
            "Bucket": {"Value": {"Ref": "Data"}, "Export": {"Name": "data-bucket"}},
            "KeyArn": {"Value": {"Fn::GetAtt": ["Key", "Arn"]}},
        },
    }
    consumer = {"Resources": {}}
    assembly = Assembly.load(write_assembly(tmp_path, {"producer": producer, "consumer": consumer}))
    stack = assembly.stack("consumer")
    assert assembly.resolve(stack, {"Fn::ImportValue": "data-bucket"}) == "producer-data"
    text = assembly.resolve(
        stack,
        {
            "Fn::Sub": [
                "arn:${AWS::Partition}:s3:::${B}/*",
                {"B": {"Fn::ImportValue": "data-bucket"}},
            ]
        },
    )
    assert text == "arn:aws:s3:::producer-data/*"
    output = {"Fn::GetStackOutput": {"StackName": "producer", "OutputName": "KeyArn"}}
    assert str(assembly.resolve(stack, output)).startswith(
        "arn:aws:kms:eu-west-1:111111111111:key/"
    )
    assert assembly.standins["producer/Data"] == "producer-data"


def test_a_definition_in_an_s3_asset_is_read_from_the_assembly(tmp_path: Path) -> None:
    (tmp_path / "definition.json").write_text(json.dumps(DEFINITION))
    template = {
        "Resources": {
            "Pipeline": {
                "Type": "AWS::SageMaker::Pipeline",
                "Properties": {
                    "PipelineName": "p",
                    "PipelineDefinition": {
                        "PipelineDefinitionS3Location": {
                            "Bucket": {"Fn::Sub": "cdk-assets-${AWS::AccountId}-${AWS::Region}"},
                            "Key": "abc.json",
                        }
                    },
                },
            }
        }
    }
    assets = {
        "s": {
            "files": {
                "abc": {
                    "source": {"path": "definition.json"},
                    "destinations": {"d": {"objectKey": "abc.json"}},
                }
            }
        }
    }
    (source,) = Assembly.load(write_assembly(tmp_path, {"s": template}, assets)).pipelines()
    assert (source.name, source.definition) == ("p", DEFINITION)


def test_an_unknown_intrinsic_is_named(tmp_path: Path) -> None:
    assembly = Assembly.load(write_assembly(tmp_path, {"s": {"Resources": {}}}))
    with pytest.raises(DryRunError, match="s: Fn::Transform: an intrinsic the dry run resolves"):
        assembly.resolve(assembly.stack("s"), {"Fn::Transform": {}})


def test_s3_prefix_downloads_land_as_sagemaker_lays_them_out(tmp_path: Path) -> None:
    s3 = LocalS3(tmp_path)
    s3.put("b", "run/Preprocess/train/train.csv", b"x")
    s3.put("b", "run/Train/output/model.tar.gz", b"m")
    assert list(s3.listing("s3://b/run/Preprocess/train")) == ["train.csv"]
    assert list(s3.listing("s3://b/run/Preprocess/train/")) == ["train.csv"]
    assert list(s3.listing("s3://b/run/Train/output/model.tar.gz")) == ["model.tar.gz"]
    with pytest.raises(
        DryRunError,
        match=r"Train: InputDataConfig\[0\]: objects under s3://b/none/ \(there are none\)",
    ):
        s3.download("s3://b/none/", tmp_path / "x", "Train", "InputDataConfig[0]")


def test_hyperparameters_become_the_toolkits_command_line() -> None:
    hyperparameters = {
        "n_estimators": "200",
        "target_column": "target",
        "sagemaker_program": '"train.py"',
        "quoted": '"a b"',
    }
    assert command_line(hyperparameters) == [
        "--n_estimators",
        "200",
        "--quoted",
        "a b",
        "--target_column",
        "target",
    ]


def test_event_patterns_match_as_eventbridge_does() -> None:
    event = {
        "source": "aws.sagemaker",
        "detail": {"ModelApprovalStatus": "Approved", "ModelPackageGroupName": "g"},
    }
    assert matches(
        {"source": ["aws.sagemaker"], "detail": {"ModelApprovalStatus": ["Approved", "Rejected"]}},
        event,
    )
    assert not matches({"detail": {"ModelPackageGroupName": ["other"]}}, event)
    assert matches(
        {"detail": {"ModelPackageGroupName": [{"prefix": "g"}], "Missing": [{"exists": False}]}},
        event,
    )


def test_the_manifest_pins_of_the_model_are_reset_for_an_empty_registry() -> None:
    manifest = "models:\n  a:\n    staging: 3  # pinned\n    prod: 2\n  b:\n    staging: 4\n"
    assert (
        unpinned(manifest, "a")
        == "models:\n  a:\n    staging: null  # pinned\n    prod: null\n  b:\n    staging: 4\n"
    )
