"""ArtifactStore: encrypted, versioned, TLS-only, logged, lifecycle-managed."""

from __future__ import annotations

import re

import pytest
from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template

from constructs_lib.artifact_store import ArtifactStore
from constructs_lib.errors import ConfigurationError


def test_bucket_is_kms_encrypted_versioned_private_and_logged(stack):
    store = ArtifactStore(stack, "Store")
    t = Template.from_stack(stack)
    key_id = stack.resolve(store.key.key_arn)
    t.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "BucketKeyEnabled": True,
                        "ServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": key_id,
                        },
                    }
                ]
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "LoggingConfiguration": {
                "DestinationBucketName": Match.any_value(),
                "LogFilePrefix": "artifacts/",
            },
            "LifecycleConfiguration": {
                "Rules": [
                    Match.object_like(
                        {
                            "NoncurrentVersionExpiration": {"NoncurrentDays": 90},
                            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                            "Status": "Enabled",
                        }
                    )
                ]
            },
        },
    )
    t.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_buckets_deny_plain_http(stack):
    store = ArtifactStore(stack, "Store")
    t = Template.from_stack(stack)
    tls_deny = Match.object_like(
        {
            "Effect": "Deny",
            "Action": "s3:*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            "Principal": {"AWS": "*"},
        }
    )
    for bucket in (store.bucket, store.access_logs_bucket):
        t.has_resource_properties(
            "AWS::S3::BucketPolicy",
            {
                "Bucket": stack.resolve(bucket.bucket_name),
                "PolicyDocument": {"Statement": Match.array_with([tls_deny])},
            },
        )


@pytest.mark.parametrize(
    ("policy", "expected"), [(RemovalPolicy.RETAIN, "Retain"), (RemovalPolicy.DESTROY, "Delete")]
)
def test_removal_policy_applies_to_key_and_buckets(stack, policy, expected):
    ArtifactStore(stack, "Store", removal_policy=policy)
    t = Template.from_stack(stack)
    for resource_type in ("AWS::S3::Bucket", "AWS::KMS::Key"):
        for resource in t.find_resources(resource_type).values():
            assert resource["DeletionPolicy"] == expected, resource_type


def test_destroy_also_deletes_every_object_version(stack):
    """Staging: `cdk destroy` must not stop at a versioned bucket that holds objects, so
    CDK's auto-delete custom resource empties both buckets (all versions) first."""
    store = ArtifactStore(stack, "Store", removal_policy=RemovalPolicy.DESTROY)
    t = Template.from_stack(stack)
    emptied = {
        props["Properties"]["BucketName"]["Ref"]
        for props in t.find_resources("Custom::S3AutoDeleteObjects").values()
    }
    assert emptied == {
        stack.resolve(b.bucket_name)["Ref"] for b in (store.bucket, store.access_logs_bucket)
    }
    # The provider may delete objects only after the bucket policy says so, and only its
    # own buckets' objects.
    t.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": stack.resolve(store.bucket.bucket_name),
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Action": Match.array_with(["s3:DeleteObject*"])})]
                )
            },
        },
    )


def test_retain_deletes_nothing(stack):
    ArtifactStore(stack, "Store")
    assert Template.from_stack(stack).find_resources("Custom::S3AutoDeleteObjects") == {}


def test_access_log_bucket_is_versioned_and_expires_old_versions(stack):
    store = ArtifactStore(stack, "Store")
    Template.from_stack(stack).has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketName": Match.absent(),
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "LifecycleConfiguration": {
                "Rules": [
                    Match.object_like(
                        {
                            "ExpirationInDays": 365,
                            "NoncurrentVersionExpiration": {"NoncurrentDays": 365},
                        }
                    )
                ]
            },
        },
    )
    assert store.access_logs_bucket is not store.bucket


def test_noncurrent_expiration_is_configurable(stack):
    ArtifactStore(stack, "Store", noncurrent_version_expiration=Duration.days(30))
    Template.from_stack(stack).has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": [
                    Match.object_like({"NoncurrentVersionExpiration": {"NoncurrentDays": 30}})
                ]
            }
        },
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"noncurrent_version_expiration": Duration.days(4000)},
            "ArtifactStore noncurrent_version_expiration: got 345600000 s; allowed a Duration"
            " from 86400 s to 315360000 s",
        ),
        (
            {"noncurrent_version_expiration": 30},
            "ArtifactStore noncurrent_version_expiration: got an int 30; allowed a Duration",
        ),
        ({"removal_policy": "retain"}, "ArtifactStore removal_policy: got a str 'retain'"),
        ({"bucket_name": "My_Bucket"}, "ArtifactStore bucket_name: got 'My_Bucket'; allowed 3-63"),
        ({"key_alias": "mlops"}, "ArtifactStore key_alias: got 'mlops'; allowed alias/<name>"),
        ({"key_alias": "alias/aws/s3"}, "alias/aws/ is reserved"),
    ],
)
def test_invalid_props_name_the_prop_and_value(stack, kwargs, message):
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        ArtifactStore(stack, "Store", **kwargs)


def test_every_problem_is_reported_at_once(stack):
    with pytest.raises(ConfigurationError, match="bucket_name: .*; key_alias: "):
        ArtifactStore(stack, "Store", bucket_name="A", key_alias="x")


def test_the_bucket_is_the_default_child(stack):
    store = ArtifactStore(stack, "Store")
    assert store.node.default_child is store.bucket


def test_grant_read_write_is_limited_to_prefix_and_key(stack):
    store = ArtifactStore(stack, "Store")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    store.grant_read_write(role, "pipelines/p/*")
    statements = Template.from_stack(stack).find_resources("AWS::IAM::Policy")
    (policy,) = statements.values()
    text = str(stack.resolve(policy["Properties"]["PolicyDocument"]))
    assert "/pipelines/p/*" in text
    assert "kms:Decrypt" in text
