"""DR drill report: RPO/RTO figures and pass/fail per check."""
from __future__ import annotations

from ansible_collections.odooops.hosting.plugins.module_utils.backup.drill_report import drill_report, render_summary

BACKUP = {"backup_id": "20261127T010000Z-abcd",
          "manifest": {"odooops": {"snapshot_at": "2026-11-27T01:00:00+00:00",
                                   "finished_at": "2026-11-27T01:02:00+00:00"}}}
RESTORE = {"changed": True, "target_db": "shop_drill", "timings": {"total_s": 42.5},
           "statistics": {"tables": {"res_partner": {"expected": 10, "actual": 10, "ok": True},
                                     "stock_quant": {"expected": 5, "actual": 4, "ok": False}},
                          "tables_ok": False, "modules_ok": True, "modules": 5}}


def test_figures_and_failed_check():
    rep = drill_report(db_name="shop", backup=BACKUP, restore=RESTORE, verified={"db.dump": {"ok": True}},
                       health={"status": "pass", "seconds": 7.5}, started_at="2026-11-27T03:00:00+00:00",
                       finished_at="2026-11-27T03:01:00+00:00", rto_target_s=3600)
    assert rep["rpo_s"] == 7200.0 and rep["rto_s"] == 50.0
    by = {c["name"]: c["ok"] for c in rep["checks"]}
    assert by == {"checksums": True, "restore": True, "rows:res_partner": True, "rows:stock_quant": False,
                  "modules": True, "odoo_ready": True, "rto_target": True}
    assert rep["passed"] is False
    text = render_summary(rep)
    assert "FAILED" in text and "[FAIL] rows:stock_quant: expected 5, found 4" in text and "RPO achieved" in text


PITR = {"mode": "marker", "target_time": "2026-11-27 02:59:30+00", "recovered_to": "2026-11-27T02:59:29+00:00",
        "newest_archived": "2026-11-27T02:59:00+00:00", "rpo_s": 60.0, "rto_s": 12.5,
        "timings": {"restore_s": 4.5, "recovery_s": 8.0, "total_s": 12.5},
        "checks": [{"name": "restore", "ok": True, "detail": "in 4.5 s"},
                   {"name": "marker_after", "ok": True, "detail": "absent"}]}


def test_pitr_part_has_its_own_figures_and_checks():
    restore = {**RESTORE, "statistics": {"tables": {}, "modules_ok": True, "modules": 5}}
    rep = drill_report(db_name="shop", backup=BACKUP, restore=restore, pitr=PITR,
                       started_at="2026-11-27T03:00:00+00:00", rpo_target_s=86400, pitr_rpo_target_s=120,
                       pitr_rto_target_s=10)
    assert rep["rpo_s"] == 7200.0  # the logical backup's own RPO, not mixed with the WAL archive's
    assert rep["pitr"]["rpo_s"] == 60.0 and rep["pitr"]["rto_s"] == 12.5
    by = {c["name"]: c["ok"] for c in rep["checks"]}
    assert by["pitr:restore"] and by["pitr:marker_after"] and by["pitr:rpo_target"] and by["rpo_target"]
    assert by["pitr:rto_target"] is False and rep["passed"] is False
    text = render_summary(rep)
    assert "PITR RPO          60.0 s" in text and "[FAIL] pitr:rto_target: RTO 12.5 s, target 10 s" in text
    ok = drill_report(db_name="shop", backup=BACKUP, restore=restore, pitr=PITR)
    assert ok["passed"] is True


def test_failed_pitr_task_fails_the_drill():
    restore = {**RESTORE, "statistics": {"tables": {}, "modules_ok": True, "modules": 5}}
    rep = drill_report(db_name="shop", backup=BACKUP, restore=restore,
                       pitr={"failed": True, "msg": "PITR drill: /etc/pgbackrest/pgbackrest.conf does not exist"})
    assert rep["passed"] is False
    assert {"name": "pitr", "ok": False,
            "detail": "PITR drill: /etc/pgbackrest/pgbackrest.conf does not exist"} in rep["checks"]
    unhealthy = drill_report(db_name="shop", backup=BACKUP, restore=restore, health={"status": "fail"})
    assert unhealthy["passed"] is False
    checked = drill_report(db_name="shop", backup=BACKUP, restore=restore,
                           pitr={"mode": "marker", "checks": [], "check_mode": True, "detail": "nothing restored"})
    assert checked["passed"] is True
