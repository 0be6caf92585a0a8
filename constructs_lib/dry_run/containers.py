"""Processing and training jobs run the way their containers run them, without Docker.

Each job gets its own folder standing for the container's `/opt/ml`: inputs are
downloaded into it from the local S3 tree, the program runs, outputs are uploaded back.
Where the machine allows unprivileged user namespaces (`unshare -Urm`), the program runs
in a private mount namespace whose `/opt/ml` *is* that folder, so the paths in the
definition, the environment and the scripts' own defaults work unchanged (and a step
with network isolation also gets an empty network namespace). Elsewhere the `/opt/ml/`
prefix is rewritten in the arguments and environment only ("rewrite" mode): a program
that falls back to an `/opt/ml` default of its own then fails, which the error shows.
A program named `python`/`python3` runs on the dry run's interpreter.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from constructs_lib.dry_run import analyses, standins
from constructs_lib.dry_run.errors import DryRunError
from constructs_lib.dry_run.localfs import LocalS3, split_uri

OPT_ML = "/opt/ml"
Mode = Literal["namespace", "rewrite"]
_PYTHON = re.compile(r"^python(3(\.\d+)?)?$")
_NAMESPACE_SCRIPT = r"""
set -e
ml="$1"; keep="$2"; cwd="$3"; shift 3
if [ -d /opt/ml ]; then
  mount --bind "$ml" /opt/ml
else
  mount --rbind /opt "$keep"
  mount -t tmpfs dry-run /opt
  for entry in "$keep"/* "$keep"/.[!.]*; do
    [ -e "$entry" ] || [ -L "$entry" ] || continue
    name=${entry##*/}
    if [ -L "$entry" ]; then ln -s "$(readlink "$entry")" "/opt/$name"
    elif [ -d "$entry" ]; then mkdir "/opt/$name"; mount --rbind "$entry" "/opt/$name"
    else touch "/opt/$name"; mount --bind "$entry" "/opt/$name"; fi
  done
  mkdir /opt/ml
  mount --bind "$ml" /opt/ml
fi
cd "$cwd"
exec "$@"
"""


@functools.cache
def namespaces_work() -> bool:
    """Whether `unshare -Urm` works here (and /opt exists to hold /opt/ml)."""
    if shutil.which("unshare") is None or not Path("/opt").is_dir():
        return False
    try:
        done = subprocess.run(
            ["unshare", "--user", "--map-root-user", "--mount", "true"],  # noqa: S607
            capture_output=True,
            timeout=20,
            check=False,
        )
    except OSError:
        return False
    return done.returncode == 0


def choose_mode(requested: str = "auto") -> Mode:
    if requested == "namespace":
        if not namespaces_work():
            raise DryRunError(
                "dry run", "--container-paths", "namespace mode: unshare -Urm fails here"
            )
        return "namespace"
    if requested == "rewrite":
        return "rewrite"
    return "namespace" if namespaces_work() else "rewrite"


@dataclass
class Runtime:
    """How jobs run: container path mode and the interpreter for `python3`."""

    mode: Mode
    python: str = sys.executable
    echo: Callable[[str], None] | None = None


@dataclass
class JobResult:
    """What one job left: its properties (a Describe response) and what it did."""

    properties: dict[str, Any]
    ran: str
    """REAL (the step's own code) or STAND-IN."""
    note: str = ""
    warnings: list[str] = field(default_factory=list)
    log: Path | None = None


class JobFailed(Exception):  # noqa: N818 (a failed job, not an error of the dry run)
    """The job's program exited non-zero (a failed step, not a wiring error)."""

    def __init__(self, step: str, reason: str, log: Path) -> None:
        self.step = step
        self.reason = reason
        self.log = log
        super().__init__(f"{step}: {reason} (log: {log})")


class Job:
    """One job's `/opt/ml` folder and how its program is run."""

    def __init__(self, step: str, folder: Path, runtime: Runtime, network: bool = True) -> None:
        self.step = step
        self.folder = folder
        self.runtime = runtime
        self.network = network
        if folder.exists():
            shutil.rmtree(folder)
        self.opt_ml = folder / "opt_ml"
        self.opt_ml.mkdir(parents=True)
        (folder / "tmp").mkdir()
        (folder / "home").mkdir()

    def local(self, container_path: str) -> Path:
        """The local folder or file that stands for a container path under /opt/ml."""
        if container_path != OPT_ML and not container_path.startswith(OPT_ML + "/"):
            raise ValueError(f"{container_path} is not under {OPT_ML}")
        return self.opt_ml / container_path[len(OPT_ML) :].lstrip("/")

    def _rewrite(self, text: str) -> str:
        if self.runtime.mode == "namespace":
            return text
        return re.sub(r"(?<![\w/])/opt/ml(?=/|$|\s|\")", str(self.opt_ml), text)

    def run(self, argv: list[str], environment: Mapping[str, str], cwd: str) -> tuple[int, str]:
        """Run `argv` as the container would; (exit code, log text)."""
        program = list(argv)
        if program and _PYTHON.match(Path(program[0]).name):
            program[0] = self.runtime.python
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.folder / "home"),
            "TMPDIR": str(self.folder / "tmp"),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            **{k: self._rewrite(str(v)) for k, v in environment.items()},
        }
        program = [self._rewrite(a) for a in program]
        workdir = self._rewrite(cwd)
        if self.runtime.mode == "namespace":
            keep = self.folder / ".host-opt"
            keep.mkdir(exist_ok=True)
            flags = ["--user", "--map-root-user", "--mount"] + ([] if self.network else ["--net"])
            command = ["unshare", *flags, "sh", "-c", _NAMESPACE_SCRIPT, "sh"]
            command += [str(self.opt_ml), str(keep), workdir, *program]
            directory = None
        else:
            command = program
            directory = workdir
            Path(workdir).mkdir(parents=True, exist_ok=True)
        log = self.folder / "output.log"
        with log.open("w") as out:
            done = subprocess.run(  # noqa: S603 (the definition's own command, as its container runs it)
                command,
                cwd=directory,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
        return done.returncode, log.read_text(errors="replace")

    def fail(self, code: int, text: str) -> JobFailed:
        tail = "\n    ".join(text.strip().splitlines()[-12:])
        return JobFailed(self.step, f"exited {code}:\n    {tail}", self.folder / "output.log")


def _processing_inputs(request: Mapping[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    return list(enumerate(request.get("ProcessingInputs", []) or []))


def planned_files(request: Mapping[str, Any], s3: LocalS3, kind: str) -> dict[str, list[str]]:
    """Container folder -> file names its static S3 inputs will download (code inputs)."""
    planned: dict[str, list[str]] = {}
    if kind == "Processing":
        for _, item in _processing_inputs(request):
            source = item.get("S3Input", {})
            uri, local = source.get("S3Uri"), source.get("LocalPath")
            if isinstance(uri, str) and isinstance(local, str) and uri.startswith("s3://"):
                planned[local.rstrip("/")] = sorted(s3.listing(uri))
    else:
        for channel in request.get("InputDataConfig", []) or []:
            uri = channel.get("DataSource", {}).get("S3DataSource", {}).get("S3Uri")
            if isinstance(uri, str) and uri.startswith("s3://"):
                planned[f"{OPT_ML}/input/data/{channel.get('ChannelName')}"] = sorted(
                    s3.listing(uri)
                )
    return planned


def check_entrypoint(step: str, request: Mapping[str, Any], s3: LocalS3, kind: str) -> None:
    """Each `/opt/ml/...` file an entrypoint names must be among what its inputs download."""
    spec_key = "AppSpecification" if kind == "Processing" else "AlgorithmSpecification"
    spec = request.get(spec_key, {})
    planned = planned_files(request, s3, kind)
    for key in ("ContainerEntrypoint", "ContainerArguments"):
        for position, argument in enumerate(spec.get(key, []) or []):
            if not isinstance(argument, str) or not argument.endswith((".py", ".sh", ".R")):
                continue
            folder, _, name = argument.rpartition("/")
            for local, files in planned.items():
                if folder == local or folder.startswith(local + "/"):
                    relative = (folder[len(local) :].lstrip("/") + "/" + name).lstrip("/")
                    if relative not in files:
                        raise DryRunError(
                            step,
                            f"{spec_key}.{key}[{position}]",
                            f"{argument} among the files its input downloads to {local}"
                            f" (has: {', '.join(files) or 'nothing'})",
                        )


def run_processing(
    step: str,
    request: Mapping[str, Any],
    s3: LocalS3,
    folder: Path,
    runtime: Runtime,
    job_name: str,
    predictor: Callable[[Mapping[str, Any]], analyses.Predict] | None = None,
) -> JobResult:
    """`predictor` serves the model a Clarify job names (given its analysis config)."""
    network = not request.get("NetworkConfig", {}).get("EnableNetworkIsolation", False)
    job = Job(step, folder, runtime, network)
    for position, item in _processing_inputs(request):
        where = f"ProcessingInputs[{position}]"
        source = item.get("S3Input")
        if not isinstance(source, dict):
            raise DryRunError(
                step, where, "an S3Input (DatasetDefinition inputs are not supported)"
            )
        local = str(source.get("LocalPath", ""))
        if not local.startswith(f"{OPT_ML}/processing/"):
            raise DryRunError(
                step,
                f"{where}.S3Input.LocalPath",
                f"a path under {OPT_ML}/processing/, not {local!r}",
            )
        if source.get("S3DataType", "S3Prefix") != "S3Prefix":
            raise DryRunError(
                step, f"{where}.S3Input.S3DataType", "S3Prefix (the dry run reads no manifests)"
            )
        target = job.local(local)
        s3.download(str(source.get("S3Uri")), target, step, f"{where}.S3Input.S3Uri")
        if source.get("S3CompressionType") == "Gzip":
            for path in list(target.rglob("*.gz")):
                import gzip

                path.with_suffix("").write_bytes(gzip.decompress(path.read_bytes()))
                path.unlink()
    outputs = request.get("ProcessingOutputConfig", {}).get("Outputs", []) or []
    for position, output in enumerate(outputs):
        local = str(output.get("S3Output", {}).get("LocalPath", ""))
        if not local.startswith(f"{OPT_ML}/processing/"):
            raise DryRunError(
                step,
                f"ProcessingOutputConfig.Outputs[{position}].S3Output.LocalPath",
                f"a path under {OPT_ML}/processing/, not {local!r}",
            )
        job.local(local).mkdir(parents=True, exist_ok=True)
    config = job.local(f"{OPT_ML}/config")
    config.mkdir(parents=True, exist_ok=True)
    (config / "processingjobconfig.json").write_text(
        json.dumps({**request, "ProcessingJobName": job_name})
    )
    (config / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]})
    )

    spec = request.get("AppSpecification", {})
    image = str(spec.get("ImageUri", ""))
    environment = {str(k): str(v) for k, v in (request.get("Environment") or {}).items()}
    stand_in = standins.processing_stand_in(image)
    if stand_in is not None:
        try:
            if stand_in == standins.CLARIFY:
                note = _clarify(job, predictor)
            elif environment.get("analysis_type") == "MODEL_QUALITY":
                note = analyses.model_quality(environment, job.local)
            else:
                note = standins.model_monitor_analyzer(environment, job.local)
        except analyses.AnalysisError as error:
            raise DryRunError(step, error.where, str(error)) from error
        except ValueError as error:
            raise DryRunError(step, "Environment", str(error)) from error
        ran = "STAND-IN"
    else:
        entrypoint = spec.get("ContainerEntrypoint")
        if not entrypoint:
            raise DryRunError(
                step,
                "AppSpecification.ContainerEntrypoint",
                f"an entrypoint (the dry run cannot know what {standins.repository(image)} runs by default)",
            )
        check_entrypoint(step, request, s3, "Processing")
        argv = [str(a) for a in [*entrypoint, *(spec.get("ContainerArguments") or [])]]
        code, text = job.run(
            argv,
            environment,
            f"{OPT_ML}/processing" if runtime.mode == "namespace" else str(job.opt_ml),
        )
        if code != 0:
            raise job.fail(code, text)
        note, ran = "", "REAL"
    warnings = []
    for output in outputs:
        s3_output = output.get("S3Output", {})
        count = s3.upload(job.local(str(s3_output.get("LocalPath"))), str(s3_output.get("S3Uri")))
        if count == 0:
            warnings.append(f"output {output.get('OutputName')!r} wrote nothing")
    properties = {
        **request,
        "ProcessingJobName": job_name,
        "ProcessingJobArn": f"arn:aws:sagemaker:::processing-job/{job_name}",
        "ProcessingJobStatus": "Completed",
    }
    return JobResult(properties, ran, note, warnings, folder / "output.log")


def _clarify(job: Job, predictor: Callable[[Mapping[str, Any]], analyses.Predict] | None) -> str:
    """Clarify's processing job: its config and dataset at the SDK's container paths."""
    config_dir = job.local(f"{OPT_ML}/processing/input/config")
    config_file = config_dir / "analysis_config.json"
    if not config_file.is_file():
        have = sorted(p.name for p in config_dir.rglob("*")) if config_dir.is_dir() else []
        raise analyses.AnalysisError(
            "ProcessingInputs.analysis_config",
            f"analysis_config.json downloaded to {OPT_ML}/processing/input/config"
            f" (has: {', '.join(have) or 'nothing'})",
        )
    config = json.loads(config_file.read_text())
    if predictor is None:
        raise analyses.AnalysisError("ModelName", "a model for the analysis to call")
    return analyses.clarify(
        config,
        job.local(f"{OPT_ML}/processing/input/data"),
        job.local(f"{OPT_ML}/processing/output"),
        predictor(config),
    )


def _decoded(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def command_line(hyperparameters: Mapping[str, Any]) -> list[str]:
    """Hyperparameters as the training toolkit passes them: `--name value`, sorted."""
    arguments = []
    for name in sorted(hyperparameters):
        if name.startswith("sagemaker_"):
            continue
        value = _decoded(hyperparameters[name])
        arguments += [
            f"--{name}" if len(name) > 1 else f"-{name}",
            value if isinstance(value, str) else json.dumps(value),
        ]
    return arguments


def run_training(
    step: str,
    request: Mapping[str, Any],
    s3: LocalS3,
    folder: Path,
    runtime: Runtime,
    job_name: str,
) -> JobResult:
    network = not request.get("EnableNetworkIsolation", False)
    job = Job(step, folder, runtime, network)
    hyperparameters = {str(k): str(v) for k, v in (request.get("HyperParameters") or {}).items()}
    channels: dict[str, list[str]] = {}
    for position, channel in enumerate(request.get("InputDataConfig", []) or []):
        where = f"InputDataConfig[{position}]"
        name = str(channel.get("ChannelName"))
        source = channel.get("DataSource", {}).get("S3DataSource")
        if not isinstance(source, dict):
            raise DryRunError(
                step, f"{where}.DataSource", "an S3DataSource (file systems are not supported)"
            )
        channels[name] = s3.download(
            str(source.get("S3Uri")),
            job.local(f"{OPT_ML}/input/data/{name}"),
            step,
            f"{where}.DataSource.S3DataSource.S3Uri",
        )
    config = job.local(f"{OPT_ML}/input/config")
    config.mkdir(parents=True)
    resource = {"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"}
    data_config = {
        str(c.get("ChannelName")): {
            "TrainingInputMode": c.get("InputMode", "File"),
            "S3DistributionType": c.get("DataSource", {})
            .get("S3DataSource", {})
            .get("S3DataDistributionType", "FullyReplicated"),
            "RecordWrapperType": "None",
            **({"ContentType": c["ContentType"]} if "ContentType" in c else {}),
        }
        for c in request.get("InputDataConfig", []) or []
    }
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    (config / "inputdataconfig.json").write_text(json.dumps(data_config))
    (config / "resourceconfig.json").write_text(json.dumps(resource))
    for sub in ("model", "output/data", "code"):
        job.local(f"{OPT_ML}/{sub}").mkdir(parents=True, exist_ok=True)

    spec = request.get("AlgorithmSpecification", {})
    image = str(spec.get("TrainingImage") or spec.get("AlgorithmName") or "")
    entrypoint = spec.get("ContainerEntrypoint")
    environment = {str(k): str(v) for k, v in (request.get("Environment") or {}).items()}
    started = time.monotonic()
    if standins.training_stand_in(image, hyperparameters, entrypoint):
        note = standins.built_in_algorithm(
            image, hyperparameters, channels, job.local(f"{OPT_ML}/model")
        )
        ran, text = "STAND-IN", ""
    else:
        user = {k: _decoded(v) for k, v in hyperparameters.items()}
        program = str(user.get("sagemaker_program", ""))
        arguments = command_line(hyperparameters)
        env = {
            "SM_MODEL_DIR": f"{OPT_ML}/model",
            "SM_OUTPUT_DATA_DIR": f"{OPT_ML}/output/data",
            "SM_OUTPUT_DIR": f"{OPT_ML}/output",
            "SM_INPUT_DIR": f"{OPT_ML}/input",
            "SM_INPUT_CONFIG_DIR": f"{OPT_ML}/input/config",
            "SM_CHANNELS": json.dumps(sorted(channels)),
            "SM_HPS": json.dumps({k: v for k, v in user.items() if not k.startswith("sagemaker_")}),
            "SM_INPUT_DATA_CONFIG": json.dumps(data_config),
            "SM_RESOURCE_CONFIG": json.dumps(resource),
            "SM_CURRENT_HOST": "algo-1",
            "SM_HOSTS": json.dumps(["algo-1"]),
            "SM_NETWORK_INTERFACE_NAME": "eth0",
            "SM_NUM_CPUS": str(os.cpu_count() or 1),
            "SM_NUM_GPUS": "0",
            "SM_MODULE_DIR": str(user.get("sagemaker_submit_directory", "")),
            "SM_MODULE_NAME": program.removesuffix(".py"),
            "SM_USER_ENTRY_POINT": program,
            "SM_USER_ARGS": json.dumps(arguments),
            "SM_LOG_LEVEL": str(user.get("sagemaker_container_log_level", "20")),
            "SM_CURRENT_INSTANCE_TYPE": str(
                request.get("ResourceConfig", {}).get("InstanceType", "")
            ),
            **{f"SM_CHANNEL_{c.upper()}": f"{OPT_ML}/input/data/{c}" for c in channels},
            **{
                f"SM_HP_{k.upper()}": str(v)
                for k, v in hyperparameters.items()
                if not k.startswith("sagemaker_")
            },
            **environment,
        }
        if entrypoint:
            argv = [str(a) for a in [*entrypoint, *(spec.get("ContainerArguments") or [])]]
            cwd = f"{OPT_ML}/code"
        elif program:
            _stage_code(job, step, user.get("sagemaker_submit_directory"), s3)
            code = job.local(f"{OPT_ML}/code")
            if not (code / program).is_file():
                have = sorted(
                    p.relative_to(code).as_posix() for p in code.rglob("*") if p.is_file()
                )
                raise DryRunError(
                    step,
                    "HyperParameters.sagemaker_program",
                    f"{program} in the submitted code (has: {', '.join(have) or 'nothing'})",
                )
            argv = ["python3", program, *arguments]
            cwd = f"{OPT_ML}/code"
        else:
            raise DryRunError(
                step,
                "AlgorithmSpecification",
                f"a ContainerEntrypoint or a sagemaker_program hyperparameter ({standins.repository(image)} is not a built-in algorithm the dry run stands in for)",
            )
        exit_code, text = job.run(
            argv, env, cwd if runtime.mode == "namespace" else str(job.local(cwd))
        )
        if exit_code != 0:
            raise job.fail(exit_code, text)
        ran, note = "REAL", ""
    output_path = str(request.get("OutputDataConfig", {}).get("S3OutputPath", "")).rstrip("/")
    model_uri = f"{output_path}/{job_name}/output/model.tar.gz"
    bucket, key = split_uri(model_uri)
    archive = folder / "model.tar.gz"
    _pack(job.local(f"{OPT_ML}/model"), archive)
    s3.put(bucket, key, archive.read_bytes())
    warnings = []
    if not any(job.local(f"{OPT_ML}/model").iterdir()):
        warnings.append("the program wrote nothing to SM_MODEL_DIR")
    output_data = job.local(f"{OPT_ML}/output/data")
    if any(output_data.iterdir()):
        _pack(output_data, folder / "output.tar.gz")
        s3.put(
            bucket,
            key.replace("model.tar.gz", "output.tar.gz"),
            (folder / "output.tar.gz").read_bytes(),
        )
    metrics = []
    for definition in spec.get("MetricDefinitions", []) or []:
        found = re.findall(str(definition.get("Regex", "")), text)
        if not found:
            warnings.append(f"metric {definition.get('Name')!r} matched nothing in the log")
            continue
        value = found[-1][0] if isinstance(found[-1], tuple) else found[-1]
        try:
            metrics.append(
                {"MetricName": definition.get("Name"), "Value": float(value), "Timestamp": started}
            )
        except ValueError:
            warnings.append(f"metric {definition.get('Name')!r} captured {value!r}, not a number")
    properties = {
        **request,
        "TrainingJobName": job_name,
        "TrainingJobArn": f"arn:aws:sagemaker:::training-job/{job_name}",
        "TrainingJobStatus": "Completed",
        "ModelArtifacts": {"S3ModelArtifacts": model_uri},
        "FinalMetricDataList": metrics,
    }
    return JobResult(properties, ran, note, warnings, folder / "output.log")


def _stage_code(job: Job, step: str, submit: Any, s3: LocalS3) -> None:
    """`sagemaker_submit_directory` into /opt/ml/code, as the training toolkit does: an
    s3:// tar.gz is extracted; a container path (a `code` channel) is copied or extracted."""
    code = job.local(f"{OPT_ML}/code")
    where = "HyperParameters.sagemaker_submit_directory"
    if not submit:
        return
    submit = str(submit)
    if submit.startswith("s3://"):
        bucket, key = split_uri(submit)
        archive = s3.file(bucket, key)
        if not archive.is_file():
            raise DryRunError(step, where, f"an object at {submit} (there is none)")
    elif submit.startswith(OPT_ML + "/"):
        archive = job.local(submit)
        if archive.is_dir():
            shutil.copytree(archive, code, dirs_exist_ok=True)
            return
        if not archive.is_file():
            raise DryRunError(
                step, where, f"{submit} inside the container (an input channel puts nothing there)"
            )
    else:
        raise DryRunError(step, where, f"an s3:// URI or a path under {OPT_ML}, not {submit!r}")
    try:
        with tarfile.open(archive, "r:gz") as opened:
            opened.extractall(code, filter="data")
    except tarfile.TarError as error:
        raise DryRunError(step, where, f"a tar.gz archive at {submit} ({error})") from error


def _pack(folder: Path, archive: Path) -> None:
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
