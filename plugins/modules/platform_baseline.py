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
  - The module connects with O(login_user) (a superuser on the database host, e.g. C(become_user=postgres) and the
    local socket) for the PostgreSQL signals, and runs the business checks as O(check_role), never as that user.
  - O(check_role) is created (or reset) by the module with C(LOGIN), no superuser, no other privilege than
    membership of C(pg_read_all_data) (so no C(pg_execute_server_program), so C(COPY ... TO PROGRAM) fails), with
    C(default_transaction_read_only). Its password is a one-time random one sent as a SCRAM verifier computed by the
    module, valid 15 minutes; the login is removed (C(NOLOGIN), no password) when the checks end, also in check
    mode. pg_hba must admit the role with C(scram-sha-256) on the address or socket the module uses (roles/postgres
    writes C(local all <role> scram-sha-256)). A role of that name that the module did not make, or that is a
    superuser or a member of another role, is refused before anything changes.
  - Each business check is exactly one statement (a C(;) outside string literals, quoted identifiers and comments
    is refused, naming the check, before any check runs; one trailing C(;) is allowed), run in its own READ ONLY
    transaction with O(statement_timeout).
version_added: 0.1.0
author: odooops.hosting maintainers (@odooops)
extends_documentation_fragment:
  - odooops.hosting.attributes.info_module
  - odooops.hosting.postgres
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
  check_role:
    description: The role the business checks run as (created and managed by the module, see above).
    type: str
    default: odooops_checks
  statement_timeout:
    description: Seconds one business check may run before PostgreSQL cancels it (C(0) for no limit).
    type: float
    default: 60
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
writes:
  description: Rows inserted, updated or deleted in O(database) so far (C(pg_stat_database)), read after the checks;
    C(playbooks/upgrade.yml) keeps it as the count before opening.
  returned: when mode is compare
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.odooops.hosting.plugins.module_utils.postgres import connection as pgc
from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import baseline as ub
from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import pg as pgu


def run(module: AnsibleModule) -> dict:
    p = module.params
    checks = p["business_checks"]
    ub.validate_checks(checks)  # every check is one statement, before anything connects
    admin = pgu.connect(p)
    try:
        if p["mode"] == "capture" and not checks:
            return {"baseline": ub.capture(admin, None, p["database"], [], p["long_transaction_seconds"])}
        with ub.checks_connection(admin, p, p["database"], p["check_role"]) as db:
            if p["mode"] == "capture":
                return {"baseline": ub.capture(admin, db, p["database"], checks, p["long_transaction_seconds"],
                                               p["statement_timeout"])}
            current = ub.run_business_checks(db, checks, p["statement_timeout"])
        writes = ub.write_counter(admin, p["database"])
    finally:
        admin.close()
    results = ub.compare_business(p["business_checks"], (p["baseline"] or {}).get("business") or {}, current)
    if p["health"] and p["baseline_health"]:
        results += ub.compare_response_times(p["baseline_health"], p["health"], p["max_response_ratio"])
    failures = [f"{r['name']}: {r['reason']}" for r in results if not r["ok"]]
    return {"results": results, "ok": not failures, "failures": failures, "current": current, "writes": writes}


def main() -> None:
    spec = pgc.argument_spec()
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
        check_role=dict(type="str", default=ub.DEFAULT_CHECK_ROLE),
        statement_timeout=dict(type="float", default=ub.DEFAULT_STATEMENT_TIMEOUT),
    )
    module = AnsibleModule(argument_spec=spec, required_if=[("mode", "compare", ("baseline",))],
                           supports_check_mode=True)
    try:
        result = run(module)
    except (ub.BaselineError, pgc.PostgresError) as exc:
        module.fail_json(msg=str(exc))
    if module.params["fail_on_mismatch"] and not result.get("ok", True):
        module.fail_json(msg="business checks differ from the baseline: " + "; ".join(result["failures"]), **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
