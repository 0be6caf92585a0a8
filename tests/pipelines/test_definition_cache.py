"""stacks/build.py caches each package's SDK-built definition per input and gives every
model its own names (kept out of tests/app so it runs beside the app-level tests)."""

from __future__ import annotations

import importlib.metadata
import json

import pytest

from pipelines import tabular_classifier
from stacks import build

NAMES = {"pipeline_name": "churn-model", "model_package_group_name": "churn-group"}
ARGUMENTS = {
    "region": "eu-west-1",
    "processing_instance_type": "ml.m5.large",
    "training_instance_type": "ml.m5.large",
    "model_quality_threshold": 0.9,
}


class StubPipeline:
    """What a pipeline package's build_pipeline returns, without the SDK (fast)."""

    def __init__(self, **arguments: object) -> None:
        self.arguments = arguments

    def definition(self) -> str:
        a = self.arguments
        return json.dumps(
            {
                "Steps": [
                    {"Name": "Register", "Arguments": {"Group": a["model_package_group_name"]}},
                    {
                        "Name": "Out",
                        "Arguments": {"Uri": f"s3://b/pipelines/{a['pipeline_name']}/"},
                    },
                ],
                "Threshold": a["model_quality_threshold"],
            }
        )


@pytest.fixture
def counted(monkeypatch):  # type: ignore[no-untyped-def]
    """Calls of the package's build_pipeline (a stub standing in for the SDK)."""
    made = []

    def counting(**kwargs):  # type: ignore[no-untyped-def]
        made.append(kwargs)
        return StubPipeline(**kwargs)

    monkeypatch.setattr(tabular_classifier, "build_pipeline", counting)
    return made


def test_models_sharing_a_package_share_one_build_with_their_own_names(tmp_path, counted):
    first = build.cached_definition(tabular_classifier, tmp_path, **NAMES, **ARGUMENTS)
    assert first["Steps"][0]["Arguments"]["Group"] == "churn-group"
    assert first["Steps"][1]["Arguments"]["Uri"] == "s3://b/pipelines/churn-model/"
    other = {"pipeline_name": "fraud-model", "model_package_group_name": "fraud-group"}
    second = build.cached_definition(tabular_classifier, tmp_path, **other, **ARGUMENTS)
    assert len(counted) == 1
    assert second["Steps"][0]["Arguments"]["Group"] == "fraud-group"
    changed = build.cached_definition(
        tabular_classifier, tmp_path, **NAMES, **{**ARGUMENTS, "model_quality_threshold": 0.8}
    )
    assert len(counted) == 2
    assert changed["Threshold"] == 0.8
    assert [c["pipeline_name"] for c in counted] == [build.PIPELINE_NAME_STAND_IN] * 2


def test_key_covers_code_placeholders_and_every_sdk_distribution(tmp_path, monkeypatch):
    key = build.definition_key(tabular_classifier, **ARGUMENTS)
    assert build.definition_key(tabular_classifier, **ARGUMENTS) == key
    edited = tmp_path / "placeholders.py"
    edited.write_text(build.PLACEHOLDERS.read_text() + "\n# edited\n")
    monkeypatch.setattr(build, "PLACEHOLDERS", edited)
    build._code_digest.cache_clear()  # read once per process
    assert build.definition_key(tabular_classifier, **ARGUMENTS) != key
    monkeypatch.undo()
    build._code_digest.cache_clear()

    real = importlib.metadata.distributions

    def bumped_core():  # type: ignore[no-untyped-def]
        for dist in real():
            if dist.metadata["Name"] == "sagemaker-core":
                yield type(
                    "Bumped", (), {"metadata": {"Name": "sagemaker-core"}, "version": "99.0"}
                )()
            else:
                yield dist

    monkeypatch.setattr(importlib.metadata, "distributions", bumped_core)
    build._sdk_versions.cache_clear()
    try:
        assert build.definition_key(tabular_classifier, **ARGUMENTS) != key
    finally:
        build._sdk_versions.cache_clear()


@pytest.mark.parametrize("argument", ["region", "processing_instance_type"])
def test_key_changes_with_each_argument(argument):
    assert build.definition_key(
        tabular_classifier, **{**ARGUMENTS, argument: "other-1"}
    ) != build.definition_key(tabular_classifier, **ARGUMENTS)
