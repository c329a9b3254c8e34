# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Odoo sizing and the PostgreSQL connection budget, shared by the VM and Kubernetes targets.

Plain Python, no Ansible imports: used by the filter plugin ``odooops.hosting.odoo_sizing`` and by
the Kubernetes renderer.

Rules (Odoo's deployment documentation):
- at most ``2 * CPUs + 1`` HTTP workers on a host;
- memory: 80 % of requests are light (~150 MiB a worker), 20 % heavy (~1 GiB): about 325 MiB a worker;
- ``limit_memory_soft`` 2 GiB and ``limit_memory_hard`` 2.5 GiB by default, lowered where the memory
  given to the container does not hold that much per worker.

Connections: every Odoo process keeps a pool of up to ``db_maxconn`` connections; a container with
``workers`` HTTP workers and ``cron_threads`` cron threads runs ``workers + cron_threads + 1``
processes (the +1 is the gevent/longpolling or threaded server). During a blue/green rollout the new
web set runs beside the old one, so the peak counts the web sets twice.
"""
from __future__ import annotations

MIB = 1024 * 1024
LIGHT_WORKER_MIB = 150
HEAVY_WORKER_MIB = 1024
HEAVY_SHARE = 0.2
DEFAULT_SOFT_MIB = 2048
DEFAULT_HARD_MIB = 2560


class SizingError(ValueError):
    """The inventory asks for something the hosts or the database tier cannot hold."""


def worker_memory_mib() -> int:
    return int(LIGHT_WORKER_MIB * (1 - HEAVY_SHARE) + HEAVY_WORKER_MIB * HEAVY_SHARE)


def odoo_workers(cpus: int, memory_mib: int, reserved_mib: int = 1024, max_workers: int | None = None) -> dict:
    """Workers and memory limits for an Odoo web container on a host with cpus and memory_mib.

    reserved_mib is kept for the OS and the other containers of the host (Redis, Traefik, cron).
    """
    if cpus < 1:
        raise SizingError(f"cpus must be at least 1, got {cpus}")
    available = memory_mib - reserved_mib
    if available < worker_memory_mib():
        raise SizingError(f"{memory_mib} MiB of memory less {reserved_mib} MiB reserved leaves {available} MiB: "
                          f"not enough for one Odoo worker (~{worker_memory_mib()} MiB)")
    by_cpu = 2 * cpus + 1
    by_memory = available // worker_memory_mib()
    workers = min(by_cpu, by_memory)
    if max_workers is not None:
        workers = min(workers, max_workers)
    per_worker = available // workers
    soft = min(DEFAULT_SOFT_MIB, int(per_worker * 0.8))
    hard = min(DEFAULT_HARD_MIB, per_worker)
    return {
        "workers": workers,
        "limit_memory_soft": soft * MIB,
        "limit_memory_hard": hard * MIB,
        "limited_by": "cpu" if by_cpu <= by_memory else "memory",
    }


def process_connections(workers: int, cron_threads: int, db_maxconn: int) -> int:
    """Connections one Odoo container may open: (workers + cron threads + 1) x db_maxconn."""
    for name, value in (("workers", workers), ("cron_threads", cron_threads), ("db_maxconn", db_maxconn)):
        if value < 0:
            raise SizingError(f"{name} must not be negative, got {value}")
    return (workers + cron_threads + 1) * db_maxconn


def connection_demand(app_hosts: list[dict], blue_green: bool = True) -> dict:
    """Total connections of all app hosts.

    Each item: name, web_replicas, workers, cron_threads (of the cron container, 0 if the host has
    none), db_maxconn. Returns steady and peak demand (peak: a second web set during blue/green) and
    the per-host breakdown.
    """
    per_host = []
    steady = peak = 0
    for host in app_hosts:
        web = host.get("web_replicas", 1) * process_connections(host["workers"], 0, host["db_maxconn"])
        cron = process_connections(0, host["cron_threads"], host["db_maxconn"]) if host.get("cron_threads") else 0
        host_steady = web + cron
        host_peak = host_steady + (web if blue_green else 0)
        per_host.append({"name": host.get("name", "?"), "web": web, "cron": cron, "steady": host_steady,
                         "peak": host_peak})
        steady += host_steady
        peak += host_peak
    return {"steady": steady, "peak": peak, "hosts": per_host}


def check_budget(demand: dict, max_connections: int, reserved: int) -> dict:
    """Raise SizingError, naming the numbers, when the peak demand exceeds max_connections - reserved."""
    budget = max_connections - reserved
    if budget <= 0:
        raise SizingError(f"max_connections {max_connections} minus {reserved} reserved leaves no connection "
                          f"for Odoo")
    if demand["peak"] > budget:
        detail = ", ".join(f"{h['name']}: {h['peak']}" for h in demand["hosts"])
        raise SizingError(
            f"connection budget exceeded: app hosts may open {demand['peak']} connections at peak "
            f"(steady {demand['steady']}; {detail}) but PostgreSQL allows {max_connections} - {reserved} reserved "
            f"= {budget}; lower workers, web replicas or db_maxconn, or raise max_connections")
    return {"budget": budget, "peak": demand["peak"], "steady": demand["steady"],
            "headroom": budget - demand["peak"]}


def postgres_max_connections(demand: dict, reserved: int, headroom_pct: int = 10) -> int:
    """max_connections for the PostgreSQL tier sized from the platform's peak demand."""
    return int(demand["peak"] * (100 + headroom_pct) / 100) + reserved


def max_web_replicas(budget: int, workers: int, db_maxconn: int, cron_threads: int = 0,
                     blue_green: bool = True) -> int:
    """Largest number of web replicas (e.g. an HPA maximum) that fits in budget connections."""
    per_replica = process_connections(workers, 0, db_maxconn) * (2 if blue_green else 1)
    cron = process_connections(0, cron_threads, db_maxconn) if cron_threads else 0
    if budget - cron < per_replica:
        return 0
    return (budget - cron) // per_replica
