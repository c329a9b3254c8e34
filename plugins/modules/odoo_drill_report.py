#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: odoo_drill_report
short_description: Write the report of a DR drill (JSON and a readable summary) with RPO, RTO and checks
description:
  - Builds the report of a restore drill from the results of M(odooops.hosting.odoo_backup_info) (latest good
    backup, verification), M(odooops.hosting.odoo_restore) (timings, row counts and modules against the
    manifest) and the scratch Odoo's health check, and writes C(drill-<db>-<time>.json) and C(.txt).
  - RPO achieved is the age of the newest recoverable point when the drill started; RTO achieved is the time to
    fetch, verify and restore (plus the scratch Odoo becoming healthy, when checked).
version_added: 1.0.0
author: odooops.hosting maintainers (@odooops)
extends_documentation_fragment:
  - odooops.hosting.attributes
  - odooops.hosting.s3
attributes:
  check_mode:
    support: full
    details: Builds the report, writes no file.
  diff_mode:
    support: none
  idempotent:
    support: none
    details: Every drill writes a new report.
options:
  db:
    description: Database drilled.
    type: str
    required: true
  backup:
    description: The backup restored (C(latest_good) of M(odooops.hosting.odoo_backup_info)).
    type: dict
    required: true
  restore:
    description: The result of M(odooops.hosting.odoo_restore).
    type: dict
    required: true
  verified:
    description: Per-part verification (C(verified) of M(odooops.hosting.odoo_backup_info)).
    type: dict
  health:
    description: Scratch Odoo readiness (the restored database's login page), C({status, http, seconds}).
    type: dict
  pitr:
    description:
      - The point-in-time half of the drill (C(pitr) of M(odooops.hosting.pgbackrest_pitr_drill), or the result
        of that task when it failed), reported with its own RPO and RTO, its checks prefixed C(pitr:).
    type: dict
  pitr_rpo_target_s:
    description: RPO objective of the point-in-time recovery in seconds (adds a check).
    type: float
  pitr_rto_target_s:
    description: RTO objective of the point-in-time recovery in seconds (adds a check).
    type: float
  started_at:
    description: ISO time the drill started.
    type: str
  rpo_target_s:
    description: RPO objective in seconds (adds a check).
    type: float
  rto_target_s:
    description: RTO objective in seconds (adds a check).
    type: float
  report_dir:
    description: Directory for the report files (created 0750).
    type: path
    required: true
  upload:
    description:
      - Also store the report in the bucket, under O(report_prefix) (evidence for audits, kept beside the
        backups). Uses the S3 options; O(bucket) is then required.
    type: bool
    default: false
  bucket:
    description: Bucket to upload the report to (required with O(upload)).
    type: str
    required: false
  report_prefix:
    description: Key prefix of uploaded reports (outside O(prefix), so reports are never taken for backups).
    type: str
    default: drills/
"""

EXAMPLES = r"""
- name: Write the drill report
  odooops.hosting.odoo_drill_report:
    db: shop
    backup: "{{ backups.latest_good }}"
    verified: "{{ backups.verified }}"
    restore: "{{ restored }}"
    report_dir: /var/log/odooops/drills
"""

RETURN = r"""
report:
  description: The report (rpo_s, rto_s, checks, passed).
  returned: always
  type: dict
summary:
  description: The readable summary.
  returned: always
  type: str
paths:
  description: Files written.
  returned: success and not check mode
  type: list
  elements: str
"""

import json
import os

from ansible_collections.odooops.hosting.plugins.module_utils.backup._module import BackupModule
from ansible_collections.odooops.hosting.plugins.module_utils.backup.drill_report import drill_report, render_summary
from ansible_collections.odooops.hosting.plugins.module_utils.backup.s3 import (
    S3Error,
    describe_error,
    normalise_prefix,
)


def run(bm: BackupModule) -> dict:
    module = bm.module
    p = module.params
    report = drill_report(db_name=p["db"], backup=p["backup"], restore=p["restore"], verified=p["verified"],
                          health=p["health"], pitr=p["pitr"], started_at=p["started_at"],
                          rpo_target_s=p["rpo_target_s"], rto_target_s=p["rto_target_s"],
                          pitr_rpo_target_s=p["pitr_rpo_target_s"], pitr_rto_target_s=p["pitr_rto_target_s"])
    summary = render_summary(report)
    result = {"changed": not module.check_mode, "report": report, "summary": summary, "paths": []}
    if module.check_mode:
        return result
    os.makedirs(p["report_dir"], mode=0o750, exist_ok=True)
    stem = os.path.join(p["report_dir"], f"drill-{p['db']}-{report['drill_started_at'][:19].replace(':', '')}")
    with open(stem + ".json", "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=2)
    with open(stem + ".txt", "w", encoding="utf-8") as fh:
        fh.write(summary)
    result["paths"] = [stem + ".json", stem + ".txt"]
    if p["upload"]:
        key = f"{normalise_prefix(p['report_prefix'])}{p['db']}/{os.path.basename(stem)}.json"
        try:
            bm.s3().put_object(Bucket=p["bucket"], Key=key, Body=json.dumps(report, indent=2).encode(),
                               ContentType="application/json")
        except Exception as exc:  # noqa: BLE001
            raise S3Error(f"uploading the report to s3://{p['bucket']}/{key} failed: {describe_error(exc)}") from exc
        result["uploaded"] = key
    return result


def main():
    bm = BackupModule(
        dict(
            db=dict(type="str", required=True),
            backup=dict(type="dict", required=True),
            restore=dict(type="dict", required=True),
            verified=dict(type="dict"),
            health=dict(type="dict"),
            pitr=dict(type="dict"),
            started_at=dict(type="str"),
            rpo_target_s=dict(type="float"),
            rto_target_s=dict(type="float"),
            pitr_rpo_target_s=dict(type="float"),
            pitr_rto_target_s=dict(type="float"),
            report_dir=dict(type="path", required=True),
            upload=dict(type="bool", default=False),
            report_prefix=dict(type="str", default="drills/"),
        ),
        libs=(), supports_check_mode=True, bucket_required=False, required_if=[("upload", True, ["bucket"])],
    )
    try:
        bm.execute(run)
    except (OSError, ValueError, KeyError) as exc:
        bm.module.fail_json(msg=f"drill report failed: {exc}")


if __name__ == "__main__":
    main()
