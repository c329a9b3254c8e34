#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: odoo_neutralize
short_description: Neutralise and anonymise a copy of an Odoo database (staging, rehearsal)
description:
  - Neutralise - scheduled actions, mail servers (outgoing and incoming) off, payment providers disabled, shipping
    carriers out of production mode, C(database.is_neutralized) set; only on tables that exist.
  - Anonymise - partners' names, e-mails, phones and addresses, users' logins except technical ones (C(admin),
    C(__system__), C(public), ... and O(keep_logins)) replaced by values derived from HMAC-SHA256 of the row id with
    O(anonymize_key) - deterministic, the key never sent to the server. NULLs stay NULL.
  - One transaction; in check mode it is rolled back and the counts say what would change.
  - Refuses a database named in O(protected_databases) (production).
version_added: 0.1.0
author: odooops.hosting maintainers (@odooops)
extends_documentation_fragment:
  - odooops.hosting.attributes
  - odooops.hosting.postgres
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  database:
    description: The staging database.
    type: str
    required: true
  neutralize:
    description: Neutralise.
    type: bool
    default: true
  anonymize:
    description: Anonymise personal data.
    type: bool
    default: true
  anonymize_key:
    description: Secret key of the pseudonyms (at least 16 characters); same key, same staging data.
    type: str
  keep_logins:
    description: Logins kept as they are besides the technical ones (the check user).
    type: list
    elements: str
    default: []
  protected_databases:
    description: Databases this module must never touch.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Make staging safe
  odooops.hosting.odoo_neutralize:
    database: odoo_staging
    anonymize_key: "{{ odooops_anonymize_key }}"
    keep_logins: [odooops-check]
    protected_databases: [odoo]
"""

RETURN = r"""
neutralised:
  description: table -> rows changed.
  returned: always
  type: dict
anonymised:
  description: table -> rows changed.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.odooops.hosting.plugins.module_utils.postgres import connection as pgc
from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import anonymise as an
from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import pg as pgu


def main() -> None:
    spec = pgc.argument_spec()
    spec.update(
        database=dict(type="str", required=True),
        neutralize=dict(type="bool", default=True),
        anonymize=dict(type="bool", default=True),
        anonymize_key=dict(type="str", no_log=True),
        keep_logins=dict(type="list", elements="str", default=[]),
        protected_databases=dict(type="list", elements="str", default=[]),
    )
    module = AnsibleModule(argument_spec=spec, required_if=[("anonymize", True, ("anonymize_key",))],
                           supports_check_mode=True)
    p = module.params
    if p["database"] in p["protected_databases"]:
        module.fail_json(msg=f"database {p['database']!r} is protected (production): refusing to neutralise it")
    try:
        conn = pgu.connect(p, dbname=p["database"])
        try:
            res = an.run(conn, p["neutralize"], p["anonymize"], (p["anonymize_key"] or "").encode(), p["keep_logins"],
                         module.check_mode)
        finally:
            conn.close()
    except (an.AnonymiseError, pgc.PostgresError) as exc:
        module.fail_json(msg=str(exc))
    except pgu.psycopg2.Error as exc:
        module.fail_json(msg=f"neutralisation failed and was rolled back: {str(exc).strip()}")
    module.exit_json(**res)


if __name__ == "__main__":
    main()
