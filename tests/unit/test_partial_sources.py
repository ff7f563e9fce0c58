"""The regulariser on partially labelled batches (docs/partial-labels.md, "The regulariser"): per-image source choice
among the labelled tasks (``SourceSelector.assign``), the target-without-label path, ``require_target_label`` and
the with / without target-label counts."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from mtcontrast.regularizer import CrossTaskContrast
from mtcontrast.regularizer.sources import SourceSelector
from mtcontrast.tasks import IGNORE_INDEX
from tests.unit.test_regularizer_api import KINDS, plain_batch, plain_feats

TASKS = tuple(KINDS)


def random_flags(rng: np.random.Generator, b: int) -> dict[str, list[bool]]:
    return {t: (rng.random(b) < 0.5).tolist() for t in TASKS}


@pytest.mark.parametrize("mode", ["random", "random_with_self", "fixed", "all"])
def test_a_source_only_ever_supervises_images_that_carry_its_labels(mode: str) -> None:
    fixed = {"seg": "dep", "dep": "nrm", "nrm": "bnd", "bnd": "seg"} if mode == "fixed" else {}
    sel = SourceSelector(mode, TASKS, TASKS, fixed, seed=7)
    rng = np.random.default_rng(0)
    covered_total = 0
    for step in range(300):
        flags = random_flags(rng, 6)
        plan, counts = sel.assign(step, flags)
        for target, pairs in plan.items():
            seen: list[int] = []
            for pair in pairs:
                assert pair.rows is not None or all(flags[pair.source])
                rows = range(6) if pair.rows is None else pair.rows
                assert all(flags[pair.source][b] for b in rows)  # never an unlabelled source on an image
                seen += list(rows)
            if mode in ("random", "random_with_self"):  # one source per image, and every image that has one gets one
                assert len(seen) == len(set(seen))
                reachable = {b for b in range(6) if any(flags[s][b] for s in sel.candidates(target))}
                assert set(seen) == reachable
            covered_total += len(set(seen))
        assert counts["with_target_label"] + counts["without_target_label"] + counts["skipped"] == 6 * 4
    assert covered_total > 0


def test_the_redraw_is_uniform_over_the_labelled_candidates_and_reproducible() -> None:
    sel = SourceSelector("random", TASKS, TASKS, {}, seed=3)
    flags = {"seg": [True] * 8, "dep": [False] * 8, "nrm": [True] * 8, "bnd": [True] * 8}
    picks: Counter[str] = Counter()
    for step in range(1500):
        plan, _ = sel.assign(step, flags)
        for pair in plan["dep"]:  # target dep: candidates seg, nrm, bnd, all labelled, and no fallback needed
            picks[pair.source] += 8 if pair.rows is None else len(pair.rows)
        for pair in plan["seg"]:  # target seg: dep is never labelled, so its share goes to nrm and bnd
            assert pair.source in ("nrm", "bnd")
            picks["seg<-" + pair.source] += 8 if pair.rows is None else len(pair.rows)
    n = 1500 * 8
    for s in ("seg", "nrm", "bnd"):
        assert abs(picks[s] - n / 3) < 0.05 * n
    assert abs(picks["seg<-nrm"] - n / 2) < 0.05 * n and picks["seg<-nrm"] + picks["seg<-bnd"] == n
    assert sel.assign(11, flags) == sel.assign(11, flags)


def test_full_labels_give_exactly_the_step_draw() -> None:
    sel = SourceSelector("random", TASKS, TASKS, {}, seed=5)
    for step in range(20):
        plan, counts = sel.assign(step, dict.fromkeys(TASKS, [True] * 3))
        assert {t: tuple(p.source for p in pairs) for t, pairs in plan.items()} == sel.draw(step)
        assert all(p.rows is None for pairs in plan.values() for p in pairs)
        assert counts == {"with_target_label": 12, "without_target_label": 0, "skipped": 0}


def test_require_target_label_skips_the_images_without_it() -> None:
    sel = SourceSelector("random", TASKS, TASKS, {}, seed=0)
    flags = {"seg": [True, False, False], "dep": [True, True, True], "nrm": [True, True, True], "bnd": [True] * 3}
    plan, counts = sel.assign(4, flags, require_target_label=True)
    assert all(p.rows == (0,) for p in plan["seg"])
    assert counts == {"with_target_label": 10, "without_target_label": 0, "skipped": 2}
    _, counts = sel.assign(4, flags)
    assert counts == {"with_target_label": 10, "without_target_label": 2, "skipped": 0}


def test_mismatched_flag_lengths_are_refused() -> None:
    sel = SourceSelector("random", TASKS, TASKS, {}, seed=0)
    with pytest.raises(ValueError, match="one flag per batch image"):
        sel.assign(0, {"seg": [True, True], "dep": [True]})


def _drop(batch: dict[str, torch.Tensor], task: str, images: list[int]) -> dict[str, torch.Tensor]:
    out = dict(batch)
    out[task] = batch[task].clone()
    out[task][images] = IGNORE_INDEX if KINDS[task] in ("discrete", "boundary") else 0
    return out


def test_a_target_without_its_own_label_still_gets_a_finite_nonzero_term() -> None:
    torch.manual_seed(0)
    reg = CrossTaskContrast(KINDS, dict.fromkeys(KINDS, 8), stride=4, targets=("seg",), anchors_per_image=8)
    batch = _drop(plain_batch(), "seg", [0, 1])  # no image has its semseg label
    flags = {"seg": [False, False], "dep": [True, True], "nrm": [True, True], "bnd": [True, True]}
    feats = plain_feats()
    out = reg(feats, batch, 3, labelled=flags)
    assert torch.isfinite(out.raw) and out.raw.item() > 0
    assert out.stats["contrast/images_without_target_label"] == 2.0
    assert out.stats["contrast/images_with_target_label"] == 0.0
    out.loss.backward()
    assert feats["seg"].grad is not None and feats["seg"].grad.abs().sum() > 0
    # the regulariser never reads the target's own map: the same term as with the label present
    full = reg(feats, plain_batch(), 3, labelled={**flags, "seg": [True, True]})
    assert torch.equal(full.raw, out.raw)
    # ... and with require_target_label those images contribute nothing: an exact zero, still differentiable
    strict = CrossTaskContrast(
        KINDS, dict.fromkeys(KINDS, 8), stride=4, targets=("seg",), anchors_per_image=8, require_target_label=True
    )
    zero = strict(feats, batch, 3, labelled=flags)
    assert zero.raw.item() == 0.0 and zero.stats["contrast/images_skipped"] == 2.0
    zero.loss.backward()


def test_an_unlabelled_step_source_is_replaced_per_image() -> None:
    torch.manual_seed(0)
    reg = CrossTaskContrast(KINDS, dict.fromkeys(KINDS, 8), stride=4, targets=("seg",), anchors_per_image=8)
    (drawn,) = reg.selector.draw(3)["seg"]
    batch = _drop(plain_batch(), drawn, [1])  # image 1 lacks the step's source
    flags = {t: [True, t != drawn] for t in TASKS}
    out = reg(plain_feats(), batch, 3, labelled=flags)
    plan, _ = reg.selector.assign(3, flags)
    assert [(p.source, p.rows) for p in plan["seg"]][0] == (drawn, (0,))
    (other,) = [p for p in plan["seg"][1:]]
    assert other.source not in (drawn, "seg") and other.rows == (1,)
    assert set(out.pair_losses) == {f"seg_from_{drawn}", f"seg_from_{other.source}"}
    assert out.stats["contrast/images_with_target_label"] == 2.0
    # without the flags the image would simply have had no valid source pixel: fewer triplets
    blind = reg(plain_feats(), batch, 3)
    assert blind.stats["contrast/triplets"] < out.stats["contrast/triplets"]
