#!/usr/bin/env python3
"""Write the fake addons of the Odoo test double: <dest>/<module>/__manifest__.py per addons.json[variant].

Part of the TEST DOUBLE (tests/odoo_double), not of the product.
    make_addons.py <variant> <dest> [addons.json]
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


if __name__ == "__main__":
    main(*sys.argv[1:])
