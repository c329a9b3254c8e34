# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which Odoo modules an image changes, and the module update as a one-shot container with a deadline.

Changed modules: the addons' ``__manifest__.py`` versions in the *target image* (read by a one-shot
container of that image, so it works for real Odoo images - addons under
/usr/lib/python3/dist-packages/odoo/addons and /mnt/extra-addons - as for the test double) against
``ir_module_module.latest_version`` of the installed modules. Odoo stores a manifest version ``1.3``
of series ``17.0`` as ``17.0.1.3`` (``adapt_version``); both sides are compared that way.

The image's series comes only from Odoo's ``odoo/release.py`` (base's manifest says ``1.3`` in every series),
read as text - never imported - wherever Odoo lives in the image: next to the ``odoo``/``odoo-bin`` command
on PATH or in the image's entrypoint (a source checkout), the installed package of the image's Python or of
the command's interpreter (a virtualenv), next to an addons path, or the usual install places.
"""
from __future__ import annotations

import ast
import json
import re

from ansible_collections.odooops.hosting.plugins.module_utils.odoo.engine import DockerError, Engine
from ansible_collections.odooops.hosting.plugins.module_utils.upgrade import pg as pgu

DEFAULT_ADDONS_PATHS = ["/usr/lib/python3/dist-packages/odoo/addons", "/opt/odoo/addons", "/mnt/extra-addons"]

# Runs inside the target image with its own python3 (standard library only, imports nothing of Odoo): prints
# {"releases": [{path, text}], "manifests": {name: version}, "paths": [...]}. argv: odoo.conf, addons paths;
# ODOOOPS_IMAGE_COMMANDS: the image's entrypoint and command (JSON list).
MANIFEST_SCRIPT = r"""
import ast, configparser, glob, json, os, shutil, sys
conf, paths = sys.argv[1], [p for p in sys.argv[2:] if p]
cp = configparser.ConfigParser(interpolation=None)
try:
    cp.read(conf)
    paths = [p.strip() for p in cp.get("options", "addons_path", fallback="").split(",") if p.strip()] + paths
except Exception:
    pass

def site_packages(prefix):
    return glob.glob(os.path.join(prefix, "lib", "python3*", "*-packages", "odoo", "release.py"))

cands = []
try:
    commands = [c for c in json.loads(os.environ.get("ODOOOPS_IMAGE_COMMANDS") or "[]") if isinstance(c, str)]
except ValueError:
    commands = []
for cmd in commands + ["odoo", "odoo-bin", "odoo.py", "openerp-server"]:
    exe = cmd if os.path.isabs(cmd) else shutil.which(cmd)
    if not exe or not os.path.isfile(exe):
        continue
    real = os.path.realpath(exe)
    cands.append(os.path.join(os.path.dirname(real), "odoo", "release.py"))  # a source checkout's odoo-bin
    try:
        with open(real, "rb") as fh:
            first = fh.readline().decode("utf-8", "replace")
    except OSError:
        first = ""
    if first.startswith("#!"):  # a console script: the packages of its interpreter (a virtualenv)
        words = first[2:].split()
        interp = words[1] if words and os.path.basename(words[0]) == "env" and len(words) > 1 else \
            (words[0] if words else "")
        interp = interp if os.path.isabs(interp) else (shutil.which(interp) or "")
        if interp:
            cands += site_packages(os.path.dirname(os.path.dirname(interp)))
            cands += site_packages(os.path.dirname(os.path.dirname(os.path.realpath(interp))))
for path in paths:  # <checkout>/addons next to <checkout>/odoo; <package>/odoo/addons inside it
    parent = os.path.dirname(path.rstrip("/"))
    cands += [os.path.join(parent, "odoo", "release.py"), os.path.join(parent, "release.py")]
cands += [os.path.join(p, "odoo", "release.py") for p in sys.path if p]
for pattern in ("/usr/lib/python3*/*-packages/odoo/release.py", "/usr/local/lib/python3*/*-packages/odoo/release.py",
                "/opt/*/odoo/release.py", "/opt/*/*/odoo/release.py", "/opt/*/lib/python3*/*-packages/odoo/release.py",
                "/odoo/odoo/release.py", "/srv/*/odoo/release.py", "/home/*/odoo/release.py"):
    cands += sorted(glob.glob(pattern))
releases, seen = [], set()
for cand in cands:
    real = os.path.realpath(cand)
    if real in seen or not os.path.isfile(real) or os.path.basename(os.path.dirname(real)) != "odoo":
        continue
    seen.add(real)
    try:
        with open(real, encoding="utf-8", errors="replace") as fh:
            releases.append({"path": cand, "text": fh.read(65536)})
    except OSError:
        continue
    if len(releases) == 1:  # the Odoo that runs: its own addons (base lives in <odoo>/addons)
        paths += [os.path.join(os.path.dirname(real), "addons"),
                  os.path.join(os.path.dirname(os.path.dirname(real)), "addons")]
    if len(releases) >= 4:
        break
found = {}
for path in paths:
    if not os.path.isdir(path):
        continue
    for name in sorted(os.listdir(path)):
        man = os.path.join(path, name, "__manifest__.py")
        if name in found or not os.path.isfile(man):
            continue
        try:
            with open(man, encoding="utf-8") as fh:
                found[name] = str(ast.literal_eval(fh.read()).get("version", "1.0"))
        except Exception as exc:
            found[name] = "!error " + exc.__class__.__name__
print("ODOOOPS-MANIFESTS " + json.dumps({"releases": releases, "manifests": found, "paths": paths}))
"""

SECRET_ENV_RE = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|KEY)", re.I)


class UpdateError(Exception):
    """The module update cannot be planned or did not succeed; the message says why."""


SERIES_RE = re.compile(r"^(?:saas~)?\d+\.\d+$")


def _literal(node):
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def series_from_release(text: str) -> str | None:
    """The series of an ``odoo/release.py`` read as text (never executed): ``version_info``'s first two items
    (``(18, 0, 0, FINAL, 0, '')`` -> ``18.0``, ``('saas~17', 4, ...)`` -> ``saas~17.4``), else a literal
    ``serie``/``series``/``major_version`` string. None when the text says neither."""
    try:
        body = ast.parse(text or "").body
    except (SyntaxError, ValueError):
        body = []
    literal_series = None
    for node in body:
        if not isinstance(node, ast.Assign):
            continue
        names = {t.id for t in node.targets if isinstance(t, ast.Name)}
        if "version_info" in names and isinstance(node.value, (ast.Tuple, ast.List)) and len(node.value.elts) >= 2:
            major_part, minor_part = (_literal(e) for e in node.value.elts[:2])
            if isinstance(minor_part, int) and not isinstance(minor_part, bool) and \
                    isinstance(major_part, (int, str)) and not isinstance(major_part, bool):
                series = f"{major_part}.{minor_part}"
                if SERIES_RE.match(series):
                    return series
        if names & {"serie", "series", "major_version"} and literal_series is None:
            value = _literal(node.value)
            if isinstance(value, str) and SERIES_RE.match(value):
                literal_series = value
    if literal_series:
        return literal_series
    # not Python this parser reads (a syntax of a later Python): the assignment's first two numbers
    m = re.search(r"^version_info\s*=\s*[(\[]\s*(['\"]?)((?:saas~)?\d+)\1\s*,\s*(\d+)\s*,", text or "", re.M)
    return f"{m.group(2)}.{m.group(3)}" if m else None


RELEASE_LEVEL_NAMES = {"ALPHA": "alpha", "BETA": "beta", "RELEASE_CANDIDATE": "candidate", "FINAL": "final"}
RELEASE_LEVELS_DISPLAY = {"alpha": "alpha", "beta": "beta", "candidate": "rc", "final": ""}


def release_fields(text: str) -> dict | None:
    """What Odoo's own dump manifest says of its release (``odoo/service/db.py`` writes ``odoo.release.version``,
    ``version_info`` and ``major_version``), from an ``odoo/release.py`` read as text (never executed).

    ``version`` is a literal ``version = '...'`` when the file has one, else computed as release.py does:
    ``serie + RELEASE_LEVELS_DISPLAY[version_info[3]] + str(version_info[4] or '') + version_info[5]``
    (``(18, 0, 0, FINAL, 0, '')`` -> ``18.0``; ``(18, 0, 0, FINAL, 0, '+e-20241005')`` -> ``18.0+e-20241005``;
    ``(17, 0, 0, BETA, 1, '')`` -> ``17.0beta1``). None when the text names no series."""
    series = series_from_release(text)
    if not series:
        return None
    try:
        body = ast.parse(text or "").body
    except (SyntaxError, ValueError):
        body = []
    names = dict(RELEASE_LEVEL_NAMES)
    display = dict(RELEASE_LEVELS_DISPLAY)
    info, literal_version = None, None

    def value(node):
        if isinstance(node, ast.Name):
            return names.get(node.id)
        return _literal(node)

    for node in body:
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:  # RELEASE_LEVELS = [ALPHA, BETA, ...] = ['alpha', 'beta', ...]
            if isinstance(target, (ast.Tuple, ast.List)) and isinstance(node.value, (ast.Tuple, ast.List)) \
                    and len(target.elts) == len(node.value.elts):
                for t, v in zip(target.elts, node.value.elts, strict=True):
                    if isinstance(t, ast.Name) and isinstance(_literal(v), str):
                        names[t.id] = _literal(v)
        targets = {t.id for t in node.targets if isinstance(t, ast.Name)}
        if isinstance(node.value, ast.Dict):  # the level -> shown suffix map (RELEASE_LEVELS_DISPLAY in Odoo)
            pairs = {value(k): value(v) for k, v in zip(node.value.keys, node.value.values, strict=True)
                     if k is not None}
            if "final" in pairs and set(pairs) <= set(RELEASE_LEVELS_DISPLAY) \
                    and all(isinstance(x, str) for x in pairs.values()):
                display.update(pairs)
        if "version_info" in targets and isinstance(node.value, (ast.Tuple, ast.List)):
            info = [value(e) for e in node.value.elts]
        if "version" in targets and isinstance(_literal(node.value), str):
            literal_version = _literal(node.value)
    if info is None or len(info) < 6 or any(x is None for x in info[:6]):
        major_part, minor_part = series.rsplit(".", 1)
        info = [int(major_part) if major_part.isdigit() else major_part, int(minor_part), 0, "final", 0, ""]
    version = literal_version or (series + display.get(info[3], str(info[3])) + str(info[4] or "") + str(info[5]))
    return {"version": version, "version_info": info[:6], "major_version": series}


def pick_release(releases: list[dict]) -> tuple[str | None, str | None]:
    """(series, path) of the first release.py found in the image that names a series."""
    for rel in releases or []:
        series = series_from_release(rel.get("text") or "")
        if series:
            return series, rel.get("path")
    return None, None


def adapt_version(version: str, series: str | None) -> str:
    """Odoo's adapt_version: 1.3 in series 17.0 is 17.0.1.3; 17.0.1.3 stays."""
    if not series or not version:
        return version
    if version == series or not version.startswith(series + "."):
        return f"{series}.{version}"
    return version


def major(series: str | None) -> int | None:
    try:
        return int(str(series).split(".", maxsplit=1)[0])
    except (TypeError, ValueError):
        return None


def diff_versions(image_manifests: dict, installed: dict, series: str | None) -> dict:
    """installed: name -> latest_version. Returns changed (name -> {from, to}) and missing (not in the image)."""
    changed, missing = {}, []
    for name, current in sorted(installed.items()):
        if name not in image_manifests:
            missing.append(name)
            continue
        target = adapt_version(image_manifests[name], series)
        if (current or "") != target:
            changed[name] = {"from": current, "to": target}
    return {"changed": changed, "missing": missing}


def installed_versions(conn) -> dict:
    if not pgu.table_exists(conn, "ir_module_module"):
        raise UpdateError("the database has no ir_module_module table: not an Odoo database")
    rows = pgu.query(conn, "SELECT name, latest_version FROM ir_module_module "
                           "WHERE state IN ('installed', 'to upgrade') ORDER BY name")
    return dict(rows)


def redact(text: str, secrets: list[str]) -> str:
    for s in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(s, "********")
    return text


def tail(text: str, lines: int) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


class ContainerSpec:
    """Env, mounts, networks, user and entrypoint of the one-shot containers: those of a reference
    container (the stopped web container: same odoo.conf, secrets, data volume, LAN), plus extras."""

    def __init__(self, engine: Engine, like_container: str | None = None, env: list[str] | None = None,
                 binds: list[str] | None = None, networks: list[str] | None = None, user: str | None = None):
        self.env, self.binds, self.mounts, self.networks = [], [], [], []
        self.user, self.entrypoint, self.ref_id = user, None, None
        self.stack = None
        self.mounted: list[str] = []
        if like_container:
            ref = engine.container(like_container)
            if ref is None:
                raise UpdateError(f"reference container {like_container!r} does not exist")
            self.ref_id = ref["Id"]
            # the stack of the container the one-shot is made like: a recovery finds the stack's update by it
            self.stack = (ref["Config"].get("Labels") or {}).get("org.odooops.stack")
            self.mounted = [m["Destination"] for m in ref.get("Mounts") or []]
            # the deployment's environment, not the old image's own ENV (the target image brings its own)
            image = engine.image(ref["Image"]) or {}
            image_env = set((image.get("Config") or {}).get("Env") or [])
            self.env = [e for e in ref["Config"].get("Env") or [] if e not in image_env]
            host = ref.get("HostConfig") or {}
            self.binds = list(host.get("Binds") or [])
            self.mounts = [{"Type": m["Type"], "Source": m.get("Name") or m["Source"], "Target": m["Destination"],
                            "ReadOnly": not m.get("RW", True)}
                           for m in ref.get("Mounts") or [] if m["Destination"] not in
                           {b.split(":")[1] for b in self.binds if ":" in b}]
            self.networks = list((ref.get("NetworkSettings") or {}).get("Networks") or {})
            self.user = user or ref["Config"].get("User") or None
            self.entrypoint = ref["Config"].get("Entrypoint")
        keys = {e.split("=", 1)[0] for e in env or []}
        self.env = [e for e in self.env if e.split("=", 1)[0] not in keys] + list(env or [])
        self.binds += list(binds or [])
        self.networks += [n for n in networks or [] if n not in self.networks]

    def copy_paths(self, config_path: str) -> list[str]:
        """Files of the reference container the one-shot containers need: odoo.conf and libpq's files."""
        paths = [config_path]
        for e in self.env:
            key, _sep, value = e.partition("=")
            if key in ("PGSERVICEFILE", "PGPASSFILE", "PGSSLROOTCERT") and value.startswith("/"):
                paths.append(value)
        # a mounted file comes with the mounts; only what the deployment put into the container is copied
        mounted = self.mounted + [b.split(":")[1] for b in self.binds if b.count(":") >= 1]
        return [p for p in paths if not any(p == m or p.startswith(m.rstrip("/") + "/") for m in mounted)]

    def secrets(self) -> list[str]:
        return [e.split("=", 1)[1] for e in self.env if "=" in e and SECRET_ENV_RE.search(e.split("=", 1)[0])]


def read_image_manifests(engine: Engine, image: str, spec: ContainerSpec, config_path: str,
                         addons_paths: list[str], timeout: float = 120) -> dict:
    if engine.image(image) is None:
        raise UpdateError(f"image {image!r} is not present on this Docker engine (pull or load it first)")
    config = engine.image(image).get("Config") or {}
    commands = [c for c in (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
                if isinstance(c, str) and c.startswith("/")]
    res = engine.run_oneshot(image, ["-c", MANIFEST_SCRIPT, config_path, *addons_paths], entrypoint=["python3"],
                             env=[*spec.env, "ODOOOPS_IMAGE_COMMANDS=" + json.dumps(commands)],
                             binds=spec.binds, mounts=spec.mounts, networks=[], user=spec.user,
                             timeout=timeout, log_tail=2000, labels={"org.odooops.purpose": "manifests"},
                             copy_from=spec.ref_id, copy_paths=spec.copy_paths(config_path))
    line = next((ln for ln in res["logs"].splitlines() if ln.startswith("ODOOOPS-MANIFESTS ")), None)
    if res["exit_code"] != 0 or line is None:
        raise UpdateError(f"cannot read the addons manifests of {image} (exit {res['exit_code']}): "
                          f"{tail(redact(res['logs'], spec.secrets()), 5)}")
    data = json.loads(line[len("ODOOOPS-MANIFESTS "):])
    data["series"], data["release_file"] = pick_release(data.get("releases") or [])
    if not data["manifests"]:
        raise UpdateError(f"no addons found in {image} under {', '.join(data['paths'])}")
    return data


def read_image_release(engine: Engine, image: str, config_path: str = "/etc/odoo/odoo.conf",
                       addons_paths: list[str] | None = None, timeout: float = 120) -> dict:
    """{version, version_info, major_version, release_file} of the Odoo in image: its ``odoo/release.py`` found and
    read as text by the same one-shot container as the upgrade's image check (read_image_manifests)."""
    data = read_image_manifests(engine, image, ContainerSpec(engine), config_path,
                                DEFAULT_ADDONS_PATHS if addons_paths is None else addons_paths, timeout)
    for rel in data.get("releases") or []:
        fields = release_fields(rel.get("text") or "")
        if fields:
            return {**fields, "release_file": rel.get("path")}
    raise UpdateError(f"cannot tell the Odoo release of {image}: no odoo/release.py naming a series found "
                      f"(looked next to its odoo command, in its Python packages and under {', '.join(data['paths'])})")


def update_labels(spec: ContainerSpec, database: str) -> dict:
    """Labels of the module-update one-shot: its purpose, database and (when known) stack."""
    labels = {"org.odooops.purpose": "module-update", "org.odooops.database": database}
    if spec.stack:
        labels["org.odooops.stack"] = spec.stack
    return labels


def run_update(engine: Engine, image: str, spec: ContainerSpec, database: str, modules: list[str],
               config_path: str, odoo_command: list[str], timeout: float, log_lines: int = 40,
               name: str | None = None) -> dict:
    """odoo -c <config> -d <db> -u <modules> --stop-after-init in a one-shot container of image."""
    cmd = [*odoo_command, "-c", config_path, "-d", database, "-u", ",".join(modules), "--stop-after-init"]
    entrypoint = spec.entrypoint if not odoo_command else None
    res = engine.run_oneshot(image, cmd, entrypoint=entrypoint, env=spec.env, binds=spec.binds, mounts=spec.mounts,
                             networks=spec.networks, user=spec.user, timeout=timeout, name=name,
                             log_tail=max(log_lines * 5, 200), labels=update_labels(spec, database),
                             copy_from=spec.ref_id, copy_paths=spec.copy_paths(config_path))
    res["logs"] = tail(redact(res["logs"], spec.secrets()), log_lines)
    res["command"] = cmd
    return res


def plan(engine: Engine, conn, image: str, spec: ContainerSpec, config_path: str, addons_paths: list[str],
         modules: str | list[str], current_series: str | None = None) -> dict:
    data = read_image_manifests(engine, image, spec, config_path, addons_paths)
    installed = installed_versions(conn)
    d = diff_versions(data["manifests"], installed, data["series"])
    if modules == "changed" or modules == ["changed"]:
        to_update = sorted(d["changed"])
    elif modules == "all" or modules == ["all"]:
        to_update = ["all"]
    else:
        unknown = sorted(set(modules) - set(installed))
        if unknown:
            raise UpdateError(f"modules not installed in the database: {', '.join(unknown)}")
        to_update = list(modules)
    db_series = None
    base = installed.get("base") or ""
    m = re.match(r"^(\d+\.\d+)\.", base)
    if m:
        db_series = m.group(1)
    return {"image_series": data["series"], "image_release_file": data["release_file"],
            "database_series": current_series or db_series,
            "changed_modules": d["changed"], "missing_modules": d["missing"], "to_update": to_update,
            "versions_before": installed, "image_manifests": data["manifests"]}


__all__ = ["DockerError", "UpdateError", "ContainerSpec", "plan", "run_update", "installed_versions",
           "read_image_release", "release_fields"]
