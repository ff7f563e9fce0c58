"""``CrossTaskContrast``: the training-only cross-task contrastive regulariser (docs/method.md §3), usable in any
encoder-decoder model (docs/regulariser-api.md).

For each target t and its source s (drawn per step), the target's decoder feature F^t is projected by g_{t→s}, and
anchors, positives and negatives are sampled on the projected map with the source task's ground truth deciding
who is a positive or a negative. The result is λ times the mean over targets of the per-pair losses (each a mean
over its triplets).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor, nn

from mtcontrast.config.base import ParamsError
from mtcontrast.regularizer import objectives, sampling
from mtcontrast.regularizer.criteria import SourceCriterion
from mtcontrast.regularizer.grid import (
    GridLabels,
    LabelKind,
    check_grid,
    check_kind,
    infer_stride,
    labels_full_res,
    labels_on_grid,
)
from mtcontrast.regularizer.options import ContrastOptions
from mtcontrast.regularizer.projectors import ProjectorBank, pair_key
from mtcontrast.regularizer.sources import SourceSelector, step_seed


class LazyStats:
    """``stats``: python floats for logging, given as a dict or as a function computed on first access, so a step
    that does not log never waits for the device."""

    _stats: dict[str, float] | Callable[[], dict[str, float]]

    @property
    def stats(self) -> dict[str, float]:
        if callable(self._stats):
            self._stats = self._stats()
        return self._stats


class ContrastOutput(LazyStats):
    """``loss``: λ·``raw``, to add to the task losses; ``raw``: (1/N)·Σ_t factor_t·L_t (what is logged as
    ``loss_contrast``); ``pair_losses``: detached L(t, s) by ``<t>_from_<s>``; ``stats``: python floats for
    logging (``contrast/...`` keys), computed on first access only, so a step that does not log never waits for
    the device."""

    def __init__(
        self,
        loss: Tensor,
        raw: Tensor | None = None,
        pair_losses: dict[str, Tensor] | None = None,
        stats: dict[str, float] | Callable[[], dict[str, float]] | None = None,
    ) -> None:
        self.loss = loss
        self.raw = loss if raw is None else raw
        self.pair_losses = pair_losses or {}
        self._stats = stats if stats is not None else {}


@dataclass
class _Job:
    """One (target, source) pair of a step: the target's feature map, the source's labels on its grid (images
    that this source does not supervise for this target masked out) and the pair's own generator."""

    target: str
    source: str
    feat: Tensor
    labels: GridLabels
    gen: torch.Generator


Finish = Callable[[list[Tensor]], tuple[objectives.Terms, Tensor, Tensor | None]]


@dataclass
class _Draw:
    """The sampled pixels of a group of pairs, stacked along the rows (pair k of ``jobs`` owns the k-th of equal
    consecutive blocks; a row is one image, or a pair's batch with ``pool: batch``, of ``row_length`` positions).
    ``roles``: row-local indices to embed (R×…), ``valid``: which of them enter BatchNorm statistics, ``finish``:
    their embeddings → per-anchor terms (R×…), the triplet mask and (triplet loss) the active-hinge mask."""

    jobs: list[int]
    row_length: int
    roles: list[Tensor]
    valid: list[Tensor]
    finish: Finish


@dataclass
class _GroupResult:
    """Per pair of a group (G): the mean loss over its valid triplets and their count; the detached terms and masks
    (R×…) stay for the lazy diagnostics."""

    jobs: list[int]
    loss: Tensor
    count: Tensor
    terms: objectives.Terms
    ok: Tensor
    active: Tensor | None  # triplets with a non-zero hinge (triplet loss only)


def _flags(values: Sequence[bool] | Tensor) -> list[bool]:
    """One python bool per image (a tensor is read once: a host sync only on partially labelled batches)."""
    return [bool(v) for v in (values.tolist() if isinstance(values, Tensor) else values)]


def rows(table: Tensor, index: Tensor) -> Tensor:
    """``table[index]`` for a 1-d index, with a backward pass that is deterministic on CPU and CUDA.

    The gradient of a gather with repeated indices is a scatter-add. PyTorch's CPU ``index_put_(accumulate=True)``
    (the backward of ``table[index]``) adds from several threads in varying order, so sums differ in the last bit
    from run to run; ``index_select``'s CPU backward (``index_add_``) adds in index order. On CUDA it is the other
    way round: ``index_add_`` uses atomics, ``index_put_`` sorts the indices first. See docs/regulariser-api.md.
    """
    if table.device.type == "cpu":
        return table.index_select(0, index)
    return table[index]


def bilinear_read(feat: Tensor, flat_index: Tensor, label_hw: tuple[int, int], stride: int) -> Tensor:
    """Features (N×C) at label pixels given as flat indices into B·H·W, read bilinearly from the B×C×h×w map.

    Same values as ``grid_sample(align_corners=False, padding_mode="border")`` at the pixel centres, but gathers
    only the N requested points of their own images (no B×N intermediate).
    """
    B, C, h, w = feat.shape
    H, W = label_hw
    b, p = flat_index // (H * W), flat_index % (H * W)
    fy = ((p // W).float() + 0.5) / stride - 0.5
    fx = ((p % W).float() + 0.5) / stride - 0.5
    fy, fx = fy.clamp(0, h - 1), fx.clamp(0, w - 1)
    y0, x0 = fy.floor().long(), fx.floor().long()
    y1, x1 = (y0 + 1).clamp(max=h - 1), (x0 + 1).clamp(max=w - 1)
    wy, wx = (fy - y0).unsqueeze(1), (fx - x0).unsqueeze(1)
    table = feat.permute(0, 2, 3, 1).reshape(B * h * w, C)
    base = b * (h * w)

    def at(y: Tensor, x: Tensor) -> Tensor:
        return rows(table, base + y * w + x)

    top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx
    bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx
    return top * (1 - wy) + bottom * wy


class CrossTaskContrast(nn.Module):
    """The regulariser for a set of tasks; holds the projectors (its only parameters).

    ``tasks``: task name → label kind (``discrete`` classes, ``binary`` regions, ``boundary`` thin edges,
    ``depth`` in metres, ``normals`` unit vectors), in any names; every task can be a source, the targets are
    ``targets`` (default all). ``channels``: target name → C of its feature map. ``stride``: label pixels per
    feature cell (features of an H×W input are ⌈H/s⌉×⌈W/s⌉); None infers it from the shapes and fails when that
    is ambiguous. ``seed``: seeds the per-step draws. ``ddp``: keep every projector in the graph with a zero
    gradient (for DistributedDataParallel without ``find_unused_parameters``; call :meth:`drop_unselected_grads`
    after backward). ``options``: plain values of :class:`ContrastOptions` by name (λ is ``weight``), or one
    ``options=ContrastOptions(...)``. ``group_pairs`` (attribute, default True): sample and embed the pairs of a
    step in stacked passes; False runs each pair alone (the same draws; a reference for tests).
    """

    def __init__(
        self,
        tasks: Mapping[str, str],
        channels: Mapping[str, int],
        stride: int | None = 4,
        *,
        seed: int = 0,
        ddp: bool = False,
        **options: Any,
    ) -> None:
        super().__init__()
        if not isinstance(tasks, Mapping) or not tasks:
            raise TypeError(f"tasks: expected a non-empty mapping task name -> label kind, got {tasks!r}")
        opts = options.pop("options", None) or ContrastOptions.from_mapping(options)
        self.options = opts
        self.kinds: dict[str, LabelKind] = {t: check_kind(t, k) for t, k in tasks.items()}
        self.tasks = tuple(self.kinds)
        if stride is not None and int(stride) < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        self.feat_stride = None if stride is None else int(stride)
        if opts.targets == "all":
            self.targets = self.tasks
        else:
            unknown = [t for t in opts.targets if t not in self.tasks]
            if unknown or not opts.targets:
                raise ParamsError(
                    f"targets (loss.contrast.targets) = {list(opts.targets)}: expected a non-empty subset of the "
                    f"tasks {list(self.tasks)}"
                )
            self.targets = tuple(t for t in self.tasks if t in opts.targets)
        extra = [t for t in opts.lambda_per_target if t not in self.targets]
        if extra:
            raise ParamsError(
                f"loss.contrast.lambda_per_target names {extra}, which are not targets ({list(self.targets)})"
            )
        if opts.kind != "triplet" and opts.mining != "random":
            raise ParamsError(
                f"loss.contrast.mining = {opts.mining!r} applies to kind=triplet only (kind is {opts.kind!r})"
            )
        missing = [t for t in self.targets if t not in channels]
        if missing:
            raise ValueError(f"channels has no entry for target task(s) {missing}; got {dict(channels)}")
        self.seed = seed
        self.ddp = ddp
        self.weight = float(opts.weight)
        self.selector = SourceSelector(opts.source_mode, self.tasks, self.targets, opts.fixed_sources, seed)
        self.criteria = {s: SourceCriterion(s, opts, self.kinds[s]) for s in self.tasks}
        self.feat_channels = {t: int(channels[t]) for t in self.targets}
        self.projectors = ProjectorBank(opts.projector, self.selector.pairs(), self.feat_channels, opts.proj_dim)
        self._selected: set[str] = set(self.projectors.heads.keys())
        self.group_pairs = True

    @classmethod
    def from_params(
        cls,
        params: Any,
        tasks: Sequence[str],
        feat_channels: Mapping[str, int],
        seed: int = 0,
        feat_stride: int | None = None,
        kinds: Mapping[str, str] | None = None,
        ddp: bool = False,
    ) -> CrossTaskContrast:
        """From the project's ``loss.contrast`` section (``config.loss.ContrastParams``) and task names that the
        project knows (their kinds from ``regularizer.grid.SOURCE_KINDS`` unless ``kinds`` is given)."""
        from mtcontrast.regularizer.grid import source_kind

        values = params.model_dump(exclude={"enabled", "tap"}) if hasattr(params, "model_dump") else dict(params)
        if values.get("targets") != "all":
            values["targets"] = tuple(values["targets"])
        kinds = {t: (kinds or {}).get(t) or source_kind(t) for t in tasks}
        return cls(kinds, feat_channels, feat_stride, seed=seed, ddp=ddp, options=ContrastOptions(**values))

    # ------------------------------------------------------------------ optimiser and DDP
    def param_groups(self, lr: float | None = None) -> list[dict[str, Any]]:
        """Optimiser groups for the projectors: ``lr`` × ``proj_lr_mult`` when ``lr`` is given (else an
        ``lr_mult`` entry for a caller that scales its base lr); empty when there are no parameters."""
        params = [p for p in self.parameters() if p.requires_grad]
        if not params:
            return []
        group: dict[str, Any] = {"params": params, "name": "projectors"}
        if lr is None:
            group["lr_mult"] = self.options.proj_lr_mult
        else:
            group["lr"] = lr * self.options.proj_lr_mult
        return [group]

    def drop_unselected_grads(self) -> None:
        """Set ``.grad = None`` on the projectors not drawn at the last step, so that no optimiser applies weight
        decay or momentum to them (Adam, AdamW and SGD skip parameters without a gradient). Needed after backward
        when ``ddp=True`` (they carry an exact zero gradient there) or when gradients are zeroed, not set to None."""
        for key, head in self.projectors.heads.items():
            if key not in self._selected:
                for param in head.parameters():
                    param.grad = None

    # ------------------------------------------------------------------ labels and embeddings
    def _labels(self, source: str, target: str, labels: Mapping[str, Tensor], feat: Tensor, cache: dict) -> GridLabels:
        if source not in labels:
            raise ValueError(
                f"labels has no {source!r} entry, needed as a contrast source (batch has no {source!r} label)"
            )
        label = labels[source]
        h, w = feat.shape[-2:]
        if self.options.align == "full_res":
            key = (source, None)
            if key not in cache:
                cache[key] = self.criteria[source].encode(labels_full_res(source, label, self.kinds[source]))
            return cache[key]
        label_hw = (int(label.shape[-2]), int(label.shape[-1]))
        stride = infer_stride(label_hw, (h, w), self.feat_stride)
        check_grid(target, source, label_hw, (h, w), stride)
        key = (source, (h, w), stride)
        if key not in cache:
            grid = labels_on_grid(source, label, (h, w), stride, self.kinds[source])
            cache[key] = self.criteria[source].encode(grid)
        return cache[key]

    def _points(self, job: _Job, local: Tensor, row_length: int, cache: dict) -> Tensor:
        """The target's feature vectors (N×C) at row-local indices (R×n, a row is an image, or the batch for
        ``pool: batch``): gathered on the grid, or read bilinearly at label pixels (full_res)."""
        feat = job.feat
        R, n = local.shape
        B, C = feat.shape[:2]
        if self.options.align == "grid" and R == B and feat.device.type == "cpu":
            # per image, straight from the B×C×P map: no transposed copy of the whole map (and of its gradient);
            # gather's CPU backward (scatter_add along the last dim) adds each slice in index order: deterministic
            points = feat.reshape(B, C, -1).gather(2, local.unsqueeze(1).expand(B, C, n)).transpose(1, 2)
            return points.reshape(B * n, C)
        offset = torch.arange(R, device=local.device).view(R, 1) * row_length
        flat = (local + offset).reshape(-1)  # flat index into B·P
        if self.options.align == "grid":
            if job.target not in cache:  # B·h·w × C view of the map, shared by every pair of this target
                cache[job.target] = feat.flatten(2).transpose(1, 2).reshape(-1, C)
            return rows(cache[job.target], flat)
        stride = infer_stride(job.labels.size, tuple(feat.shape[-2:]), self.feat_stride)
        return bilinear_read(feat, flat, job.labels.size, stride)

    def _embed(self, jobs: list[_Job], draws: list[_Draw]) -> list[list[Tensor]]:
        """Unit float32 embeddings (each role's shape × D) for every group, projected in one batched call per
        feature shape; each pair's BatchNorm statistics come from its own valid rows only, and running statistics
        are updated in the pairs' order, as when each pair runs alone."""
        vectors: dict[int, Tensor] = {}  # by job
        valid: dict[int, Tensor] = {}
        widths = []
        cache: dict = {}
        for d in draws:
            R = d.roles[0].shape[0]
            local = torch.cat([i.reshape(R, -1) for i in d.roles], dim=1)  # R×n
            ok = torch.cat([v.expand_as(i).reshape(R, -1) for v, i in zip(d.valid, d.roles)], dim=1)
            block = R // len(d.jobs)
            for j, loc, k in zip(d.jobs, local.split(block), ok.split(block)):
                vectors[j] = self._points(jobs[j], loc, d.row_length, cache)
                valid[j] = k.reshape(-1)
            widths.append((R, local.shape[1]))
        order = range(len(jobs))
        z = self.projectors.embed(
            [vectors[j] for j in order], [(job.target, job.source) for job in jobs], [valid[j] for j in order]
        )
        out = []
        for d, (R, n) in zip(draws, widths):
            zd = (z[d.jobs[0]] if len(d.jobs) == 1 else torch.cat([z[j] for j in d.jobs])).view(R, n, -1)
            sizes = [i[0].numel() for i in d.roles]
            out.append([part.reshape(*i.shape, -1) for part, i in zip(zd.split(sizes, dim=1), d.roles)])
        return out

    # ------------------------------------------------------------------ a group of (target, source) pairs
    def _draw(self, group: list[_Job], jobs: list[int]) -> _Draw:
        """Anchors, positives and negatives for pairs whose sources share a label rule and grid, rows stacked;
        every pair draws from its own generator, so it samples the same pixels alone or in a group."""
        p = self.options
        crit = self.criteria[group[0].source]
        gen: sampling.Generators = group[0].gen if len(group) == 1 else [j.gen for j in group]
        labels = group[0].labels
        if len(group) > 1:
            labels = replace(
                labels,
                values=torch.cat([j.labels.values for j in group]),
                valid=torch.cat([j.labels.valid for j in group]),
            )
        G = len(group)
        B, P = group[0].labels.valid.shape
        anchors, a_ok = sampling.draw_anchors(sampling.strata(labels, p.balance), p.anchors_per_image, gen)
        values, valid = labels.values, labels.valid
        if p.pool == "batch":  # one row per pair over its batch; anchors keep their per-image quota
            image = torch.arange(G * B, device=anchors.device) % B
            anchors = (anchors + image.unsqueeze(1) * P).reshape(G, -1)
            a_ok = a_ok.reshape(G, -1)
            values, valid = values.reshape(G, B * P, *values.shape[2:]), valid.reshape(G, B * P)
        R, L = valid.shape

        if p.kind == "supcon":
            A = anchors.shape[1]
            mask = a_ok.unsqueeze(2) & a_ok.unsqueeze(1) & ~torch.eye(A, dtype=torch.bool, device=a_ok.device)
            y_a = sampling.labels_at(values, anchors)
            y_q = y_a.unsqueeze(1).expand(R, A, *y_a.shape[1:])
            pos, neg = crit.relation(y_a, y_q, mask)

            def supcon(z: list[Tensor]) -> tuple[objectives.Terms, Tensor, Tensor | None]:
                terms, ok = objectives.sup_con(z[0], pos, neg, p.temperature)
                return terms, ok & a_ok, None

            return _Draw(jobs, L, [anchors], [a_ok], supcon)

        if p.mining == "random":
            n_neg = p.negatives if p.kind == "infonce" else 1
            pos, neg, ok = sampling.random_triplets(crit, values, valid, anchors, a_ok, n_neg, p.candidates, gen)
            return _Draw(
                jobs,
                L,
                [anchors, pos, neg.idx],
                [ok, ok, ok.unsqueeze(-1) & neg.ok],
                lambda z: self._objective(*z, neg.ok, ok),
            )
        cand = sampling.draw_candidates(valid, anchors, p.candidates, gen)
        y_a, y_q = sampling.labels_at(values, anchors), sampling.labels_at(values, cand.idx)
        pos_m, neg_m = crit.relation(y_a, y_q, cand.ok & a_ok.unsqueeze(-1))
        # one projector call over anchors and candidates (consistent BN statistics), mine, then gather
        # (BN statistics over anchors with a candidate of either sign, and those candidates)
        c_ok = (pos_m | neg_m) & a_ok.unsqueeze(-1)

        def mined(z: list[Tensor]) -> tuple[objectives.Terms, Tensor, Tensor | None]:
            z_a, z_c = z
            with torch.no_grad():
                d_aq = objectives.pair_distance(z_a.unsqueeze(2), z_c, p.distance)
                pick_p, pick_n = sampling.mine(pos_m, neg_m, d_aq, p.mining, p.margin)
            Q, D = z_c.shape[2], z_c.shape[-1]
            base = torch.arange(R * anchors.shape[1], device=z_c.device).view(R, -1, 1) * Q
            table = z_c.reshape(-1, D)
            z_p = rows(table, (base + pick_p.idx).reshape(-1)).view(R, -1, D)
            z_n = rows(table, (base + pick_n.idx).reshape(-1)).view(*pick_n.idx.shape, D)
            return self._objective(z_a, z_p, z_n, pick_n.ok, a_ok & pick_p.ok[..., 0] & pick_n.ok[..., 0])

        return _Draw(jobs, L, [anchors, cand.idx], [c_ok.any(-1), c_ok], mined)

    def _objective(
        self, z_a: Tensor, z_p: Tensor, z_n: Tensor, neg_ok: Tensor, ok: Tensor
    ) -> tuple[objectives.Terms, Tensor, Tensor | None]:
        """Per-anchor terms (R×A) of the triplet or InfoNCE loss, the triplet mask and the active-hinge mask."""
        p = self.options
        if p.kind == "infonce":
            terms = objectives.info_nce(
                z_a.flatten(0, 1), z_p.flatten(0, 1), z_n.flatten(0, 1), neg_ok.flatten(0, 1), p.temperature
            )
            return objectives.Terms(*(t.view_as(ok) for t in (terms.loss, terms.d_ap, terms.d_an))), ok, None
        terms = objectives.triplet(z_a, z_p, z_n[:, :, 0], p.margin, p.distance)
        return terms, ok, terms.loss.detach() > 0

    @staticmethod
    def _reduce(draw: _Draw, terms: objectives.Terms, ok: Tensor, active: Tensor | None) -> _GroupResult:
        """Each pair's mean over its valid triplets (exactly 0, still in the graph, when it has none)."""
        G = len(draw.jobs)
        ok_g = ok.reshape(G, -1)
        count = ok_g.sum(1)
        loss = torch.where(ok_g, terms.loss.reshape(G, -1), 0.0).sum(1) / count.clamp_min(1)
        detached = objectives.Terms(terms.loss.detach(), terms.d_ap.detach(), terms.d_an.detach())
        return _GroupResult(draw.jobs, loss, count, detached, ok, active)

    def _contrast(self, jobs: list[_Job]) -> list[_GroupResult]:
        """Sample every pair (pairs with the same label rule and grid in one stacked pass), embed them all, then
        finish each group: one pass over the step's pairs instead of one per pair (docs/regulariser-api.md)."""
        if not jobs:
            return []
        groups: dict[tuple, list[int]] = {}
        for j, job in enumerate(jobs):
            key = (self.criteria[job.source].rule, tuple(job.labels.valid.shape)) if self.group_pairs else (j,)
            groups.setdefault(key, []).append(j)
        draws = [self._draw([jobs[j] for j in idx], idx) for idx in groups.values()]
        return [self._reduce(d, *d.finish(z)) for d, z in zip(draws, self._embed(jobs, draws))]

    # ------------------------------------------------------------------ all targets
    def forward(
        self,
        features: Mapping[str, Tensor],
        labels: Mapping[str, Tensor],
        step: int,
        labelled: Mapping[str, Sequence[bool] | Tensor] | None = None,
    ) -> ContrastOutput:
        """``features``: target → B×C×h×w decoder feature; ``labels``: source → its label map at input size
        (B×H×W or B×1×H×W; depth B×1×H×W in metres, normals B×3×H×W); ``step``: the training step (seeds the
        draws); ``labelled``: for partially labelled batches, task → one flag per image telling whether the image
        carries that task's labels (None: all do). Returns λ·loss (``loss``), the unweighted loss (``raw``) and lazy
        diagnostics (``stats``)."""
        flags = None if labelled is None else {k: _flags(v) for k, v in labelled.items()}
        plan, counts = self.selector.assign(step, flags, self.options.require_target_label)
        label_cache: dict = {}
        jobs: list[_Job] = []
        for ti, target in enumerate(self.targets):
            if target not in features:
                raise ValueError(f"features (endpoints['feat']) has no entry for contrast target {target!r}")
            feat = features[target]
            if feat.dim() != 4 or feat.shape[1] != self.feat_channels[target]:
                raise ValueError(
                    f"features[{target!r}] (endpoints['feat']): expected B×{self.feat_channels[target]}×h×w, "
                    f"got {tuple(feat.shape)}"
                )
            if labelled is None:
                counts["with_target_label"] += feat.shape[0]
            for pair in plan[target]:
                source = pair.source
                grid = self._labels(source, target, labels, feat, label_cache)
                if grid.valid.shape[0] != feat.shape[0]:
                    raise ValueError(
                        f"features[{target!r}] has batch {feat.shape[0]} but labels[{source!r}] has "
                        f"{grid.valid.shape[0]}"
                    )
                if pair.rows is not None:  # only the images this source supervises for this target
                    keep = torch.zeros(feat.shape[0], dtype=torch.bool, device=grid.valid.device)
                    keep[list(pair.rows)] = True
                    grid = replace(grid, valid=grid.valid & keep.unsqueeze(1))
                si = self.tasks.index(source)
                gen = torch.Generator(device=feat.device).manual_seed(step_seed(self.seed, step, 1 + ti, 1 + si))
                jobs.append(_Job(target, source, feat, grid, gen))
        results = self._contrast(jobs)
        loss_of: dict[int, Tensor] = {}
        count_of: dict[int, Tensor] = {}
        for r in results:
            for j, loss, count in zip(r.jobs, r.loss.unbind(), r.count.unbind()):
                loss_of[j], count_of[j] = loss, count
        total: Tensor | None = None
        for target in self.targets:
            own = [j for j, job in enumerate(jobs) if job.target == target]
            if not own:  # no image of the batch can be regularised for this target
                continue
            if len(own) == 1:
                loss = loss_of[own[0]]
            elif self.selector.mode in ("fixed", "all"):  # the mean over the target's sources
                loss = torch.stack([loss_of[j] for j in own]).mean()
            else:  # one source per image: the mean over all of the target's triplets
                loss = torch.stack([loss_of[j] * count_of[j] for j in own]).sum() / torch.stack(
                    [count_of[j] for j in own]
                ).sum().clamp_min(1)
            term = loss * self.options.lambda_per_target.get(target, 1.0)
            total = term if total is None else total + term
        if total is None:  # nothing to contrast in this batch: an exact zero that still reaches every feature
            total = torch.stack([features[t].sum() * 0.0 for t in self.targets]).sum()
        raw = total / len(self.targets)
        selected = {k for k in (self.projectors.key(j.target, j.source) for j in jobs) if k is not None}
        self._selected = selected
        if self.ddp:  # unselected projectors join the graph with an exact zero gradient (no find_unused_parameters)
            for key, head in self.projectors.heads.items():
                if key not in selected:
                    for param in head.parameters():
                        raw = raw + 0.0 * param.sum()
        pair_losses = {pair_key(job.target, job.source): loss_of[j].detach() for j, job in enumerate(jobs)}
        images = {f"contrast/images_{k}": float(v) for k, v in counts.items()}
        return ContrastOutput(
            raw * self.weight, raw, pair_losses, lambda: {**self._stats(pair_losses, results), **images}
        )

    def _stats(self, pair_losses: dict[str, Tensor], results: list[_GroupResult]) -> dict[str, float]:
        if not results:
            return {"contrast/triplets": 0.0}
        count = torch.cat([r.count for r in results]).sum()
        named: dict[str, Tensor] = {f"contrast/{k}": v for k, v in pair_losses.items()}
        named["contrast/triplets"] = count.float()
        for name in ("d_ap", "d_an"):
            total = torch.stack([torch.where(r.ok, getattr(r.terms, name), 0.0).sum() for r in results]).sum()
            named[f"contrast/{name}"] = total / count.clamp_min(1)
        if all(r.active is not None for r in results):
            active = torch.stack([(r.active & r.ok).sum() for r in results if r.active is not None]).sum()
            named["contrast/active_frac"] = active.float() / count.clamp_min(1)
        values = torch.stack([v.detach().float() for v in named.values()]).cpu().tolist()  # one device sync
        return dict(zip(named, values))
