"""The provider's Airflow plugin (entry point ``airflow.plugins``)."""
