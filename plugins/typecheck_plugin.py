"""For an Airflow plugins folder: the provider's plugin (installed packages load it by entry point instead).

Copy this file into ``$AIRFLOW_HOME/plugins`` when the package is installed without its
entry points being picked up; do not use both ways at once.
"""

from __future__ import annotations

from airflow_provider_typecheck.plugins.typecheck_plugin import TypecheckPlugin

__all__ = ["TypecheckPlugin"]
