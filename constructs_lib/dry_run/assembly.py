"""A cloud assembly (`cdk.out/`) as a dry run reads it.

`Assembly.load(folder)` reads the manifest (nested assemblies included), each stack's
template and asset manifest. `resolve(stack, value)` turns CloudFormation intrinsics
into what they become on deploy, with a stand-in value for each of the account's
resources (a bucket's own `BucketName`, else a name made from the stack and logical id;
ARNs in the stack's account and region); every stand-in used is recorded in `standins`.
`pipelines()` lists the `AWS::SageMaker::Pipeline` resources with their definitions;
`staged_objects()` lists what each `Custom::CDKBucketDeployment` writes to S3.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from constructs_lib.dry_run.errors import DryRunError

STAND_IN_ACCOUNT = "123456789012"
STAND_IN_REGION = "us-east-1"
_SUB = re.compile(r"\$\{([^}!][^}]*)\}")


@dataclass(frozen=True)
class Stack:
    """One stack of the assembly."""

    name: str
    """The stack name CloudFormation sees (`Fn::GetStackOutput` uses it)."""
    artifact_id: str
    account: str
    region: str
    template: dict[str, Any]
    folder: Path
    """The (nested) assembly folder holding the template and its assets."""
    assets: dict[str, Path] = field(default_factory=dict)
    """Asset object key -> the file or folder in the assembly."""


@dataclass(frozen=True)
class PipelineSource:
    """A pipeline resource and its definition as deployed (stand-ins resolved)."""

    name: str
    stack: Stack
    logical_id: str
    definition: dict[str, Any]


@dataclass(frozen=True)
class StagedObject:
    """An S3 object a bucket deployment writes: bucket, key and the bytes' source."""

    bucket: str
    key: str
    archive: Path
    """The zip asset, or the folder asset, holding it."""
    member: str
    """Its name inside `archive`."""

    def read(self) -> bytes:
        if self.archive.is_dir():
            return (self.archive / self.member).read_bytes()
        with zipfile.ZipFile(self.archive) as opened:
            return opened.read(self.member)


class Assembly:
    """A synthesized cloud assembly: stacks, templates, assets, stand-in resolution."""

    def __init__(self, folder: Path, stacks: list[Stack]) -> None:
        self.folder = folder
        self.stacks = stacks
        self.standins: dict[str, str] = {}
        """Stand-in value by what it stands for (`<stack>/<logical id>[.attribute]`)."""

    @classmethod
    def load(cls, folder: Path | str) -> Assembly:
        root = Path(folder)
        if not (root / "manifest.json").is_file():
            raise DryRunError("assembly", str(root), "a cloud assembly folder with manifest.json")
        return cls(root, list(_stacks(root)))

    def stack(self, name: str) -> Stack:
        for stack in self.stacks:
            if name in (stack.name, stack.artifact_id):
                return stack
        known = ", ".join(sorted(s.name for s in self.stacks))
        raise DryRunError("assembly", name, f"a stack of the assembly (stacks: {known})")

    # -- pipelines and staged objects --------------------------------------------------

    def pipelines(self) -> list[PipelineSource]:
        found = []
        for stack in self.stacks:
            for logical_id, resource in _resources(stack, "AWS::SageMaker::Pipeline"):
                properties = resource.get("Properties", {})
                name = str(self.resolve(stack, properties.get("PipelineName", logical_id)))
                text = self._definition_text(stack, logical_id, properties)
                try:
                    definition = json.loads(text)
                except ValueError as error:
                    raise DryRunError(name, "PipelineDefinition", f"JSON text ({error})") from error
                found.append(PipelineSource(name, stack, logical_id, definition))
        return found

    def _definition_text(self, stack: Stack, logical_id: str, properties: dict[str, Any]) -> str:
        definition = properties.get("PipelineDefinition", {})
        if "PipelineDefinitionBody" in definition:
            return str(self.resolve(stack, definition["PipelineDefinitionBody"]))
        location = definition.get("PipelineDefinitionS3Location")
        if not isinstance(location, dict):
            raise DryRunError(
                f"{stack.name}/{logical_id}",
                "PipelineDefinition",
                "PipelineDefinitionBody or PipelineDefinitionS3Location",
            )
        bucket = str(self.resolve(stack, location.get("Bucket", "")))
        key = str(self.resolve(stack, location.get("Key", "")))
        for staged in self.staged_objects():
            if (staged.bucket, staged.key) == (bucket, key):
                return staged.read().decode()
        for candidate in self.stacks:
            asset = candidate.assets.get(key)
            if asset is not None and asset.is_file():
                return asset.read_text()
        raise DryRunError(
            f"{stack.name}/{logical_id}",
            "PipelineDefinition.PipelineDefinitionS3Location",
            f"s3://{bucket}/{key} written by a bucket deployment or a file asset of the"
            " assembly (not found)",
        )

    def staged_objects(self) -> list[StagedObject]:
        objects = []
        for stack in self.stacks:
            for logical_id, resource in _resources(stack, "Custom::CDKBucketDeployment"):
                properties = resource.get("Properties", {})
                bucket = str(self.resolve(stack, properties.get("DestinationBucketName", "")))
                prefix = str(self.resolve(stack, properties.get("DestinationBucketKeyPrefix", "")))
                if prefix and not prefix.endswith("/"):
                    prefix += "/"
                for key in properties.get("SourceObjectKeys", []):
                    key = str(self.resolve(stack, key))
                    archive = stack.assets.get(key) or stack.folder / f"asset.{key}"
                    if not archive.exists():
                        raise DryRunError(
                            f"{stack.name}/{logical_id}",
                            "SourceObjectKeys",
                            f"asset {key} in the assembly (not found)",
                        )
                    for member in _members(archive):
                        objects.append(StagedObject(bucket, prefix + member, archive, member))
        return objects

    def asset_path(self, stack: Stack, key: str) -> Path | None:
        return stack.assets.get(key)

    # -- intrinsics --------------------------------------------------------------------

    def resolve(self, stack: Stack, value: Any) -> Any:
        """`value` with every intrinsic function replaced by its deploy-time value."""
        if isinstance(value, list):
            return [self.resolve(stack, item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((function, argument),) = value.items()
            if function == "Ref":
                return self._ref(stack, str(argument))
            if function == "Fn::GetAtt":
                parts = argument if isinstance(argument, list) else str(argument).split(".", 1)
                return self._get_att(stack, str(parts[0]), str(parts[1]))
            if function == "Fn::Join":
                separator, items = argument
                return str(separator).join(_text(self.resolve(stack, i)) for i in items)
            if function == "Fn::Sub":
                return self._sub(stack, argument)
            if function == "Fn::Select":
                index, items = argument
                return self.resolve(stack, items)[int(self.resolve(stack, index))]
            if function == "Fn::Split":
                separator, text = argument
                return str(self.resolve(stack, text)).split(str(separator))
            if function == "Fn::GetStackOutput":
                producer = self.stack(str(argument["StackName"]))
                return self._output(producer, str(argument["OutputName"]))
            if function == "Fn::ImportValue":
                return self._import(stack, str(self.resolve(stack, argument)))
            if function.startswith("Fn::"):
                raise DryRunError(stack.name, function, "an intrinsic the dry run resolves")
        return {k: self.resolve(stack, v) for k, v in value.items()}

    def _output(self, stack: Stack, name: str) -> Any:
        outputs = stack.template.get("Outputs", {})
        if name not in outputs:
            raise DryRunError(stack.name, f"Outputs.{name}", "an output of the stack")
        return self.resolve(stack, outputs[name]["Value"])

    def _import(self, stack: Stack, export: str) -> Any:
        for candidate in self.stacks:
            for output in candidate.template.get("Outputs", {}).values():
                name = output.get("Export", {}).get("Name")
                if name is not None and self.resolve(candidate, name) == export:
                    return self.resolve(candidate, output["Value"])
        raise DryRunError(stack.name, "Fn::ImportValue", f"an export named {export}")

    def _sub(self, stack: Stack, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return _text(self.resolve(stack, variables[name]))
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return _text(self._get_att(stack, logical_id, attribute))
            return _text(self._ref(stack, name))

        return _SUB.sub(replace, str(text)).replace("${!", "${")

    def _ref(self, stack: Stack, name: str) -> Any:
        pseudo = {
            "AWS::AccountId": stack.account,
            "AWS::Region": stack.region,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack.name,
            "AWS::StackId": f"arn:aws:cloudformation:{stack.region}:{stack.account}:stack/"
            f"{stack.name}/00000000-0000-0000-0000-000000000000",
            "AWS::NoValue": None,
        }
        if name in pseudo:
            return pseudo[name]
        parameters = stack.template.get("Parameters", {})
        if name in parameters:
            default = parameters[name].get("Default")
            if default is None:
                raise DryRunError(stack.name, f"Parameters.{name}", "a default value")
            return default
        kind, properties = self._resource(stack, name)
        own = {
            "AWS::S3::Bucket": "BucketName",
            "AWS::SNS::Topic": "TopicName",
            "AWS::SQS::Queue": "QueueName",
            "AWS::IAM::Role": "RoleName",
            "AWS::Lambda::Function": "FunctionName",
            "AWS::SageMaker::ModelPackageGroup": "ModelPackageGroupName",
            "AWS::SageMaker::Pipeline": "PipelineName",
        }.get(kind)
        given = properties.get(own) if own else None
        base = (
            str(self.resolve(stack, given))
            if given is not None
            else _name(stack.name, name, 63 if kind == "AWS::S3::Bucket" else 80)
        )
        if kind == "AWS::S3::Bucket":
            base = base.lower()
        value: str = base
        if kind == "AWS::SNS::Topic":
            value = f"arn:aws:sns:{stack.region}:{stack.account}:{base}"
        elif kind == "AWS::SQS::Queue":
            value = f"https://sqs.{stack.region}.amazonaws.com/{stack.account}/{base}"
        elif kind == "AWS::KMS::Key":
            value = f"{_uuid(stack.name + name)}"
        if given is None:
            self.standins[f"{stack.name}/{name}"] = value
        return value

    def _get_att(self, stack: Stack, logical_id: str, attribute: str) -> Any:
        kind, _ = self._resource(stack, logical_id)
        ref = self._ref(stack, logical_id)
        service = kind.split("::")[1].lower() if "::" in kind else "resource"
        arn_of = {
            "AWS::S3::Bucket": lambda: f"arn:aws:s3:::{ref}",
            "AWS::IAM::Role": lambda: f"arn:aws:iam::{stack.account}:role/{ref}",
            "AWS::KMS::Key": lambda: f"arn:aws:kms:{stack.region}:{stack.account}:key/{ref}",
            "AWS::SNS::Topic": lambda: str(ref),
            "AWS::SQS::Queue": lambda: (
                f"arn:aws:sqs:{stack.region}:{stack.account}:" + str(ref).rsplit("/", 1)[-1]
            ),
            "AWS::Lambda::Function": lambda: (
                f"arn:aws:lambda:{stack.region}:{stack.account}:function:{ref}"
            ),
        }
        if attribute == "Arn":
            maker = arn_of.get(kind)
            value = (
                maker()
                if maker
                else f"arn:aws:{service}:{stack.region}:{stack.account}:{logical_id.lower()}"
            )
        elif kind == "AWS::S3::Bucket" and attribute == "DomainName":
            value = f"{ref}.s3.amazonaws.com"
        elif kind == "AWS::S3::Bucket" and attribute == "RegionalDomainName":
            value = f"{ref}.s3.{stack.region}.amazonaws.com"
        elif kind == "AWS::SQS::Queue" and attribute == "QueueName":
            value = str(ref).rsplit("/", 1)[-1]
        elif kind == "AWS::SQS::Queue" and attribute == "QueueUrl":
            value = str(ref)
        else:
            value = f"{logical_id}.{attribute}"
        self.standins[f"{stack.name}/{logical_id}.{attribute}"] = str(value)
        return value

    def _resource(self, stack: Stack, logical_id: str) -> tuple[str, dict[str, Any]]:
        resource = stack.template.get("Resources", {}).get(logical_id)
        if resource is None:
            raise DryRunError(stack.name, logical_id, "a resource or parameter of the stack")
        return str(resource["Type"]), dict(resource.get("Properties", {}))


def resources(stack: Stack, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(logical id, resource) of every resource of type `kind` in `stack`."""
    return _resources(stack, kind)


def _resources(stack: Stack, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in stack.template.get("Resources", {}).items():
        if resource.get("Type") == kind:
            yield logical_id, resource


def _stacks(folder: Path) -> Iterator[Stack]:
    manifest = json.loads((folder / "manifest.json").read_text())
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        kind = artifact.get("type")
        properties = artifact.get("properties", {})
        if kind == "cdk:cloud-assembly":
            yield from _stacks(folder / properties["directoryName"])
        elif kind == "aws:cloudformation:stack":
            environment = str(artifact.get("environment", "aws://unknown/unknown")).split("/")
            account = environment[2] if environment[2].isdigit() else STAND_IN_ACCOUNT
            region = environment[3] if not environment[3].startswith("unknown") else STAND_IN_REGION
            yield Stack(
                name=str(properties.get("stackName", artifact.get("displayName", artifact_id))),
                artifact_id=artifact_id,
                account=account,
                region=region,
                template=json.loads((folder / properties["templateFile"]).read_text()),
                folder=folder,
                assets=_assets(folder, artifact_id, manifest),
            )


def _assets(folder: Path, artifact_id: str, manifest: dict[str, Any]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for artifact in manifest.get("artifacts", {}).values():
        if artifact.get("type") != "cdk:asset-manifest":
            continue
        file = artifact.get("properties", {}).get("file", "")
        if not str(file).startswith(artifact_id + "."):
            continue
        assets = json.loads((folder / file).read_text())
        for entry in assets.get("files", {}).values():
            source = folder / entry["source"]["path"]
            for destination in entry.get("destinations", {}).values():
                found[str(destination["objectKey"])] = source
    return found


def _members(archive: Path) -> list[str]:
    if archive.is_dir():
        return sorted(p.relative_to(archive).as_posix() for p in archive.rglob("*") if p.is_file())
    with zipfile.ZipFile(archive) as opened:
        return [name for name in opened.namelist() if not name.endswith("/")]


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _name(stack: str, logical_id: str, limit: int) -> str:
    return f"{stack}-{logical_id}"[:limit]


def _uuid(seed: str) -> str:
    import hashlib

    digest = hashlib.sha256(seed.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
