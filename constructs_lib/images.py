"""Container images SageMaker provides, by region, for constructs that need one.

Copied from the SageMaker Python SDK's `image_uri_config/model-monitor.json` (sagemaker
3.27) so the library needs no SDK at synth time. Regions not listed fail with a message.
"""

from __future__ import annotations

from aws_cdk import Token

from constructs_lib._validate import Checks, Shown

MODEL_MONITOR_REPOSITORY = "sagemaker-model-monitor-analyzer"
MODEL_MONITOR_ACCOUNTS = {
    "af-south-1": "875698925577",
    "ap-east-1": "001633400207",
    "ap-northeast-1": "574779866223",
    "ap-northeast-2": "709848358524",
    "ap-northeast-3": "990339680094",
    "ap-south-1": "126357580389",
    "ap-southeast-1": "245545462676",
    "ap-southeast-2": "563025443158",
    "ap-southeast-3": "669540362728",
    "ca-central-1": "536280801234",
    "cn-north-1": "453000072557",
    "cn-northwest-1": "453252182341",
    "eu-central-1": "048819808253",
    "eu-central-2": "590183933784",
    "eu-north-1": "895015795356",
    "eu-south-1": "933208885752",
    "eu-south-2": "437450045455",
    "eu-west-1": "468650794304",
    "eu-west-2": "749857270468",
    "eu-west-3": "680080141114",
    "il-central-1": "843974653677",
    "me-central-1": "588750061953",
    "me-south-1": "607024016150",
    "sa-east-1": "539772159869",
    "us-east-1": "156813124566",
    "us-east-2": "777275614652",
    "us-isof-east-1": "853188333426",
    "us-isof-south-1": "467912361380",
    "us-west-1": "890145073186",
    "us-west-2": "159807026194",
}


def model_monitor_image(region: str) -> str:
    """The Model Monitor analyzer image URI for `region` (a literal region, not a token)."""
    check = Checks("model_monitor_image")
    if Token.is_unresolved(region):
        check.fail(
            "region",
            Shown("an unresolved token"),
            "a literal region: give the stack an explicit env (account and region), or pass"
            " DataQualityMonitor image_uri",
        )
    elif region not in MODEL_MONITOR_ACCOUNTS:
        check.fail(
            "region",
            region,
            "a region with a known Model Monitor image (SageMaker SDK 3.27's list); pass"
            " DataQualityMonitor image_uri for others",
        )
    check.done()
    account = MODEL_MONITOR_ACCOUNTS[region]
    suffix = ".amazonaws.com.cn" if region.startswith("cn-") else ".amazonaws.com"
    return f"{account}.dkr.ecr.{region}{suffix}/{MODEL_MONITOR_REPOSITORY}:latest"
