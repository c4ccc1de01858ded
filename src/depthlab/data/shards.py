"""Where shards live: a local directory or an object-store prefix (s3://), their manifest and safe deserializers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from depthlab.utils.errors import DepthlabError

MANIFEST = "depthlab.json"
REMOTE = ("s3://", "gs://", "azure://", "hf://")


def is_remote(uri: str) -> bool:
    return str(uri).startswith(REMOTE)


def split_uri(uri: str, name: str) -> str:
    """`<uri>/<name>` for a directory or a bucket prefix alike."""
    return f"{str(uri).rstrip('/')}/{name}"


def check_uri(uri: Any, key: str) -> str:
    """A given directory or s3:// prefix (with credentials found); other schemes and missing values refused."""
    if not uri or str(uri) == "???":
        raise DepthlabError(f"{key} is not set; pass {key}=/path/to/shards or {key}=s3://bucket/prefix")
    uri = str(uri)
    if "://" in uri and not uri.startswith("s3://"):
        raise DepthlabError(f"{key}={uri}: only local directories and s3:// prefixes are supported")
    if uri.startswith("s3://"):
        check_credentials(uri, key)
        return uri.rstrip("/")
    return str(Path(uri).expanduser().absolute())


def check_credentials(uri: str, key: str) -> None:
    """Refuse an s3:// uri early, in one line, when no AWS credentials are configured (before any request)."""
    import boto3

    if boto3.Session().get_credentials() is None:
        raise DepthlabError(
            f"{key}={uri} needs AWS credentials and none were found; set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY "
            "(or AWS_PROFILE, and AWS_ENDPOINT_URL for S3-compatible stores)"
        )


def _s3_parts(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def write_text(uri: str, text: str) -> None:
    """Write a small text file beside the shards (local, or one S3 put)."""
    if uri.startswith("s3://"):
        import boto3

        bucket, key = _s3_parts(uri)
        boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=text.encode())
        return
    path = Path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def read_manifest(uri: str, key: str = "data.uri") -> dict[str, Any]:
    """`<uri>/depthlab.json` as written by depthlab.data.shard; a directory without it is refused."""
    where = split_uri(uri, MANIFEST)
    try:
        if uri.startswith("s3://"):
            import boto3

            bucket, name = _s3_parts(where)
            text = boto3.client("s3").get_object(Bucket=bucket, Key=name)["Body"].read().decode()
        else:
            if not Path(uri).is_dir():
                raise DepthlabError(f"{key}={uri} is not a directory; write shards with python -m depthlab.data.shard")
            text = Path(where).read_text()
        data = json.loads(text)
    except (OSError, ValueError, KeyError) as err:
        if isinstance(err, DepthlabError):
            raise
        raise DepthlabError(
            f"{key}={uri} has no readable {MANIFEST} ({type(err).__name__}); "
            "write it with python -m depthlab.data.shard data=<name> out=<uri>"
        ) from None
    if not isinstance(data, dict) or data.get("format") != "depthlab-shards/1":
        raise DepthlabError(f"{where} is not a depthlab shard manifest; rewrite the shards with depthlab.data.shard")
    return data


class RefusePickle:
    """Stands in for LitData's pickle serializer: shards are data, so a pickled leaf is refused, never loaded."""

    def serialize(self, item: Any) -> tuple[bytes, None]:
        raise DepthlabError(f"a sample leaf of type {type(item).__name__} would need pickle; store arrays or strings")

    def deserialize(self, data: bytes) -> Any:
        raise DepthlabError("these shards hold a pickled leaf; depthlab reads only typed arrays and strings")

    def can_serialize(self, item: Any) -> bool:
        return True

    def setup(self, data_format: str) -> None:
        return None


def source_setting(uri: str, key: str) -> Any:
    """`${shard_source:${.uri},max_depth}`: a setting of the data config the shards were written from."""
    return read_manifest(check_uri(uri, "data.uri"))["data"].get(key)
