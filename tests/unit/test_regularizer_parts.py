"""Building blocks of the regulariser on hand-made tensors: grid reductions, criteria, sampling, objectives,
source selection and projectors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mtcontrast.config import ContrastParams, ParamsError, load_params
from mtcontrast.regularizer import (
    ProjectionHead,
    ProjectorBank,
    SourceCriterion,
    SourceSelector,
    bilinear_read,
    labels_full_res,
    labels_on_grid,
)
from mtcontrast.regularizer.criteria import fibonacci_sphere
from mtcontrast.regularizer.grid import GridLabels, infer_stride
from mtcontrast.regularizer.objectives import info_nce, sup_con, triplet
from mtcontrast.regularizer.sampling import (
    draw_anchors,
    draw_candidates,
    draw_same_and_other,
    mine,
    pick,
    strata,
)
from mtcontrast.tasks import DATASETS

NYUD, PASCAL = DATASETS["nyudv2"].tasks, DATASETS["pascal_context"].tasks


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- labels on the feature grid
def test_edge_survives_max_pool_where_nearest_would_lose_it() -> None:
    edge = torch.zeros(1, 8, 8, dtype=torch.long)
    edge[0, :, 1] = 1  # a one-pixel line, away from the cell centres (offset 2)
    grid = labels_on_grid("edge", edge, (2, 2), 4)
    assert grid.values.tolist() == [[1, 0, 1, 0]]
    assert grid.valid.all()
    assert labels_on_grid("semseg", edge, (2, 2), 4).values.tolist() == [[0, 0, 0, 0]]  # nearest misses it


def test_edge_padding_cells_are_invalid() -> None:
    edge = torch.full((1, 8, 8), 255, dtype=torch.long)
    edge[0, :4, :4] = 0
    edge[0, 5, 6] = 1  # one valid pixel in a padded cell keeps it valid
    grid = labels_on_grid("edge", edge, (2, 2), 4)
    assert grid.valid.tolist() == [[True, False, False, True]]
    assert grid.values[0, 3].item() == 1


def test_depth_cells_need_half_valid_and_average_log_depth() -> None:
    e = math.e
    depth = torch.tensor([[1.0, 1.0, 1.0, e**2], [1.0, 1.0, 0.0, 0.0], [5.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    grid = labels_on_grid("depth", depth.view(1, 1, 4, 4), (2, 2), 2)
    assert grid.valid.tolist() == [[True, True, False, False]]  # 4/4, 2/4 valid; 1/4 and 0/4 are not
    assert grid.values[0, 0].item() == pytest.approx(0.0)
    assert grid.values[0, 1].item() == pytest.approx(1.0)  # mean of ln 1 and ln e² (geometric mean e)


def test_normals_cells_average_and_renormalise() -> None:
    n = torch.zeros(1, 3, 2, 4)
    n[0, 0, 0, 0] = 1.0
    n[0, 1, 1, 0] = 1.0  # cell 0: (1,0,0) and (0,1,0), half the cell valid
    n[0, 2, 0, 2] = 1.0  # cell 1: a single valid pixel of four
    grid = labels_on_grid("normals", n, (1, 2), 2)
    assert grid.valid.tolist() == [[True, False]]
    assert grid.values[0, 0].tolist() == pytest.approx([1 / math.sqrt(2), 1 / math.sqrt(2), 0.0])


def test_discrete_nearest_takes_the_cell_centre_and_keeps_ignore() -> None:
    lab = torch.arange(16).view(1, 4, 4)
    lab[0, 3, 3] = 255
    grid = labels_on_grid("semseg", lab, (2, 2), 2)
    assert grid.values.tolist() == [[5, 7, 13, 255]]
    assert grid.valid.tolist() == [[True, True, True, False]]


def test_labels_are_padded_to_the_grid_and_saliency_binarised() -> None:
    sal = torch.tensor([[[0, 1, 1, 1, 1, 1]]])  # 1×1×6; grid of width 2 at stride 4 covers 8 columns
    grid = labels_on_grid("sal", sal.expand(1, 4, 6), (1, 2), 4)
    assert grid.values.tolist() == [[1, 0]]
    assert grid.valid.tolist() == [[True, False]]  # centre column 6 is padding


def test_full_res_labels_keep_every_pixel() -> None:
    depth = torch.tensor([[[[2.0, 0.0], [1.0, 4.0]]]])
    grid = labels_full_res("depth", depth)
    assert grid.valid.tolist() == [[True, False, True, True]]
    assert grid.values[0].tolist() == pytest.approx([math.log(2), 0.0, 0.0, math.log(4)])
    assert grid.size == (2, 2) and grid.stride == 1


def test_stride_inference_and_bad_labels() -> None:
    assert infer_stride((128, 160), (32, 40)) == 4
    assert infer_stride((8, 8), (2, 2)) == 4  # s = 4..7 all fit; the exact divisor wins
    assert infer_stride((70, 101), (18, 26)) == 4  # ⌈70/4⌉ = 18, ⌈101/4⌉ = 26 (host grid over padding)
    assert infer_stride((72, 100), (24, 32), 4) == 4
    with pytest.raises(ValueError, match="cannot infer the feature stride"):
        infer_stride((72, 100), (24, 32))
    with pytest.raises(ValueError, match="cannot infer the feature stride"):
        infer_stride((9, 9), (2, 2))  # s = 5..8 fit, none exact
    with pytest.raises(ValueError, match=r"labels\['normals'\] \(normals\): expected a B×3×H×W tensor"):
        labels_on_grid("normals", torch.ones(1, 1, 4, 4), (2, 2), 2)
    with pytest.raises(ValueError, match=r"labels\['seg'\] \(discrete\): expected a B×H×W or B×1×H×W tensor"):
        labels_on_grid("seg", torch.ones(1, 2, 4, 4), (2, 2), 2, kind="discrete")
    # B×H×W depth and B×1×H×W class maps are the same labels as their canonical layouts
    depth = torch.rand(2, 4, 4) + 0.5
    a, b = labels_on_grid("depth", depth, (2, 2), 2), labels_on_grid("depth", depth[:, None], (2, 2), 2)
    assert torch.equal(a.values, b.values) and torch.equal(a.valid, b.valid)
    sem = torch.randint(0, 3, (2, 4, 4))
    assert torch.equal(
        labels_on_grid("semseg", sem[:, None], (2, 2), 2).values, labels_on_grid("semseg", sem, (2, 2), 2).values
    )


# ---------------------------------------------------------------- positive / negative criteria
def test_discrete_and_binary_rule() -> None:
    crit = SourceCriterion("semseg", ContrastParams())
    y_a = torch.tensor([[3]])
    y_q = torch.tensor([[[3, 4, 3, 0]]])
    mask = torch.tensor([[[True, True, False, True]]])  # the third is ignore / self
    pos, neg = crit.relation(y_a, y_q, mask)
    assert pos.tolist() == [[[True, False, False, False]]]
    assert neg.tolist() == [[[False, True, False, True]]]
    pos, neg = SourceCriterion("edge", ContrastParams()).relation(
        torch.tensor([[1]]), torch.tensor([[[1, 0]]]), torch.ones(1, 1, 2, dtype=torch.bool)
    )
    assert pos.tolist() == [[[True, False]]] and neg.tolist() == [[[False, True]]]


def _depth_relation(rule: str, anchor: float, cands: list[float]) -> tuple[list[bool], list[bool]]:
    crit = SourceCriterion("depth", ContrastParams(depth_rule=rule))
    y_a = torch.tensor([[math.log(anchor)]])
    y_q = torch.tensor([[[math.log(c) for c in cands]]])
    pos, neg = crit.relation(y_a, y_q, torch.ones_like(y_q, dtype=torch.bool))
    return pos[0, 0].tolist(), neg[0, 0].tolist()


def test_depth_log_abs_rule() -> None:
    pos, neg = _depth_relation("log_abs", 2.0, [2.05, 1.96, 2.2, 3.0, 1.6, 1.7])
    # δ = 0.0247, 0.0202 (≤ ln 1.05) | 0.0953, 0.1625 (gap) | 0.405, 0.223 (≥ 0.223)
    assert pos == [True, True, False, False, False, False]
    assert neg == [False, False, False, True, True, False]


def test_depth_rel_rule() -> None:
    pos, neg = _depth_relation("rel", 2.0, [2.08, 1.95, 2.3, 2.6, 1.4])
    # |d_q − d_a| / d_a = 0.04, 0.025 | 0.15 | 0.30, 0.30
    assert pos == [True, True, False, False, False]
    assert neg == [False, False, False, True, True]


def test_depth_quantile_rule_is_per_row_and_scale_free() -> None:
    crit = SourceCriterion("depth", ContrastParams(depth_rule="quantile", depth_quantiles=(0.1, 0.5)))
    deltas = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0])
    y_a = torch.tensor([[0.0], [0.0]])
    y_q = torch.stack((deltas, 10 * deltas)).view(2, 1, 5)
    mask = torch.ones(2, 1, 5, dtype=torch.bool)
    pos, neg = crit.relation(y_a, y_q, mask)  # τ⁺ = 0.4·scale, τ⁻ = 2·scale per row
    assert pos[:, 0].tolist() == [[True, False, False, False, False]] * 2
    assert neg[:, 0].tolist() == [[False, False, True, True, True]] * 2


def test_depth_bins_encode_log_spaced_codes() -> None:
    crit = SourceCriterion("depth", ContrastParams(depth_rule="bins"))
    d = torch.tensor([[0.5, 0.7, 1.0, 10.0, 30.0]])
    labels = GridLabels("depth", d.log(), torch.ones_like(d, dtype=torch.bool), (1, 5), 1)
    enc = crit.encode(labels)
    assert enc.kind == "discrete" and crit.discrete
    assert enc.values.tolist() == [[0, 0, 5, 39, 39]]  # 40·ln(1/0.7)/ln(10/0.7) = 5.36


def test_normals_angle_rule() -> None:
    crit = SourceCriterion("normals", ContrastParams())
    angles = torch.deg2rad(torch.tensor([10.0, 20.0, 30.5, 45.0, 180.0]))
    y_q = torch.stack((angles.sin(), torch.zeros(5), angles.cos()), dim=-1).view(1, 1, 5, 3)
    y_a = torch.tensor([[[0.0, 0.0, 1.0]]])
    pos, neg = crit.relation(y_a, y_q, torch.ones(1, 1, 5, dtype=torch.bool))
    assert pos[0, 0].tolist() == [True, False, False, False, False]
    assert neg[0, 0].tolist() == [False, False, True, True, True]

    # relation compares cosines; it must agree with the angle of docs/method.md §3.5, here in the stable atan2 form
    g = torch.Generator().manual_seed(0)
    y_a = F.normalize(torch.randn(4, 50, 3, generator=g), dim=-1)
    y_q = F.normalize(y_a.unsqueeze(2) + 0.6 * torch.randn(4, 50, 64, 3, generator=g), dim=-1)
    pos, neg = crit.relation(y_a, y_q, torch.ones(4, 50, 64, dtype=torch.bool))
    d, m = y_a.unsqueeze(2) - y_q, y_a.unsqueeze(2) + y_q
    angle = torch.rad2deg(2.0 * torch.atan2(d.norm(dim=-1), m.norm(dim=-1)))
    clear = ((angle - 11.25).abs() > 1e-3) & ((angle - 30.0).abs() > 1e-3)
    assert pos.any() and neg.any() and (~pos & ~neg).any()
    assert torch.equal(pos[clear], (angle <= 11.25)[clear]) and torch.equal(neg[clear], (angle >= 30.0)[clear])


def test_normals_clusters_map_each_centroid_to_itself() -> None:
    c = fibonacci_sphere(40)
    assert c.norm(dim=1).tolist() == pytest.approx([1.0] * 40, abs=1e-6)
    crit = SourceCriterion("normals", ContrastParams(normals_rule="clusters"))
    labels = GridLabels("normals", c.unsqueeze(0), torch.ones(1, 40, dtype=torch.bool), (1, 40), 1)
    assert crit.encode(labels).values.tolist() == [list(range(40))]


# ---------------------------------------------------------------- sampling
def test_anchors_split_evenly_across_classes_without_replacement() -> None:
    values = torch.cat((torch.zeros(90), torch.ones(10))).long().view(1, 100)
    labels = GridLabels("discrete", values, torch.ones(1, 100, dtype=torch.bool), (10, 10), 1)
    idx, ok = draw_anchors(strata(labels, balance=True), 20, gen())
    assert ok.all() and idx.unique().numel() == 20
    assert int((values[0, idx[0]] == 1).sum()) == 10
    idx, ok = draw_anchors(strata(labels, balance=True), 30, gen())  # class 1 runs out at 10
    assert int((values[0, idx[0]] == 1).sum()) == 10 and idx.unique().numel() == 30


def test_anchors_skip_invalid_cells_and_empty_rows() -> None:
    values = torch.zeros(2, 6, dtype=torch.long)
    valid = torch.tensor([[True, False, True, False, True, False], [False] * 6])
    idx, ok = draw_anchors(strata(GridLabels("discrete", values, valid, (2, 3), 1), True), 4, gen())
    assert ok.tolist() == [[True, True, True, False], [False] * 4]
    assert sorted(idx[0, :3].tolist()) == [0, 2, 4]


def test_depth_and_normal_strata() -> None:
    d = torch.arange(1, 17, dtype=torch.float32).log().view(1, 16)
    ids = strata(GridLabels("depth", d, torch.ones(1, 16, dtype=torch.bool), (4, 4), 1), True)
    assert ids.tolist() == [[0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]]
    n = torch.tensor([[[0.9, 0.1, 0], [-0.9, 0.1, 0], [0.1, 0.9, 0], [0.1, -0.9, 0], [0, 0, 1.0], [0, 0, -1.0]]])
    ids = strata(GridLabels("normals", n, torch.ones(1, 6, dtype=torch.bool), (1, 6), 1), True)
    assert ids.tolist() == [[0, 1, 2, 3, 4, 5]]


def test_same_and_other_draws_are_exact() -> None:
    values = torch.tensor([[0, 1, 0, 2, 1, 0, 9]])
    valid = torch.tensor([[True, True, True, True, True, True, False]])
    anchors = torch.tensor([[1, 3, 0]])  # class 1 (partner 4), class 2 (singleton), class 0
    pos, neg = draw_same_and_other(values, valid, anchors, 50, 3000, gen())
    assert set(pos.idx[0, 0].tolist()) == {4} and pos.ok[0, 0].all()
    assert not pos.ok[0, 1].any()  # no other pixel of class 2
    assert set(pos.idx[0, 2].tolist()) == {2, 5}
    counts = torch.bincount(neg.idx[0, 0], minlength=7).tolist()  # uniform over cells 0, 2, 3, 5
    assert counts[1] == counts[4] == counts[6] == 0
    assert all(abs(counts[i] - 750) < 120 for i in (0, 2, 3, 5))
    assert set(neg.idx[0, 2].tolist()) == {1, 3, 4}


def test_candidates_exclude_the_anchor_and_invalid_cells() -> None:
    valid = torch.tensor([[True, False, True, True]])
    cand = draw_candidates(valid, torch.tensor([[0]]), 400, gen())
    assert set(cand.idx.flatten().tolist()) == {0, 2, 3}
    assert cand.ok[0, 0].tolist() == (cand.idx[0, 0] != 0).tolist()


def test_pick_respects_mask_and_score() -> None:
    mask = torch.tensor([[False, True, False, True], [False, False, False, False]])
    draws = pick(mask, 1)
    assert draws.idx[0, 0].item() in (1, 3) and draws.ok.tolist() == [[True], [False]]
    score = torch.tensor([[5.0, 1.0, 9.0, 2.0], [0.0, 0.0, 0.0, 0.0]])
    assert pick(mask, 1, score=score).idx[0, 0].item() == 3


def test_the_first_qualifying_candidate_is_a_uniform_draw_from_the_qualifying_set() -> None:
    """Candidates are independent uniform draws, so the first positive (and the first negative) of each pool is
    uniform over P(a) (N(a)), as a random choice among the pool's positives would be: no random numbers needed."""
    valid = torch.ones(1, 10, dtype=torch.bool)
    anchors = torch.zeros(1, 20000, dtype=torch.long)
    cand = draw_candidates(valid, anchors, 8, gen())
    positive = cand.ok & (cand.idx <= 3)  # P(a) = {1, 2, 3}; the anchor 0 is never a candidate
    first = pick(positive, 1)
    chosen = cand.idx.gather(-1, first.idx)[first.ok]
    share = torch.bincount(chosen, minlength=10).float() / chosen.numel()
    assert first.ok.float().mean() > 0.9 and share[[0, *range(4, 10)]].sum() == 0
    assert torch.allclose(share[1:4], torch.full((3,), 1 / 3), atol=0.02)  # sd of a share ≈ 0.0035
    negatives = pick(cand.ok & (cand.idx > 3), 3)  # the first three negatives: distinct slots, each uniform
    picked = cand.idx.gather(-1, negatives.idx)[negatives.ok]
    assert ((negatives.idx[..., 0] < negatives.idx[..., 1]) | ~negatives.ok[..., 1]).all()  # in draw order
    assert torch.allclose(
        torch.bincount(picked, minlength=10)[4:].float() / picked.numel(), torch.full((6,), 1 / 6), atol=0.02
    )


def test_mining_picks_hard_and_semihard_candidates() -> None:
    pos = torch.tensor([[[True, True, False, False, False, False]]])
    neg = torch.tensor([[[False, False, True, True, True, False]]])
    dist = torch.tensor([[[0.2, 0.9, 0.5, 1.2, 1.6, 0.0]]])
    p, n = mine(pos, neg, dist, "hard", 0.5)
    assert p.idx.item() == 1 and n.idx.item() == 2  # farthest positive, closest negative
    for first in (0, 1):  # the first positive; then the first negative in its band
        p, n = mine(pos & (torch.arange(6) >= first), neg, dist, "semihard", 0.5)
        band = {0: {2}, 1: {3}}[p.idx.item()]  # d_ap = 0.2 → (0.2, 0.7); d_ap = 0.9 → (0.9, 1.4)
        assert p.idx.item() == first and n.idx.item() in band and n.ok.all()
    p, n = mine(pos, neg, dist, "semihard", 0.05)  # empty band → the hardest negative
    assert n.idx.item() == 2


# ---------------------------------------------------------------- objectives
def test_triplet_loss_values() -> None:
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    n = torch.tensor([[-1.0, 0.0], [1.0, 0.0]])
    t = triplet(a, p, n, margin=0.5)
    assert t.loss.tolist() == pytest.approx([0.0, math.sqrt(2) + 0.5])  # separated beyond the margin → 0
    assert triplet(a[:1], n[:1], p[:1], 0.5).loss.item() == pytest.approx(2.5)  # swapped: 2 − 0 + 0.5
    assert triplet(a[1:], p[1:], n[1:], 0.2, "sq_euclid").loss.item() == pytest.approx(2.2)


def test_triplet_gradient_is_finite_at_zero_distance() -> None:
    a = torch.tensor([[1.0, 0.0]], requires_grad=True)
    t = triplet(a, a.detach().clone(), torch.tensor([[0.0, 1.0]]), margin=2.0)
    t.loss.sum().backward()
    assert torch.isfinite(a.grad).all()


def test_info_nce_value() -> None:
    a = torch.tensor([[1.0, 0.0]])
    negs = torch.tensor([[[0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]])
    t = info_nce(a, a, negs, torch.tensor([[True, True, False]]), temperature=0.5)  # logits 2 | 0, −2
    assert t.loss.item() == pytest.approx(math.log(1 + math.exp(-2) + math.exp(-4)), rel=1e-5)


def test_sup_con_value_and_dropped_anchor() -> None:
    z = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]])
    same = torch.tensor([[[False, True, False], [True, False, False], [False, False, False]]])
    diff = torch.tensor([[[False, False, True], [False, False, True], [True, True, False]]])
    terms, ok = sup_con(z, same, diff, temperature=1.0)
    assert ok.tolist() == [[True, True, False]]  # the third has no positive
    assert terms.loss[0, :2].tolist() == pytest.approx([math.log(1 + math.exp(-1))] * 2, rel=1e-5)
    assert terms.loss[0, 2].item() == 0.0


# ---------------------------------------------------------------- sources and projectors
def test_random_sources_never_self_and_reproducible() -> None:
    sel = SourceSelector("random", NYUD, NYUD, {}, seed=3)
    draws = [sel.draw(step) for step in range(200)]
    for t in NYUD:
        seen = {d[t][0] for d in draws}
        assert t not in seen and seen == set(NYUD) - {t}
    assert sel.draw(17) == SourceSelector("random", NYUD, NYUD, {}, seed=3).draw(17)
    assert sum(a != b for a, b in zip(draws, draws[1:])) > 180  # consecutive steps differ (p = 80/81 each)
    assert [sel.draw(s) for s in range(20)] != [SourceSelector("random", NYUD, NYUD, {}, 4).draw(s) for s in range(20)]


def test_random_with_self_draws_self_sometimes() -> None:
    sel = SourceSelector("random_with_self", PASCAL, PASCAL, {}, seed=0)
    hits = sum(sel.draw(step)["sal"] == ("sal",) for step in range(300))
    assert 30 < hits < 100  # ~1/5 of 300


def test_fixed_all_and_errors() -> None:
    sel = SourceSelector("fixed", NYUD, ("semseg",), {"semseg": "depth"}, 0)
    assert sel.draw(5) == {"semseg": ("depth",)} and sel.pairs() == [("semseg", "depth")]
    assert SourceSelector("all", NYUD, ("edge",), {}, 0).draw(1) == {"edge": ("semseg", "depth", "normals")}
    with pytest.raises(ParamsError, match="no source for target"):
        SourceSelector("fixed", NYUD, NYUD, {"semseg": "depth"}, 0)
    with pytest.raises(ParamsError, match="does not have"):
        SourceSelector("fixed", NYUD, NYUD, {"semseg": "sal"}, 0)
    with pytest.raises(ParamsError, match="enabled=false for single-task"):
        SourceSelector("random", ("semseg",), ("semseg",), {}, 0)


def test_projector_counts() -> None:
    for tasks, n in ((NYUD, 12), (PASCAL, 20)):
        bank = ProjectorBank("pair", SourceSelector("random", tasks, tasks, {}, 0).pairs(), dict.fromkeys(tasks, 8), 4)
        assert len(bank.heads) == n
    with pytest.raises(ValueError, match="equal feature channels"):
        ProjectorBank("shared", [("semseg", "depth"), ("depth", "semseg")], {"semseg": 8, "depth": 4}, 4)
    bank = ProjectorBank("none", [("semseg", "depth")], {"semseg": 8}, 4)
    assert not list(bank.parameters())
    z = bank(torch.tensor([[3.0, 4.0], [0.0, 2.0]]), "semseg", "depth")  # N×C sampled vectors
    assert z.tolist() == [pytest.approx([0.6, 0.8]), pytest.approx([0.0, 1.0])]
    head = ProjectorBank("pair", [("semseg", "depth")], {"semseg": 8}, 4).heads["semseg_from_depth"]
    out = head(torch.randn(10, 8))
    assert out.shape == (10, 4) and torch.allclose(out.norm(dim=-1), torch.ones(10))


@pytest.mark.parametrize("condition", [None, 1e6])
def test_compact_embedding_has_the_full_embeddings_dot_products_and_gradients(condition: float | None) -> None:
    """The loss sees only dot products, so the (C+1)-dim isometric copy must give the D-dim embedding's Gram
    matrix and the same gradients for inputs and every projector weight; it is only used when D > C + 1. Trained
    heads drift towards ill-conditioned [W₂ | b₂] (condition ~200 after 400 steps of `make run`), so the QR's
    backward is also checked at a condition number of 10⁶."""
    torch.manual_seed(0)
    head = ProjectionHead(8, 32).train()
    if condition is not None:
        with torch.no_grad():
            u, _, vh = torch.linalg.svd(torch.cat((head[3].weight, head[3].bias.unsqueeze(1)), 1), full_matrices=False)
            w = u @ torch.diag(torch.logspace(0, -math.log10(condition), 9)) @ vh
            head[3].weight.copy_(w[:, :-1])
            head[3].bias.copy_(w[:, -1])
    x = torch.randn(40, 8, dtype=torch.float64).float().requires_grad_(True)
    valid = torch.arange(40) % 7 != 0
    target = torch.randn(40, 40)
    grads = []
    for embed in (head, head.compact):
        head.zero_grad()
        x.grad = None
        z = embed(x, valid)
        gram = z @ z.T
        (gram * target).sum().backward()
        grads.append((z.shape[1], gram.detach(), x.grad.clone(), [q.grad.clone() for q in head.parameters()]))
    (d_full, gram_full, gx_full, gp_full), (d_compact, gram_compact, gx_compact, gp_compact) = grads
    assert (d_full, d_compact) == (32, 9)
    assert torch.allclose(gram_compact, gram_full, atol=1e-5)
    assert torch.allclose(gx_compact, gx_full, atol=1e-5)
    assert all((a - b).norm() <= 1e-5 * b.norm() for a, b in zip(gp_compact, gp_full))  # 2e-6 at condition 10⁶
    narrow = ProjectionHead(8, 9)  # D ≤ C + 1: nothing to gain, the head's own output
    assert torch.equal(narrow.compact(x), narrow(x))


def test_bilinear_read_matches_grid_sample() -> None:
    torch.manual_seed(0)
    feat = torch.randn(2, 5, 3, 4)
    H, W, s = 12, 16, 4
    flat = torch.randint(0, 2 * H * W, (50,))
    got = bilinear_read(feat, flat, (H, W), s)
    b, p = flat // (H * W), flat % (H * W)
    gx = ((p % W).float() + 0.5) / W * 2 - 1
    gy = ((p // W).float() + 0.5) / H * 2 - 1
    grid = torch.stack((gx, gy), dim=-1).view(1, 50, 1, 2).expand(2, -1, -1, -1)
    ref = F.grid_sample(feat, grid, mode="bilinear", padding_mode="border", align_corners=False)[..., 0]
    assert torch.allclose(got, ref[b, :, torch.arange(50)], atol=1e-5)


def test_threshold_pairs_must_be_ordered() -> None:
    with pytest.raises(ParamsError, match=r"loss.contrast.depth_tau = \[0.3, 0.1\]: expected two values"):
        load_params(None, ["loss.contrast.depth_tau=[0.3, 0.1]"])
    with pytest.raises(ParamsError, match="quantiles must lie in"):
        load_params(None, ["loss.contrast.depth_quantiles=[0.5, 1.5]"])
    with pytest.raises(ParamsError, match="0 < near < far"):
        load_params(None, ["loss.contrast.depth_bin_range=[0, 10]"])
