"""Dry run: execute a synthesized app's SageMaker pipelines locally, step by step, as
SageMaker would, with no Docker and no AWS account.

    python -m constructs_lib.dry_run --assembly cdk.out [--pipeline NAME] [--param Name=value]

From `cdk.out/` it reads each `AWS::SageMaker::Pipeline` as deployed (intrinsics
resolved with stand-in values), maps S3 to a local folder tree seeded with the staged
step code and a small dataset, runs processing and training jobs the way their
containers do (`/opt/ml` mapped into a private mount namespace), evaluates every
expression and condition, registers the model in moto's SageMaker and hands the
state-change event to the approval function. Wiring errors raise `DryRunError` naming
the step, the JSON path and what was expected.

Needs boto3 and moto (`pip install 'constructs-lib[dry-run]'`).
"""

from __future__ import annotations

from constructs_lib.dry_run.assembly import Assembly, PipelineSource
from constructs_lib.dry_run.errors import DryRunError
from constructs_lib.dry_run.mermaid import diagram, readme_block
from constructs_lib.dry_run.runner import Options, PipelineRun, StepRun, dry_run, summary

__all__ = [
    "Assembly",
    "DryRunError",
    "Options",
    "PipelineRun",
    "PipelineSource",
    "StepRun",
    "diagram",
    "dry_run",
    "readme_block",
    "summary",
]
