#!/usr/bin/env python3
"""Promote one model's package version to an environment by editing the promotion manifest.

    python tools/promote.py --model NAME --env prod [--from staging | --version N]
                            [--manifest config/promotion.yaml] [--dry-run]

Sets `models.<model>.<env>` to the version the source environment pins for that model
(by default the environment listed just before `--env` under the model, so staging ->
prod), changing that one line and nothing else (comments and layout are kept). The
manifest is validated before and after the edit, writes happen atomically unless
`--dry-run`, and the unified diff is printed: the change a promotion pull request
carries. `--version N` pins an explicit version instead (what the approval function
suggests when no repository is configured). Exit status: 0 when written, or when the
model already serves that version there; 1 on an error (the message says what is
wrong); 2 on bad arguments.

Validation is local (PyYAML plus the rules below) rather than through
`config.settings`, so the tool stays fast and independent of the app's settings code:
the top level holds only `models`; model names are lower-case words joined by hyphens
(at most 40 characters); environment names are 2-21 lower-case letters, digits and
hyphens; each pin is a positive integer or null. The manifest must also read the same to
YAML and to the line editor (`lambdas.approval.manifest`), so no edit is made on a
layout the editor would misread.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python tools/promote.py` from anywhere
    sys.path.insert(0, str(ROOT))

from lambdas.approval.manifest import ManifestError, set_version, versions  # noqa: E402

DEFAULT_MANIFEST = ROOT / "config" / "promotion.yaml"
MODEL_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
MODEL_NAME_MAX = 40
ENVIRONMENT_NAME = re.compile(r"[a-z][a-z0-9-]{1,20}")

Pins = dict[str, dict[str, int | None]]


class PromotionError(Exception):
    """A promotion that cannot be made; the message says why."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="promote", description="Pin one model to a model package version in an environment."
    )
    parser.add_argument("--model", required=True, help="model to promote, e.g. tabular-classifier")
    parser.add_argument("--env", required=True, help="environment to promote into, e.g. prod")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--from",
        dest="source",
        help="environment whose pin to take (default: the one listed before --env)",
    )
    source.add_argument("--version", type=int, help="pin this version instead of a source's")
    parser.add_argument(
        "--manifest",
        type=Path,
        default=DEFAULT_MANIFEST,
        help="promotion manifest (default: config/promotion.yaml)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the diff, write nothing")
    return parser


def _problems(data: Any) -> list[str]:
    """What is wrong with the manifest's YAML data, in `key: got X; allowed Y` form."""
    if not isinstance(data, dict) or "models" not in data:
        return ["models: missing; allowed a mapping of model -> environment -> version"]
    problems = [f"{key}: unknown key; allowed only 'models'" for key in data if key != "models"]
    models = data["models"]
    if not isinstance(models, dict) or not models:
        return [*problems, f"models: got {models!r}; allowed a mapping of model -> environments"]
    for model, pins in models.items():
        if not (
            isinstance(model, str) and MODEL_NAME.fullmatch(model) and len(model) <= MODEL_NAME_MAX
        ):
            problems.append(
                f"models: got model name {model!r}; allowed lower-case words of letters and"
                f" digits joined by single hyphens, at most {MODEL_NAME_MAX} characters"
            )
        if not isinstance(pins, dict) or not pins:
            problems.append(
                f"models.{model}: got {pins!r}; allowed a mapping of environment -> version"
            )
            continue
        for env, version in pins.items():
            if not (isinstance(env, str) and ENVIRONMENT_NAME.fullmatch(env)):
                problems.append(
                    f"models.{model}: got environment {env!r}; allowed 2-21 lower-case letters,"
                    " digits and hyphens, starting with a letter"
                )
            if version is not None and (
                not isinstance(version, int) or isinstance(version, bool) or version < 1
            ):
                problems.append(
                    f"models.{model}.{env}: got {version!r}; allowed a positive integer"
                    " (a model package version) or null"
                )
    return problems


def validate(text: str, path: Path) -> Pins:
    """The manifest's pins, or PromotionError naming the file and every problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise PromotionError(f"{path}: not valid YAML{where}") from None
    problems = _problems(data)
    if problems:
        raise PromotionError(f"{path}: " + "; ".join(problems))
    try:
        edited = versions(text)
    except ManifestError as exc:
        raise PromotionError(f"{path}: {exc}") from None
    pins: Pins = data["models"]
    if edited != pins:
        raise PromotionError(
            f"{path}: the layout is not the block layout the promotion tools edit"
            " (`models:`, then `  <model>:`, then `    <environment>: <version>` lines);"
            f" YAML reads {pins}, the line editor {edited}"
        )
    return pins


def _choose_version(
    pins: Pins, model: str, env: str, source: str | None, version: int | None
) -> tuple[int, str]:
    """The version to pin and where it comes from."""
    if model not in pins:
        raise PromotionError(f"unknown model {model!r}; the manifest lists {list(pins)}")
    names = list(pins[model])
    if env not in names:
        raise PromotionError(
            f"unknown environment {env!r} for model {model!r}; the manifest lists {names}"
        )
    if version is not None:
        if version < 1:
            raise PromotionError(f"--version: got {version}; expected a positive integer")
        return version, f"--version {version}"
    if source is None:
        position = names.index(env)
        if position == 0:
            raise PromotionError(
                f"{env!r} is the first environment of {model!r} in the manifest, so no"
                " environment precedes it; pass --from ENV or --version N"
            )
        source = names[position - 1]
    if source not in names:
        raise PromotionError(
            f"unknown source environment {source!r} for model {model!r}; the manifest lists {names}"
        )
    if source == env:
        raise PromotionError(f"--from {source!r} is the environment being promoted")
    pinned = pins[model][source]
    if pinned is None:
        raise PromotionError(f"{model!r} has no version to promote in {source!r} (null)")
    return pinned, source


def _labels(path: Path) -> tuple[str, str]:
    """Diff headers: git-style a/ b/ paths under the working directory, else the path."""
    try:
        relative = path.resolve().relative_to(Path.cwd())
    except ValueError:
        return str(path), str(path)
    return f"a/{relative}", f"b/{relative}"


def _write(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically, keeping its mode."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    temporary = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        shutil.copymode(path, temporary)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def promote(
    path: Path,
    model: str,
    env: str,
    *,
    source: str | None = None,
    version: int | None = None,
    dry_run: bool = False,
) -> tuple[str, str]:
    """Promote; return the unified diff and a one-line summary ('' diff: nothing changed)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PromotionError(f"cannot read the manifest: {exc}") from None
    pins = validate(text, path)
    pinned, origin = _choose_version(pins, model, env, source, version)
    current = pins[model][env]
    if current == pinned:
        return "", f"{model} already serves v{pinned} in {env}; nothing to change"
    try:
        updated = set_version(text, model, env, pinned)
    except ManifestError as exc:
        raise PromotionError(str(exc)) from None
    after = validate(updated, path)
    assert after == {**pins, model: {**pins[model], env: pinned}}  # one pin changed
    if not dry_run:
        _write(path, updated)
    before_label, after_label = _labels(path)
    diff = "".join(
        difflib.unified_diff(
            text.splitlines(keepends=True),
            updated.splitlines(keepends=True),
            fromfile=before_label,
            tofile=after_label,
        )
    )
    was = "null" if current is None else f"v{current}"
    action = "dry run, not written" if dry_run else f"written to {path}"
    return diff, f"{model} in {env}: {was} -> v{pinned} (from {origin}); {action}"


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        diff, summary = promote(
            args.manifest,
            args.model,
            args.env,
            source=args.source,
            version=args.version,
            dry_run=args.dry_run,
        )
    except PromotionError as exc:
        print(f"promote: error: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(diff)
    print(summary, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
