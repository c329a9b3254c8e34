"""Locally built images (no registry is reachable): base, simulated VM host, Odoo test double.

Each image is rebuilt only when the files it is built from change: their hash is stored as an image
label and compared before building.
"""
from __future__ import annotations

import hashlib
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE_IMAGE = "odooops/debian:bookworm"
HOST_IMAGE = "odooops/host:bookworm"
S3_IMAGE = "odooops/moto:5.2.5"

# tag -> build context (relative to the project root); extended by later images (Odoo double, ...)
IMAGES: dict[str, str] = {
    HOST_IMAGE: "images/host",
    # S3 for the simulated LAN (moto + stunnel TLS), reachable by the simulated hosts as "s3"
    S3_IMAGE: "images/s3",
    # the Odoo test double (tests/odoo_double): two releases (different addon manifest versions) and one
    # that fails its health check
    "odooops/odoo-double:17.0-a": "tests/odoo_double",
    "odooops/odoo-double:17.0-b": "tests/odoo_double",
    "odooops/odoo-double:17.0-broken": "tests/odoo_double",
}
# tag -> docker build arguments, for images built from a shared context
BUILD_ARGS: dict[str, dict] = {
    "odooops/odoo-double:17.0-a": {"ODOO_DOUBLE_VARIANT": "a"},
    "odooops/odoo-double:17.0-b": {"ODOO_DOUBLE_VARIANT": "b"},
    "odooops/odoo-double:17.0-broken": {"ODOO_DOUBLE_VARIANT": "a", "ODOO_DOUBLE_BROKEN": "1"},
}


def context_hash(context: str) -> str:
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in sorted(os.walk(context)):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith((".pyc",)) or "__pycache__" in dirpath:
                continue
            path = os.path.join(dirpath, name)
            digest.update(os.path.relpath(path, context).encode())
            with open(path, "rb") as fh:
                digest.update(fh.read())
    return digest.hexdigest()[:16]


def image_label(tag: str, label: str = "org.odooops.context-hash") -> str | None:
    res = subprocess.run(["docker", "image", "inspect", "-f", f"{{{{ index .Config.Labels \"{label}\" }}}}", tag],
                         capture_output=True, text=True, check=False)
    return res.stdout.strip() if res.returncode == 0 else None


def build_base() -> None:
    subprocess.run([os.path.join(ROOT, "scripts", "build-base-image.sh"), BASE_IMAGE], check=True)


def build(tag: str, context: str | None = None, build_args: dict | None = None, quiet: bool = False) -> bool:
    """Build tag from context unless an image with the same context hash exists. Returns True if built."""
    context = os.path.join(ROOT, context or IMAGES[tag])
    wanted = context_hash(context) + ("-" + hashlib.sha256(repr(sorted((build_args or {}).items())).encode())
                                      .hexdigest()[:8] if build_args else "")
    if image_label(tag) == wanted:
        if not quiet:
            print(f"image {tag}: cached")
        return False
    cmd = ["docker", "build", "-q", "-t", tag, "--label", f"org.odooops.context-hash={wanted}"]
    for key, value in (build_args or {}).items():
        cmd += ["--build-arg", f"{key}={value}"]
    res = subprocess.run(cmd + [context], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"docker build of {tag} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    print(f"image {tag}: built")
    return True


def build_all() -> None:
    build_base()
    for tag in IMAGES:
        build(tag, build_args=BUILD_ARGS.get(tag))
