"""mtcontrast: cross-task contrastive regularisation for multi-task dense prediction.

Importing the package pins the process to offline, telemetry-free behaviour (the project never downloads weights
or data at run time); explicit user settings of the same variables win. This is the only place these defaults are
set: stages, flows, the CLI and the tests get them by importing ``mtcontrast`` before MLflow or Prefect.
"""

import os as _os

for _key, _value in {
    "HF_HUB_OFFLINE": "1",
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",  # the first temporary Prefect server takes ~20 s
}.items():
    _os.environ.setdefault(_key, _value)

__version__ = "0.1.0"
