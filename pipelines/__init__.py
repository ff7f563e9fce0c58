"""Prefect flows of mtcontrast: ``train_eval`` (the DVC pipeline as Prefect tasks), ``ablation`` (a grid of
regulariser settings as nested MLflow runs) and ``schedule`` (serves both with cron schedules on a local server).

An installed package beside ``mtcontrast`` (``mtc ablate`` imports it from any directory). Importing it imports
``mtcontrast`` first, whose offline, telemetry-free env defaults must exist before Prefect loads its settings.
"""

import mtcontrast  # noqa: F401  (env defaults before any Prefect import)
