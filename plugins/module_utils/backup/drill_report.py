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
                 rpo_target_s: float | None = None, rto_target_s: float | None = None,
                 pitr_rpo_target_s: float | None = None, pitr_rto_target_s: float | None = None) -> dict:
    """backup: the latest good backup (odoo_backup_info latest_good, with manifest); restore: odoo_restore's
    result; verified: per-part verification; health: {"status": "pass", "seconds": t} from the scratch Odoo;
    pitr: the point-in-time half (pgbackrest_pitr_drill's result, or a failed task's result), reported beside the
    logical backup with its own RPO/RTO and its checks prefixed ``pitr:``."""
    started = _parse(started_at) or dt.datetime.now(dt.UTC)
    finished = _parse(finished_at) or dt.datetime.now(dt.UTC)
    od = (backup.get("manifest") or {}).get("odooops", {})
    snapshot = _parse(od.get("snapshot_at") or od.get("finished_at"))
    newest = snapshot
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
        check("odoo_ready", health.get("status") == "pass",
              f"the restored database's login page: {health.get('status')!r} (HTTP {health.get('http', '?')})")
    pitr_part = None
    if pitr:
        pitr_part = {k: pitr.get(k) for k in ("mode", "target_time", "recovered_to", "newest_archived", "rpo_s",
                                              "rto_s", "timings", "drill_id", "tables")}
        for c in pitr.get("checks") or []:
            check(f"pitr:{c['name']}", c.get("ok"), c.get("detail", ""))
        if pitr.get("check_mode"):
            check("pitr", True, f"check mode: {pitr.get('detail', 'nothing restored')}")
        elif pitr.get("failed") or not pitr.get("checks"):
            check("pitr", False, pitr.get("msg") or pitr.get("error") or "the PITR drill did not run")
    if rpo_target_s is not None:
        check("rpo_target", rpo is not None and rpo <= rpo_target_s, f"RPO {rpo} s, target {rpo_target_s} s")
    if rto_target_s is not None:
        check("rto_target", rto is not None and rto <= rto_target_s, f"RTO {rto} s, target {rto_target_s} s")
    if pitr_part and pitr_rpo_target_s is not None:
        prpo = pitr_part.get("rpo_s")
        check("pitr:rpo_target", prpo is not None and prpo <= pitr_rpo_target_s,
              f"RPO {prpo} s, target {pitr_rpo_target_s} s")
    if pitr_part and pitr_rto_target_s is not None:
        prto = pitr_part.get("rto_s")
        check("pitr:rto_target", prto is not None and prto <= pitr_rto_target_s,
              f"RTO {prto} s, target {pitr_rto_target_s} s")
    return {
        "db_name": db_name, "backup_id": backup.get("backup_id"), "backup_snapshot_at": snapshot.isoformat()
        if snapshot else None, "newest_recoverable_point": newest.isoformat() if newest else None,
        "drill_started_at": started.isoformat(), "drill_finished_at": finished.isoformat(),
        "rpo_s": rpo, "rto_s": rto, "pitr": pitr_part, "checks": checks,
        "passed": all(c["ok"] for c in checks) and bool(checks),
    }


def render_summary(report: dict) -> str:
    lines = [f"DR drill of {report['db_name']}: {'PASSED' if report['passed'] else 'FAILED'}",
             f"  backup            {report['backup_id']} (snapshot {report['backup_snapshot_at']})",
             f"  RPO achieved      {report['rpo_s']} s (age of the newest recoverable point at drill start)",
             f"  RTO achieved      {report['rto_s']} s (fetch + verify + restore"
             f"{' + Odoo ready' if any(c['name'] == 'odoo_ready' for c in report['checks']) else ''})",
             f"  drill             {report['drill_started_at']} -> {report['drill_finished_at']}"]
    pitr = report.get("pitr")
    if pitr:
        lines += [f"  PITR              {pitr.get('mode')} target {pitr.get('target_time') or 'end of archive'}, "
                  f"recovered to {pitr.get('recovered_to')}",
                  f"  PITR RPO          {pitr.get('rpo_s')} s (age of the newest archived WAL at drill start)",
                  f"  PITR RTO          {pitr.get('rto_s')} s (pgBackRest restore + WAL replay until promoted)"]
    lines.append("  checks:")
    for c in report["checks"]:
        lines.append(f"    [{'PASS' if c['ok'] else 'FAIL'}] {c['name']}: {c['detail']}")
    return "\n".join(lines) + "\n"
