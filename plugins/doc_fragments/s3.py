# Copyright: odooops.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options shared by every module that talks to S3 object storage (spec: module_utils/backup/s3.py)."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  endpoint_url:
    description:
      - URL of the S3 API. Leave unset for AWS itself.
      - Falls back to the environment variable E(S3_ENDPOINT_URL).
    type: str
    aliases: [s3_url]
  region:
    description: Region of the bucket. Falls back to E(AWS_DEFAULT_REGION) or E(AWS_REGION).
    type: str
    default: us-east-1
  access_key:
    description: Access key id. Falls back to E(AWS_ACCESS_KEY_ID). Never logged.
    type: str
  secret_key:
    description: Secret access key. Falls back to E(AWS_SECRET_ACCESS_KEY). Never logged.
    type: str
  validate_certs:
    description: Verify the endpoint's TLS certificate.
    type: bool
    default: true
  ca_bundle:
    description: CA bundle (PEM) to verify the endpoint's certificate with.
    type: path
  bucket:
    description: Bucket holding the backups.
    type: str
    required: true
  prefix:
    description: Key prefix under which backups live (C(<prefix><database>/<backup id>/<part>)).
    type: str
    default: backups/
requirements:
  - boto3
"""

    # PostgreSQL connection used by the backup modules (same option names as community.postgresql). Named
    # backup_postgres, not postgres: "odooops.hosting.s3.postgres" resolved to doc_fragments/postgres.py instead
    BACKUP_POSTGRES = r"""
options:
  login_host:
    description:
      - Host (or comma-separated host list) of PostgreSQL. Empty means the local unix socket.
      - With a host list, the first connection goes to the server that accepts writes (target_session_attrs
        read-write), and every other connection and client tool (pg_dump, pg_restore) of the task is aimed at
        that server alone, never at the list again.
    type: str
    default: ''
  login_port:
    description: Port of PostgreSQL.
    type: int
    default: 5432
  login_user:
    description: Role to connect as.
    type: str
    default: postgres
    aliases: [login]
  login_password:
    description: Password of O(login_user). Passed to pg_dump/pg_restore through a 0600 pgpass file, never argv.
    type: str
    default: ''
  login_unix_socket:
    description: Directory of the unix socket when O(login_host) is empty.
    type: str
    default: ''
  connect_timeout:
    description: Seconds to wait for a connection.
    type: int
    default: 10
  ssl_mode:
    description: libpq sslmode.
    type: str
    default: prefer
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  ca_cert:
    description: CA certificate to verify the server with (libpq sslrootcert).
    type: path
    aliases: [ssl_rootcert]
  pg_bin_dir:
    description: Directory of pg_dump/pg_restore. Default the newest /usr/lib/postgresql/*/bin, else PATH.
    type: path
requirements:
  - psycopg2
"""

    # client-side encryption keys
    KEYS = r"""
options:
  encryption_keys:
    description:
      - Key ring, usually the inventory variable C(odooops_backup_keys) from the vault; each key is base64 of 32
        random bytes.
      - Old keys stay in the ring so older backups can still be read.
    type: list
    elements: dict
    default: []
    suboptions:
      id:
        description: Key id, recorded in the backup manifest.
        type: str
        required: true
      key:
        description: Base64 of 32 random bytes. Never logged.
        type: str
        required: true
"""
