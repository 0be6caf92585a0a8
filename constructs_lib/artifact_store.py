"""`ArtifactStore`: the encrypted, versioned S3 bucket that ML artifacts live in."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from constructs_lib._nag import acknowledge
from constructs_lib.errors import ConfigurationError


class ArtifactStore(Construct):
    """A customer-managed KMS key and the S3 bucket it encrypts.

    The bucket is versioned, TLS-only, blocks public access, writes server access logs
    to a companion bucket, expires non-current versions and aborts stale multipart
    uploads. The key rotates yearly. Pipelines, training jobs, data capture and Model
    Monitor all write here, each under its own prefix.

    Example::

        store = ArtifactStore(stack, "Artifacts", removal_policy=RemovalPolicy.RETAIN)
        store.grant_read_write(role, "pipelines/my-pipeline/*")
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        noncurrent_version_expiration: Duration | None = None,
        encryption_key: kms.IKey | None = None,
        server_access_logs_bucket: s3.IBucket | None = None,
    ) -> None:
        """Create the key, the bucket and (unless given) the access-log bucket.

        :param removal_policy: what happens to the key and buckets when the stack is
            deleted. Default RETAIN (use DESTROY only for throwaway environments; a
            bucket that still holds objects then fails to delete).
        :param noncurrent_version_expiration: how long overwritten or deleted object
            versions are kept. Default 90 days; 1 to 3650 days.
        :param encryption_key: an existing KMS key to encrypt with. Default: a new
            customer-managed key with yearly rotation.
        :param server_access_logs_bucket: where server access logs go. Default: a new
            S3-managed-encrypted bucket (log delivery cannot write to KMS-CMK buckets).
        """
        super().__init__(scope, construct_id)
        expiration = noncurrent_version_expiration or Duration.days(90)
        days = expiration.to_days()
        if not 1 <= days <= 3650:
            raise ConfigurationError(
                f"ArtifactStore noncurrent_version_expiration: got {days} days;"
                " allowed 1 to 3650 days"
            )

        self.key: kms.IKey = encryption_key or kms.Key(
            self,
            "Key",
            description="Encrypts ML artifacts: datasets, models, reports, captured data",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        if server_access_logs_bucket is None:
            logs = s3.Bucket(
                self,
                "AccessLogs",
                encryption=s3.BucketEncryption.S3_MANAGED,
                enforce_ssl=True,
                block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
                removal_policy=removal_policy,
                lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(365))],
            )
            acknowledge(
                logs,
                {
                    "AwsSolutions-S1": "This bucket receives the artifact bucket's server"
                    " access logs; logging it too would recurse without adding an audit trail."
                },
            )
            server_access_logs_bucket = logs
        self.access_logs_bucket = server_access_logs_bucket

        self.bucket = s3.Bucket(
            self,
            "Resource",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            versioned=True,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=server_access_logs_bucket,
            server_access_logs_prefix="artifacts/",
            removal_policy=removal_policy,
            lifecycle_rules=[
                s3.LifecycleRule(
                    noncurrent_version_expiration=expiration,
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
        )

    @property
    def bucket_name(self) -> str:
        """The bucket's name (a token until deploy)."""
        return self.bucket.bucket_name

    def s3_uri(self, key: str = "") -> str:
        """`s3://<bucket>/<key>` for a key in this store."""
        return f"s3://{self.bucket.bucket_name}/{key.lstrip('/')}"

    def grant_read(self, grantee: iam.IGrantable, key_pattern: str = "*") -> iam.Grant:
        """Read objects matching `key_pattern` (and decrypt them with the key)."""
        return self.bucket.grant_read(grantee, key_pattern)

    def grant_read_write(self, grantee: iam.IGrantable, key_pattern: str = "*") -> iam.Grant:
        """Read and write objects matching `key_pattern` (and use the key for both)."""
        return self.bucket.grant_read_write(grantee, key_pattern)
