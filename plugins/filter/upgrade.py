# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of playbooks/upgrade.yml."""
from __future__ import annotations

DOCUMENTATION = r"""
name: upgrade_stage_durations
short_description: Durations of the upgrade's stages from the times they started
description:
  - From a dict stage -> start time (epoch seconds) and the stage order, each stage's duration (until the next stage
    reached), C(gates_and_baseline) (from O(t0) to the first stage, C(prepare) or C(maintenance)) and
    C(maintenance_window) (from C(maintenance) to when users were back - C(after_window) after an opening,
    C(rolled_back) after a rollback - else to C(end)).
positional: order, t0
options:
  _input:
    description: Stage name -> epoch seconds it started (C(end) marks the end).
    type: dict
    required: true
  order:
    description: Stage names in order.
    type: list
    elements: str
    required: true
  t0:
    description: Epoch seconds the run started.
    type: float
"""

EXAMPLES = r"""
stages: "{{ marks | odooops.hosting.upgrade_stage_durations(['maintenance', 'snapshot', 'update', 'end'], t0) }}"
"""

RETURN = r"""
_value:
  description: Stage -> seconds.
  type: dict
"""


def upgrade_stage_durations(marks: dict, order: list, t0: float | None = None) -> dict:
    seen = [s for s in order if s in (marks or {})]
    out = {a: round(float(marks[b]) - float(marks[a]), 3) for a, b in zip(seen, seen[1:], strict=False)}
    first = next((s for s in ("prepare", "maintenance") if s in (marks or {})), None)
    if t0 is not None and first:
        out["gates_and_baseline"] = round(float(marks[first]) - float(t0), 3)
    back = next((s for s in ("after_window", "rolled_back", "end") if s in (marks or {})), None)
    if "maintenance" in (marks or {}) and back:
        out["maintenance_window"] = round(float(marks[back]) - float(marks["maintenance"]), 3)
    return out


class FilterModule:
    def filters(self):
        return {"upgrade_stage_durations": upgrade_stage_durations}
