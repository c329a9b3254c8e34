# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options of the secrets modules that talk to PostgreSQL (module_utils/postgres/login_rotation.py)."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  login_user:
    description: Superuser (or CREATEROLE role) to connect as.
    type: str
    default: postgres
  login_password:
    description: Its password; not needed over the unix socket with peer authentication.
    type: str
  login_host:
    description: Host to connect to; empty uses the unix socket.
    type: str
    default: ""
  login_unix_socket:
    description: Directory of the unix socket.
    type: str
    default: ""
  port:
    description: Port.
    type: int
    default: 5432
  login_db:
    description: Database to connect to.
    type: str
    default: postgres
  ssl_mode:
    description: libpq sslmode.
    type: str
    default: prefer
    choices: [allow, disable, prefer, require, verify-ca, verify-full]
  connect_timeout:
    description: Seconds to wait for the connection.
    type: int
    default: 10
requirements: [psycopg2]
"""
