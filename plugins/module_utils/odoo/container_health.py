# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wait, inside one module call, until every container of a set has a final health answer: healthy, unhealthy, not
running (exited, or gone), or running without a health check. Polls the Engine API (cheap requests), where a task
retried with `until` ran a whole module on the host at every try.
"""
from __future__ import annotations

import time

FINAL_HEALTH = ("healthy", "unhealthy")


def state_of(info: dict | None) -> dict:
    """{state, health, last_check} of one container's inspect data (None: the container does not exist)."""
    if info is None:
        return {"state": "missing", "health": "none", "last_check": ""}
    st = info.get("State") or {}
    health = st.get("Health") or {}
    log = health.get("Log") or []
    return {"state": st.get("Status", "unknown"), "health": health.get("Status", "none"),
            "last_check": ((log[-1].get("Output") or "") if log else "").strip()[:300]}


def settled(s: dict) -> bool:
    return s["state"] != "running" or s["health"] in FINAL_HEALTH or s["health"] == "none"


def wait(inspect, names: list[str], timeout: float, interval: float = 0.5, clock=time.monotonic,
         sleep=time.sleep) -> dict:
    """inspect(name) -> inspect data or None. Returns {containers: {name: state}, unhealthy: [names not healthy],
    waited: seconds}. A container running without a health check counts as not healthy: the caller asked for a
    health answer it cannot get."""
    start = clock()
    while True:
        states = {name: state_of(inspect(name)) for name in names}
        if all(settled(s) for s in states.values()) or clock() - start >= timeout:
            break
        sleep(interval)
    return {"containers": states,
            "unhealthy": [n for n, s in states.items() if not (s["state"] == "running" and s["health"] == "healthy")],
            "waited": round(clock() - start, 1)}
