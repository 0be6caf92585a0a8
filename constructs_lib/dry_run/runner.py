"""Runs one pipeline of an assembly, step by step, as a SageMaker execution would.

`dry_run(assembly, options)` checks every selected pipeline's definition (`checks`),
seeds the local S3 tree (staged step code from the assembly; datasets), then runs the
steps in dependency order: job steps through `containers`, conditions and `Fail` through
`expressions`, registration and the approval function through `registry`. Each step's
`CacheConfig` is honoured with a key made of the step's resolved cache attributes (the
ones SageMaker compares) and the content of every object its inputs read.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import secrets
import string
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from constructs_lib.dry_run import analyses, checks, containers, expressions, models, standins
from constructs_lib.dry_run.assembly import Assembly, PipelineSource
from constructs_lib.dry_run.errors import DryRunError
from constructs_lib.dry_run.localfs import LocalS3, split_uri
from constructs_lib.dry_run.registry import ApprovalOutcome, LocalCloud, validate

CACHE_ATTRIBUTES = {
    "Processing": ("AppSpecification", "Environment", "ProcessingInputs"),
    "Training": (
        "AlgorithmSpecification",
        "CheckpointConfig",
        "DebugHookConfig",
        "DebugRuleConfigurations",
        "Environment",
        "HyperParameters",
        "InputDataConfig",
    ),
}
CACHE_ATTRIBUTES["QualityCheck"] = CACHE_ATTRIBUTES["ClarifyCheck"] = CACHE_ATTRIBUTES["Processing"]
"""What SageMaker compares to reuse a step (its "default cache key attributes")."""
SUPPORTED = (
    "Processing",
    "Training",
    "QualityCheck",
    "ClarifyCheck",
    "Model",
    "Transform",
    "Condition",
    "Fail",
    "RegisterModel",
)
_DURATION = re.compile(
    r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$", re.I
)


@dataclass
class Options:
    """How to run. Every field has a default."""

    workdir: Path = Path(".dry-run")
    """Where the local S3 tree (`s3/`), the step folders (`runs/`) and the cache live."""
    parameters: dict[str, str] = field(default_factory=dict)
    """Pipeline parameter overrides, as text (converted to each parameter's type)."""
    datasets: dict[str, Path] = field(default_factory=dict)
    """S3 URI -> local file or folder to seed there before the run."""
    dataset_module: str = "pipelines.{package}.dataset"
    """Where a pipeline declares its local dataset: a module with `local_dataset(path)` or
    `write_dataset(path)`; `{package}` is the pipeline name with '-' as '_'."""
    container_paths: str = "auto"
    """`namespace`, `rewrite` or `auto` (namespace where unshare -Urm works)."""
    cache: bool = True
    approve: bool = True
    """Stand in for the reviewer: approve a package the approval policy leaves pending."""
    repo_root: Path | None = None
    """Where the promotion manifest the approval function edits is read from."""
    python: str = sys.executable
    echo: Callable[[str], None] = print


@dataclass
class StepRun:
    name: str
    type: str
    status: str = "NotRun"
    """Succeeded, Failed, Skipped (branch not taken) or NotRun (after a failure)."""
    ran: str = "-"
    """REAL, STAND-IN, CACHED, or EVALUATED for steps that run no job."""
    seconds: float = 0.0
    note: str = ""
    warnings: list[str] = field(default_factory=list)


@dataclass
class PipelineRun:
    pipeline: str
    stack: str
    execution_id: str
    mode: str
    steps: list[StepRun] = field(default_factory=list)
    status: str = "Executing"
    """Succeeded, Failed (a step failed or a Fail step ran) or Invalid (a wiring error)."""
    error: str | None = None
    seconds: float = 0.0
    approval: ApprovalOutcome | None = None
    warnings: list[str] = field(default_factory=list)
    models: models.LocalModels = field(default_factory=models.LocalModels, repr=False)
    """Models the run's Model steps created."""
    assembly: Assembly | None = field(default=None, repr=False)

    def step(self, name: str) -> StepRun:
        return next(s for s in self.steps if s.name == name)


def execution_id() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(12))


def seed_staged_code(assembly: Assembly, s3: LocalS3) -> int:
    objects = assembly.staged_objects()
    for item in objects:
        s3.put(item.bucket, item.key, item.read())
    return len(objects)


def seed_datasets(
    source: PipelineSource, values: Mapping[str, Any], s3: LocalS3, options: Options
) -> list[str]:
    """Seed explicit datasets, then each empty s3:// String parameter from the package's
    dataset module; notes for the report."""
    notes = []
    for uri, path in options.datasets.items():
        if not path.exists():
            raise DryRunError(
                "dry run", "--dataset", f"a local file or folder for {uri}; {path} does not exist"
            )
        bucket, key = split_uri(uri)
        if path.is_file():
            s3.put(
                bucket, key + path.name if key.endswith("/") or not key else key, path.read_bytes()
            )
        for file in sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else []:
            s3.put(
                bucket,
                f"{key.rstrip('/')}/{file.relative_to(path).as_posix()}".lstrip("/"),
                file.read_bytes(),
            )
        notes.append(f"seeded {uri} from {path}")
    for name, value in values.items():
        if not isinstance(value, str) or not value.startswith("s3://") or s3.objects(value):
            continue
        writer = _dataset_writer(source.name, options.dataset_module)
        if writer is None:
            notes.append(
                f"parameter {name}: {value} holds nothing; pass --dataset {value}=<file> or give"
                f" {options.dataset_module.format(package=_package(source.name))} a write_dataset(path)"
            )
            continue
        bucket, key = split_uri(value)
        target = s3.file(
            bucket, key.rstrip("/") + "/dataset.csv" if key.endswith("/") or not key else key
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        writer(target)
        notes.append(f"seeded {name} ({value}) from {writer.__module__}")
    return notes


def _package(pipeline: str) -> str:
    return pipeline.replace("-", "_")


def _dataset_writer(pipeline: str, template: str) -> Callable[[Path], Any] | None:
    try:
        module = importlib.import_module(template.format(package=_package(pipeline)))
    except ImportError:
        return None
    for name in ("local_dataset", "write_dataset"):
        writer = getattr(module, name, None)
        if callable(writer):
            return writer  # type: ignore[no-any-return]
    return None


def run_pipeline(
    assembly: Assembly, source: PipelineSource, options: Options, s3: LocalS3
) -> PipelineRun:
    echo = options.echo
    started = time.monotonic()
    mode = containers.choose_mode(options.container_paths)
    run = PipelineRun(source.name, source.stack.name, execution_id(), mode, assembly=assembly)
    definition = source.definition
    try:
        graph, values = checks.check(definition, options.parameters)
    except DryRunError as error:
        run.status, run.error = "Invalid", str(error)
        return run
    order = graph.order()
    run.steps = [StepRun(name, graph.steps[name].type) for name in order]
    arn = f"arn:aws:sagemaker:{source.stack.region}:{source.stack.account}:pipeline/{source.name}"
    context = expressions.Context(
        parameters=values,
        execution={
            "PipelineExecutionId": run.execution_id,
            "PipelineExecutionArn": f"{arn}/execution/{run.execution_id}",
            "PipelineName": source.name,
            "PipelineArn": arn,
            "StartDateTime": datetime.now(UTC).isoformat(),
            "CurrentDateTime": datetime.now(UTC).isoformat(),
        },
    )
    runtime = containers.Runtime(mode, options.python)
    folder = options.workdir / "runs" / source.name / run.execution_id
    try:
        _preflight(graph, s3)
        for note in seed_datasets(source, values, s3, options):
            echo(f"  {note}")
        folder.mkdir(parents=True, exist_ok=True)
        with LocalCloud(
            assembly, source.stack, options.repo_root, folder / "approval.log"
        ) as cloud:
            _execute(run, graph, order, context, s3, runtime, folder, cloud, options)
    except DryRunError as error:
        run.status, run.error = "Invalid", str(error)
    except containers.JobFailed as error:
        run.status, run.error = "Failed", str(error)
    run.seconds = time.monotonic() - started
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(json.dumps(summary(run), indent=2, default=str))
    return run


def _preflight(graph: checks.Graph, s3: LocalS3) -> None:
    """Before anything runs: every script and program named is in the code staged for it."""
    for name, info in graph.steps.items():
        arguments = info.step.get("Arguments", {})
        if info.type in ("Processing", "Training"):
            containers.check_entrypoint(name, arguments, s3, info.type)
        if info.type in ("Processing", "QualityCheck", "ClarifyCheck"):
            _check_processing_paths(name, arguments)
        if info.type == "Training":
            _check_program(name, arguments, s3)


def _check_processing_paths(step: str, arguments: Mapping[str, Any]) -> None:
    """Every input and output of a processing job is under /opt/ml/processing/."""
    outputs = arguments.get("ProcessingOutputConfig", {}).get("Outputs", []) or []
    places = [
        (f"ProcessingInputs[{i}].S3Input.LocalPath", x.get("S3Input", {}).get("LocalPath"))
        for i, x in enumerate(arguments.get("ProcessingInputs", []) or [])
    ] + [
        (
            f"ProcessingOutputConfig.Outputs[{i}].S3Output.LocalPath",
            x.get("S3Output", {}).get("LocalPath"),
        )
        for i, x in enumerate(outputs)
    ]
    for where, local in places:
        if isinstance(local, str) and not local.startswith(f"{containers.OPT_ML}/processing/"):
            raise DryRunError(
                step, where, f"a path under {containers.OPT_ML}/processing/, not {local!r}"
            )


def _check_program(step: str, arguments: Mapping[str, Any], s3: LocalS3) -> None:
    import io
    import tarfile

    hyperparameters = arguments.get("HyperParameters", {}) or {}
    program, submit = (
        hyperparameters.get("sagemaker_program"),
        hyperparameters.get("sagemaker_submit_directory"),
    )
    if not isinstance(program, str) or not isinstance(submit, str):
        return
    program, submit = program.strip('"'), submit.strip('"')
    archive: Path | None = None
    names: list[str] | None = None
    if submit.startswith("s3://"):
        bucket, key = split_uri(submit)
        archive = s3.file(bucket, key)
        if not archive.is_file():
            raise DryRunError(
                step,
                "HyperParameters.sagemaker_submit_directory",
                f"an object at {submit} (there is none)",
            )
    else:  # a path inside the container: an input channel (network isolation)
        for channel in arguments.get("InputDataConfig", []) or []:
            uri = channel.get("DataSource", {}).get("S3DataSource", {}).get("S3Uri")
            local = f"{containers.OPT_ML}/input/data/{channel.get('ChannelName')}"
            if not isinstance(uri, str) or not (submit.rstrip("/") + "/").startswith(local + "/"):
                continue
            listing = s3.listing(uri)
            inside = submit.rstrip("/")[len(local) :].lstrip("/")
            if not inside:
                names = sorted(listing)
            elif inside in listing:
                archive = listing[inside]
            else:
                raise DryRunError(
                    step,
                    "HyperParameters.sagemaker_submit_directory",
                    f"{submit} among what channel {channel.get('ChannelName')!r} downloads"
                    f" (has: {', '.join(sorted(listing)) or 'nothing'})",
                )
    if archive is not None:
        with tarfile.open(fileobj=io.BytesIO(archive.read_bytes())) as opened:
            names = [n.removeprefix("./") for n in opened.getnames()]
    if names is not None and program not in names:
        raise DryRunError(
            step,
            "HyperParameters.sagemaker_program",
            f"{program} in the submitted code {submit} (has: {', '.join(sorted(names))})",
        )


def _execute(
    run: PipelineRun,
    graph: checks.Graph,
    order: list[str],
    context: expressions.Context,
    s3: LocalS3,
    runtime: containers.Runtime,
    folder: Path,
    cloud: LocalCloud,
    options: Options,
) -> None:
    echo = options.echo
    taken: dict[str, str] = {}
    """Condition step -> the branch it took."""
    for name in order:
        info = graph.steps[name]
        record = run.step(name)
        if info.condition is not None and taken.get(info.condition) != info.branch:
            record.status = "Skipped"
            continue
        if info.type not in SUPPORTED:
            raise DryRunError(
                name,
                "Type",
                f"a step type the dry run runs ({', '.join(SUPPORTED)}), not {info.type!r}",
            )
        echo(f"  > {name} ({info.type})")
        started = time.monotonic()
        try:
            _step(run, record, info, context, s3, runtime, folder, cloud, options, taken)
        except (DryRunError, containers.JobFailed):
            record.status, record.seconds = "Failed", time.monotonic() - started
            echo(f"    {name}: Failed after {record.seconds:.1f}s")
            raise
        record.seconds = time.monotonic() - started
        flag = f" [{record.ran}]" if record.ran != "-" else ""
        echo(f"    {name}: {record.status}{flag} {record.seconds:.1f}s {record.note}".rstrip())
        for warning in record.warnings:
            echo(f"    warning: {warning}")
        if record.status == "Failed":
            run.status = "Failed"
            return
        if record.status == "NotRun":
            run.warnings.append(f"{name}: not run ({record.note})")
    run.status = "Succeeded"


def _step(
    run: PipelineRun,
    record: StepRun,
    info: checks.StepInfo,
    context: expressions.Context,
    s3: LocalS3,
    runtime: containers.Runtime,
    folder: Path,
    cloud: LocalCloud,
    options: Options,
    taken: dict[str, str],
) -> None:
    name, step = info.name, info.step
    arguments = step.get("Arguments", {})
    if info.type == "Condition":
        outcome = all(
            expressions.condition(spec, context, name, f"Conditions[{i}]")
            for i, spec in enumerate(arguments.get("Conditions", []))
        )
        taken[name] = "IfSteps" if outcome else "ElseSteps"
        context.properties[name] = {"Outcome": outcome}
        record.status, record.ran, record.note = (
            "Succeeded",
            "EVALUATED",
            f"-> {taken[name]} (Outcome {outcome})",
        )
        return
    if info.type == "Fail":
        message = expressions.render(
            expressions.evaluate(arguments.get("ErrorMessage", ""), context, name, "ErrorMessage")
        )
        record.status, record.ran, record.note = "Failed", "EVALUATED", message
        run.error = f"{name}: {message}"
        return
    request = expressions.evaluate(arguments, context, name, "")
    if info.type == "Model":
        context.properties[name] = run.models.create(name, run.execution_id, request)
        record.status, record.ran = "Succeeded", "EVALUATED"
        record.note = f"model {context.properties[name]['ModelName']} (CreateModel valid)"
        return
    if info.type == "Transform":
        _transform(run, record, info, request, context, s3, folder)
        return
    if info.type in checks.CHECK_PROPERTIES:
        _check_step(run, record, info, request, context, s3, runtime, folder, cloud, options)
        return
    if info.type == "RegisterModel":
        _check_metrics_sources(name, request, s3)
        package = cloud.register(name, request, s3)
        context.properties[name] = package
        record.status, record.ran = "Succeeded", "REAL"
        record.note = f"{package['ModelPackageArn']} ({package.get('ModelApprovalStatus')})"
        run.approval = cloud.deliver(str(package["ModelPackageArn"]), options.approve)
        for delivery in run.approval.deliveries:
            if delivery.error:
                raise DryRunError(
                    name,
                    "approval",
                    f"{delivery.function} handled the event without error; got {delivery.error}",
                )
        return
    job_name = f"pipelines-{run.execution_id}-{name}"[:63].rstrip("-")
    operation = "CreateProcessingJob" if info.type == "Processing" else "CreateTrainingJob"
    name_key = "ProcessingJobName" if info.type == "Processing" else "TrainingJobName"
    validate(name, operation, {**request, name_key: job_name})
    cache = _cache(step, request, s3, options)
    hit = cache.read() if cache else None
    if hit is not None:
        context.properties[name] = hit["properties"]
        context.property_files[name] = {k: (v[0], v[1]) for k, v in hit["property_files"].items()}
        record.status, record.ran, record.note = (
            "Succeeded",
            "CACHED",
            f"from execution {hit['execution']}",
        )
        return
    runner = containers.run_processing if info.type == "Processing" else containers.run_training
    result = runner(name, request, s3, folder / name, runtime, job_name)
    context.properties[name] = result.properties
    context.property_files[name] = _property_files(info, result.properties, s3)
    record.status, record.ran, record.note, record.warnings = (
        "Succeeded",
        result.ran,
        result.note,
        result.warnings,
    )
    if cache:
        cache.write(run.execution_id, result.properties, context.property_files[name])


def _property_files(
    info: checks.StepInfo, properties: Mapping[str, Any], s3: LocalS3
) -> dict[str, tuple[str, Any]]:
    """Each declared property file, read from the S3 output it names (as SageMaker does)."""
    files: dict[str, tuple[str, Any]] = {}
    outputs = {
        o.get("OutputName"): o
        for o in properties.get("ProcessingOutputConfig", {}).get("Outputs", [])
    }
    for position, spec in enumerate(info.step.get("PropertyFiles", []) or []):
        output = outputs[spec.get("OutputName")]
        uri = str(output["S3Output"]["S3Uri"]).rstrip("/")
        file_path = str(spec.get("FilePath", ""))
        bucket, key = split_uri(f"{uri}/{file_path}")
        path = s3.file(bucket, key)
        if not path.is_file():
            have = ", ".join(sorted(s3.listing(uri))) or "nothing"
            raise DryRunError(
                info.name,
                f"PropertyFiles[{position}].FilePath",
                f"{file_path} written to output {spec.get('OutputName')!r} (it holds: {have})",
            )
        try:
            files[str(spec.get("PropertyFileName"))] = (file_path, json.loads(path.read_text()))
        except ValueError as error:
            raise DryRunError(
                info.name,
                f"PropertyFiles[{position}].FilePath",
                f"{file_path} holding JSON ({error})",
            ) from error
    return files


@dataclass
class _Cache:
    file: Path
    expires: timedelta

    def read(self) -> dict[str, Any] | None:
        if not self.file.is_file():
            return None
        record: dict[str, Any] = json.loads(self.file.read_text())
        if datetime.fromisoformat(record["created"]) + self.expires < datetime.now(UTC):
            return None
        return record

    def write(
        self, execution: str, properties: Mapping[str, Any], files: Mapping[str, tuple[str, Any]]
    ) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "created": datetime.now(UTC).isoformat(),
            "execution": execution,
            "properties": properties,
            "property_files": {k: list(v) for k, v in files.items()},
        }
        partial = self.file.with_suffix(".tmp")
        partial.write_text(json.dumps(record, default=str))
        partial.replace(self.file)


def _cache(
    step: Mapping[str, Any], request: Mapping[str, Any], s3: LocalS3, options: Options
) -> _Cache | None:
    config = step.get("CacheConfig") or {}
    if not options.cache or not config.get("Enabled"):
        return None
    kind = str(step.get("Type"))
    attributes = {k: request.get(k) for k in CACHE_ATTRIBUTES.get(kind, ())}
    digest = hashlib.sha256(json.dumps([kind, attributes], sort_keys=True, default=str).encode())
    for uri in sorted(_input_uris(request)):
        for key, path in sorted(s3.objects(uri).items()):
            digest.update(key.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    folder = s3.root / "_cache" / str(step.get("Name"))
    return _Cache(
        folder / f"{digest.hexdigest()[:32]}.json",
        _duration(str(config.get("ExpireAfter", "P30D"))),
    )


def _input_uris(request: Mapping[str, Any]) -> list[str]:
    uris = [
        str(i.get("S3Input", {}).get("S3Uri"))
        for i in request.get("ProcessingInputs", []) or []
        if "S3Input" in i
    ]
    uris += [
        str(c.get("DataSource", {}).get("S3DataSource", {}).get("S3Uri"))
        for c in request.get("InputDataConfig", []) or []
    ]
    submit = str(request.get("HyperParameters", {}).get("sagemaker_submit_directory", "")).strip(
        '"'
    )
    if submit.startswith("s3://"):
        uris.append(submit)
    return [u for u in uris if u.startswith("s3://")]


def _duration(text: str) -> timedelta:
    match = _DURATION.match(text)
    if not match:
        return timedelta(days=30)
    years, months, weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(
        days=365 * years + 30 * months + 7 * weeks + days,
        hours=hours,
        minutes=minutes,
        seconds=seconds,
    )


def summary(run: PipelineRun) -> dict[str, Any]:
    """The run as JSON (what `--json` writes)."""
    approval = None
    if run.approval is not None:
        approval = {
            "package": run.approval.package_arn,
            "statuses": run.approval.statuses,
            "deliveries": [
                {
                    "function": d.function,
                    "status": d.event["detail"].get("ModelApprovalStatus"),
                    "result": d.result,
                    "error": d.error,
                }
                for d in run.approval.deliveries
            ],
            "pull_requests": [
                {
                    "number": p.number,
                    "title": p.title,
                    "head": p.head,
                    "base": p.base,
                    "changes": p.changes,
                }
                for p in run.approval.pull_requests
            ],
            "notifications": run.approval.notifications,
        }
    return {
        "pipeline": run.pipeline,
        "stack": run.stack,
        "execution": run.execution_id,
        "container_paths": run.mode,
        "status": run.status,
        "error": run.error,
        "seconds": round(run.seconds, 2),
        "steps": [
            {
                "name": s.name,
                "type": s.type,
                "status": s.status,
                "ran": s.ran,
                "seconds": round(s.seconds, 2),
                "note": s.note,
                "warnings": s.warnings,
            }
            for s in run.steps
        ],
        "approval": approval,
    }


def dry_run(
    assembly: Assembly | Path | str,
    options: Options | None = None,
    pipelines: list[str] | None = None,
) -> list[PipelineRun]:
    """Run every pipeline of `assembly` (or those named in `pipelines`)."""
    options = options or Options()
    loaded = assembly if isinstance(assembly, Assembly) else Assembly.load(assembly)
    sources = loaded.pipelines()
    if pipelines:
        known = {s.name for s in sources}
        unknown = sorted(set(pipelines) - known)
        if unknown:
            raise DryRunError(
                "assembly",
                "PIPELINE",
                f"pipeline names of the assembly ({', '.join(sorted(known))}); got {unknown}",
            )
        sources = [s for s in sources if s.name in pipelines]
    s3 = LocalS3(options.workdir / "s3")
    seed_staged_code(loaded, s3)
    runs = []
    for source in sources:
        options.echo(f"{source.name} ({source.stack.name})")
        runs.append(run_pipeline(loaded, source, options, s3))
    return runs


# -- check steps, models and transforms ------------------------------------------------


def _check_step(
    run: PipelineRun,
    record: StepRun,
    info: checks.StepInfo,
    request: dict[str, Any],
    context: expressions.Context,
    s3: LocalS3,
    runtime: containers.Runtime,
    folder: Path,
    cloud: LocalCloud,
    options: Options,
) -> None:
    """A QualityCheck or ClarifyCheck step: its processing job (a stand-in), then the
    baseline properties and, unless SkipCheck, the drift check against the baseline."""
    name, step = info.name, info.step
    fields = {
        key: expressions.evaluate(step.get(key), context, name, key) for key in checks.CHECK_FIELDS
    }
    kind = info.type
    allowed = {
        "QualityCheck": ("DATA_QUALITY", "MODEL_QUALITY"),
        "ClarifyCheck": ("DATA_BIAS", "MODEL_BIAS", "MODEL_EXPLAINABILITY"),
    }[kind]
    if step.get("CheckType") not in allowed:
        raise DryRunError(
            name, "CheckType", f"one of {', '.join(allowed)}; got {step.get('CheckType')!r}"
        )
    for key in ("SkipCheck", "FailOnViolation", "RegisterNewBaseline"):
        if fields[key] is not None and not isinstance(fields[key], bool):
            raise DryRunError(name, key, f"a Boolean; got {fields[key]!r}")
    job_name = f"pipelines-{run.execution_id}-{name}"[:63].rstrip("-")
    validate(name, "CreateProcessingJob", {**request, "ProcessingJobName": job_name})
    outputs = request.get("ProcessingOutputConfig", {}).get("Outputs", []) or []
    if len(outputs) != 1:
        raise DryRunError(
            name, "ProcessingOutputConfig.Outputs", "one output (the check's results)"
        )
    image = str(request.get("AppSpecification", {}).get("ImageUri", ""))
    expected_image = (
        "sagemaker-model-monitor-analyzer"
        if kind == "QualityCheck"
        else "sagemaker-clarify-processing"
    )
    if standins.repository(image) != expected_image:
        raise DryRunError(
            name, "AppSpecification.ImageUri", f"the {expected_image} image; got {image!r}"
        )
    cache = _cache(step, request, s3, options)
    hit = cache.read() if cache else None
    if hit is not None:
        context.properties[name] = hit["properties"]
        record.status, record.ran, record.note = (
            "Succeeded",
            "CACHED",
            f"from execution {hit['execution']}",
        )
        return
    predictor = None
    if step.get("CheckType") != "DATA_BIAS" and kind == "ClarifyCheck":
        model_name = fields["ModelName"]
        if not isinstance(model_name, str):
            raise DryRunError(name, "ModelName", "the name of the model the analysis calls")
        try:
            container = run.models.container(name, "ModelName", model_name)
        except models.NotResolvable as error:
            raise DryRunError(name, "ModelName", str(error)) from error
        serving = models.serve(name, container, s3, folder / name / "serving")

        def predictor(config: Mapping[str, Any]) -> analyses.Predict:
            settings = config.get("predictor", {})
            content_type = str(settings.get("content_type", "text/csv"))
            accept = str(settings.get("accept_type", "application/json"))

            def predict(rows: list[list[float]]) -> Any:
                body = "\n".join(",".join(repr(float(v)) for v in row) for row in rows).encode()
                status, answer = serving(body, content_type, accept)
                if status >= 400:
                    raise analyses.AnalysisError(
                        "ModelName",
                        f"the model to answer {content_type} (it answered {status}: {answer[:200]!r})",
                    )
                return analyses.scores_of(answer, settings)

            return predict

    result = containers.run_processing(
        name, request, s3, folder / name, runtime, job_name, predictor
    )
    folder_uri = str(outputs[0].get("S3Output", {}).get("S3Uri", "")).rstrip("/")
    files = (
        ("analysis.json",) if kind == "ClarifyCheck" else ("statistics.json", "constraints.json")
    )
    for file in files:
        bucket, key = split_uri(f"{folder_uri}/{file}")
        if not s3.file(bucket, key).is_file():
            raise DryRunError(name, "ProcessingOutputConfig.Outputs[0]", f"{file} in {folder_uri}")
    calculated = {"CalculatedBaselineConstraints": f"{folder_uri}/{files[-1]}"}
    if kind == "QualityCheck":
        calculated["CalculatedBaselineStatistics"] = f"{folder_uri}/statistics.json"
    supplied = {
        "BaselineUsedForDriftCheckConstraints": fields["SuppliedBaselineConstraints"],
        "BaselineUsedForDriftCheckStatistics": fields["SuppliedBaselineStatistics"],
    }
    if kind == "ClarifyCheck":
        del supplied["BaselineUsedForDriftCheckStatistics"]
    previous = {k: v for k, v in supplied.items() if v} or _approved_baselines(
        cloud, fields["ModelPackageGroupName"], str(step.get("CheckType")), kind
    )
    violations: list[dict[str, Any]] = []
    note = result.note
    if not fields["SkipCheck"]:
        constraints = previous.get("BaselineUsedForDriftCheckConstraints")
        if not constraints:
            raise containers.JobFailed(
                name,
                "SkipCheck is false but there is no baseline to check against (no"
                " SuppliedBaselineConstraints, no approved version in the group); skip the check"
                " on a first run",
                result.log or folder / name,
            )
        violations = _violations(kind, str(constraints), calculated, s3)
        bucket, key = split_uri(f"{folder_uri}/constraint_violations.json")
        s3.put(bucket, key, json.dumps({"violations": violations}, indent=2).encode())
        note += f"; drift check: {len(violations)} violation(s)"
        if violations and fields["FailOnViolation"] is not False:
            raise containers.JobFailed(
                name,
                "violations: " + "; ".join(str(v["description"]) for v in violations[:5]),
                result.log or folder,
            )
    if fields["RegisterNewBaseline"]:
        used = {
            k.replace("CalculatedBaseline", "BaselineUsedForDriftCheck"): v
            for k, v in calculated.items()
        }
    else:
        used = previous
        if not used:
            raise containers.JobFailed(
                name,
                "RegisterNewBaseline is false, so a previous baseline must exist (supplied, or"
                " an approved version's DriftCheckBaselines); there is none",
                result.log or folder,
            )
    properties = {
        "CheckType": step.get("CheckType"),
        "CheckJobArn": f"arn:aws:sagemaker:::processing-job/{job_name}",
        "ModelPackageGroupName": fields["ModelPackageGroupName"],
        "SkipCheck": bool(fields["SkipCheck"]),
        "RegisterNewBaseline": bool(fields["RegisterNewBaseline"]),
        **calculated,
        **used,
    }
    if not fields["SkipCheck"]:
        properties["ViolationReport"] = f"{folder_uri}/constraint_violations.json"
    context.properties[name] = properties
    record.status, record.ran, record.note, record.warnings = (
        "Succeeded",
        result.ran,
        note,
        result.warnings,
    )
    if cache:
        cache.write(run.execution_id, properties, {})


def _approved_baselines(
    cloud: LocalCloud, group: Any, check_type: str, kind: str
) -> dict[str, str]:
    """The drift-check baselines of the group's latest approved version, if any."""
    if not isinstance(group, str) or not group:
        return {}
    sagemaker = cloud.client("sagemaker")
    try:
        found = sagemaker.list_model_packages(
            ModelPackageGroupName=group,
            ModelApprovalStatus="Approved",
            SortBy="CreationTime",
            SortOrder="Descending",
        )["ModelPackageSummaryList"]
    except Exception:
        return {}
    if not found:
        return {}
    package = sagemaker.describe_model_package(ModelPackageName=found[0]["ModelPackageArn"])
    section = {
        "DATA_QUALITY": ("ModelDataQuality", "Constraints", "Statistics"),
        "MODEL_QUALITY": ("ModelQuality", "Constraints", "Statistics"),
        "DATA_BIAS": ("Bias", "PreTrainingConstraints", None),
        "MODEL_BIAS": ("Bias", "PostTrainingConstraints", None),
        "MODEL_EXPLAINABILITY": ("Explainability", "Constraints", None),
    }[check_type]
    baselines = package.get("DriftCheckBaselines", {}).get(section[0], {})
    result = {}
    if section[1] in baselines:
        result["BaselineUsedForDriftCheckConstraints"] = str(baselines[section[1]]["S3Uri"])
    if section[2] and section[2] in baselines and kind == "QualityCheck":
        result["BaselineUsedForDriftCheckStatistics"] = str(baselines[section[2]]["S3Uri"])
    return result


def _violations(
    kind: str, constraints_uri: str, calculated: Mapping[str, str], s3: LocalS3
) -> list[dict[str, Any]]:
    """The stand-in's drift check: model-quality metrics against their thresholds, and
    data-quality completeness; Clarify baselines are not compared (none reported)."""
    bucket, key = split_uri(constraints_uri)
    path = s3.file(bucket, key)
    if not path.is_file():
        raise DryRunError(
            "drift check", "BaselineUsedForDriftCheckConstraints", f"an object at {constraints_uri}"
        )
    baseline = json.loads(path.read_text())
    if kind != "QualityCheck" or "CalculatedBaselineStatistics" not in calculated:
        return []
    bucket, key = split_uri(calculated["CalculatedBaselineStatistics"])
    statistics = json.loads(s3.file(bucket, key).read_text())
    found = []
    for section, limits in baseline.items():
        if not section.endswith("_constraints") or not isinstance(limits, dict):
            continue
        metrics = statistics.get(section.replace("_constraints", "_metrics"), {})
        for metric, limit in limits.items():
            value = metrics.get(metric, {}).get("value")
            if value is None:
                continue
            operator, threshold = limit.get("comparison_operator"), float(limit.get("threshold"))
            if (operator == "LessThanThreshold" and value < threshold) or (
                operator == "GreaterThanThreshold" and value > threshold
            ):
                found.append(
                    {
                        "constraint_check_type": operator,
                        "metric_name": metric,
                        "description": f"Metric {metric} with {value:.4g} was {operator} '{threshold:.4g}'",
                    }
                )
    completeness = {f["name"]: f.get("completeness") for f in baseline.get("features", [])}
    for feature in statistics.get("features", []):
        stats: dict[str, Any] = next(
            (v for k, v in feature.items() if k.endswith("_statistics")), {}
        )
        common = stats.get("common", {})
        total = common.get("num_present", 0) + common.get("num_missing", 0)
        expected = completeness.get(feature.get("name"))
        if expected is not None and total and common.get("num_present", 0) / total < expected:
            found.append(
                {
                    "feature_name": feature["name"],
                    "constraint_check_type": "completeness_check",
                    "description": f"Data completeness of {feature['name']} is below {expected}",
                }
            )
    return found


def _check_metrics_sources(step: str, request: Mapping[str, Any], s3: LocalS3) -> None:
    """Every ModelMetrics / DriftCheckBaselines source names a JSON object that exists."""
    for section in ("ModelMetrics", "DriftCheckBaselines"):
        for group, files in (request.get(section) or {}).items():
            for file, source in (files or {}).items():
                where = f"Arguments.{section}.{group}.{file}"
                uri = source.get("S3Uri") if isinstance(source, dict) else None
                if not isinstance(uri, str) or not uri.startswith("s3://"):
                    raise DryRunError(step, f"{where}.S3Uri", f"an s3:// URI; got {uri!r}")
                bucket, key = split_uri(uri)
                path = s3.file(bucket, key)
                if not path.is_file():
                    have = ", ".join(sorted(s3.listing(uri.rsplit("/", 1)[0]))) or "nothing"
                    raise DryRunError(
                        step, f"{where}.S3Uri", f"an object at {uri} (the folder holds: {have})"
                    )
                if source.get("ContentType") == "application/json":
                    try:
                        json.loads(path.read_text())
                    except ValueError as error:
                        raise DryRunError(
                            step, f"{where}.S3Uri", f"JSON at {uri} ({error})"
                        ) from error


def _transform(
    run: PipelineRun,
    record: StepRun,
    info: checks.StepInfo,
    request: dict[str, Any],
    context: expressions.Context,
    s3: LocalS3,
    folder: Path,
) -> None:
    name = info.name
    job_name = f"pipelines-{run.execution_id}-{name}"[:63].rstrip("-")
    validate(name, "CreateTransformJob", {**request, "TransformJobName": job_name})
    model_name = str(request.get("ModelName"))
    try:
        container = _model_container(run, name, model_name)
    except models.NotResolvable as error:
        record.status, record.note = "NotRun", str(error)
        return
    serving = models.serve(name, container, s3, folder / name / "serving")
    done = models.transform(name, request, serving, s3)
    context.properties[name] = {
        **request,
        "TransformJobName": job_name,
        "TransformJobArn": f"arn:aws:sagemaker:::transform-job/{job_name}",
        "TransformJobStatus": "Completed",
    }
    record.status, record.ran, record.warnings = "Succeeded", "REAL", done.warnings
    record.note = (
        f"{done.records} records in {done.objects} object(s), {done.requests} request(s) -> .out"
    )


def _model_container(run: PipelineRun, step: str, model_name: str) -> dict[str, Any]:
    """The container of a model this run created, or of the template's
    AWS::SageMaker::Model of that name when it names its image and artifact directly."""
    if model_name in run.models.models:
        return run.models.container(step, "ModelName", model_name)
    if run.assembly is not None:
        from constructs_lib.dry_run.assembly import resources

        for stack in run.assembly.stacks:
            for logical_id, resource in resources(stack, "AWS::SageMaker::Model"):
                names = (
                    run.assembly.resolve(stack, {"Ref": logical_id}),
                    run.assembly.resolve(stack, {"Fn::GetAtt": [logical_id, "ModelName"]}),
                )
                if model_name not in {str(n) for n in names}:
                    continue
                properties = run.assembly.resolve(stack, resource.get("Properties", {}))
                container = (
                    properties.get("PrimaryContainer") or (properties.get("Containers") or [{}])[0]
                )
                if container.get("ModelPackageName"):
                    raise models.NotResolvable(
                        f"model {model_name} serves package {container['ModelPackageName']}, a"
                        " version registered in the account (its artifact is not local)"
                    )
                return dict(container)
    raise models.NotResolvable(
        f"model {model_name!r} is neither created by this pipeline nor an AWS::SageMaker::Model"
        " of the assembly"
    )
