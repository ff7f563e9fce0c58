"""The run's MLflow logged model: a pyfunc whose one artifact is the weights-only ``host.pt``.

Why not ``mlflow.pytorch.log_model``: it pickles the whole module, so a run stored the weights twice (the pickled
model and ``inference/host.pt``, 2 × 48 MB per resnet18 training). Here the weights exist once, as ``host.pt``
(:func:`mtcontrast.engine.trained.save_host`), and loading them is :func:`load_trained` (``weights_only``): the
only pickle is this small wrapper object (``python_model.pkl``), written by MLflow's cloudpickle on purpose.

    model = mlflow.pyfunc.load_model(run.data.tags["mtc.model_uri"])
    final = model.predict(images)   # images: B×3×H×W float32, ImageNet-normalised; {task: B×C×H×W}
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import numpy as np

HOST_ARTIFACT = "host"  # key of host.pt in the pyfunc's artifacts


class HostModel(mlflow.pyfunc.PythonModel):
    """``predict(images)`` → ``{task: logits}`` of the exported host, rebuilt from ``host.pt`` at load."""

    def load_context(self, context: Any) -> None:
        from mtcontrast.engine.trained import load_trained

        self.trained = load_trained(context.artifacts[HOST_ARTIFACT])

    # The signature is logged explicitly (a B×3×H×W tensor). MLflow's type-hint schema inference has no such type:
    # with hints it warns when the model is logged, without them (and without this flag) when this class is defined.
    _skip_type_hint_validation = True

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]  # noqa: ANN001
        import torch

        images = torch.as_tensor(np.asarray(model_input, dtype=np.float32))
        with torch.no_grad():
            final = self.trained.host(images)["final"]
        return {task: value.numpy() for task, value in final.items()}
