-- Airflow's metadata database, beside the `typecheck` database of the package's own tables.
CREATE DATABASE airflow OWNER typecheck;
