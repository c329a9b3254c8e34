# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Base of the backup modules: AnsibleModule + library checks + S3 client + PostgreSQL + key ring.

Domain exceptions from the backup module_utils are turned into one fail_json here.
"""
from __future__ import annotations

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.odooops.hosting.plugins.module_utils.backup.backup import BackupError
from ansible_collections.odooops.hosting.plugins.module_utils.backup.catalog import CatalogError
from ansible_collections.odooops.hosting.plugins.module_utils.backup.crypto import BackupCryptoError, parse_key_ring
from ansible_collections.odooops.hosting.plugins.module_utils.backup.restore import RestoreError
from ansible_collections.odooops.hosting.plugins.module_utils.backup.s3 import S3Error, s3_argument_spec, s3_client
from ansible_collections.odooops.hosting.plugins.module_utils.postgres.connection import PgConn, PostgresError
from ansible_collections.odooops.hosting.plugins.module_utils.postgres.connection import (
    argument_spec as pg_argument_spec,
)

LIBS = {"boto3": "boto3", "psycopg2": "psycopg2", "cryptography": "cryptography"}
DOMAIN_ERRORS = (BackupError, RestoreError, CatalogError, BackupCryptoError, PostgresError, S3Error)


def key_spec() -> dict:
    return dict(encryption_keys=dict(type="list", elements="dict", default=[], no_log=False,
                                     options=dict(id=dict(type="str", required=True, no_log=False),
                                                  key=dict(type="str", required=True, no_log=True))))


class BackupModule:
    def __init__(self, argument_spec: dict, *, postgres: bool = False, keys: bool = False, libs=("boto3",),
                 bucket_required: bool = True, **kwargs):
        spec = s3_argument_spec()
        spec["bucket"]["required"] = bucket_required
        if postgres:
            spec.update(pg_argument_spec())
            spec["pg_bin_dir"] = dict(type="path")
        if keys:
            spec.update(key_spec())
        spec.update(argument_spec)
        self.module = AnsibleModule(argument_spec=spec, **kwargs)
        self.params = self.module.params
        for lib in libs:
            try:
                __import__(lib)
            except ImportError:
                self.module.fail_json(msg=missing_required_lib(LIBS[lib]), exception=traceback.format_exc())

    @property
    def check_mode(self) -> bool:
        return self.module.check_mode

    def s3(self, prefix: str = ""):
        p = self.params
        return s3_client(endpoint_url=p[prefix + "endpoint_url"], region=p[prefix + "region"],
                         access_key=p[prefix + "access_key"], secret_key=p[prefix + "secret_key"],
                         validate_certs=p[prefix + "validate_certs"], ca_bundle=p[prefix + "ca_bundle"])

    def pg(self) -> PgConn:
        return PgConn.from_params(self.params, "odooops-backup")

    def key_ring(self) -> dict:
        return parse_key_ring(self.params.get("encryption_keys"))

    def execute(self, run) -> None:
        """run(self) -> result dict; domain errors become one fail_json with an actionable message."""
        try:
            result = run(self)
        except DOMAIN_ERRORS as exc:
            self.module.fail_json(msg=str(exc))
        self.module.exit_json(**result)
