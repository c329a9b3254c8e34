# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options of every module that talks to PostgreSQL (plugins/module_utils/postgres/connection.py)."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  login_user:
    description: Role to connect as.
    type: str
    default: postgres
    aliases: [login]
  login_password:
    description:
      - Password of O(login_user). Passed to libpq as a keyword, or to the client tools (pg_dump, pg_restore)
        through a 0600 passfile; never on a command line nor in a result.
      - Leave empty to use peer authentication over the socket or a passfile (C(PGPASSFILE)).
    type: str
    default: ''
  login_host:
    description:
      - Host to connect to, a socket directory, or a comma-separated host list. Takes precedence over
        O(login_unix_socket); empty means O(login_unix_socket), else libpq's default socket.
      - With a host list, the first connection goes to the server that accepts writes (target_session_attrs
        read-write), and every other connection and client tool of the task is aimed at that server alone,
        never at the list again.
    type: str
    default: ''
  login_port:
    description: Port to connect to.
    type: int
    default: 5432
    aliases: [port]
  login_db:
    description: Database to connect to first (the maintenance database).
    type: str
    default: postgres
  login_unix_socket:
    description: Directory of the local socket, used when O(login_host) is empty.
    type: str
    default: ''
  ssl_mode:
    description: libpq sslmode of the connection.
    type: str
    default: prefer
    choices: [allow, disable, prefer, require, verify-ca, verify-full]
  ca_cert:
    description: CA certificate to verify the server with (O(ssl_mode=verify-ca) or V(verify-full)).
    type: path
    aliases: [ssl_rootcert]
  connect_timeout:
    description: Seconds to wait for a connection (libpq connect_timeout).
    type: int
    default: 5
requirements:
  - psycopg2 on the host that runs the module
"""

    # the PostgreSQL client tools, for the modules that run them (backup, restore)
    CLIENT_TOOLS = r"""
options:
  pg_bin_dir:
    description: Directory of pg_dump/pg_restore. Default the newest /usr/lib/postgresql/*/bin, else PATH.
    type: path
"""
