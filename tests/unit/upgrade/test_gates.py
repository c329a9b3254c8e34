from __future__ import annotations

import datetime

import pytest

from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import gates as g

UTC = datetime.UTC
# Friday 2026-11-27 16:30 UTC = 17:30 in Paris
NOW = datetime.datetime(2026, 11, 27, 16, 30, tzinfo=UTC)

BLACK_FRIDAY = {"name": "black-friday", "start": "2026-11-27T00:00", "end": "2026-11-30T23:59",
                "timezone": "Europe/Paris"}
SHOP_HOURS = {"name": "shop-hours", "weekdays": ["mon", "tue", "wed", "thu", "fri", "sat"], "from": "09:00",
              "to": "20:00", "timezone": "Europe/Paris"}
NIGHT = {"name": "night-batch", "weekdays": ["thu"], "from": "22:00", "to": "02:00", "timezone": "UTC"}


@pytest.mark.parametrize("window,now,active", [
    (BLACK_FRIDAY, NOW, True),
    (BLACK_FRIDAY, datetime.datetime(2026, 11, 26, 22, 59, tzinfo=UTC), False),  # 23:59 Paris, the day before
    (BLACK_FRIDAY, datetime.datetime(2026, 11, 26, 23, 0, tzinfo=UTC), True),   # midnight Paris
    (SHOP_HOURS, NOW, True),
    (SHOP_HOURS, datetime.datetime(2026, 11, 27, 19, 0, tzinfo=UTC), False),    # 20:00 Paris
    (SHOP_HOURS, datetime.datetime(2026, 11, 29, 12, 0, tzinfo=UTC), False),    # Sunday
    (NIGHT, datetime.datetime(2026, 11, 26, 23, 0, tzinfo=UTC), True),          # Thursday 23:00
    (NIGHT, datetime.datetime(2026, 11, 27, 1, 30, tzinfo=UTC), True),          # Friday 01:30, begun Thursday
    (NIGHT, datetime.datetime(2026, 11, 27, 2, 0, tzinfo=UTC), False),
    (NIGHT, datetime.datetime(2026, 11, 28, 1, 0, tzinfo=UTC), False),          # Saturday 01:00
])
def test_freeze_windows_in_their_timezone(window, now, active):
    assert g.active_window(now, window) is active


def test_freeze_refuses_and_names_the_window():
    r = g.gate_freeze(NOW, [SHOP_HOURS, BLACK_FRIDAY])
    assert not r["ok"] and "shop-hours, black-friday" in r["reason"]


def test_emergency_override_needs_a_listed_authority_and_a_reason():
    auth = ["ops.lead@retail.example.com"]
    ok = g.gate_freeze(NOW, [BLACK_FRIDAY], {"authority": auth[0], "reason": "payment outage"}, auth)
    assert ok["ok"] and ok["override"] == auth[0] and "payment outage" in ok["reason"]
    r = g.gate_freeze(NOW, [BLACK_FRIDAY], {"authority": "intern", "reason": "please"}, auth)
    assert not r["ok"] and "'intern' is not an authority" in r["reason"]
    r = g.gate_freeze(NOW, [BLACK_FRIDAY], {"authority": auth[0], "reason": " "}, auth)
    assert not r["ok"] and "needs a reason" in r["reason"]


def test_bad_windows_are_configuration_errors():
    with pytest.raises(g.GateError, match="unknown timezone"):
        g.active_window(NOW, {"name": "x", "weekdays": ["mon"], "timezone": "Mars/Olympus"})
    with pytest.raises(g.GateError, match="not HH:MM"):
        g.active_window(NOW, {"name": "x", "weekdays": ["mon"], "from": "9h"})
    with pytest.raises(g.GateError, match="needs both start and end"):
        g.active_window(NOW, {"name": "x", "start": "2026-01-01"})


@pytest.mark.parametrize("ref,ok", [("CHG-1234", True), ("RFC-001", True), ("chg-1234", False), ("", False),
                                    (None, False), ("CHG-12", False), ("CHG-1234; rm", False)])
def test_approval_reference(ref, ok):
    assert g.gate_approval(ref)["ok"] is ok


def test_approval_custom_pattern():
    assert g.gate_approval("JIRA-OPS-77", r"JIRA-[A-Z]+-\d+")["ok"]
    with pytest.raises(g.GateError, match="not a valid regular expression"):
        g.gate_approval("x", "(")


def test_backup_freshness():
    info = {"backups": [{"id": "b1", "status": "ok", "end_time": "2026-11-27T10:00:00Z"},
                        {"id": "b2", "status": "failed", "end_time": "2026-11-27T16:00:00Z"}], "latest_good": None}
    r = g.gate_backup(info, 24, NOW)
    assert r["ok"] and r["backup_id"] == "b1"
    r = g.gate_backup(info, 4, NOW)
    assert not r["ok"] and "b1 is 6.5 h old, more than 4 h" in r["reason"]
    assert not g.gate_backup({"backups": [info["backups"][1]]}, 24, NOW)["ok"]
    assert "no backup information" in g.gate_backup(None, 24, NOW)["reason"]
    latest = {"backups": [], "latest_good": {"id": "b9", "end_time": "2026-11-27T16:00:00+00:00"}}
    assert g.gate_backup(latest, 1, NOW)["ok"]


def test_backup_freshness_from_odoo_backup_info_shape():
    info = {"backups": [{"backup_id": "20261127T100000Z", "status": "complete", "good": True,
                         "time": "2026-11-27T10:00:00+00:00", "finished_at": "2026-11-27T10:02:00Z"},
                        {"backup_id": "20261127T150000Z", "status": "incomplete", "good": False,
                         "time": "2026-11-27T15:00:00+00:00", "finished_at": None}],
            "latest_good": {"backup_id": "20261127T100000Z", "finished_at": "2026-11-27T10:02:00Z"}}
    r = g.gate_backup(info, 24, NOW)
    assert r["ok"] and r["backup_id"] == "20261127T100000Z" and r["age_hours"] == 6.47
    assert not g.gate_backup({**info, "latest_good": None, "backups": info["backups"][1:]}, 24, NOW)["ok"]


def test_replication():
    good = [{"application_name": "db2", "state": "streaming", "lag_bytes": 100, "replay_lag_seconds": 0.1}]
    assert g.gate_replication(good, 1, 1 << 20, 10)["ok"]
    r = g.gate_replication([{**good[0], "lag_bytes": 50 << 20}], 1, 1 << 20, 10)
    assert not r["ok"] and "db2 52428800 bytes" in r["reason"]
    r = g.gate_replication([{**good[0], "state": "catchup"}], 1, 1 << 20, 10)
    assert not r["ok"] and "0 standby(s) streaming, 1 required (seen: db2=catchup)" in r["reason"]
    assert g.gate_replication([], 0, 1, 1)["ok"]


def test_disk_and_long_transactions():
    gib = 1 << 30
    assert g.gate_disk(2 * gib, 10 * gib)["ok"]
    r = g.gate_disk(2 * gib, 3 * gib)
    assert not r["ok"] and "needs 3.40 GiB free" in r["reason"] and "has 3.00 GiB" in r["reason"]
    r = g.gate_long_transactions([{"pid": 42, "application_name": "report", "state": "idle in transaction",
                                   "xact_seconds": 900}], 300)
    assert not r["ok"] and "pid 42 (report, idle in transaction, 900 s)" in r["reason"]
    assert g.gate_long_transactions([{"pid": 1, "xact_seconds": 5}], 300)["ok"]


def test_image_compatibility():
    plan = {"image_series": "17.0", "database_series": "17.0", "changed_modules": {"stock": {}}, "missing_modules": []}
    assert g.gate_image(plan)["ok"]
    r = g.gate_image({**plan, "image_series": "18.0"})
    assert not r["ok"] and "major version change is a migration" in r["reason"]
    assert not g.gate_image({**plan, "missing_modules": ["pos_custom"]})["ok"]
    r = g.gate_image({"error": "image 'odoo:99' is not present"})
    assert not r["ok"] and "not present" in r["reason"]


def test_evaluate_reports_every_refusal():
    policy = {"freeze_windows": [BLACK_FRIDAY], "backup_max_age_hours": 24, "min_standbys": 1}
    facts = {"approval_ref": "nope", "backup_info": None,
             "postgres": {"replication": [], "db_size_bytes": 1, "data_dir_free_bytes": 1 << 40,
                          "long_transactions": []},
             "image_plan": {"image_series": "17.0", "database_series": "17.0"}}
    results = g.evaluate(policy, facts, NOW)
    failed = {r["gate"] for r in results if not r["ok"]}
    assert failed == {"freeze_window", "approval_reference", "backup_fresh", "replication"}
    msg = g.refusal(results)
    assert msg.startswith("upgrade refused by 4 gate(s)") and "[freeze_window]" in msg
    only = g.evaluate({"enabled": ["approval_reference"]}, {"approval_ref": "CHG-1000"}, NOW)
    assert len(only) == 1 and g.refusal(only) is None
