"""Container images SageMaker provides, by region, for constructs that need one.

The Model Monitor analyzer's registries are copied from the SageMaker Python SDK's
`image_uri_config/model-monitor.json` (sagemaker 3.27) so the library needs no SDK at
synth time. Regions not listed fail with a message.

**Which analyzer image.** AWS publishes the analyzer under one reference per region,
with no version tag and no digest it documents
(https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-pre-built-container.html:
`<account>.dkr.ecr.<region>.amazonaws.com/sagemaker-model-monitor-analyzer`), and it
cannot be pulled into your own registry. So the library names it exactly as documented
(never `:latest`), in one place, for both the build pipelines' baseline jobs and
`DataQualityMonitor`, so a baseline and the monitor that checks against it always use
the same image; pass `image_uri` to pin another one (a tag or `@sha256:` digest).
"""

from __future__ import annotations

from aws_cdk import Token

from constructs_lib._validate import Checks, Shown

MODEL_MONITOR_REPOSITORY = "sagemaker-model-monitor-analyzer"
"""AWS's Model Monitor analyzer repository (published without version tags)."""
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
    """The Model Monitor analyzer image URI for `region` (a literal region, not a token),
    as AWS documents it: `<account>.dkr.ecr.<region>.amazonaws.com[.cn]/
    sagemaker-model-monitor-analyzer`, with no tag (AWS publishes none; see the module)."""
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
    return f"{account}.dkr.ecr.{region}{suffix}/{MODEL_MONITOR_REPOSITORY}"


def is_documented_model_monitor_image(image_uri: str) -> bool:
    """Whether `image_uri` is AWS's analyzer exactly as documented for its region (the
    one image the library uses without a version tag or digest)."""
    for region, account in MODEL_MONITOR_ACCOUNTS.items():
        suffix = ".amazonaws.com.cn" if region.startswith("cn-") else ".amazonaws.com"
        if image_uri == f"{account}.dkr.ecr.{region}{suffix}/{MODEL_MONITOR_REPOSITORY}":
            return True
    return False


CLARIFY_REPOSITORY = "sagemaker-clarify-processing"
CLARIFY_VERSION = "1.0"
"""SageMaker Clarify's processing image and its version tag (SageMaker SDK 3.27's
`image_uri_config/clarify.json`), for the bias and explainability monitors."""
CLARIFY_ACCOUNTS = {
    "af-south-1": "811711786498",
    "ap-east-1": "098760798382",
    "ap-northeast-1": "377024640650",
    "ap-northeast-2": "263625296855",
    "ap-northeast-3": "912233562940",
    "ap-south-1": "452307495513",
    "ap-southeast-1": "834264404009",
    "ap-southeast-2": "007051062584",
    "ap-southeast-3": "705930551576",
    "ca-central-1": "675030665977",
    "cn-north-1": "122526803553",
    "cn-northwest-1": "122578899357",
    "eu-central-1": "017069133835",
    "eu-central-2": "730335477804",
    "eu-north-1": "763603941244",
    "eu-south-1": "638885417683",
    "eu-west-1": "131013547314",
    "eu-west-2": "440796970383",
    "eu-west-3": "341593696636",
    "me-south-1": "835444307964",
    "sa-east-1": "520018980103",
    "us-east-1": "205585389593",
    "us-east-2": "211330385671",
    "us-gov-west-1": "598674086554",
    "us-isof-east-1": "579539705040",
    "us-isof-south-1": "411392592546",
    "us-west-1": "740489534195",
    "us-west-2": "306415355426",
}


def clarify_image(region: str) -> str:
    """SageMaker Clarify's image URI for `region` (a literal region), pinned to its
    version tag: `<account>.dkr.ecr.<region>.amazonaws.com/sagemaker-clarify-processing:1.0`."""
    check = Checks("clarify_image")
    if Token.is_unresolved(region):
        check.fail(
            "region",
            Shown("an unresolved token"),
            "a literal region: give the stack an explicit env (account and region), or pass"
            " image_uri",
        )
    elif region not in CLARIFY_ACCOUNTS:
        check.fail(
            "region",
            region,
            "a region with a known Clarify image (SageMaker SDK 3.27's list); pass image_uri",
        )
    check.done()
    suffix = ".amazonaws.com.cn" if region.startswith("cn-") else ".amazonaws.com"
    return f"{CLARIFY_ACCOUNTS[region]}.dkr.ecr.{region}{suffix}/{CLARIFY_REPOSITORY}:{CLARIFY_VERSION}"
