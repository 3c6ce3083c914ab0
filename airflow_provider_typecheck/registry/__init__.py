"""The stores shared by the workers, the REST API and the operators.

One module per store: :mod:`.schemas` (versioned JSON Schemas in MongoDB or
PostgreSQL), :mod:`.users` and :mod:`.security` (accounts and JWT, PostgreSQL),
:mod:`.tasks` (validation task status, Redis) and :mod:`.cache` (the active-schema
cache, Redis). Every store reaches its service through Airflow's own hook, so a
deployment configures it as an Airflow connection.

Nothing here connects at import; import the module you need.
"""

from __future__ import annotations
