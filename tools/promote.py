#!/usr/bin/env python3
"""Promote a model version to an environment by editing the promotion manifest.

    python tools/promote.py --env prod [--from staging | --version N]
                            [--manifest config/promotion.yaml] [--dry-run]

Sets `environments.<env>.version` to the version the source environment serves (by
default the environment listed just before it in the manifest, so staging -> prod),
validates the result with `config.settings.load_manifest`, writes it unless
`--dry-run`, and prints the unified diff: the change a promotion pull request carries.
`--version N` pins an explicit version instead (what the approval function suggests
when no repository is configured). Exit status: 0 when written, or when the environment
already serves that version; 1 on an error (the message says what is wrong); 2 on bad
arguments.
"""

from __future__ import annotations

import argparse
import difflib
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python tools/promote.py` from anywhere
    sys.path.insert(0, str(ROOT))

from config.settings import PromotionManifest, load_manifest  # noqa: E402
from constructs_lib.errors import ConfigurationError  # noqa: E402
from lambdas.approval.manifest import ManifestError, set_version  # noqa: E402

DEFAULT_MANIFEST = ROOT / "config" / "promotion.yaml"


class PromotionError(Exception):
    """A promotion that cannot be made; the message says why."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="promote", description="Pin an environment to a model package version."
    )
    parser.add_argument("--env", required=True, help="environment to promote into, e.g. prod")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--from",
        dest="source",
        help="environment whose version to take (default: the one listed before --env)",
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


def _choose_version(
    manifest: PromotionManifest, env: str, source: str | None, version: int | None
) -> tuple[int, str]:
    """The version to pin and where it comes from."""
    names = list(manifest.environments)
    if env not in names:
        raise PromotionError(f"unknown environment {env!r}; the manifest lists {names}")
    if version is not None:
        if version < 1:
            raise PromotionError(f"--version: got {version}; expected a positive integer")
        return version, f"--version {version}"
    if source is None:
        position = names.index(env)
        if position == 0:
            raise PromotionError(
                f"{env!r} is the first environment in the manifest, so no environment"
                " precedes it; pass --from ENV or --version N"
            )
        source = names[position - 1]
    if source not in names:
        raise PromotionError(f"unknown source environment {source!r}; the manifest lists {names}")
    if source == env:
        raise PromotionError(f"--from {source!r} is the environment being promoted")
    pin, target = manifest.environments[source], manifest.environments[env]
    if pin.model_package_group != target.model_package_group:
        raise PromotionError(
            f"{source!r} serves model package group {pin.model_package_group!r} but {env!r}"
            f" serves {target.model_package_group!r}; versions do not carry across groups"
        )
    if pin.version is None:
        raise PromotionError(f"{source!r} has no version to promote (version: null)")
    return pin.version, source


def _validated_copy(path: Path, text: str) -> Path:
    """Write `text` beside `path` and validate it; the caller moves or deletes the copy."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    temporary = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        shutil.copymode(path, temporary)
        load_manifest(temporary)
    except ConfigurationError as exc:
        temporary.unlink()
        raise PromotionError(
            "the promoted manifest would be invalid:\n" + str(exc).replace(name, str(path))
        ) from None
    except BaseException:
        temporary.unlink()
        raise
    return temporary


def _labels(path: Path) -> tuple[str, str]:
    """Diff headers: git-style a/ b/ paths under the working directory, else the path."""
    try:
        relative = path.resolve().relative_to(Path.cwd())
    except ValueError:
        return str(path), str(path)
    return f"a/{relative}", f"b/{relative}"


def promote(
    path: Path, env: str, *, source: str | None, version: int | None, dry_run: bool
) -> tuple[str, str]:
    """Promote; return the unified diff and a one-line summary ('' diff: nothing changed)."""
    try:
        text = path.read_text(encoding="utf-8")
        manifest = load_manifest(path)
    except (OSError, ConfigurationError) as exc:
        raise PromotionError(f"cannot read the manifest: {exc}") from None
    pinned, origin = _choose_version(manifest, env, source, version)
    current = manifest.environments[env].version
    group = manifest.environments[env].model_package_group
    if current == pinned:
        return "", f"{env} already serves {group} v{pinned}; nothing to change"
    try:
        updated = set_version(text, env, pinned)
    except ManifestError as exc:
        raise PromotionError(str(exc)) from None
    temporary = _validated_copy(path, updated)
    if dry_run:
        temporary.unlink()
    else:
        temporary.replace(path)
    before, after = _labels(path)
    diff = "".join(
        difflib.unified_diff(
            text.splitlines(keepends=True),
            updated.splitlines(keepends=True),
            fromfile=before,
            tofile=after,
        )
    )
    was = "null" if current is None else f"v{current}"
    action = "dry run, not written" if dry_run else f"written to {path}"
    return diff, f"{env}: {group} {was} -> v{pinned} (from {origin}); {action}"


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        diff, summary = promote(
            args.manifest,
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
