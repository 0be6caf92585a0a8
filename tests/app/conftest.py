"""The synthesized reference app, shared by every app-level test (synth is the slow part).

`synthesized` is the shipped app (both models, staging and prod); `variant` is the app
from a copy of `config/` that adds a third model by files alone and moves some pins (see
`VARIANT`). Each is synthesized once per test run (`synthesized_once`) and read back from
its cloud assembly.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ACCOUNT, REGION, REPO_ROOT, cdk_context
from tests.pipelines.conftest import (  # noqa: F401 (shared fixtures)
    local_pipeline_run,
    local_pipeline_run_started,
)
from tests.pipelines.diabetes_support import (  # noqa: F401 (shared fixtures)
    diabetes_run,
    diabetes_run_started,
)

CLASSIFIER = "tabular-classifier"
REGRESSOR = "diabetes-regressor"
MODELS = [CLASSIFIER, REGRESSOR]
ENVIRONMENTS = ["staging", "prod"]


def build_stack(model: str) -> str:
    """The stack id of a model's build side."""
    return f"mlops-{model}-build"


def deploy_stack(model: str, environment: str) -> str:
    """The stack id of a model served in an environment."""
    return f"mlops-{model}-{environment}"


BUILD = "mlops-build"
"""The build side every model shares: artifact store and key, topic, GitHub access."""
CLASSIFIER_BUILD = build_stack(CLASSIFIER)
REGRESSOR_BUILD = build_stack(REGRESSOR)
STAGING, PROD = "mlops-staging", "mlops-prod"
"""Each environment's shared stack: its artifact store and GitHub deploy access."""
CLASSIFIER_STAGING = deploy_stack(CLASSIFIER, "staging")
CLASSIFIER_PROD = deploy_stack(CLASSIFIER, "prod")
REGRESSOR_STAGING = deploy_stack(REGRESSOR, "staging")
REGRESSOR_PROD = deploy_stack(REGRESSOR, "prod")
REGRESSOR_BATCH_PROD = f"mlops-{REGRESSOR}-batch-prod"
"""The regressor scored in batch on a schedule in prod (its only batch stack)."""
STACKS = [
    BUILD,
    CLASSIFIER_BUILD,
    REGRESSOR_BUILD,
    STAGING,
    PROD,
    CLASSIFIER_STAGING,
    CLASSIFIER_PROD,
    REGRESSOR_STAGING,
    REGRESSOR_PROD,
    REGRESSOR_BATCH_PROD,
]
"""Every stack of the shipped app."""


@dataclass(frozen=True)
class Synthesized:
    """A synthesized app, read from its cloud assembly (what `cdk deploy` reads)."""

    outdir: Path
    templates: dict[str, dict[str, Any]]
    """Each stack's template, by stack name."""
    stacks: dict[str, dict[str, Any]]
    """Each stack's entry in the assembly's manifest.json, by stack name."""

    def account(self, stack: str) -> str:
        return str(self.stacks[stack]["environment"]).split("/")[2]

    def region(self, stack: str) -> str:
        return str(self.stacks[stack]["environment"]).split("/")[3]

    def dependencies(self, stack: str) -> list[str]:
        """The stacks `cdk deploy <stack>` deploys first (not its asset uploads)."""
        return sorted(d for d in self.stacks[stack].get("dependencies", []) if d in self.stacks)

    def resources(self, stack: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.templates[stack]["Resources"].items()
            if resource["Type"] == resource_type
        }

    def only(self, stack: str, resource_type: str) -> dict[str, Any]:
        (resource,) = self.resources(stack, resource_type).values()
        return resource

    def definition_text(self, stack: str = CLASSIFIER_BUILD) -> str:
        """A model build stack's pipeline definition as deployed, intrinsics given
        stand-in values."""
        pipeline = self.only(stack, "AWS::SageMaker::Pipeline")
        body = pipeline["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]
        return render(body, self.templates[stack], self.templates)

    def definition(self, stack: str = CLASSIFIER_BUILD) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.definition_text(stack))
        return parsed


def render(
    value: Any, template: dict[str, Any], templates: dict[str, dict[str, Any]] | None = None
) -> str:
    """A CloudFormation string expression as the text it becomes on deploy, with each
    reference replaced by a realistic stand-in of its type (role and key ARNs, bucket
    names), so the result can be checked against API shapes and patterns. A reference
    to another stack's output (`templates`: every template by stack name) renders that
    output's value in its own template."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(render(p, template, templates) for p in parts)
    if "Ref" in value:
        ref = value["Ref"]
        pseudo = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
        if ref in pseudo:
            return pseudo[ref]
        kind = template["Resources"][ref]["Type"]
        if kind == "AWS::S3::Bucket":
            name = template["Resources"][ref]["Properties"].get("BucketName")
            return str(name or ref.lower())
        raise AssertionError(f"unexpected Ref to {kind} in a definition")
    if "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        kind = template["Resources"][logical_id]["Type"]
        if (kind, attribute) == ("AWS::IAM::Role", "Arn"):
            return f"arn:aws:iam::{ACCOUNT}:role/{logical_id}"
        if (kind, attribute) == ("AWS::KMS::Key", "Arn"):
            return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0123abcd-{logical_id.lower()[:8]}"
        if (kind, attribute) == ("AWS::S3::Bucket", "Arn"):
            return f"arn:aws:s3:::{render({'Ref': logical_id}, template)}"
        if (kind, attribute) == ("AWS::SageMaker::Model", "ModelName"):
            return f"{logical_id.lower()[:40]}-0123456789ab"  # a batch pipeline's model
        raise AssertionError(f"unexpected GetAtt {kind}.{attribute} in a definition")
    if "Fn::GetStackOutput" in value:
        output = value["Fn::GetStackOutput"]
        assert templates is not None, f"a reference to another stack: {output}"
        producer = templates[output["StackName"]]
        return render(producer["Outputs"][output["OutputName"]]["Value"], producer, templates)
    if "Fn::Sub" in value:
        return (
            str(value["Fn::Sub"])
            .replace("${AWS::AccountId}", ACCOUNT)
            .replace("${AWS::Region}", REGION)
        )
    raise AssertionError(f"unexpected intrinsic in a definition: {value}")


def synthesize(  # type: ignore[no-untyped-def]
    outdir: Path,
    environments: list[str] | None = None,
    config_dir: Path | None = None,
    models: list[str] | None = None,
):
    """Synthesize the reference app in-process, cdk-nag on, as `make synth` does."""
    from aws_cdk import App

    from app import build_app
    from config.settings import CONFIG_DIR, load_settings

    app = App(outdir=str(outdir), context=cdk_context())
    build_app(app, load_settings(config_dir or CONFIG_DIR, environments, models))
    app.synth()
    return read_assembly(outdir)


def read_assembly(outdir: Path) -> Synthesized:
    """A cloud assembly's stacks and templates."""
    manifest = json.loads((outdir / "manifest.json").read_text())
    stacks = {
        name: artifact
        for name, artifact in manifest["artifacts"].items()
        if artifact["type"] == "aws:cloudformation:stack"
    }
    templates = {
        name: json.loads((outdir / artifact["properties"]["templateFile"]).read_text())
        for name, artifact in stacks.items()
    }
    return Synthesized(outdir=outdir, templates=templates, stacks=stacks)


def synthesized_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, config: Callable[[Path], Path | None]
) -> Synthesized:
    """Synthesize an app once per test run, however many xdist workers ask for it.

    The first worker to ask synthesizes under a lock in the run's shared temporary
    folder; the others wait and read the same cloud assembly. (xdist's `loadgroup` would
    keep these tests on one worker, but xdist 3.8 marks the group on `item._nodeid`,
    which pytest 9 no longer reads: the groups are silently ignored.)
    """
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    root = shared / f"app-{name}"
    root.mkdir(exist_ok=True)
    with (shared / f"app-{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (root / "done").is_file():
                shutil.rmtree(root / "cdk.out", ignore_errors=True)
                # cfn-lint runs on every template; CDK's own template validation would
                # only repeat a subset of it at ~4 s per synth.
                os.environ.setdefault("CDK_VALIDATION", "false")
                synthesize(root / "cdk.out", config_dir=config(root))
                (root / "done").touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return read_assembly(root / "cdk.out")


def copy_config(target: Path) -> Path:
    """A copy of the shipped `config/` (YAML only) to edit for a variation."""
    shutil.copytree(
        REPO_ROOT / "config", target, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    return target


def edit(path: Path, old: str, new: str) -> None:
    """Replace the first `old` in `path` by `new`; `old` must be there."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


NEW = "churn-scorer"
"""The third model `variant` adds by files alone (on the classifier's pipeline package)."""
NEW_MODEL_FILE = """\
pipeline:
  package: tabular_classifier
  parameters:
    model_quality_threshold: 0.8
registry:
  model_package_group_name: churn-scores   # not the model's name
  description: A third model, added by this file and its pins.
approval:
  policy: auto
  report_metrics: [accuracy, precision, recall, f1, auc]
  thresholds:
    auc: {minimum: 0.9}
  primary_metric: auc
environments:
  staging:
    endpoint:
      name: churn-scorer-stage
      variant:
        memory_size_in_mb: 1024
      network_isolation: false
      data_capture: null
    monitoring: null
  prod: null                   # not served in prod yet
"""
VARIANT = {
    "adds": NEW,
    "pins": {
        CLASSIFIER: {"staging": 3, "prod": 1},  # staging moves from v2 to v3
        REGRESSOR: {"staging": None, "prod": 1},  # nothing pinned in staging
        NEW: {"staging": 1, "prod": 1},  # pinned in prod, but not served there
    },
}
"""How `variant` differs from the shipped config."""


def variant_config(target: Path) -> Path:
    """The shipped config plus the model `NEW` (a file and pins) and the pins of
    `VARIANT`; no Python file changes."""
    config = copy_config(target)
    (config / "models" / f"{NEW}.yaml").write_text(NEW_MODEL_FILE)
    lines = ["models:"]
    for model, pins in VARIANT["pins"].items():  # type: ignore[attr-defined]
        lines.append(f"  {model}:")
        lines += [
            f"    {env}: {'null' if version is None else version}" for env, version in pins.items()
        ]
    (config / "promotion.yaml").write_text("\n".join(lines) + "\n")
    return config


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The shipped app: both models, staging and prod."""
    return synthesized_once(tmp_path_factory, "shipped", lambda root: None)


@pytest.fixture(scope="session")
def variant(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The app from `variant_config`: a third model added by files, some pins moved."""
    return synthesized_once(
        tmp_path_factory, "variant", lambda root: variant_config(root / "config")
    )


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks into the node ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep the tests of a synthesized app on one xdist worker, so each app is
    synthesized once; the others (subprocess runs, single stacks) may run beside them."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if "tests/app/" in item.nodeid and fixtures & {"synthesized", "variant"}:
            item.add_marker(pytest.mark.xdist_group("synthesized-app"))
