from __future__ import annotations

from ansible_collections.odooops.hosting.plugins.filter.upgrade import upgrade_stage_durations


def test_stage_durations():
    marks = {"maintenance": 100.0, "snapshot": 101.5, "update": 103.0, "rollback": 110.25, "end": 112.0}
    out = upgrade_stage_durations(marks, ["maintenance", "snapshot", "update", "open", "verify", "rollback", "end"],
                                  90.0)
    assert out == {"maintenance": 1.5, "snapshot": 1.5, "update": 7.25, "rollback": 1.75, "gates_and_baseline": 10.0,
                   "maintenance_window": 12.0}
    assert upgrade_stage_durations({}, ["maintenance"], 1.0) == {}


def test_prepare_is_before_the_window():
    """The release is prepared before the maintenance window: gates end where preparing starts, and the window
    (maintenance to end) does not count it."""
    marks = {"prepare": 95.0, "maintenance": 105.0, "update": 108.0, "verify": 110.0, "open": 115.0, "end": 117.0}
    out = upgrade_stage_durations(marks, ["prepare", "maintenance", "snapshot", "update", "verify", "open", "end"],
                                  90.0)
    assert out["gates_and_baseline"] == 5.0 and out["prepare"] == 10.0
    assert out["maintenance_window"] == 12.0 and out["verify"] == 5.0
    # a failure while preparing: no window at all
    assert "maintenance_window" not in upgrade_stage_durations({"prepare": 95.0, "rollback": 99.0, "end": 100.0},
                                                               ["prepare", "maintenance", "rollback", "end"], 90.0)


def test_the_window_ends_when_users_are_back():
    """What runs once the page is off (old set removed, cron, snapshots dropped) is outside the window."""
    marks = {"maintenance": 100.0, "update": 103.0, "verify": 105.0, "open": 108.0, "after_window": 110.0,
             "end": 125.0}
    out = upgrade_stage_durations(marks, ["maintenance", "update", "verify", "open", "after_window", "rollback",
                                          "end"], 90.0)
    assert out["maintenance_window"] == 10.0 and out["open"] == 2.0 and out["after_window"] == 15.0


def test_after_a_rollback_the_window_ends_when_the_previous_version_serves_again():
    marks = {"maintenance": 100.0, "update": 103.0, "rollback": 106.0, "rolled_back": 110.0, "end": 113.0}
    out = upgrade_stage_durations(marks, ["maintenance", "update", "open", "after_window", "rollback", "rolled_back",
                                          "end"], 90.0)
    assert out["rollback"] == 4.0 and out["rolled_back"] == 3.0 and out["maintenance_window"] == 10.0
