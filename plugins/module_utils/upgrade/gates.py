# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Upgrade gates: every condition an upgrade must meet before anything changes, each failure naming its reason.

Pure functions over facts gathered beforehand (platform_baseline on the primary, odoo_backup_info,
odoo_module_update in plan mode); ``evaluate`` runs them all so that one run reports every refusal.

Input shapes (documented in docs/upgrade.md):
- freeze windows: ``{name, start, end, timezone}`` (one-off, ISO local times) or
  ``{name, weekdays: [mon..sun], from: "HH:MM", to: "HH:MM", timezone}`` (weekly; to < from crosses midnight);
- emergency override: ``{authority, reason}``; accepted only if authority is listed in ``emergency_authorities``;
- backups: odoo_backup_info's result (``backup_id``, ``good``, ``finished_at``) or the generic
  ``{backups: [{id, status, end_time}], latest_good: {id, end_time} | None}``;
- replication: ``[{application_name, state, lag_bytes, replay_lag_seconds}]`` (pg_stat_replication);
- long transactions: ``[{pid, application_name, state, xact_seconds}]`` (pg_stat_activity).
"""
from __future__ import annotations

import datetime
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
GOOD_BACKUP_STATUSES = {"ok", "good", "success", "succeeded", "verified", "complete", "completed"}
DEFAULT_APPROVAL_PATTERN = r"(CHG|RFC|CR)-\d{3,}"


class GateError(ValueError):
    """A gate's own configuration is wrong (not a refusal: the inventory must be fixed)."""


def _result(gate: str, ok: bool, reason: str, **extra) -> dict:
    return {"gate": gate, "ok": ok, "reason": reason, **extra}


def parse_time(value, tz: datetime.tzinfo = datetime.UTC) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        dt = value
    else:
        try:
            dt = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError as exc:
            raise GateError(f"cannot read time {value!r}: use ISO 8601, e.g. 2026-12-20T08:00") from exc
    return dt if dt.tzinfo else dt.replace(tzinfo=tz)


def _zone(name: str | None) -> datetime.tzinfo:
    try:
        return ZoneInfo(name) if name else datetime.UTC
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise GateError(f"unknown timezone {name!r} in a freeze window") from exc


def _hhmm(value: str, name: str) -> datetime.time:
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", str(value))
    if not m or int(m.group(1)) > 24 or int(m.group(2)) > 59:
        raise GateError(f"freeze window {name!r}: time {value!r} is not HH:MM")
    h, mi = int(m.group(1)), int(m.group(2))
    return datetime.time.max if h == 24 else datetime.time(h, mi)


def active_window(now: datetime.datetime, window: dict) -> bool:
    name = window.get("name", "?")
    tz = _zone(window.get("timezone"))
    local = now.astimezone(tz)
    if "start" in window or "end" in window:
        if "start" not in window or "end" not in window:
            raise GateError(f"freeze window {name!r} needs both start and end")
        return parse_time(window["start"], tz) <= now < parse_time(window["end"], tz)
    if "weekdays" in window:
        days = [str(d).lower()[:3] for d in window["weekdays"]]
        bad = [d for d in days if d not in WEEKDAYS]
        if bad:
            raise GateError(f"freeze window {name!r}: unknown weekday(s) {bad}")
        start = _hhmm(window.get("from", "00:00"), name)
        end = _hhmm(window.get("to", "24:00"), name)
        t = local.time()
        today = WEEKDAYS[local.weekday()]
        yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
        if start <= end:
            return today in days and start <= t < end
        # crosses midnight: from today's start, or until today's end of a window begun yesterday
        return (today in days and t >= start) or (yesterday in days and t < end)
    raise GateError(f"freeze window {name!r} needs start/end or weekdays")


def gate_freeze(now: datetime.datetime, windows: list[dict], emergency: dict | None = None,
                authorities: list[str] | None = None) -> dict:
    active = [w.get("name", "?") for w in windows or [] if active_window(now, w)]
    if not active:
        return _result("freeze_window", True, "outside every freeze window")
    if emergency:
        who = (emergency or {}).get("authority")
        if who and who in (authorities or []) and (emergency.get("reason") or "").strip():
            return _result("freeze_window", True, f"inside freeze window {', '.join(active)}: emergency override by "
                                                  f"{who} ({emergency['reason'].strip()})", override=who)
        if not (emergency.get("reason") or "").strip():
            return _result("freeze_window", False, f"inside freeze window {', '.join(active)}: an emergency override "
                                                   f"needs a reason")
        allowed = ", ".join(authorities or []) or "none listed"
        return _result("freeze_window", False, f"inside freeze window {', '.join(active)}: {who!r} is not an "
                                               f"authority allowed to override it ({allowed})")
    return _result("freeze_window", False, f"inside freeze window {', '.join(active)} "
                                           f"(until it ends, or an emergency override by a listed authority)")


def gate_approval(reference: str | None, pattern: str = DEFAULT_APPROVAL_PATTERN) -> dict:
    try:
        rx = re.compile(pattern)
    except re.error as exc:
        raise GateError(f"approval reference pattern {pattern!r} is not a valid regular expression: {exc}") from exc
    if not reference or not str(reference).strip():
        return _result("approval_reference", False, "no change/approval reference given (upgrade_approval_ref)")
    if not rx.fullmatch(str(reference).strip()):
        return _result("approval_reference", False, f"approval reference {reference!r} does not match {pattern}")
    return _result("approval_reference", True, f"approval reference {reference}")


def _backup_end(b: dict):
    return b.get("end_time") or b.get("finished_at") or b.get("time")


def _backup_good(b: dict) -> bool:
    if "good" in b:
        return bool(b["good"])
    return str(b.get("status", "")).lower() in GOOD_BACKUP_STATUSES


def gate_backup(info: dict | None, max_age_hours: float, now: datetime.datetime) -> dict:
    """info: odoo_backup_info's result ({backups: [{backup_id, status, good, finished_at|time}], latest_good}),
    or the generic {backups: [{id, status, end_time}], latest_good: {id, end_time}}."""
    if not info:
        return _result("backup_fresh", False, "no backup information (odoo_backup_info) available")
    latest = info.get("latest_good")
    if not latest or not _backup_end(latest):
        good = [b for b in info.get("backups") or [] if _backup_good(b) and _backup_end(b)]
        latest = max(good, key=lambda b: parse_time(_backup_end(b))) if good else None
    if not latest:
        return _result("backup_fresh", False, "no good backup found")
    bid = latest.get("id") or latest.get("backup_id")
    age_h = (now - parse_time(_backup_end(latest))).total_seconds() / 3600
    if age_h > max_age_hours:
        return _result("backup_fresh", False, f"latest good backup {bid} is {age_h:.1f} h old, more than "
                                              f"{max_age_hours:g} h", backup_id=bid, age_hours=round(age_h, 2))
    return _result("backup_fresh", True, f"latest good backup {bid} is {age_h:.1f} h old",
                   backup_id=bid, age_hours=round(age_h, 2))


def gate_replication(standbys: list[dict] | None, min_standbys: int, max_lag_bytes: int,
                     max_lag_seconds: float) -> dict:
    standbys = standbys or []
    streaming = [s for s in standbys if s.get("state") == "streaming"]
    if len(streaming) < min_standbys:
        seen = ", ".join(f"{s.get('application_name', '?')}={s.get('state')}" for s in standbys) or "none"
        return _result("replication", False, f"{len(streaming)} standby(s) streaming, {min_standbys} required "
                                             f"(seen: {seen})")
    lagging = [f"{s.get('application_name', '?')} {s.get('lag_bytes') or 0} bytes/"
               f"{s.get('replay_lag_seconds') or 0:.1f} s" for s in streaming
               if (s.get("lag_bytes") or 0) > max_lag_bytes or (s.get("replay_lag_seconds") or 0) > max_lag_seconds]
    if lagging:
        return _result("replication", False, f"replication lag over {max_lag_bytes} bytes or {max_lag_seconds:g} s: "
                                             f"{'; '.join(lagging)}")
    return _result("replication", True, f"{len(streaming)} standby(s) streaming within lag limits")


def gate_disk(db_size_bytes: int | None, free_bytes: int | None, factor: float = 1.2,
              reserve_bytes: int = 1 << 30) -> dict:
    if db_size_bytes is None or free_bytes is None:
        return _result("disk_headroom", False, "database size or free space of the data directory unknown")
    need = int(db_size_bytes * factor) + reserve_bytes
    gib = 1 << 30
    if free_bytes < need:
        return _result("disk_headroom", False,
                       f"the snapshot needs {need / gib:.2f} GiB free ({db_size_bytes / gib:.2f} GiB database "
                       f"x {factor:g} + {reserve_bytes / gib:.2f} GiB reserve), the data directory has "
                       f"{free_bytes / gib:.2f} GiB")
    return _result("disk_headroom", True,
                   f"{free_bytes / gib:.2f} GiB free for a {db_size_bytes / gib:.2f} GiB snapshot")


def gate_long_transactions(activity: list[dict] | None, max_seconds: float) -> dict:
    long_ones = [a for a in activity or [] if (a.get("xact_seconds") or 0) > max_seconds]
    if long_ones:
        desc = ", ".join(f"pid {a.get('pid')} ({a.get('application_name') or '?'}, {a.get('state')}, "
                         f"{a['xact_seconds']:.0f} s)" for a in long_ones)
        return _result("long_transactions", False, f"transactions open longer than {max_seconds:g} s: {desc}")
    return _result("long_transactions", True, f"no transaction open longer than {max_seconds:g} s")


def gate_image(plan: dict | None, allow_major_change: bool = False) -> dict:
    if not plan or plan.get("error"):
        return _result("target_image", False, f"target image not usable: {(plan or {}).get('error', 'no plan')}")
    image_major = str(plan.get("image_series") or "").split(".", maxsplit=1)[0]
    db_major = str(plan.get("database_series") or "").split(".", maxsplit=1)[0]
    if not image_major:
        return _result("target_image", False, "cannot tell the target image's Odoo series: no odoo/release.py "
                                              "naming it found in the image (next to the odoo command, in "
                                              "Python's packages, beside the addons paths)")
    if db_major and image_major != db_major and not allow_major_change:
        return _result("target_image", False, f"target image is Odoo {plan.get('image_series')}, the database "
                                              f"{plan.get('database_series')}: a major version change is a migration "
                                              f"(OpenUpgrade or Odoo's upgrade service), not a module update")
    if plan.get("missing_modules"):
        return _result("target_image", False, f"installed modules missing from the target image: "
                                              f"{', '.join(plan['missing_modules'])}")
    return _result("target_image", True, f"target image Odoo {plan.get('image_series')}, "
                                         f"{len(plan.get('changed_modules') or {})} module(s) to update")


def evaluate(policy: dict, facts: dict, now: datetime.datetime | None = None) -> list[dict]:
    """Run every enabled gate. policy: the inventory's upgrade_gates; facts: what was gathered."""
    now = now or datetime.datetime.now(datetime.UTC)
    enabled = set(policy.get("enabled") or ["freeze_window", "approval_reference", "backup_fresh", "replication",
                                            "disk_headroom", "long_transactions", "target_image"])
    out = []
    if "freeze_window" in enabled:
        out.append(gate_freeze(now, policy.get("freeze_windows") or [], facts.get("emergency"),
                               policy.get("emergency_authorities") or []))
    if "approval_reference" in enabled:
        out.append(gate_approval(facts.get("approval_ref"), policy.get("approval_pattern") or DEFAULT_APPROVAL_PATTERN))
    if "backup_fresh" in enabled:
        out.append(gate_backup(facts.get("backup_info"), float(policy.get("backup_max_age_hours", 24)), now))
    pg = facts.get("postgres") or {}
    if "replication" in enabled:
        out.append(gate_replication(pg.get("replication"), int(policy.get("min_standbys", 1)),
                                    int(policy.get("max_lag_bytes", 16 << 20)),
                                    float(policy.get("max_lag_seconds", 30))))
    if "disk_headroom" in enabled:
        out.append(gate_disk(pg.get("db_size_bytes"), pg.get("data_dir_free_bytes"),
                             float(policy.get("disk_factor", 1.2)), int(policy.get("disk_reserve_bytes", 1 << 30))))
    if "long_transactions" in enabled:
        out.append(gate_long_transactions(pg.get("long_transactions"),
                                          float(policy.get("max_transaction_seconds", 300))))
    if "target_image" in enabled:
        out.append(gate_image(facts.get("image_plan"), bool(policy.get("allow_major_change", False))))
    return out


def refusal(results: list[dict]) -> str | None:
    failed = [r for r in results if not r["ok"]]
    if not failed:
        return None
    return "upgrade refused by " + str(len(failed)) + " gate(s): " + "; ".join(f"[{r['gate']}] {r['reason']}"
                                                                               for r in failed)
