"""S3 as a local folder tree: `<root>/<bucket>/<key>`, one folder per bucket.

Downloads follow SageMaker's rule for `S3Prefix` inputs: every object whose key starts
with the prefix lands under the local path at its key after the prefix (a prefix that
names one object lands as that object's file name).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from constructs_lib.dry_run.errors import DryRunError


def split_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key)."""
    if not isinstance(uri, str) or not uri.startswith("s3://") or len(uri) <= 5:
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


class LocalS3:
    """The local stand-in for S3."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def file(self, bucket: str, key: str) -> Path:
        return self.root / bucket / key

    def put(self, bucket: str, key: str, data: bytes) -> None:
        target = self.file(bucket, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file() or target.read_bytes() != data:
            target.write_bytes(data)

    def objects(self, uri: str) -> dict[str, Path]:
        """Key -> file of every object under `uri` (a prefix)."""
        bucket, prefix = split_uri(uri)
        base = self.root / bucket
        if not base.is_dir():
            return {}
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = base / folder if folder else base
        if not start.is_dir():
            return {}
        found = {}
        for path in sorted(start.rglob("*")):
            if path.is_file():
                key = path.relative_to(base).as_posix()
                if key.startswith(prefix):
                    found[key] = path
        return found

    def listing(self, uri: str) -> dict[str, Path]:
        """Relative name -> file, as an `S3Prefix` download of `uri` lays them out."""
        _, prefix = split_uri(uri)
        laid_out = {}
        for key, path in self.objects(uri).items():
            if key == prefix:
                relative = key.rsplit("/", 1)[-1]
            elif prefix.endswith("/") or prefix == "" or key[len(prefix)] == "/":
                relative = key[len(prefix) :].lstrip("/")
            else:
                relative = key[prefix.rfind("/") + 1 :]
            laid_out[relative] = path
        return laid_out

    def download(self, uri: str, target: Path, step: str, where: str) -> list[str]:
        """Copy what `uri` holds into `target`; no object there is an error, as in SageMaker."""
        try:
            listing = self.listing(uri)
        except ValueError as error:
            raise DryRunError(step, where, str(error)) from error
        if not listing:
            raise DryRunError(step, where, f"objects under {uri} (there are none)")
        for relative, path in listing.items():
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
        return sorted(listing)

    def upload(self, source: Path, uri: str) -> int:
        """Copy every file under `source` to `uri/<relative path>`; the count."""
        bucket, prefix = split_uri(uri)
        prefix = prefix.rstrip("/")
        count = 0
        for path in sorted(source.rglob("*")):
            if path.is_file():
                key = f"{prefix}/{path.relative_to(source).as_posix()}".lstrip("/")
                target = self.file(bucket, key)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
                count += 1
        return count
