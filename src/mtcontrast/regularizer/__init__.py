"""The cross-task contrastive regulariser (docs/method.md §3): a training-only loss term with its projectors.

Modules: ``sources`` (which source supervises each target per step), ``grid`` (labels on the feature grid),
``criteria`` (positives / negatives from source labels), ``sampling`` (anchors and pairs), ``projectors``,
``objectives`` (triplet / InfoNCE / SupCon) and ``module`` (``CrossTaskContrast``, which ties them together).
"""

from mtcontrast.regularizer.criteria import SourceCriterion
from mtcontrast.regularizer.grid import GridLabels, labels_full_res, labels_on_grid
from mtcontrast.regularizer.module import ContrastOutput, CrossTaskContrast, bilinear_read
from mtcontrast.regularizer.projectors import ProjectionHead, ProjectorBank
from mtcontrast.regularizer.sources import SourceSelector, step_seed

__all__ = [
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
