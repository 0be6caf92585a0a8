"""Model approval and promotion-by-pull-request, driven by Model Registry events.

Handler: `approval.handler.lambda_handler` (code root `lambdas/`). See `config` for the
environment variables and `logic` for what each approval status does.
"""
