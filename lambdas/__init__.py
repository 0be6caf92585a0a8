"""Lambda function code: one package per function.

Each package is the code root's child (the code asset is this `lambdas/` folder), so its
handler is `<name>.handler.lambda_handler` and it imports its own modules relatively.
Only boto3 and aws-lambda-powertools (from a layer) are available at run time.
"""
