"""Context managers that keep SageMaker SDK work offline and quiet (no SDK import here)."""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator


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
