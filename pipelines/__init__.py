"""SageMaker pipelines built with the SageMaker Python SDK, one package per pipeline.

A model's file (`config/models/<name>.yaml`) names its package (`pipeline.package`).
Each package exports:

- ``build_pipeline(*, pipeline_name, model_package_group_name, region, **parameters)``:
  an SDK ``Pipeline`` (``.definition()`` is its JSON); ``parameters`` come from the
  model's file, and a bad one raises ``ConfigurationError``;
- ``step_sources(build_dir)``: the step code the construct stages, by name;
- ``data_prefix(pipeline_name)``: the training data's key prefix in the build artifact
  bucket (`datasets/<pipeline name>/`, so models sharing a package train on their own);
- ``SAMPLE_REQUEST``: (content type, body) the served model must answer (smoke test).

Step scripts live in ``steps/``. What the packages share: ``_offline`` (names, argument
checks, step staging; no SDK), ``_sdk`` (the SDK pipeline every package builds,
``ScikitLearnPipeline``) and ``_steps`` (modules staged beside the step scripts:
``step_common``, ``step_serving``). A package gives its settings, gate, hyperparameters
and model-specific step code.
The CDK library never imports this package.
"""
