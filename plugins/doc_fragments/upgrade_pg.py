# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL connection options of the upgrade modules (plugins/module_utils/upgrade/pg.py)."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  login_host:
    description: Host to connect to; empty for the default unix socket.
    type: str
    default: ''
  login_port:
    description: Port.
    type: int
    default: 5432
  login_user:
    description: Role to connect as; creating and renaming databases needs a superuser or the owner with CREATEDB.
    type: str
    default: postgres
  login_password:
    description: Password of O(login_user). Passed to libpq in-process, never on a command line or in a result.
    type: str
    default: ''
  login_unix_socket:
    description: Directory of the unix socket (takes precedence over O(login_host)).
    type: str
    default: ''
  login_db:
    description: Maintenance database to connect to.
    type: str
    default: postgres
  ssl_mode:
    description: libpq sslmode.
    type: str
    default: prefer
    choices: [allow, disable, prefer, require, verify-ca, verify-full]
  ca_cert:
    description: CA certificate to verify the server with (verify-ca, verify-full).
    type: path
  connect_timeout:
    description: Seconds to wait for a connection.
    type: int
    default: 5
requirements:
  - psycopg2 on the target host
"""
