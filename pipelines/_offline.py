"""Helpers every pipeline package shares to build its definition offline (no SDK import here).

* ``prepare_sdk_environment`` and ``sdk_session``: keep the SageMaker SDK from reaching
  for credentials or an account, and quiet while it builds a definition;
* ``write_archive``: a reproducible ``.tar.gz`` of step code (same bytes for the same
  files), so the construct's asset hash changes only with the code.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import logging
import os
import tarfile
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path


def prepare_sdk_environment(region: str) -> None:
    """Settings the SDK reads at import and when jobs are defined.

    A region (one of its modules creates a boto3 client at import) and no IAM look-up of
    the role. ``setdefault``, so a caller's own settings win.
    """
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    os.environ.setdefault("SAGEMAKER_VALIDATE_ROLE", "false")


@contextlib.contextmanager
def sdk_session() -> Iterator[None]:
    """Keep the SDK from reaching for credentials and from logging routine chatter.

    boto3 clients resolve credentials when they are created, and the SDK creates some the
    definition never uses (at import, and a local-mode session per processing step).
    With no credentials in the environment, botocore would ask the EC2 instance metadata
    service for them; that is disabled here. Under a PipelineSession the SDK also warns
    that no job is started and logs, per step and per ``definition()`` call, that job
    names are left out: expected, so records below ERROR are dropped. Both settings are
    process-wide and restored on exit, so callers on EC2 keep their credentials and
    their logging afterwards.
    """
    key = "AWS_EC2_METADATA_DISABLED"
    previous_imds = os.environ.get(key)
    previous_disable = logging.root.manager.disable
    os.environ[key] = "true"
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Running within a PipelineSession")
            yield
    finally:
        logging.disable(previous_disable)
        if previous_imds is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = previous_imds


def write_archive(target: Path, files: list[Path]) -> Path:
    """Write a reproducible ``.tar.gz`` of ``files`` (flat, by name) to ``target``.

    Sorted entries, mtime 0, uid/gid 0, no name or timestamp in the gzip header. An
    archive whose bytes are already right is not rewritten.
    """
    raw = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.GNU_FORMAT) as tar,
    ):
        for path in sorted(files, key=lambda p: p.name):
            data = path.read_bytes()
            info = tarfile.TarInfo(path.name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    content = raw.getvalue()
    if not target.is_file() or target.read_bytes() != content:
        # Write then rename, so a concurrent reader never sees half an archive.
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
            tmp.write(content)
        Path(tmp.name).replace(target)
    return target
