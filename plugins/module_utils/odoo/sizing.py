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


# Connections an Odoo 18 process needs at once from its pool (odoo/sql_db.py: one pool per process, shared by its
# threads and by every database, `db_maxconn` connections at most; a borrower finding it full gets
# "PoolError: The Connection Pool Is Full", it does not wait).
CRON_THREAD_CONNECTIONS = 3   # LISTEN cron_trigger on `postgres` (held) + the job-locking cursor + the job's cursor
HTTP_THREAD_CONNECTIONS = 2   # a request's cursor + a second one (Odoo's own sizing counts 2 per HTTP thread)


def min_db_maxconn(cron_threads: int) -> int:
    """The smallest ``db_maxconn`` an Odoo 18 process with ``cron_threads`` cron threads runs with.

    Rules (Odoo 18, ``odoo/service/server.py`` and ``odoo/addons/base/models/ir_cron.py``):

    - every process has one pool of at most ``db_maxconn`` connections, shared by all its threads and databases;
    - a cron thread (``ThreadedServer.cron_thread``) opens a connection to the ``postgres`` database for
      ``LISTEN cron_trigger`` and keeps it for its whole life; to run a job it takes a cursor on the job's database
      that holds the job's row lock (``_process_jobs``) and, while that one stays open, another cursor for the job
      itself (``_process_job``): 3 connections per cron thread at once;
    - in threaded mode (``workers = 0``, how the cron container runs) the same process also serves HTTP with
      ``(db_maxconn - max_cron_threads) // 2`` threads (at least 1), i.e. Odoo counts 2 connections per HTTP
      thread and only one per cron thread: at least one HTTP thread's 2 must be left over;
    - a web process without cron threads (a prefork worker handles one request at a time; a threaded server gets
      ``db_maxconn // 2`` HTTP threads) needs those 2 as well.

    Hence ``3 x cron_threads + 2``: 2 for ``max_cron_threads = 0``, 8 for the usual 2 cron threads. The setting that
    failed with Odoo 18 (2 cron threads, ``db_maxconn = 4``: "The Connection Pool Is Full") is below it.
    """
    if cron_threads < 0:
        raise SizingError(f"cron_threads must not be negative, got {cron_threads}")
    return CRON_THREAD_CONNECTIONS * cron_threads + HTTP_THREAD_CONNECTIONS


def check_db_maxconn(db_maxconn: int, cron_threads: int, maxconn_name: str = "db_maxconn",
                     threads_name: str = "cron_threads") -> list[str]:
    """Messages (empty: fine) when ``db_maxconn`` is below ``min_db_maxconn(cron_threads)``, naming the variables."""
    need = min_db_maxconn(cron_threads)
    if db_maxconn >= need:
        return []
    if cron_threads:
        why = (f"{cron_threads} cron thread(s) x {CRON_THREAD_CONNECTIONS} (LISTEN cron_trigger on postgres, the "
               f"job lock, the job) + {HTTP_THREAD_CONNECTIONS} for an HTTP thread of the same process")
        return [f"{maxconn_name} is {db_maxconn} but {threads_name} = {cron_threads} needs at least {need} ({why}; "
                f"below it Odoo 18 fails with 'The Connection Pool Is Full'): set {maxconn_name} to {need} or more, "
                f"or lower {threads_name}"]
    return [f"{maxconn_name} is {db_maxconn} but an Odoo process needs at least {need} ({HTTP_THREAD_CONNECTIONS} "
            f"per request: its cursor and a second one): set {maxconn_name} to {need} or more"]


def connection_demand(app_hosts: list[dict], blue_green: bool = True) -> dict:
    """Total connections of all app hosts.

    Each item: name, web_replicas, workers, cron_threads (of the cron container, 0 if the host has
    none), db_maxconn, and optionally cron_db_maxconn (the cron container's, default db_maxconn). Returns
    steady and peak demand (peak: a second web set during blue/green) and the per-host breakdown.
    """
    per_host = []
    steady = peak = 0
    for host in app_hosts:
        web = host.get("web_replicas", 1) * process_connections(host["workers"], 0, host["db_maxconn"])
        cron_maxconn = host.get("cron_db_maxconn") or host["db_maxconn"]
        cron = process_connections(0, host["cron_threads"], cron_maxconn) if host.get("cron_threads") else 0
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
                     cron_db_maxconn: int | None = None, blue_green: bool = True) -> int:
    """Largest number of web replicas (e.g. an HPA maximum) that fits in budget connections."""
    per_replica = process_connections(workers, 0, db_maxconn) * (2 if blue_green else 1)
    cron = process_connections(0, cron_threads, cron_db_maxconn or db_maxconn) if cron_threads else 0
    if budget - cron < per_replica:
        return 0
    return (budget - cron) // per_replica
