from __future__ import annotations

from ansible_collections.odooops.hosting.plugins.filter.upgrade import upgrade_stage_durations


def test_stage_durations():
    marks = {"maintenance": 100.0, "snapshot": 101.5, "update": 103.0, "rollback": 110.25, "end": 112.0}
    out = upgrade_stage_durations(marks, ["maintenance", "snapshot", "update", "open", "verify", "rollback", "end"],
                                  90.0)
    assert out == {"maintenance": 1.5, "snapshot": 1.5, "update": 7.25, "rollback": 1.75, "gates_and_baseline": 10.0,
                   "maintenance_window": 12.0}
    assert upgrade_stage_durations({}, ["maintenance"], 1.0) == {}
