"""Models are data: every model file gets its stacks, a third model needs files only, and
a model's pipeline package and parameters are checked at synth with the file and key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from constructs_lib.errors import ConfigurationError
from tests.app.conftest import (
    BUILD,
    CLASSIFIER,
    ENVIRONMENTS,
    MODELS,
    NEW,
    PROD,
    STAGING,
    build_stack,
    copy_config,
    deploy_stack,
    edit,
)


@pytest.mark.parametrize("model", MODELS)
def test_each_model_is_built_and_served_in_staging_and_prod(synthesized, model):
    build = build_stack(model)
    assert synthesized.only(build, "AWS::SageMaker::Pipeline")["Properties"]["PipelineName"] == (
        model
    )
    group = synthesized.only(build, "AWS::SageMaker::ModelPackageGroup")
    assert group["Properties"]["ModelPackageGroupName"] == model
    for env in ENVIRONMENTS:
        stack = deploy_stack(model, env)
        endpoint = synthesized.only(stack, "AWS::SageMaker::Endpoint")
        assert endpoint["Properties"]["EndpointName"] == f"{model}-{env}"
        assert synthesized.templates[stack]["Outputs"]["EndpointName"]["Value"] == f"{model}-{env}"


def test_stacks_depend_only_on_their_shared_stacks(synthesized):
    """`cdk deploy mlops-<model>-<env>` deploys that stack and the shared stack it reads:
    never another model's stacks."""
    for name in synthesized.stacks:
        needs = synthesized.dependencies(name)
        if name in (BUILD, STAGING, PROD):
            assert needs == [], name
        elif name.endswith("-build"):
            assert needs == [BUILD], name
        else:
            assert needs == [f"mlops-{name.rsplit('-', 1)[-1]}"], name


def test_a_model_added_by_files_alone_gets_its_stacks(variant):
    """`variant` adds `models/churn-scorer.yaml` (on the classifier's package, with its
    own group and endpoint names) and its pins, and changes no Python file."""
    build = build_stack(NEW)
    pipeline = variant.only(build, "AWS::SageMaker::Pipeline")["Properties"]
    assert pipeline["PipelineName"] == NEW
    group = variant.only(build, "AWS::SageMaker::ModelPackageGroup")["Properties"]
    assert group["ModelPackageGroupName"] == "churn-scores"
    definition = variant.definition(build)
    text = json.dumps(definition)
    assert "/pipelines/churn-scorer/" in text
    assert "pipelines/tabular-classifier/" not in text
    parameters = {p["Name"]: p for p in definition["Parameters"]}
    # Its own training data, though it shares the classifier's package, and its role
    # reads that prefix and not the classifier's.
    assert parameters["InputDataUri"]["DefaultValue"].endswith("/datasets/churn-scorer/")
    role_policies = json.dumps(variant.resources(build, "AWS::IAM::Policy"))
    assert "/datasets/churn-scorer/*" in role_policies
    assert "/datasets/tabular-classifier/" not in role_policies
    assert parameters["ModelQualityThreshold"]["DefaultValue"] == 0.8
    staging = deploy_stack(NEW, "staging")
    endpoint = variant.only(staging, "AWS::SageMaker::Endpoint")["Properties"]
    assert endpoint["EndpointName"] == "churn-scorer-stage"
    config = variant.only(staging, "AWS::SageMaker::EndpointConfig")["Properties"]
    assert config["ProductionVariants"][0]["ServerlessConfig"]["MemorySizeInMB"] == 1024
    served = variant.only(staging, "AWS::SageMaker::Model")["Properties"]["PrimaryContainer"]
    assert served == {
        "ModelPackageName": "arn:aws:sagemaker:eu-west-1:111111111111:model-package/churn-scores/1"
    }


def test_pinned_but_not_served_gets_no_stack(variant):
    """The added model is pinned in prod but its file says `prod: null`."""
    assert deploy_stack(NEW, "prod") not in variant.templates
    assert deploy_stack(NEW, "staging") in variant.templates


def build_only(config: Path, models: list[str] | None = None) -> dict[str, object]:
    """Construct (not synthesize) the app from `config`'s build side."""
    from aws_cdk import App

    from app import build_app
    from config.settings import load_settings
    from tests.conftest import cdk_context

    settings = load_settings(config, environments=[], models=models or [CLASSIFIER])
    return build_app(App(context=cdk_context()), settings)


def test_unknown_pipeline_package_names_file_key_and_the_packages(tmp_path):
    config = copy_config(tmp_path / "config")
    edit(
        config / "models" / "tabular-classifier.yaml",
        "package: tabular_classifier",
        "package: tabular_clasifier",
    )
    with pytest.raises(
        ConfigurationError,
        match=r"models/tabular-classifier.yaml: pipeline.package: got 'tabular_clasifier';"
        r" allowed a package under pipelines/ \(diabetes_regressor, tabular_classifier\)",
    ):
        build_only(config)


def test_package_without_the_interface_is_refused(tmp_path):
    config = copy_config(tmp_path / "config")
    # `pipelines._sdk` is a module of shared helpers, not a pipeline package.
    edit(
        config / "models" / "tabular-classifier.yaml",
        "package: tabular_classifier",
        "package: _sdk",
    )
    with pytest.raises(ConfigurationError, match=r"pipeline.package: got '_sdk'"):
        build_only(config)


def test_pipeline_parameter_the_package_refuses(tmp_path):
    config = copy_config(tmp_path / "config")
    edit(
        config / "models" / "tabular-classifier.yaml",
        "model_quality_threshold: 0.9",
        "model_quality_threshold: 1.5",
    )
    with pytest.raises(
        ConfigurationError,
        match=r"models/tabular-classifier.yaml: pipeline.parameters: build_pipeline"
        r" model_quality_threshold: got 1.5; allowed",
    ):
        build_only(config)


def test_pipeline_parameter_the_package_does_not_take(tmp_path):
    config = copy_config(tmp_path / "config")
    edit(
        config / "models" / "diabetes-regressor.yaml",
        "max_rmse: 65.0",
        "max_rmse: 65.0\n    model_quality_threshold: 0.9",
    )
    with pytest.raises(
        ConfigurationError,
        match=r"models/diabetes-regressor.yaml: pipeline.parameters: .*model_quality_threshold",
    ):
        build_only(config, models=["diabetes-regressor"])


def test_models_limit_the_stacks(tmp_path):
    """`-c models=` builds the shared stacks and only the named models' stacks."""
    from aws_cdk import App

    from app import build_app
    from config.settings import load_settings
    from tests.conftest import cdk_context

    settings = load_settings(models=["diabetes-regressor"], environments=["prod"])
    stacks = build_app(App(context=cdk_context()), settings)
    assert sorted(stacks) == sorted(
        [
            BUILD,
            build_stack("diabetes-regressor"),
            PROD,
            deploy_stack("diabetes-regressor", "prod"),
            "mlops-diabetes-regressor-batch-prod",  # its batch scoring there
        ]
    )
