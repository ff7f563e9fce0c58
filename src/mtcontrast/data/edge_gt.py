"""Which edge ground truth a val split is scored against, and on which images (docs/seism.md §1 step 2, §3).

* ``labelmap_test_new``: SEISM's PASCAL-Context protocol. G = the ``LabelMap`` partition (the prepared
  ``edge_labels`` map), scored as ``thin(seg2bmap(G))`` on the 2,498 ``test_new`` ids only
  (``db_info/PASCALContext_test_new.txt``, a copy of SEISM's ``gt_sets/PASCALContext/test_new.txt``).
* ``prepared_edges``: the prepared binary ``edge`` map on every val image (NYUD, the procedural scenes).
* ``auto``: ``labelmap_test_new`` for real PASCAL-Context data, else ``prepared_edges``. A split counts as the
  procedural scenes when it was prepared from a folder with a ``scenes_manifest.json`` (the prepared
  ``expectations`` attr names it as the source; the ids alone cannot tell, since the scenes' ``2008_…`` ids fall in
  ``test_new`` now and then). ``auto`` also falls back when no evaluated id is in ``test_new`` and, with a warning,
  for a real PASCAL split prepared before ``edge_labels`` existed (re-run ``mtc prepare``).
"""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np

from mtcontrast.data.errors import DataError
from mtcontrast.data.prepared import PreparedSplit

EDGE_GT_CHOICES: tuple[str, ...] = ("auto", "labelmap_test_new", "prepared_edges")
LABELMAP_TEST_NEW = "labelmap_test_new"
PREPARED_EDGES = "prepared_edges"
EDGE_LABELS = "edge_labels"
TEST_NEW_FILE = "PASCALContext_test_new.txt"
PASCAL = "pascal_context"


@functools.cache
def pascal_test_new_ids() -> frozenset[str]:
    """The 2,498 ids of SEISM's PASCAL-Context ``test_new`` set (packaged ``db_info`` copy)."""
    text = (resources.files("mtcontrast.data") / "db_info" / TEST_NEW_FILE).read_text()
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


def is_procedural(split: PreparedSplit) -> bool:
    """Whether ``split`` was prepared from the procedural scenes (its source folder had a ``scenes_manifest.json``,
    which the prepared ``expectations`` attr records as ``source``)."""
    try:
        source = json.loads(split.attrs.get("expectations", "{}")).get("source", "protocol")
    except (TypeError, ValueError, AttributeError):
        return False
    return source != "protocol"


@dataclass(frozen=True)
class EdgeGtPlan:
    """The resolved edge GT: ``kind`` (``labelmap_test_new`` or ``prepared_edges``), the ids scored (``None``: all)
    and why ``auto`` chose it."""

    kind: str
    ids: frozenset[str] | None
    reason: str

    @property
    def labels(self) -> bool:
        """True when the GT is a label image (``EdgeMeter(gt_kind="labels")``), False for binary edges."""
        return self.kind == LABELMAP_TEST_NEW

    @property
    def gt_kind(self) -> str:
        return "labels" if self.labels else "binary"

    @property
    def sample_key(self) -> str:
        """The prepared map that holds this GT (``split[i][sample_key]`` with ``extras`` set accordingly)."""
        return EDGE_LABELS if self.labels else "edge"

    @property
    def extras(self) -> tuple[str, ...]:
        """``PreparedSplit(..., extras=)`` needed to read this GT through ``split[i]``."""
        return (EDGE_LABELS,) if self.labels else ()

    def selects(self, sid: str) -> bool:
        return self.ids is None or sid in self.ids

    def target(self, split: PreparedSplit, index: int, edge: np.ndarray) -> np.ndarray:
        """The GT map of sample ``index``: its ``edge_labels`` map, or ``edge`` (the prepared edges) as given."""
        return split.read_extra(EDGE_LABELS, index) if self.labels else edge


def resolve_edge_gt(choice: str, split: PreparedSplit, ids: Sequence[str] | None = None) -> EdgeGtPlan:
    """Resolve ``eval.edge_gt`` for the val ``split`` whose evaluated ids are ``ids`` (default: all of them).

    An explicit ``labelmap_test_new`` needs real (not procedural) PASCAL-Context data with ``edge_labels`` and some
    id in ``test_new`` (else :class:`DataError`); ``auto`` falls back to ``prepared_edges`` in those cases (see the
    module docstring).
    """
    if choice not in EDGE_GT_CHOICES:
        raise ValueError(f"eval.edge_gt = {choice!r}; expected one of {', '.join(EDGE_GT_CHOICES)}")
    if choice == PREPARED_EDGES:
        return EdgeGtPlan(PREPARED_EDGES, None, "eval.edge_gt")
    evaluated = split.ids if ids is None else list(ids)
    dataset = split.info.dataset
    scored = frozenset(evaluated) & pascal_test_new_ids() if dataset == PASCAL else frozenset()
    if choice == LABELMAP_TEST_NEW:
        if dataset != PASCAL:
            raise DataError(split.path, f"eval.edge_gt=labelmap_test_new is PASCAL-Context's; this split is {dataset}")
        if is_procedural(split):  # their ids are PASCAL-like and a few fall in test_new by chance
            raise DataError(split.path, "procedural scenes have no test_new; use eval.edge_gt=prepared_edges (or auto)")
        if not split.has(EDGE_LABELS):
            raise DataError(split.path, "no LabelMap (edge_labels) in this split, prepared before it; re-run prepare")
        if not scored:
            raise DataError(split.path, "no evaluated val id is in PASCAL-Context test_new; nothing to score")
        return EdgeGtPlan(LABELMAP_TEST_NEW, scored, "eval.edge_gt")
    if dataset != PASCAL:
        return EdgeGtPlan(PREPARED_EDGES, None, f"auto: {dataset} is scored on its prepared edges")
    if is_procedural(split):
        return EdgeGtPlan(PREPARED_EDGES, None, "auto: procedural scenes (no test_new)")
    if not scored:
        return EdgeGtPlan(PREPARED_EDGES, None, "auto: no evaluated id in test_new")
    if not split.has(EDGE_LABELS):
        reason = "auto: real PASCAL-Context split prepared without edge_labels; re-run `mtc prepare` for SEISM's GT"
        warnings.warn(f"{split.path}: {reason}; scoring the prepared edges on all val images", stacklevel=2)
        return EdgeGtPlan(PREPARED_EDGES, None, reason)
    return EdgeGtPlan(LABELMAP_TEST_NEW, scored, "auto: real PASCAL-Context, SEISM test_new")
