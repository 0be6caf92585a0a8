"""Each test changes one thing in a copy of the synthesized template; the dry run must
refuse it before any step runs, naming the step, the JSON path and what was expected.
(The mutation only a run can detect, a JsonGet path, is in test_end_to_end.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from constructs_lib.dry_run import Options, dry_run

from .conftest import (
    CLASSIFIER,
    CLASSIFIER_STACK,
    REGRESSOR,
    REGRESSOR_STACK,
    mutated,
    replace_once,
    steps_run,
)

MUTATIONS = [
    pytest.param(
        CLASSIFIER_STACK,
        replace_once(
            "Steps.Train.ModelArtifacts.S3ModelArtifacts",
            "Steps.Train.ModelArtifacts.S3ModelArtifact",
        ),
        "Evaluate: ProcessingInputs[1].S3Input.S3Uri: Get Steps.Train.ModelArtifacts.S3ModelArtifact:"
        " ModelArtifacts has no property 'S3ModelArtifact' (properties: S3ModelArtifacts)",
        id="property-name",
    ),
    pytest.param(
        CLASSIFIER_STACK,
        replace_once('"OutputName":"train"', '"OutputName":"training"'),
        "Train: InputDataConfig[0].DataSource.S3DataSource.S3Uri: Get"
        " Steps.Preprocess.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri: Preprocess has"
        " no item 'train' in ProcessingOutputConfig.Outputs (training, validation, test, baseline)",
        id="output-name",
    ),
    pytest.param(
        CLASSIFIER_STACK,
        replace_once(
            "/opt/ml/processing/input/code/evaluate.py",
            "/opt/ml/processing/input/code/evaluation.py",
        ),
        "Evaluate: AppSpecification.ContainerEntrypoint[1]: /opt/ml/processing/input/code/evaluation.py"
        " among the files its input downloads to /opt/ml/processing/input/code (has: evaluate.py,"
        " step_common.py)",
        id="script-name",
    ),
    pytest.param(
        REGRESSOR_STACK,
        replace_once('"sagemaker_program":"train.py"', '"sagemaker_program":"trainer.py"'),
        "Train: HyperParameters.sagemaker_program: trainer.py in the submitted code ",
        id="training-program",
    ),
    pytest.param(
        CLASSIFIER_STACK,
        replace_once(
            '"Name":"ModelQualityThreshold","Type":"Float","DefaultValue":0.9',
            '"Name":"ModelQualityThreshold","Type":"String","DefaultValue":"0.9"',
        ),
        "QualityGate: Conditions[0].RightValue: GreaterThanOrEqualTo compares numbers;"
        " Get Parameters.ModelQualityThreshold is a String parameter",
        id="parameter-type",
    ),
    pytest.param(
        REGRESSOR_STACK,
        replace_once(
            '"Name":"MaxRmse","Type":"Float","DefaultValue":65.0',
            '"Name":"MaxRmse","Type":"Float","DefaultValue":"65"',
        ),
        "definition: Parameters[3].DefaultValue: a Float for parameter MaxRmse; got '65'",
        id="parameter-default",
    ),
    pytest.param(
        CLASSIFIER_STACK,
        replace_once(
            "Steps.Evaluate.PropertyFiles.EvaluationReport",
            "Steps.Evaluate.PropertyFiles.Evaluation",
        ),
        "QualityGate: Conditions[0].LeftValue: Get Steps.Evaluate.PropertyFiles.Evaluation:"
        " a property file Evaluate declares (EvaluationReport)",
        id="property-file",
    ),
    pytest.param(
        CLASSIFIER_STACK,
        replace_once('"DependsOn":["DataQualityBaseline"', '"DependsOn":["DataQualityBaselin"'),
        "QualityGate: DependsOn[0]: a step name (",
        id="depends-on",
    ),
    pytest.param(
        REGRESSOR_STACK,
        replace_once(
            '"PropertyFileName":"EvaluationReport","OutputName":"evaluation"',
            '"PropertyFileName":"EvaluationReport","OutputName":"report"',
        ),
        "Evaluate: PropertyFiles[0].OutputName: an output of Evaluate (evaluation",
        id="property-file-output",
    ),
]


@pytest.mark.parametrize(("stack", "change", "message"), MUTATIONS)
def test_a_wiring_mutation_is_refused_before_any_step_runs(
    assembly_dir: Path, tmp_path: Path, stack: str, change: Callable[[str], str], message: str
) -> None:
    copy = mutated(assembly_dir, tmp_path / "cdk.out", stack, change)
    pipeline = CLASSIFIER if stack == CLASSIFIER_STACK else REGRESSOR
    (run,) = dry_run(copy, Options(workdir=tmp_path / "work", echo=lambda _: None), [pipeline])
    assert run.status == "Invalid"
    assert run.error is not None and run.error.startswith(message), run.error
    assert steps_run(run) == []


def test_an_override_of_the_wrong_type_names_the_parameter(
    assembly_dir: Path, tmp_path: Path
) -> None:
    options = Options(
        workdir=tmp_path, parameters={"ModelQualityThreshold": "high"}, echo=lambda _: None
    )
    (run,) = dry_run(assembly_dir, options, [CLASSIFIER])
    assert run.error == "definition: Parameters.ModelQualityThreshold: a Float override; got 'high'"


def test_an_override_of_an_undeclared_parameter_lists_the_declared_ones(
    assembly_dir: Path, tmp_path: Path
) -> None:
    options = Options(workdir=tmp_path, parameters={"Threshold": "0.5"}, echo=lambda _: None)
    (run,) = dry_run(assembly_dir, options, [CLASSIFIER])
    assert run.error is not None
    assert run.error.startswith(
        "definition: Parameters: overrides of declared parameters (InputDataUri,"
    )
