"""The isolation and image-pin checks notice what they are meant to notice."""

from __future__ import annotations

import copy

import pytest

from tests.support.hardening import is_pinned, network_problems, unpinned_images

NETWORK = {"EnableNetworkIsolation": True, "EnableInterContainerTrafficEncryption": True}
IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
DEFINITION = {
    "Steps": [
        {"Name": "Prep", "Type": "Processing", "Arguments": {
            "AppSpecification": {"ImageUri": IMAGE}, "NetworkConfig": dict(NETWORK)}},
        {"Name": "Gate", "Type": "Condition", "Arguments": {"IfSteps": [
            {"Name": "Train", "Type": "Training", "Arguments": {
                "AlgorithmSpecification": {"TrainingImage": IMAGE}, **NETWORK}},
        ], "ElseSteps": []}},
    ]
}  # fmt: skip


def test_an_isolated_definition_passes():
    assert network_problems(DEFINITION) == []
    assert unpinned_images(DEFINITION) == []


@pytest.mark.parametrize(
    ("path", "key", "problem"),
    [
        (
            (0, "NetworkConfig"),
            "EnableNetworkIsolation",
            "Prep: NetworkConfig.EnableNetworkIsolation",
        ),
        (
            (0, "NetworkConfig"),
            "EnableInterContainerTrafficEncryption",
            "Prep: NetworkConfig.EnableInterContainerTrafficEncryption",
        ),
        ((1, None), "EnableNetworkIsolation", "Train: Arguments.EnableNetworkIsolation"),
    ],
)
def test_a_step_that_loses_isolation_or_encryption_is_named(path, key, problem):
    definition = copy.deepcopy(DEFINITION)
    index, holder = path
    args = definition["Steps"][index]["Arguments"]
    args = args["IfSteps"][0]["Arguments"] if holder is None else args[holder]
    del args[key]
    assert network_problems(definition) == [f"{problem} is None"]


def test_a_vpc_is_checked_where_each_job_keeps_it():
    vpc = (["subnet-0123456789abcdef0"], ["sg-0123456789abcdef0"])
    assert network_problems(DEFINITION, vpc) == [
        "Prep: NetworkConfig.VpcConfig is {}",
        "Train: Arguments.VpcConfig is {}",
    ]


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        (IMAGE, True),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/x@sha256:" + "0" * 64, True),
        ("468650794304.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-model-monitor-analyzer", True),
        (
            "468650794304.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-model-monitor-analyzer:latest",
            False,
        ),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/mine", False),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/mine:latest", False),
        ("localhost:5000/mine", False),
    ],
)
def test_images_need_a_version_tag_or_a_digest(image, pinned):
    assert is_pinned(image) is pinned


def test_unpinned_images_are_named_with_their_path():
    definition = copy.deepcopy(DEFINITION)
    definition["Steps"][0]["Arguments"]["AppSpecification"]["ImageUri"] = "repo:latest"
    definition["Steps"][1]["Arguments"]["IfSteps"][0]["Arguments"]["AlgorithmSpecification"][
        "TrainingImage"
    ] = {"Get": "Parameters.Image"}
    assert unpinned_images(definition) == [
        "Steps[0].Arguments.AppSpecification.ImageUri: 'repo:latest'",
        "Steps[1].Arguments.IfSteps[0].Arguments.AlgorithmSpecification.TrainingImage:"
        " {'Get': 'Parameters.Image'}",
    ]
