# The official Airflow 3.3 image with this provider installed: one image for the Airflow
# services, the typecheck workers and the standalone REST API (see docker-compose.yml).
FROM apache/airflow:3.3.2-python3.11
USER root
# A C compiler builds the native pre-scan; without one the package still installs, slower.
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
# The mount points of docker-compose's named volumes: a new volume takes their owner, so
# the airflow user can write the data directory and the file store.
RUN mkdir -p /opt/airflow/data /data/typecheck && chown airflow:root /opt/airflow/data /data/typecheck
USER airflow
COPY --chown=airflow:root . /opt/typecheck
RUN pip install --no-cache-dir "/opt/typecheck"
