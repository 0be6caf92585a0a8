"""stacks/build.py caches the SDK-built definition per input (kept out of tests/app so it
runs beside the app-level tests, not after them)."""

from __future__ import annotations

import importlib.metadata

import pytest

from stacks import build

ARGUMENTS = {
    "pipeline_name": "tabular-classifier",
    "model_package_group_name": "tabular-classifier",
    "region": "eu-west-1",
    "processing_instance_type": "ml.m5.large",
    "training_instance_type": "ml.m5.large",
    "model_quality_threshold": 0.9,
}


def test_hit_returns_what_the_sdk_built_and_a_new_input_builds_afresh(tmp_path, monkeypatch):
    made = []
    real = build.reference_pipeline.build_pipeline

    def counting(**kwargs):
        made.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(build.reference_pipeline, "build_pipeline", counting)
    built = build.cached_definition(tmp_path, **ARGUMENTS)
    assert build.cached_definition(tmp_path, **ARGUMENTS) == built
    assert len(made) == 1
    changed = build.cached_definition(tmp_path, **{**ARGUMENTS, "model_quality_threshold": 0.8})
    assert len(made) == 2
    assert changed != built
    assert len(list(tmp_path.glob("definition-*.json"))) == 1  # the stale entry is gone


def test_key_covers_code_placeholders_and_every_sdk_distribution(tmp_path, monkeypatch):
    key = build.definition_key(**ARGUMENTS)
    assert build.definition_key(**ARGUMENTS) == key
    edited = tmp_path / "placeholders.py"
    edited.write_text(build.PLACEHOLDERS.read_text() + "\n# edited\n")
    monkeypatch.setattr(build, "PLACEHOLDERS", edited)
    assert build.definition_key(**ARGUMENTS) != key
    monkeypatch.undo()

    real = importlib.metadata.distributions

    def bumped_core():
        for dist in real():
            if dist.metadata["Name"] == "sagemaker-core":
                yield type(
                    "Bumped", (), {"metadata": {"Name": "sagemaker-core"}, "version": "99.0"}
                )()
            else:
                yield dist

    monkeypatch.setattr(importlib.metadata, "distributions", bumped_core)
    assert build.definition_key(**ARGUMENTS) != key


@pytest.mark.parametrize("argument", ["region", "pipeline_name"])
def test_key_changes_with_each_argument(argument):
    assert build.definition_key(**{**ARGUMENTS, argument: "other-1"}) != build.definition_key(
        **ARGUMENTS
    )
