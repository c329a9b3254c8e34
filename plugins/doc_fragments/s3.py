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
