"""The cross-task contrastive regulariser (docs/method.md §3): a training-only loss term with its projectors.

Public API (docs/regulariser-api.md): ``CrossTaskContrast(tasks={name: kind}, channels={name: C}, stride=4,
**options)``; ``forward(features, labels, step)`` returns λ·loss and diagnostics; ``param_groups(lr)``.
Importing it needs torch and numpy only (no DVC / MLflow / Prefect).

Modules: ``sources`` (which source supervises each target per step), ``grid`` (labels on the feature grid),
``criteria`` (positives / negatives from source labels), ``sampling`` (anchors and pairs), ``projectors``,
``objectives`` (triplet / InfoNCE / SupCon) and ``module`` (``CrossTaskContrast``, which ties them together).
"""

from mtcontrast.regularizer.criteria import SourceCriterion
from mtcontrast.regularizer.grid import LABEL_KINDS, SOURCE_KINDS, GridLabels, labels_full_res, labels_on_grid
from mtcontrast.regularizer.module import ContrastOutput, CrossTaskContrast, bilinear_read
from mtcontrast.regularizer.options import ContrastOptions
from mtcontrast.regularizer.projectors import ProjectionHead, ProjectorBank
from mtcontrast.regularizer.sources import SourceSelector, step_seed

__all__ = [
    "LABEL_KINDS",
    "SOURCE_KINDS",
    "ContrastOptions",
    "ContrastOutput",
    "CrossTaskContrast",
    "GridLabels",
    "ProjectionHead",
    "ProjectorBank",
    "SourceCriterion",
    "SourceSelector",
    "bilinear_read",
    "labels_full_res",
    "labels_on_grid",
    "step_seed",
]
