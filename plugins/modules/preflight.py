#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# This file only documents the action plugin plugins/action/preflight.py (it runs on the control node).
from __future__ import annotations

DOCUMENTATION = r"""
module: preflight
short_description: A workflow's inputs for one host, checked with strict types before any change
version_added: 0.1.0
description:
  - Runs on the control node only; never connects to the host and changes nothing. Used by the first play of
    every workflow playbook (C(playbooks/tasks/preflight.yml)).
  - For each role of O(roles), takes the effective value of every option of the role's argument spec (the
    inventory's value, else the role default, templated as the role would) and checks it strictly - a list must
    be a list (a string is refused, where Ansible's own validation would split it on commas), a dict a dict, a
    boolean a boolean - then what a spec cannot express - pg_hba CIDRs parse, role, database, stack and site
    host names match their patterns, site hosts are unique, and with O(secrets) that the Redis and Odoo secrets
    are set and long enough.
  - Then the workflow's own inputs - C(rotate) is a list of known secrets (rotate_secrets), C(failover_target)
    only with C(mode=switchover) (or failover under Patroni) and a db host, C(failover_candidates) only with
    C(mode=failover), C(odooops_restore_method) logical or pitr and C(odooops_pitr_host) a db host (restore).
  - Fails with every problem found, each naming its variable; secret values never appear.
extends_documentation_fragment: [odooops.hosting.attributes]
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  workflow:
    description: The workflow playbook whose own inputs are checked.
    type: str
    required: true
    choices: [backup, dr_drill, failover, provision, rehearse, restore, rotate_secrets, upgrade]
  roles:
    description: Roles (C(role) or C(role:entry_point)) whose options this host's inventory feeds.
    type: list
    elements: str
    default: []
  secrets:
    description: Also check that the roles' secrets are set and long enough (workflows that converge the roles).
    type: bool
    default: false
  db_group:
    description: Inventory group of the db hosts (failover_target, failover_candidates, odooops_pitr_host).
    type: str
    default: db
author: odooops.hosting maintainers (@odooops)
"""

EXAMPLES = r"""
- name: Preflight of provision.yml on an app host
  odooops.hosting.preflight:
    workflow: provision
    roles: [docker_networks, redis, odoo, traefik]
    secrets: true
"""

RETURN = r"""
problems:
  description: Every problem found, each starting with the variable it is about.
  returned: always
  type: list
  elements: str
  sample: ["postgres_app_cidrs must be a list, got a string ('10.0.0.0/8')"]
"""
