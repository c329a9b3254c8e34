"""Audit records: local hash-chained JSON lines, and objects in S3 (moto server) under Object Lock."""
from __future__ import annotations

import json

import botocore.exceptions
import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import audit


def test_local_chain_and_s3_object_lock(tmp_path, moto, s3_bucket):
    path = str(tmp_path / "audit" / "upgrades.jsonl")
    keys = []
    for outcome in ("rolled_back", "success"):
        rec, line = audit.build({"who": "ops", "approval_ref": "CHG-1001", "outcome": outcome}, path)
        audit.append_local(path, line)
        key = audit.object_key("audit/upgrades", rec, line)
        env = moto.env()
        res = audit.put_s3(line, s3_bucket, key, endpoint=moto.endpoint,
                           access_key=env.get("AWS_ACCESS_KEY_ID"), secret_key=env.get("AWS_SECRET_ACCESS_KEY"),
                           region="us-east-1", retention_days=30, mode="COMPLIANCE")
        keys.append(res["key"])
    lines = (tmp_path / "audit" / "upgrades.jsonl").read_bytes().splitlines()
    assert [json.loads(x)["outcome"] for x in lines] == ["rolled_back", "success"]
    assert audit.verify_chain(path) == []
    # a rewritten line breaks the chain
    forged = lines[0].replace(b"rolled_back", b"success")
    (tmp_path / "forged.jsonl").write_bytes(forged + b"\n" + lines[1] + b"\n")
    assert audit.verify_chain(str(tmp_path / "forged.jsonl")) == ["line 2: prev_sha256 does not match line 1"]

    s3 = moto.client()
    head = s3.head_object(Bucket=s3_bucket, Key=keys[0])
    assert head["ObjectLockMode"] == "COMPLIANCE"
    body = s3.get_object(Bucket=s3_bucket, Key=keys[0])["Body"].read()
    assert json.loads(body)["outcome"] == "rolled_back"
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied|locked|retention|Object Lock"):
        s3.delete_object(Bucket=s3_bucket, Key=keys[0], VersionId=head["VersionId"])
