"""Step scripts. Each runs stand-alone in its SageMaker container, with the shared modules
of ``pipelines._steps`` staged beside it (see ``pipelines._offline.step_sources``)."""
