"""Prefect flows of mtcontrast: ``train_eval`` (DVC prepare → train → evaluate → report), ``ablation`` (a grid of
regulariser settings as nested MLflow runs) and ``schedule`` (serves both with cron schedules on a local server).

Importing the package (``python -m pipelines.<flow>``) sets offline defaults before Prefect loads its settings.
"""

import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")  # first temporary server ~20 s
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
