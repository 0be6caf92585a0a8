"""SageMaker pipelines built with the SageMaker Python SDK, one package per pipeline.

Each package exposes ``build_pipeline(...)`` (an SDK ``Pipeline``; ``.definition()`` is
its JSON) and ``step_sources(build_dir)`` (the step code the construct uploads), and
keeps its step scripts in ``steps/``. The CDK library never imports this package.
"""
