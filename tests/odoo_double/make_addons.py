#!/usr/bin/env python3
"""Write the fake addons of the Odoo test double: <dest>/<module>/__manifest__.py per addons.json[variant].

Part of the TEST DOUBLE (tests/odoo_double), not of the product.
    make_addons.py <variant> <dest> [addons.json]
    make_addons.py --release <series> <dest>/odoo     writes <dest>/odoo/release.py for series "17.0"
"""
import json
import os
import sys


def main(variant: str, dest: str, spec: str | None = None) -> None:
    spec = spec or os.path.join(os.path.dirname(os.path.abspath(__file__)), "addons.json")
    with open(spec, encoding="utf-8") as fh:
        versions = json.load(fh)[variant]
    deps = {"base": [], "web": ["base"], "mail": ["base", "web"], "contacts": ["mail"], "product": ["mail"],
            "stock": ["product"], "sale_management": ["product"], "account": ["product"],
            "point_of_sale": ["stock", "account"], "website_sale": ["sale_management"]}
    for name, version in versions.items():
        os.makedirs(os.path.join(dest, name), exist_ok=True)
        manifest = {"name": name.replace("_", " ").title(), "version": version, "depends": deps.get(name, ["base"]),
                    "license": "LGPL-3", "installable": True, "summary": "odoo test double fake addon"}
        with open(os.path.join(dest, name, "__manifest__.py"), "w", encoding="utf-8") as fh:
            fh.write(repr(manifest) + "\n")
        with open(os.path.join(dest, name, "__init__.py"), "w", encoding="utf-8") as fh:
            fh.write("")


# Odoo keeps its version in odoo/release.py, evaluated at import; base's manifest only says 1.3. The double's
# image carries such a file where an installed Odoo has it (the official image's Debian package); its series
# is what the upgrade gate reads, as text, from a target image.
RELEASE_PY = """# odoo test double: release information, in the shape of an Odoo release module
ALPHA, BETA, RELEASE_CANDIDATE, FINAL = 'alpha', 'beta', 'candidate', 'final'
RELEASE_LEVELS = [ALPHA, BETA, RELEASE_CANDIDATE, FINAL]
_SHOWN = {{ALPHA: 'a', BETA: 'b', RELEASE_CANDIDATE: 'rc', FINAL: ''}}

# (major, minor, micro, level, serial, edition)
version_info = ({major}, {minor}, 0, FINAL, 0, '')
series = serie = major_version = f"{{version_info[0]}}.{{version_info[1]}}"
version = series + _SHOWN[version_info[3]] + str(version_info[4] or '') + version_info[5]
product_name = 'Odoo test double'
"""


def write_release(series: str, dest: str) -> None:
    major, minor = series.split(".")
    os.makedirs(dest, exist_ok=True)
    with open(os.path.join(dest, "release.py"), "w", encoding="utf-8") as fh:
        fh.write(RELEASE_PY.format(major=int(major), minor=int(minor)))


if __name__ == "__main__":
    if sys.argv[1] == "--release":
        write_release(*sys.argv[2:4])
    else:
        main(*sys.argv[1:])
