"""Does every job step's command or program exist in the code staged for it?

A synthesized app holds the staged code in its cloud assembly: each
`Custom::CDKBucketDeployment` extracts its zip assets (`asset.<hash>.zip` in the output
folder; folder assets are `asset.<hash>/`) under `DestinationBucketKeyPrefix`. `staged_objects` lists the S3 keys that
produces; `missing_step_code` follows each job step's command to the key it needs.

A training job's code archive (`sagemaker_submit_directory`) is an S3 URI, or the path
of a file an input channel delivers (`/opt/ml/input/data/code/<archive>`: the SDK's way
when the job is network-isolated); either must hold `sagemaker_program`.

SageMaker downloads an `S3Prefix` input by key: with a URI ending in '/', an object
lands at `<LocalPath>/<key after the prefix>`; with a URI naming one object (as the SDK
writes for an uploaded script), at `<LocalPath>/<object's file name>`.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from constructs_lib._pipeline_steps import all_steps

_PROCESSING_TYPES = ("Processing", "QualityCheck", "ClarifyCheck")
_CHANNELS = "/opt/ml/input/data/"


def staged_objects(template: dict[str, Any], outdir: Path) -> dict[str, bytes]:
    """S3 key -> content, for every object the bucket deployments in `template` write
    (from zip assets, `asset.<hash>.zip`, and folder assets, `asset.<hash>/`)."""
    objects: dict[str, bytes] = {}
    for resource in template.get("Resources", {}).values():
        if resource["Type"] != "Custom::CDKBucketDeployment":
            continue
        properties = resource["Properties"]
        prefix = properties.get("DestinationBucketKeyPrefix", "")
        for key in properties["SourceObjectKeys"]:
            archive = outdir / f"asset.{key}"
            folder = outdir / f"asset.{str(key).removesuffix('.zip')}"
            if archive.is_file():
                with zipfile.ZipFile(archive) as opened:
                    for name in opened.namelist():
                        if not name.endswith("/"):
                            objects[prefix + name] = opened.read(name)
            elif folder.is_dir():
                for path in sorted(folder.rglob("*")):
                    if path.is_file():
                        objects[prefix + path.relative_to(folder).as_posix()] = path.read_bytes()
    return objects


def _key(uri: Any) -> str | None:
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        return None
    return uri[len("s3://") :].partition("/")[2]


def _downloaded(local_path: str, uri: Any, objects: dict[str, bytes]) -> dict[str, bytes]:
    """Container path -> staged file, for an S3Prefix input of `uri` at `local_path`."""
    prefix = _key(uri)
    if prefix is None:
        return {}
    cut = len(prefix) if prefix.endswith("/") else prefix.rfind("/") + 1
    return {
        f"{local_path.rstrip('/')}/{key[cut:]}": path
        for key, path in objects.items()
        if key.startswith(prefix)
    }


def _unquoted(value: Any) -> Any:
    if isinstance(value, str) and len(value) > 1 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def job_commands(
    definition: dict[str, Any], objects: dict[str, bytes]
) -> Iterator[tuple[str, str, bool]]:
    """(step, command or program, found in the staged code) for every job step with code."""
    for _path, step in all_steps(definition.get("Steps")):
        name, kind, args = step["Name"], step["Type"], step.get("Arguments", {})
        if kind in _PROCESSING_TYPES:
            files: dict[str, bytes] = {}
            for item in args.get("ProcessingInputs", []):
                s3_input = item.get("S3Input", {})
                files.update(
                    _downloaded(s3_input.get("LocalPath", ""), s3_input.get("S3Uri"), objects)
                )
            entrypoint = args.get("AppSpecification", {}).get("ContainerEntrypoint", [])
            for argument in entrypoint:
                if isinstance(argument, str) and argument.startswith("/opt/ml/processing/"):
                    yield name, argument, argument in files
        elif kind == "Training":
            files = {}
            for channel in args.get("InputDataConfig", []):
                source = channel.get("DataSource", {}).get("S3DataSource", {})
                local = f"/opt/ml/input/data/{channel.get('ChannelName')}"
                files.update(_downloaded(local, source.get("S3Uri"), objects))
            hyperparameters = args.get("HyperParameters", {})
            program = _unquoted(hyperparameters.get("sagemaker_program"))
            if program:
                # The toolkit takes the code archive from S3, or (network isolation) from
                # an input channel: a path under /opt/ml/input/data/<channel>/.
                submit = _unquoted(hyperparameters.get("sagemaker_submit_directory"))
                archive = (
                    files.get(submit)
                    if isinstance(submit, str) and submit.startswith(_CHANNELS)
                    else objects.get(_key(submit) or "")
                )
                yield name, program, archive is not None and _in_archive(archive, program)
            entrypoint = args.get("AlgorithmSpecification", {}).get("ContainerEntrypoint", [])
            for argument in entrypoint:
                if isinstance(argument, str) and argument.startswith("/opt/ml/input/data/"):
                    yield name, argument, argument in files


def _in_archive(archive: bytes, program: str) -> bool:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return program in tar.getnames()


def missing_step_code(definition: dict[str, Any], objects: dict[str, bytes]) -> list[str]:
    """`<step>: <command>` for each job command or program the staged code lacks."""
    return [
        f"{step}: {command}"
        for step, command, found in job_commands(definition, objects)
        if not found
    ]
