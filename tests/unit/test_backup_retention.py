"""Grandfather-father-son retention plans, with dates."""
from __future__ import annotations

import datetime as dt

from ansible_collections.odooops.hosting.plugins.module_utils.backup.catalog import BackupEntry, plan_retention

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def entry(ts: dt.datetime, status="complete", locked_until=None, hold=False) -> BackupEntry:
    bid = ts.strftime("%Y%m%dT%H%M%SZ") + "-0000"
    return BackupEntry(db_name="shop", backup_id=bid, dir=f"backups/shop/{bid}/", time=ts, status=status,
                       locked_until=locked_until, legal_hold=hold)


def daily_series(days: int, per_day: int = 1) -> list[BackupEntry]:
    out = []
    for d in range(days):
        for h in range(per_day):
            out.append(entry(NOW - dt.timedelta(days=d, hours=h * 6)))
    return sorted(out, key=lambda e: e.time)


def ids(entries):
    return sorted(e.backup_id for e in entries)


def test_daily_keeps_newest_of_each_of_last_n_days():
    entries = daily_series(10, per_day=2)
    plan = plan_retention(entries, NOW, daily=3, weekly=0, monthly=0)
    kept = sorted(plan["keep"])
    assert len(kept) == 3
    # the newest backup of each of the three newest days
    assert kept == sorted(e.backup_id for e in entries if e.time in
                          {NOW, NOW - dt.timedelta(days=1), NOW - dt.timedelta(days=2)})
    assert len(plan["delete"]) == 20 - 3


def test_weekly_and_monthly_over_a_year():
    entries = daily_series(365)
    plan = plan_retention(entries, NOW, daily=7, weekly=4, monthly=12)
    keep = plan["keep"]
    monthly = [b for b, why in keep.items() if "monthly" in why]
    weekly = [b for b, why in keep.items() if "weekly" in why]
    assert len(monthly) == 12 and len(weekly) == 4
    # monthly picks are the newest backup of each month: e.g. 31 Oct 2026
    assert any(b.startswith("20261031T") for b in monthly)
    # everything is either kept or deleted, nothing locked
    assert len(keep) + len(plan["delete"]) == 365 and not plan["locked"]
    assert len(keep) < 7 + 4 + 12 + 1


def test_newest_good_always_kept_even_with_zero_counts():
    entries = daily_series(3)
    plan = plan_retention(entries, NOW, daily=0, weekly=0, monthly=0)
    assert list(plan["keep"]) == [entries[-1].backup_id]
    assert plan["keep"][entries[-1].backup_id] == ["newest good"]


def test_incomplete_backups_grace_and_newer_than_newest_good():
    good_old = entry(NOW - dt.timedelta(days=5))
    failed_old = entry(NOW - dt.timedelta(days=4), status="incomplete")
    damaged = entry(NOW - dt.timedelta(days=3), status="damaged")
    running = entry(NOW - dt.timedelta(minutes=10), status="incomplete")
    plan = plan_retention([good_old, failed_old, damaged, running], NOW, daily=7)
    assert ids(plan["delete"]) == ids([failed_old, damaged])
    assert running.backup_id in plan["keep"] and good_old.backup_id in plan["keep"]
    # a longer grace period keeps the failed one for inspection
    plan = plan_retention([good_old, failed_old], NOW, daily=7, incomplete_grace_hours=24 * 5)
    assert failed_old.backup_id in plan["keep"] and not plan["delete"]


def test_locked_backups_are_never_planned_for_deletion():
    locked = entry(NOW - dt.timedelta(days=40), locked_until=NOW + dt.timedelta(days=1))
    expired = entry(NOW - dt.timedelta(days=39), locked_until=NOW - dt.timedelta(days=1))
    held = entry(NOW - dt.timedelta(days=38), hold=True)
    newest = entry(NOW)
    plan = plan_retention([locked, expired, held, newest], NOW, daily=1, weekly=0, monthly=0)
    assert ids(plan["locked"]) == ids([locked, held])
    assert ids(plan["delete"]) == ids([expired])
    assert list(plan["keep"]) == [newest.backup_id]


def test_no_good_backup_deletes_nothing_good_and_keeps_recent_incomplete():
    plan = plan_retention([entry(NOW - dt.timedelta(hours=2), status="incomplete")], NOW)
    assert not plan["delete"] and len(plan["keep"]) == 1
