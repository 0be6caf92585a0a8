"""Step-code staging for `SageMakerPipeline`.

Each step source (a file or a folder) becomes a reproducible zip laid out
`<name>/<content hash>/<file or folder content>`, and one `BucketDeployment` extracts
them all under `<artifact_prefix>code/` of the artifact bucket. The prefix changes with
the content only, so running executions and cached steps keep the code they started with.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from aws_cdk import Stack
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_s3_deployment as s3_deployment
from constructs import Construct

from constructs_lib import placeholders
from constructs_lib._logs import stack_log_group
from constructs_lib._nag import (
    acknowledge,
    acknowledge_deployment_function,
    acknowledge_inline_policy,
    granted_wildcards,
    in_packs,
)
from constructs_lib._pipeline_steps import refuse

_CODE_EXCLUDED_DIRS = frozenset(
    {".git", ".venv", "node_modules", ".mypy_cache", ".ruff_cache", ".pytest_cache", "__pycache__"}
)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class StagedCode(NamedTuple):
    """What `stage_step_code` made: assets and S3 URLs by source name, and the deployment."""

    assets: dict[str, s3_assets.Asset]
    urls: dict[str, str]
    deployment: s3_deployment.BucketDeployment | None


def stage_step_code(
    scope: Construct,
    sources: Mapping[str, str | Path],
    text: str,
    *,
    bucket: s3.IBucket,
    code_prefix: str,
) -> StagedCode:
    """Stage every step source under its own content-addressed prefix, names kept.

    `text` is the definition, whose `placeholders.step_source(name)` references must match
    `sources` exactly. One deployment for all sources, so one Lambda layer and one custom
    resource however many there are.
    """
    used = {m.group(1) for m in placeholders.STEP_SOURCE_PATTERN.finditer(text)}
    missing = sorted(used - set(sources))
    if missing:
        refuse(
            "step_sources",
            repr(sorted(sources)),
            f"every name the definition refers to: {missing} are missing",
        )
    unused = sorted(set(sources) - used)
    if unused:
        refuse(
            "step_sources",
            repr(sorted(sources)),
            "only names the definition refers to with placeholders.step_source(name);"
            f" {unused} are not referenced",
        )
    assets: dict[str, s3_assets.Asset] = {}
    urls: dict[str, str] = {}
    if not sources:
        return StagedCode(assets, urls, None)
    staging = step_code_staging_folder()
    for name, raw in sorted(sources.items()):
        path = Path(raw).resolve()
        if path.is_file():
            files, file_name = {path.name: path}, path.name
        elif path.is_dir():
            files, file_name = _code_files(path), ""
        else:
            refuse(
                f"step_sources[{name!r}]",
                f"{raw}, which does not exist",
                "a file or folder holding the step's code",
            )
        digest = _content_hash(files)
        archive = staging / f"{name}-{digest}.zip"
        if not archive.is_file():
            _write_zip(archive, f"{name}/{digest}/", files)
        assets[name] = s3_assets.Asset(scope, f"StepSource-{name}", path=str(archive))
        urls[name] = f"s3://{bucket.bucket_name}/{code_prefix}{name}/{digest}/{file_name}"
    deployment = s3_deployment.BucketDeployment(
        scope,
        "StepCode",
        sources=[
            s3_deployment.Source.bucket(asset.bucket, asset.s3_object_key)
            for asset in assets.values()
        ],
        destination_bucket=upload_bucket(scope, bucket),
        destination_key_prefix=code_prefix,
        # Content-addressed: nothing to prune, and running executions keep theirs.
        prune=False,
        retain_on_delete=True,
        output_object_keys=False,
        # The handler is one function per stack: its log group is the stack's too.
        log_group=stack_log_group(scope, "StepCodeUploadLogs"),
    )
    return StagedCode(assets, urls, deployment)


def upload_bucket(scope: Construct, bucket: s3.IBucket) -> s3.IBucket:
    """`bucket` as the uploads' destination, by reference (one per `scope`).

    BucketDeployment tags a destination bucket defined in the app with one tag per
    deployment (for ownership on delete, which `retain_on_delete` makes moot): every
    pipeline would change the bucket's stack and 50 pipelines would exhaust S3's tag
    limit. A reference to the same bucket and key carries no tags.
    """
    existing = scope.node.try_find_child("UploadBucket")
    if existing is not None:
        return existing  # type: ignore[return-value]
    return s3.Bucket.from_bucket_attributes(
        scope,
        "UploadBucket",
        bucket_arn=bucket.bucket_arn,
        bucket_name=bucket.bucket_name,
        encryption_key=bucket.encryption_key,
    )


def acknowledge_bucket_deployment(scope: Construct, upload: s3_deployment.BucketDeployment) -> None:
    """cdk-nag findings of CDK's BucketDeployment handler (shared by every deployment in
    the stack), acknowledged once they are all granted."""
    acknowledge(
        Stack.of(scope),
        {
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]": "CDK's BucketDeployment handler writes its"
            " logs with the AWS basic execution policy; it holds no data access.",
            "AwsSolutions-L1": "BucketDeployment's handler runtime is chosen by aws-cdk-lib"
            " and upgraded with it.",
        },
    )
    acknowledge(
        upload.handler_role,
        {
            "AwsSolutions-IAM5[Action::s3:GetObject*]": "Granted by BucketDeployment to"
            " read the staged step code and definition assets.",
            "AwsSolutions-IAM5[Action::s3:GetBucket*]": "Granted by BucketDeployment.",
            "AwsSolutions-IAM5[Action::s3:List*]": "Granted by BucketDeployment.",
            "AwsSolutions-IAM5[Action::s3:DeleteObject*]": "Granted by BucketDeployment"
            " (prune is off, so nothing is deleted).",
            "AwsSolutions-IAM5[Action::s3:Abort*]": "Granted by BucketDeployment.",
            "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": "Writes KMS-encrypted"
            " objects into the artifact bucket.",
            "AwsSolutions-IAM5[Action::kms:ReEncrypt*]": "Granted with the bucket's key.",
            granted_wildcards(upload.handler_role): "BucketDeployment reads its staged"
            " assets and writes step code and definitions; it cannot name the objects before"
            " deployment.",
        },
    )
    acknowledge_inline_policy(upload.handler_role, "BucketDeployment's handler")
    handler = upload.handler_role.node.scope
    assert handler is not None
    acknowledge_deployment_function(
        handler,
        does="copies step code from the CDK asset bucket into the artifact bucket",
    )
    acknowledge(
        handler,
        in_packs(
            "LambdaLatestVersion",
            "BucketDeployment's handler runtime is chosen by aws-cdk-lib and upgraded with it.",
        ),
    )


def step_code_staging_folder() -> Path:
    """Where step-source zips are written before CDK copies them into the assembly: one
    folder per user under the temporary directory (content-addressed, so repeated
    synths reuse one small zip per version of a source)."""
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    folder = Path(tempfile.gettempdir()) / f"cdk-step-code-{user}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _code_files(folder: Path) -> dict[str, Path]:
    """Relative path -> file, for a folder source (VCS, virtualenvs, node_modules, caches
    and bytecode left out)."""
    return {
        path.relative_to(folder).as_posix(): path
        for path in sorted(folder.rglob("*"))
        if path.is_file()
        and path.suffix != ".pyc"
        and not _CODE_EXCLUDED_DIRS.intersection(path.relative_to(folder).parts)
    }


def _content_hash(files: Mapping[str, Path]) -> str:
    """16 hex digits of the names and bytes of `files`: the source's staging folder."""
    digest = hashlib.sha256()
    for relative, path in sorted(files.items()):
        digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _write_zip(target: Path, prefix: str, files: Mapping[str, Path]) -> None:
    """A byte-for-byte reproducible zip of `files` under `prefix` (fixed dates and modes),
    written then renamed so a concurrent synth never reads half of it."""
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative, path in sorted(files.items()):
            info = zipfile.ZipInfo(prefix + relative, date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    partial.replace(target)
