#!/usr/bin/python
# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: postgres_promote
short_description: Promote the right PostgreSQL standby, safely
description:
  - Looks at every node of O(nodes), chooses the standby to promote among O(candidates) (the most advanced one
    unless O(target) is given), refuses when its replay lag exceeds O(max_lag_bytes) or when another node still
    accepts writes (unless O(force)), promotes it with C(pg_promote) and waits until it accepts writes.
  - In a planned switchover give O(min_lsn), the old primary's shutdown checkpoint location; the module waits
    up to O(wait_lsn_seconds) for the standby to replay it first, so that no acknowledged commit is lost.
  - Bad input (a candidate that is not a node, lag over the threshold) fails before anything is changed.
  - Idempotent, when the chosen node already is the only primary nothing is done.
version_added: 0.1.0
extends_documentation_fragment:
  - odooops.hosting.postgres
  - odooops.hosting.attributes
attributes:
  check_mode:
    support: full
    details: Reports the node that would be promoted and its lag.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  nodes:
    description: Every node of the cluster, reached with the login options.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Node name (e.g. the inventory hostname).
        type: str
        required: true
      host:
        description: Address to connect to.
        type: str
        required: true
      port:
        description: Port.
        type: int
        default: 5432
  candidates:
    description: Names of the nodes that may be promoted; default all of O(nodes).
    type: list
    elements: str
  target:
    description: Promote this node rather than the most advanced candidate.
    type: str
  min_lsn:
    description: WAL position the chosen standby must have replayed before promotion (switchover).
    type: str
  wait_lsn_seconds:
    description: How long to wait for O(min_lsn) to be replayed.
    type: float
    default: 30
  max_lag_bytes:
    description: Refuse when the chosen standby's replayed WAL is further behind than this. V(-1) disables.
    type: int
    default: 16777216
  force:
    description: Promote even over the lag threshold or while another node accepts writes (may lose data).
    type: bool
    default: false
  wait_seconds:
    description: How long to wait for the promotion and for the node to accept writes.
    type: int
    default: 60
  synchronous_fallback:
    description:
      - V(relax) clears synchronous_standby_names on the new primary (ALTER SYSTEM) when none of its
        synchronous standbys is connected, so writes do not hang after an emergency failover;
        M(odooops.hosting.postgres_rejoin) resets it once a standby streams again. V(keep) leaves it.
    type: str
    default: relax
    choices: [relax, keep]
author: odooops.hosting maintainers (@odooops)
"""

EXAMPLES = r"""
- name: Emergency failover to the most advanced standby
  odooops.hosting.postgres_promote:
    nodes: "{{ groups['db'] | map('extract', hostvars) | map(attribute='postgres_node') | list }}"
    candidates: [db2, db3]
    login_user: replicator
    login_password: "{{ odooops_replication_password }}"
    ssl_mode: require
  no_log: false
"""

RETURN = r"""
promoted:
  description: Name of the node promoted (or already primary).
  returned: always
  type: str
lag_bytes:
  description: Replay lag of the chosen node when it was checked.
  returned: when a promotion was planned
  type: int
promote_seconds:
  description: Seconds from pg_promote to the first transaction id assigned.
  returned: when promoted
  type: float
synchronous_relaxed:
  description: Whether synchronous_standby_names was cleared on the new primary.
  returned: when promoted
  type: bool
nodes:
  description: Per node, its role and position as seen before the promotion (or its connection error).
  returned: always
  type: dict
"""

from ansible_collections.odooops.hosting.plugins.module_utils.postgres import replication as repl
from ansible_collections.odooops.hosting.plugins.module_utils.postgres.connection import (
    PostgresError,
    PostgresModuleBase,
    connect,
    connect_params,
)


def summary(infos: dict) -> dict:
    return {n: ({"role": i["role"], "timeline": i["timeline"], "replay_lsn": i["replay_lsn"],
                 "current_lsn": i["current_lsn"]} if i.get("reachable") else {"error": i["error"]})
            for n, i in infos.items()}


def run(base: PostgresModuleBase) -> dict:
    p = base.params
    nodes = p["nodes"]
    candidates = repl.check_candidates(nodes, p["candidates"])
    by_name = {n["name"]: n for n in nodes}

    def kw(node):
        return connect_params(p, host=node["host"], port=node["port"])

    max_lag = None if p["max_lag_bytes"] < 0 else p["max_lag_bytes"]
    infos = repl.gather(nodes, kw)
    # choose first (no lag check), let the choice catch up with min_lsn, then check for real
    plan = repl.plan_promotion(infos, candidates, p["target"], None, None, force=True)
    if plan["action"] == "none":
        return {"changed": False, "promoted": plan["chosen"], "nodes": summary(infos), "msg": plan["reason"]}
    if p["min_lsn"] and not base.module.check_mode:
        conn = connect(kw(by_name[plan["chosen"]]))
        try:
            reached = repl.wait_replayed(conn, p["min_lsn"], p["wait_lsn_seconds"])
        finally:
            conn.close()
        if not reached and not p["force"]:
            raise PostgresError(f"{plan['chosen']} did not replay up to {p['min_lsn']} within "
                                f"{p['wait_lsn_seconds']} s: promoting it would lose commits; nothing was changed")
        infos = repl.gather(nodes, kw)
    plan = repl.plan_promotion(infos, candidates, plan["chosen"], p["min_lsn"], max_lag, p["force"])
    result = {"changed": True, "promoted": plan["chosen"], "lag_bytes": plan["lag_bytes"], "nodes": summary(infos),
              "diff": {"before": {"primary": ",".join(plan["running_primaries"]) or "none"},
                       "after": {"primary": plan["chosen"]}}}
    if base.module.check_mode:
        return result
    conn = connect(kw(by_name[plan["chosen"]]))
    try:
        result.update(repl.promote(conn, p["wait_seconds"], p["synchronous_fallback"]))
    finally:
        conn.close()
    return result


def main():
    base = PostgresModuleBase(
        dict(
            nodes=dict(type="list", elements="dict", required=True, options=dict(
                name=dict(type="str", required=True),
                host=dict(type="str", required=True),
                port=dict(type="int", default=5432),
            )),
            candidates=dict(type="list", elements="str"),
            target=dict(type="str"),
            min_lsn=dict(type="str"),
            wait_lsn_seconds=dict(type="float", default=30),
            max_lag_bytes=dict(type="int", default=16 * 1024 * 1024),
            force=dict(type="bool", default=False),
            wait_seconds=dict(type="int", default=60),
            synchronous_fallback=dict(type="str", default="relax", choices=["relax", "keep"]),
        ),
        supports_check_mode=True,
    )
    base.execute(run)


if __name__ == "__main__":
    main()
