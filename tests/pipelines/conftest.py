"""Fixtures for the tabular classifier tests: one local run of the step scripts per session.

``local_pipeline_run`` (see ``local_run.run_locally``) returns a ``LocalPipelineRun``
with the paths of the raw CSV, the splits, the model directory, ``model.tar.gz`` and
``evaluation.json``. The run happens in a background thread started by
``local_pipeline_run_started``: the steps are subprocesses, so a fixture doing other slow
work (importing the SageMaker SDK) can request that first and overlap with them.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from .local_run import LocalPipelineRun, run_locally


@pytest.fixture(scope="session")
def local_pipeline_run_started(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Future[LocalPipelineRun]]:
    """The local run, started in the background (the steps are subprocesses).

    Request this from an expensive fixture to overlap the run with it; tests request
    ``local_pipeline_run``.
    """
    root = tmp_path_factory.mktemp("tabular_classifier_run")
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-pipeline-run") as pool:
        yield pool.submit(run_locally, root)


@pytest.fixture(scope="session")
def local_pipeline_run(
    local_pipeline_run_started: Future[LocalPipelineRun],
) -> LocalPipelineRun:
    """preprocess -> train -> evaluate on the breast-cancer data (no download)."""
    return local_pipeline_run_started.result()
