"""Superset settings for tokenledger's local dashboards (dashboards/README.md).

The metadata database (users, the registered warehouse, saved queries) is a SQLite file in
SUPERSET_HOME (default dashboards/.superset). Set SUPERSET_SECRET_KEY for anything but a laptop.
"""

import os
from pathlib import Path

_HOME = Path(os.environ.get("SUPERSET_HOME", Path(__file__).parent / ".superset")).resolve()
_HOME.mkdir(parents=True, exist_ok=True)

SECRET_KEY = os.environ.get("SUPERSET_SECRET_KEY", "tokenledger-local-dashboards-only")
SQLALCHEMY_DATABASE_URI = f"sqlite:///{_HOME / 'superset.db'}"
# the runner talks to the REST API with a bearer token
WTF_CSRF_ENABLED = False
# no outbound calls from a machine that may have no internet
FEATURE_FLAGS = {"ENABLE_TEMPLATE_PROCESSING": False}
SQLLAB_CTAS_NO_LIMIT = True
