"""Model steps, the models they create, and Transform steps that score files with them.

`LocalModels` records each Model step's CreateModel request (validated against
botocore's shape) under the name Pipelines would generate, so later steps that name it
(`Get Steps.<model>.ModelName` in a ClarifyCheck or Transform step) find it. `serve`
loads a model the way the SageMaker framework serving containers do: `model.tar.gz`
extracted as `/opt/ml/model`, the program `SAGEMAKER_PROGRAM` from
`SAGEMAKER_SUBMIT_DIRECTORY` (inside the model or an s3:// archive), then its
`model_fn` once and `input_fn -> predict_fn -> output_fn` per request. `transform` runs
a Transform step's request over its input objects: records split by `SplitType`,
batched by `BatchStrategy` within `MaxPayloadInMB`, answers joined by `AssembleWith`
into `<object>.out` under the output path, as batch transform writes them.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tarfile
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from constructs_lib.dry_run.errors import DryRunError
from constructs_lib.dry_run.localfs import LocalS3, split_uri

OPT_ML_MODEL = "/opt/ml/model"


class NotResolvable(Exception):  # noqa: N818 (a reason to skip a step, not an error)
    """The model a step names exists only in the account (e.g. a deploy-time model of a
    pinned package version); the step cannot run locally."""


@dataclass
class LocalModels:
    """Models created during a dry run (name -> CreateModel request)."""

    models: dict[str, dict[str, Any]] = field(default_factory=dict)

    def create(self, step: str, execution: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and record a Model step's request; its Describe response."""
        from constructs_lib.dry_run.registry import validate

        name = f"pipelines-{execution}-{step}"[:63].rstrip("-")
        validate(step, "CreateModel", {**request, "ModelName": name})
        containers = request.get("Containers") or [request.get("PrimaryContainer") or {}]
        if len(containers) != 1:
            raise DryRunError(
                step, "Arguments.Containers", "one container (an inference pipeline is not run)"
            )
        self.models[name] = dict(request)
        return {
            **request,
            "ModelName": name,
            "ModelArn": f"arn:aws:sagemaker:::model/{name.lower()}",
            "CreationTime": "",
        }

    def container(self, step: str, where: str, name: str) -> dict[str, Any]:
        if name not in self.models:
            raise NotResolvable(
                f"model {name!r} is not created by this pipeline (a model made at deploy time"
                " exists only in the account)"
            )
        request = self.models[name]
        return dict((request.get("Containers") or [request.get("PrimaryContainer") or {}])[0])


Invoke = Callable[[bytes, str, str], tuple[int, bytes]]
"""(body, content type, accept) -> (status, body)."""


def serve(step: str, container: Mapping[str, Any], s3: LocalS3, scratch: Path) -> Invoke:
    """A function answering requests with the container's model and inference code."""
    where = "PrimaryContainer"
    data = container.get("ModelDataUrl")
    if not isinstance(data, str) or not data.startswith("s3://"):
        raise DryRunError(step, f"{where}.ModelDataUrl", f"an s3:// model archive, not {data!r}")
    bucket, key = split_uri(data)
    archive = s3.file(bucket, key)
    if not archive.is_file():
        raise DryRunError(step, f"{where}.ModelDataUrl", f"an object at {data} (there is none)")
    model_dir = scratch / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:gz") as opened:
        opened.extractall(model_dir, filter="data")
    environment = container.get("Environment") or {}
    program = str(environment.get("SAGEMAKER_PROGRAM", ""))
    submit = str(environment.get("SAGEMAKER_SUBMIT_DIRECTORY", OPT_ML_MODEL + "/code"))
    if not program:
        raise DryRunError(
            step,
            f"{where}.Environment.SAGEMAKER_PROGRAM",
            "the inference program (the dry run serves framework containers' script mode only)",
        )
    if submit.startswith("s3://"):
        code = scratch / "code"
        code.mkdir(exist_ok=True)
        code_bucket, code_key = split_uri(submit)
        with tarfile.open(s3.file(code_bucket, code_key), "r:gz") as opened:
            opened.extractall(code, filter="data")
    elif submit == OPT_ML_MODEL or submit.startswith(OPT_ML_MODEL + "/"):
        code = model_dir / submit[len(OPT_ML_MODEL) :].lstrip("/")
    else:
        raise DryRunError(
            step,
            f"{where}.Environment.SAGEMAKER_SUBMIT_DIRECTORY",
            f"an s3:// archive or a folder under {OPT_ML_MODEL}, not {submit!r}",
        )
    if not (code / program).is_file():
        have = sorted(p.name for p in code.glob("*")) if code.is_dir() else []
        raise DryRunError(
            step,
            f"{where}.Environment.SAGEMAKER_PROGRAM",
            f"{program} in {submit} (has: {', '.join(have) or 'nothing'})",
        )
    module = _load(code / program)
    model = module.model_fn(str(model_dir))

    def invoke(body: bytes, content_type: str, accept: str) -> tuple[int, bytes]:
        data = module.input_fn(body, content_type)
        prediction = module.predict_fn(data, model)
        return _reply(module.output_fn(prediction, accept))

    return invoke


def _load(path: Path) -> ModuleType:
    name = f"_dry_run_inference_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(path.parent))  # its helpers sit beside it, as in the container
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    missing = [
        f for f in ("model_fn", "input_fn", "predict_fn", "output_fn") if not hasattr(module, f)
    ]
    if missing:
        raise DryRunError(
            str(path), "SAGEMAKER_PROGRAM", f"handlers {', '.join(missing)} in {path.name}"
        )
    return module


def _reply(result: Any) -> tuple[int, bytes]:
    if hasattr(result, "status") and hasattr(result, "body"):
        status, body = int(result.status), result.body
    elif isinstance(result, tuple):
        status, body = 200, result[0]
    else:
        status, body = 200, result
    if isinstance(body, str):
        body = body.encode()
    elif not isinstance(body, bytes | bytearray):
        body = json.dumps(body).encode()
    return status, bytes(body)


@dataclass
class Transformed:
    objects: int
    records: int
    requests: int
    warnings: list[str]


def transform(step: str, request: Mapping[str, Any], invoke: Invoke, s3: LocalS3) -> Transformed:
    """Score every input object as batch transform does; what was done."""
    source = request.get("TransformInput", {})
    output = request.get("TransformOutput", {})
    uri = str(source.get("DataSource", {}).get("S3DataSource", {}).get("S3Uri", ""))
    objects = s3.objects(uri)
    if not objects:
        raise DryRunError(
            step, "TransformInput.DataSource.S3DataSource.S3Uri", f"objects under {uri} (none)"
        )
    split = str(source.get("SplitType", "None"))
    if split not in ("None", "Line"):
        raise DryRunError(
            step, "TransformInput.SplitType", f"None or Line (the dry run splits no {split})"
        )
    strategy = str(request.get("BatchStrategy", "MultiRecord"))
    limit = int(request.get("MaxPayloadInMB", 6)) * 1024 * 1024
    content_type = str(source.get("ContentType", "application/octet-stream"))
    accept = str(output.get("Accept", "application/json"))
    joiner = b"\n" if output.get("AssembleWith", "None") == "Line" else b""
    target = str(output.get("S3OutputPath", "")).rstrip("/")
    prefix = uri if uri.endswith("/") else uri.rsplit("/", 1)[0] + "/"
    _, prefix_key = split_uri(prefix)
    records = requests = 0
    warnings = []
    if source.get("CompressionType", "None") not in ("None", None):
        raise DryRunError(
            step, "TransformInput.CompressionType", "None (the dry run reads no Gzip)"
        )
    for key, path in sorted(objects.items()):
        data = path.read_bytes()
        items = [line for line in data.splitlines() if line.strip()] if split == "Line" else [data]
        batches: list[list[bytes]] = []
        for item in items:
            if len(item) > limit:
                raise DryRunError(
                    step, "MaxPayloadInMB", f"records up to {limit} bytes; {key} has a longer one"
                )
            last = batches[-1] if batches else None
            if (
                strategy == "MultiRecord"
                and last is not None
                and sum(len(i) + 1 for i in last) + len(item) <= limit
            ):
                last.append(item)
            else:
                batches.append([item])
        answers = []
        for batch in batches:
            status, body = invoke(b"\n".join(batch), content_type, accept)
            requests += 1
            if status >= 400:
                raise DryRunError(
                    step,
                    "TransformInput",
                    f"the model to answer {key} (it answered {status}: {body[:200]!r})",
                )
            answers.append(body.rstrip(b"\n") if joiner else body)
        records += len(items)
        relative = key[len(prefix_key) :] if key.startswith(prefix_key) else key.rsplit("/", 1)[-1]
        out_bucket, out_key = split_uri(f"{target}/{relative}.out")
        s3.put(out_bucket, out_key, joiner.join(answers) + (joiner if joiner else b""))
    if request.get("DataCaptureConfig"):
        warnings.append("DataCaptureConfig is not emulated: no capture files are written")
    return Transformed(len(objects), records, requests, warnings)
