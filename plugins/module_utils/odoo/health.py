# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Smoke checks of a running Odoo: /web/health, the login page, a JSON-RPC login with a check user,
and response times of chosen URLs. Standard library only (urllib)."""
from __future__ import annotations

import http.cookiejar
import json
import statistics
import time
import urllib.error
import urllib.request


def _request(opener, url: str, data: dict | None = None, timeout: float = 10, host: str | None = None) -> dict:
    body = json.dumps(data).encode() if data is not None else None
    headers = {"Content-Type": "application/json"} if body else {}
    if host:
        # a site's host name: Odoo's host-based dbfilter (^%d$, ^%h$) picks the database from it
        headers["Host"] = host
    req = urllib.request.Request(url, data=body, headers=headers)
    start = time.monotonic()
    try:
        with opener.open(req, timeout=timeout) as resp:
            payload = resp.read(1 << 20)
            status = resp.status
    except urllib.error.HTTPError as exc:
        payload, status = exc.read(1 << 16), exc.code
    except (urllib.error.URLError, OSError) as exc:
        return {"url": url, "ok": False, "status": None, "elapsed_ms": round((time.monotonic() - start) * 1000, 1),
                "error": str(getattr(exc, "reason", exc))}
    return {"url": url, "status": status, "elapsed_ms": round((time.monotonic() - start) * 1000, 1),
            "body": payload.decode("utf-8", "replace")}


def _sampled(opener, url: str, timeout: float, samples: int, data: dict | None = None,
             host: str | None = None) -> dict:
    """GET url (POST data as JSON, if given) `samples` times: the answer of the slowest, with elapsed_ms the
    median of all (one slow request on a busy host is not a regression, nor is a new worker's cold first one)
    and every sample's time in elapsed_samples_ms. Stops at the first request without an HTTP answer."""
    results = []
    for _unused in range(max(1, samples)):
        results.append(_request(opener, url, data, timeout=timeout, host=host))
        if results[-1].get("status") is None:
            break
    answer = dict(max(results, key=lambda r: (r.get("status") != 200, r["elapsed_ms"])))
    answer["elapsed_samples_ms"] = [r["elapsed_ms"] for r in results]
    answer["elapsed_ms"] = round(statistics.median(answer["elapsed_samples_ms"]), 1)
    return answer


def check(base_url: str, database: str | None = None, login: str | None = None, password: str | None = None,
          urls: list[str] | None = None, timeout: float = 10, samples: int = 3, host: str | None = None) -> dict:
    """Returns {healthy, checks: {name: {...ok...}}, failures: [...]}; never raises on an HTTP problem.
    Pages (health, login page, urls) and the JSON-RPC login are asked `samples` times: their elapsed_ms is the
    median. host: the Host header sent with every request to base_url (else base_url's own)."""
    base = base_url.rstrip("/")
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    checks = {}

    r = _sampled(opener, base + "/web/health", timeout, samples, host=host)
    try:
        r["ok"] = r.get("status") == 200 and json.loads(r.get("body") or "{}").get("status") == "pass"
    except ValueError:
        r["ok"] = False
    checks["health"] = r

    r = _sampled(opener, base + "/web/login" + (f"?db={database}" if database else ""), timeout, samples,
                 host=host)
    r["ok"] = r.get("status") == 200 and "password" in (r.get("body") or "").lower()
    checks["login_page"] = r

    if login:
        # sampled as the pages are: a single login's time (pbkdf2, a cold worker) on a busy host said nothing
        r = _sampled(opener, base + "/web/session/authenticate", timeout, samples,
                     {"jsonrpc": "2.0", "method": "call", "id": 1,
                      "params": {"db": database, "login": login, "password": password}}, host=host)
        try:
            answer = json.loads(r.get("body") or "{}")
        except ValueError:
            answer = {}
        result = answer.get("result") or {}
        r["ok"] = r.get("status") == 200 and bool(result.get("uid"))
        r["uid"] = result.get("uid")
        if answer.get("error"):
            r["error"] = (answer["error"].get("data") or {}).get("message") or answer["error"].get("message")
        checks["rpc_login"] = r

    for url in urls or []:
        full = url if url.startswith("http") else base + "/" + url.lstrip("/")
        r = _sampled(opener, full, timeout, samples, host=None if url.startswith("http") else host)
        r["ok"] = r.get("status") is not None and r["status"] < 400
        checks["url " + url] = r

    for r in checks.values():
        r.pop("body", None)
    failures = [f"{name}: {r.get('error') or 'HTTP ' + str(r.get('status'))}" for name, r in checks.items()
                if not r["ok"]]
    return {"healthy": not failures, "checks": checks, "failures": failures}


def wait_healthy(base_url: str, wait: float, interval: float = 1.0, **kw) -> dict:
    """check() until healthy or wait seconds have passed; returns the last result with attempts and waited."""
    start = time.monotonic()
    attempts = 0
    while True:
        attempts += 1
        res = check(base_url, **kw)
        waited = time.monotonic() - start
        if res["healthy"] or waited >= wait:
            res.update(attempts=attempts, waited=round(waited, 2))
            return res
        time.sleep(interval)
