#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: odoo_audit_record
short_description: Append an upgrade audit record (JSON line) locally and put it to S3 under Object Lock
description:
  - Appends O(record) as one JSON line to O(path) (created 0640), with C(recorded) and C(prev_sha256) (the SHA-256 of
    the previous line, a hash chain that shows any rewrite), and, with O(s3_bucket), puts the same line as its own
    object under C(<s3_prefix>/YYYY/MM/DD/) with an Object Lock retention of O(retention_days).
  - Run it on the control node (C(delegate_to localhost)). Never put secrets into the record.
version_added: 0.1.0
author: odooops.hosting maintainers (@odooops)
extends_documentation_fragment:
  - odooops.hosting.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: none
    details: Every run appends a record; that is the point of an audit trail.
options:
  record:
    description: What happened (who, when, approval reference, versions, gate results, stages, outcome, reason).
    type: dict
    required: true
  path:
    description: The local JSON-lines file.
    type: path
    required: true
  s3_bucket:
    description: Bucket (with Object Lock enabled) to put the record to.
    type: str
  s3_prefix:
    description: Key prefix in the bucket.
    type: str
    default: audit/upgrades
  s3_endpoint:
    description: S3 endpoint URL (any S3 API).
    type: str
  s3_region:
    description: Region.
    type: str
    default: us-east-1
  s3_access_key:
    description: Access key (or the usual AWS environment).
    type: str
  s3_secret_key:
    description: Secret key.
    type: str
  s3_ca_bundle:
    description: CA bundle to verify the endpoint with.
    type: path
  retention_days:
    description: Object Lock retention; 0 puts no retention.
    type: int
    default: 400
  retention_mode:
    description: Object Lock mode.
    type: str
    choices: [COMPLIANCE, GOVERNANCE]
    default: COMPLIANCE
"""

EXAMPLES = r"""
- name: Audit
  odooops.hosting.odoo_audit_record:
    path: /var/log/odooops/upgrades.jsonl
    record: "{{ upgrade_audit }}"
    s3_bucket: odooops-audit
    s3_access_key: "{{ odooops_s3_access_key }}"
    s3_secret_key: "{{ odooops_s3_secret_key }}"
  delegate_to: localhost
"""

RETURN = r"""
record:
  description: The record as written.
  returned: always
  type: dict
sha256:
  description: SHA-256 of the JSON line.
  returned: always
  type: str
s3:
  description: Where the record was put, C({bucket, key, version_id, retain_until}).
  returned: when s3_bucket is set
  type: dict
"""

import hashlib

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import audit


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            record=dict(type="dict", required=True),
            path=dict(type="path", required=True),
            s3_bucket=dict(type="str"),
            s3_prefix=dict(type="str", default="audit/upgrades"),
            s3_endpoint=dict(type="str"),
            s3_region=dict(type="str", default="us-east-1"),
            s3_access_key=dict(type="str", no_log=True),
            s3_secret_key=dict(type="str", no_log=True),
            s3_ca_bundle=dict(type="path"),
            retention_days=dict(type="int", default=400),
            retention_mode=dict(type="str", choices=["COMPLIANCE", "GOVERNANCE"], default="COMPLIANCE"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    rec, line = audit.build(p["record"], p["path"])
    result = {"changed": True, "record": rec, "sha256": hashlib.sha256(line).hexdigest()}
    if module.check_mode:
        module.exit_json(**result)
    try:
        audit.append_local(p["path"], line)
        if p["s3_bucket"]:
            result["s3"] = audit.put_s3(line, p["s3_bucket"], audit.object_key(p["s3_prefix"], rec, line),
                                        endpoint=p["s3_endpoint"], access_key=p["s3_access_key"],
                                        secret_key=p["s3_secret_key"], region=p["s3_region"],
                                        retention_days=p["retention_days"], mode=p["retention_mode"],
                                        ca_bundle=p["s3_ca_bundle"])
    except (audit.AuditError, OSError) as exc:
        module.fail_json(msg=f"audit record: {exc}", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
