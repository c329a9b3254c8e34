"""DR drill report: RPO/RTO figures and pass/fail per check."""
from __future__ import annotations

from ansible_collections.odooops.hosting.plugins.module_utils.drill import drill_report, render_summary

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
                  "modules": True, "odoo_health": True, "rto_target": True}
    assert rep["passed"] is False
    text = render_summary(rep)
    assert "FAILED" in text and "[FAIL] rows:stock_quant: expected 5, found 4" in text and "RPO achieved" in text


def test_pitr_point_improves_rpo_and_all_pass():
    restore = {**RESTORE, "statistics": {"tables": {}, "modules_ok": True, "modules": 5}}
    rep = drill_report(db_name="shop", backup=BACKUP, restore=restore, pitr={"newest_point": "2026-11-27T02:59:00Z"},
                       started_at="2026-11-27T03:00:00+00:00", rpo_target_s=300)
    assert rep["rpo_s"] == 60.0 and rep["passed"] is True
    unhealthy = drill_report(db_name="shop", backup=BACKUP, restore=restore, health={"status": "fail"})
    assert unhealthy["passed"] is False
