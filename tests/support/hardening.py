"""Do a definition's jobs and a template's job definitions run isolated, on pinned images?

`network_problems` names each job step without network isolation and inter-container
traffic encryption (where each job type keeps them: `NetworkConfig` of a processing
job, the top level of a training job, the training job definition of a tuning job), or
not in the VPC it should be in, and each Model step whose model is not isolated. One
exception: a ClarifyCheck step that names a model (`ModelName`: post-training bias,
SHAP) cannot be isolated, since Clarify calls the SageMaker API to host that model as a
shadow endpoint; it must still encrypt, stay in the VPC, and the model it hosts (a Model
step's) is held to isolation. `unpinned_images` names every container image, at any
depth of a definition or a template, that has neither a version tag nor a digest; the
one exception is AWS's Model Monitor analyzer as AWS documents it (published without
any version tag; see `constructs_lib.images`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from constructs_lib._pipeline_steps import IMAGE_KEYS, JOB_STEPS, all_steps
from constructs_lib.images import is_documented_model_monitor_image

_PROCESSING = ("Processing", "QualityCheck", "ClarifyCheck")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_TAG = re.compile(r":([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$")


def _network_holders(kind: str, args: dict[str, Any]) -> list[tuple[str, Any]]:
    """(where, dict holding EnableNetworkIsolation and ICC) of one job step."""
    if kind in _PROCESSING:
        return [("NetworkConfig", args.get("NetworkConfig"))]
    if kind == "Training":
        return [("Arguments", args)]
    if kind == "Tuning":
        definitions = args.get("TrainingJobDefinitions") or [args.get("TrainingJobDefinition")]
        return [(f"TrainingJobDefinitions[{i}]", d) for i, d in enumerate(definitions)]
    return []


def network_problems(
    definition: dict[str, Any], vpc: tuple[Sequence[str], Sequence[str]] | None = None
) -> list[str]:
    """`<step>: <problem>` for each job step not isolated, not encrypting traffic between
    its instances, or (with `vpc`, (subnets, security groups)) not in exactly that VPC."""
    problems = []
    for _path, step in all_steps(definition.get("Steps")):
        kind, name = step.get("Type"), step.get("Name")
        args = step.get("Arguments", {})
        if kind == "Model":
            if args.get("EnableNetworkIsolation") is not True:
                problems.append(
                    f"{name}: Arguments.EnableNetworkIsolation is"
                    f" {args.get('EnableNetworkIsolation')!r}"
                )
            if vpc is not None:
                config = args.get("VpcConfig") or {}
                got = (config.get("Subnets"), config.get("SecurityGroupIds"))
                if got != (list(vpc[0]), list(vpc[1])):
                    problems.append(f"{name}: Arguments.VpcConfig is {config!r}")
            continue
        if kind not in JOB_STEPS:
            continue
        hosts_a_model = kind == "ClarifyCheck" and bool(step.get("ModelName"))
        holders = _network_holders(str(kind), args)
        if not holders:
            problems.append(f"{name}: {kind} steps are not checked here")
        for where, holder in holders:
            holder = holder if isinstance(holder, dict) else {}
            for key in ("EnableNetworkIsolation", "EnableInterContainerTrafficEncryption"):
                if key == "EnableNetworkIsolation" and hosts_a_model:
                    continue
                if holder.get(key) is not True:
                    problems.append(f"{name}: {where}.{key} is {holder.get(key)!r}")
            if vpc is not None:
                config = holder.get("VpcConfig") or {}
                got = (config.get("Subnets"), config.get("SecurityGroupIds"))
                if got != (list(vpc[0]), list(vpc[1])):
                    problems.append(f"{name}: {where}.VpcConfig is {config!r}")
            elif "VpcConfig" in holder:
                problems.append(f"{name}: {where}.VpcConfig is {holder['VpcConfig']!r}")
    return problems


def images(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(JSON path, value) of every value under an image key, at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if key in IMAGE_KEYS:
                yield here, item
            else:
                yield from images(item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from images(item, f"{path}[{index}]")


def is_pinned(image: str) -> bool:
    """A version tag (not `latest`) or a digest, or AWS's analyzer as documented."""
    if _DIGEST.search(image) or is_documented_model_monitor_image(image):
        return True
    tag = _TAG.search(image.rsplit("/", 1)[-1])
    return tag is not None and tag.group(1) != "latest"


def unpinned_images(value: Any) -> list[str]:
    """`<path>: <image>` for each image that is neither version-tagged nor by digest (an
    image that is not literal text, e.g. an intrinsic function, counts as unpinned)."""
    return [
        f"{path}: {image!r}"
        for path, image in images(value)
        if not (isinstance(image, str) and is_pinned(image))
    ]
