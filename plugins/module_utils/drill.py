# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DR drill report: what was restored, how long it took (RTO), how old the newest recoverable point was (RPO),
and pass/fail per check. Plain Python."""
from __future__ import annotations

import datetime as dt


def _parse(ts):
    if ts is None or isinstance(ts, dt.datetime):
        return ts
    return dt.datetime.fromisoformat(str(ts).replace("Z", "+00:00"))


def drill_report(*, db_name: str, backup: dict, restore: dict, verified: dict | None = None,
                 health: dict | None = None, pitr: dict | None = None, started_at=None, finished_at=None,
                 rpo_target_s: float | None = None, rto_target_s: float | None = None) -> dict:
    """backup: the latest good backup (odoo_backup_info latest_good, with manifest); restore: odoo_restore's
    result; verified: per-part verification; health: {"status": "pass", "seconds": t} from the scratch Odoo;
    pitr: {"newest_point": ts} from pgBackRest, when the drill also covers the WAL archive."""
    started = _parse(started_at) or dt.datetime.now(dt.UTC)
    finished = _parse(finished_at) or dt.datetime.now(dt.UTC)
    od = (backup.get("manifest") or {}).get("odooops", {})
    snapshot = _parse(od.get("snapshot_at") or od.get("finished_at"))
    newest = snapshot
    if pitr and pitr.get("newest_point"):
        newest = max(newest, _parse(pitr["newest_point"])) if newest else _parse(pitr["newest_point"])
    rpo = round((started - newest).total_seconds(), 1) if newest else None
    rto = (restore.get("timings") or {}).get("total_s")
    if rto is not None and health and health.get("seconds") is not None:
        rto = round(rto + float(health["seconds"]), 3)

    checks = []

    def check(name, ok, detail=""):
        checks.append({"name": name, "ok": bool(ok), "detail": detail})

    if verified is not None:
        check("checksums", all(v.get("ok") for v in verified.values()),
              f"{len(verified)} parts verified (sha256 and size against the manifest)")
    restore_s = (restore.get("timings") or {}).get("total_s")
    check("restore", bool(restore.get("changed")) and not restore.get("failed"),
          f"into {restore.get('target_db')} in {restore_s if restore_s is not None else '?'} s")
    stats = restore.get("statistics") or {}
    for table, v in sorted((stats.get("tables") or {}).items()):
        check(f"rows:{table}", v.get("ok"), f"expected {v.get('expected')}, found {v.get('actual')}")
    if "modules_ok" in stats:
        check("modules", stats["modules_ok"], f"{stats.get('modules')} installed modules match the manifest")
    if health is not None:
        check("odoo_health", health.get("status") == "pass", f"/web/health answered {health.get('status')!r}")
    if rpo_target_s is not None:
        check("rpo_target", rpo is not None and rpo <= rpo_target_s, f"RPO {rpo} s, target {rpo_target_s} s")
    if rto_target_s is not None:
        check("rto_target", rto is not None and rto <= rto_target_s, f"RTO {rto} s, target {rto_target_s} s")
    return {
        "db_name": db_name, "backup_id": backup.get("backup_id"), "backup_snapshot_at": snapshot.isoformat()
        if snapshot else None, "newest_recoverable_point": newest.isoformat() if newest else None,
        "drill_started_at": started.isoformat(), "drill_finished_at": finished.isoformat(),
        "rpo_s": rpo, "rto_s": rto, "checks": checks, "passed": all(c["ok"] for c in checks) and bool(checks),
    }


def render_summary(report: dict) -> str:
    lines = [f"DR drill of {report['db_name']}: {'PASSED' if report['passed'] else 'FAILED'}",
             f"  backup            {report['backup_id']} (snapshot {report['backup_snapshot_at']})",
             f"  RPO achieved      {report['rpo_s']} s (age of the newest recoverable point at drill start)",
             f"  RTO achieved      {report['rto_s']} s (fetch + verify + restore"
             f"{' + Odoo ready' if any(c['name'] == 'odoo_health' for c in report['checks']) else ''})",
             f"  drill             {report['drill_started_at']} -> {report['drill_finished_at']}", "  checks:"]
    for c in report["checks"]:
        lines.append(f"    [{'PASS' if c['ok'] else 'FAIL'}] {c['name']}: {c['detail']}")
    return "\n".join(lines) + "\n"
