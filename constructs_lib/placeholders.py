"""Stand-ins for deploy-time values inside a pipeline definition.

A pipeline definition is built before the resources it refers to exist (the execution
role, the artifact bucket, the KMS key, the S3 URLs of step-source assets). Build it
with these placeholder strings wherever such a value belongs; `SageMakerPipeline`
replaces every occurrence with the CloudFormation value (a `Ref`/`Fn::GetAtt` inside an
`Fn::Join`), so no placeholder and no token text reaches the deployed definition.

Each placeholder is shaped like the real value (an IAM role ARN, a bucket name, a KMS
key ARN, an `s3://` URI) so SDKs that check the shape accept it, and is unlikely to
occur in a definition by accident. Importing this module does not import aws-cdk-lib.
"""

from __future__ import annotations

import re

ROLE_ARN = "arn:aws:iam::000000000000:role/cdk-placeholder-pipeline-role"
"""The pipeline's execution role ARN."""

BUCKET_NAME = "cdk-placeholder-artifact-bucket"
"""The artifact bucket's name (use it inside `s3://` URIs too)."""

KMS_KEY_ARN = "arn:aws:kms:us-east-1:000000000000:key/cdk-placeholder-artifact-key"
"""The ARN of the KMS key that encrypts artifacts, volumes and outputs."""

_STEP_SOURCE_PREFIX = "s3://cdk-placeholder-step-source/"
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
STEP_SOURCE_PATTERN = re.compile(re.escape(_STEP_SOURCE_PREFIX) + r"([A-Za-z0-9_.-]+)")
"""Matches a step-source placeholder; group 1 is the step-source name."""


def step_source(name: str) -> str:
    """The S3 URL of the step source registered as `name` in `step_sources`.

    `SageMakerPipeline` replaces it with the URL of the staged source: for a file,
    `s3://<artifact bucket>/<artifact_prefix>code/<name>/<hash>/<file name>`, so a
    processing input of it puts the file at `<LocalPath>/<file name>`; for a folder, the
    folder's prefix (ending with '/'), keeping its layout.
    """
    from constructs_lib._validate import Checks

    check = Checks("placeholders.step_source")
    check.text("name", name, _NAME, "letters, digits, '_', '.' or '-'")
    check.done()
    return _STEP_SOURCE_PREFIX + name


def any_left(text: str) -> list[str]:
    """Placeholders still present in `text` (used to prove none reaches a template)."""
    found = [p for p in (ROLE_ARN, BUCKET_NAME, KMS_KEY_ARN) if p in text]
    found += [m.group(0) for m in STEP_SOURCE_PATTERN.finditer(text)]
    return found
