#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: platform_baseline
short_description: Capture PostgreSQL signals and business checks before an upgrade, and compare after
description:
  - C(capture) returns connections, locks, long transactions, replication lag per standby, the database size, free
    space of the data directory (when run on the database host as a superuser), the slowest statements from
    C(pg_stat_statements) where it is enabled, and the value of every business check.
  - C(compare) runs the business checks again and compares them with O(baseline) (C(expect), C(unchanged) with an
    optional C(tolerance_pct), C(min), C(max)); with O(health) and O(baseline_health)
    (M(odooops.hosting.odoo_health_info) results) it also compares response times.
  - Business check queries run in READ ONLY transactions.
version_added: 0.1.0
author: odooops.hosting contributors
extends_documentation_fragment:
  - odooops.hosting.attributes.info_module
  - odooops.hosting.upgrade_pg
options:
  mode:
    description: Capture or compare.
    type: str
    choices: [capture, compare]
    default: capture
  database:
    description: The Odoo database.
    type: str
    default: odoo
  business_checks:
    description: Checks from the inventory, each C({name, sql, expect|unchanged|min|max, tolerance_pct}).
    type: list
    elements: dict
    default: []
  long_transaction_seconds:
    description: Transactions open longer than this are listed.
    type: float
    default: 60
  baseline:
    description: The result of an earlier C(capture) (for C(compare)).
    type: dict
  health:
    description: Current M(odooops.hosting.odoo_health_info) result (for C(compare)).
    type: dict
  baseline_health:
    description: The baseline's M(odooops.hosting.odoo_health_info) result.
    type: dict
  max_response_ratio:
    description: A response slower than this many times the baseline fails the comparison.
    type: float
    default: 3.0
  fail_on_mismatch:
    description: Fail the task when a comparison fails.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Baseline before the upgrade
  odooops.hosting.platform_baseline:
    database: odoo
    business_checks:
      - {name: priced products, sql: "SELECT count(*) FROM product_template WHERE list_price > 0", unchanged: true}
      - {name: open POS sessions, sql: "SELECT count(*) FROM pos_session WHERE state = 'opened'", unchanged: true}
  register: baseline
"""

RETURN = r"""
baseline:
  description: The capture (C(postgres) signals and C(business) values).
  returned: when mode is capture
  type: dict
results:
  description: One entry per comparison, {name, ok, value, baseline, reason}.
  returned: when mode is compare
  type: list
  elements: dict
ok:
  description: Every comparison passed.
  returned: when mode is compare
  type: bool
failures:
  description: The failed comparisons, one line each.
  returned: when mode is compare
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.odooops.hosting.plugins.module_utils import upgrade_baseline as ub
from ansible_collections.odooops.hosting.plugins.module_utils import upgrade_pg as pgu


def run(module: AnsibleModule) -> dict:
    p = module.params
    ub.validate_checks(p["business_checks"])
    admin = pgu.connect(p)
    try:
        db = pgu.connect(pgu.pinned(p, admin), dbname=p["database"])  # the same server as admin
        try:
            if p["mode"] == "capture":
                return {"baseline": ub.capture(admin, db, p["database"], p["business_checks"],
                                               p["long_transaction_seconds"])}
            current = ub.run_business_checks(db, p["business_checks"])
        finally:
            db.close()
    finally:
        admin.close()
    results = ub.compare_business(p["business_checks"], (p["baseline"] or {}).get("business") or {}, current)
    if p["health"] and p["baseline_health"]:
        results += ub.compare_response_times(p["baseline_health"], p["health"], p["max_response_ratio"])
    failures = [f"{r['name']}: {r['reason']}" for r in results if not r["ok"]]
    return {"results": results, "ok": not failures, "failures": failures, "current": current}


def main() -> None:
    spec = pgu.pg_argument_spec()
    spec.update(
        mode=dict(type="str", choices=["capture", "compare"], default="capture"),
        database=dict(type="str", default="odoo"),
        business_checks=dict(type="list", elements="dict", default=[]),
        long_transaction_seconds=dict(type="float", default=60),
        baseline=dict(type="dict"),
        health=dict(type="dict"),
        baseline_health=dict(type="dict"),
        max_response_ratio=dict(type="float", default=3.0),
        fail_on_mismatch=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=spec, required_if=[("mode", "compare", ("baseline",))],
                           supports_check_mode=True)
    try:
        result = run(module)
    except (ub.BaselineError, pgu.PgError) as exc:
        module.fail_json(msg=str(exc))
    if module.params["fail_on_mismatch"] and not result.get("ok", True):
        module.fail_json(msg="business checks differ from the baseline: " + "; ".join(result["failures"]), **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
