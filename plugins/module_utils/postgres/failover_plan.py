# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who is what in a PostgreSQL cluster, and what a switchover, failover or rejoin may do (pure: no connection).

Input: each db host's name, address and port, and what odooops.hosting.postgres_replication_info answered on it
(empty when it did not answer). The plan classifies the nodes (primaries, standbys, down), checks the request
and picks the switchover's target: the one given, or the standby streaming from the primary with the least lag as
the primary sees it. Every refusal says why and that nothing was changed. The failover's own choice among the
candidates is made live by postgres_promote (replication.plan_promotion), which this plan only prepares: the
reachable standbys among the candidates, and the node that runs the promotion.
"""
from __future__ import annotations

import re

from ansible_collections.odooops.hosting.plugins.module_utils.postgres.connection import PostgresError

MODES = ("switchover", "failover", "rejoin")
DEFAULT_MAX_LAG_BYTES = 16 * 1024 * 1024


class PlanRefused(PostgresError):
    """The request cannot be carried out as asked; nothing was changed."""


def node_key(name: str) -> str:
    """A node's slot and application_name: its inventory name, lower case, [a-z0-9_] only (roles/postgres)."""
    return re.sub(r"[^a-z0-9_]", "_", name.lower())


def classify(nodes: list[dict]) -> dict:
    """nodes: [{name, host, port, info}] -> primaries, standbys, down (names, in the order given) and nodes."""
    out = {"primaries": [], "standbys": [], "down": [], "nodes": []}
    for node in nodes:
        role = (node.get("info") or {}).get("role") or ""
        out["nodes"].append({"name": node["name"], "host": node["host"], "port": int(node["port"])})
        out["primaries" if role == "primary" else "standbys" if role == "standby" else "down"].append(node["name"])
    return out


def _check_request(mode: str, names: list[str], candidates: list[str], target: str) -> None:
    unknown = [h for h in [*candidates, *([target] if target else [])] if h not in names]
    if mode not in MODES or unknown:
        detail = f"unknown host(s) {', '.join(unknown)}: not in the db group ({', '.join(names)}); " if unknown else ""
        raise PlanRefused(f"failover: mode must be switchover, failover or rejoin (got {mode}); {detail}"
                          "nothing was changed.")


def _switchover(cls: dict, infos: dict, candidates: list[str], target: str, max_lag: int) -> dict:
    if len(cls["primaries"]) != 1:
        raise PlanRefused(f"switchover needs one running primary, found {', '.join(cls['primaries']) or 'none'} "
                          f"(down: {', '.join(cls['down']) or 'none'}); use mode=failover when the primary is dead. "
                          "Nothing was changed.")
    old = cls["primaries"][0]
    seen_rows = infos[old].get("standbys") or []
    seen = {r.get("application_name"): int(r.get("lag_bytes") or 0) for r in seen_rows}
    streaming = [r.get("application_name") for r in seen_rows if r.get("state") == "streaming"]
    chosen = target
    if not chosen:
        pool = [h for h in cls["standbys"] if h in (candidates or cls["standbys"])]
        ranked = sorted((seen[node_key(h)], i, h) for i, h in enumerate(pool) if node_key(h) in seen)
        chosen = ranked[0][2] if ranked else ""
    lag = seen.get(node_key(chosen), -1) if chosen else -1
    if not chosen or chosen not in cls["standbys"] or node_key(chosen) not in streaming or lag > max_lag:
        raise PlanRefused(f"switchover: target {chosen or '(none)'} is not a standby streaming from {old} "
                          f"(streaming: {', '.join(streaming) or 'none'}) or lags {lag} bytes, more than "
                          f"failover_max_lag_bytes={max_lag}. Nothing was changed.")
    return {"old_primary": old, "target": chosen, "target_lag_bytes": lag}


def _failover(cls: dict, candidates: list[str], names: list[str], force: bool) -> dict:
    if cls["primaries"] and not force:
        raise PlanRefused(f"failover: {', '.join(cls['primaries'])} still accept(s) writes; use mode=switchover "
                          "(zero loss), or set failover_force=true if it must be abandoned. Nothing was changed.")
    pool = [h for h in cls["standbys"] if h in (candidates or cls["standbys"])]
    if not pool:
        raise PlanRefused(f"failover: no reachable standby among {', '.join(candidates or names)} "
                          f"(down: {', '.join(cls['down']) or 'none'}). Nothing was changed.")
    return {"candidates": pool, "promote_on": pool[0]}


def plan(mode: str, nodes: list[dict], candidates: list[str] | None = None, target: str = "",
         max_lag_bytes: int = DEFAULT_MAX_LAG_BYTES, force: bool = False) -> dict:
    """The plan of one failover.yml run; PlanRefused (nothing was changed) when it may not go on."""
    names = [n["name"] for n in nodes]
    candidates = list(candidates or [])
    _check_request(mode, names, candidates, target or "")
    cls = classify(nodes)
    infos = {n["name"]: (n.get("info") or {}) for n in nodes}
    result = {"mode": mode, **cls}
    if mode == "switchover":
        result.update(_switchover(cls, infos, candidates, target or "", int(max_lag_bytes)))
    elif mode == "failover":
        result.update(_failover(cls, candidates, names, force))
    else:
        if len(cls["primaries"]) != 1:
            raise PlanRefused(f"rejoin needs one running primary, found {', '.join(cls['primaries']) or 'none'}. "
                              "Nothing was changed.")
        result["primary"] = cls["primaries"][0]
    return result
