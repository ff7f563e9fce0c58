"""``CrossTaskContrast``: the training-only cross-task contrastive regulariser (docs/method.md §3).

For each target t and its source s (drawn per step), the target's decoder feature F^t is projected by g_{t→s}, and
anchors, positives and negatives are sampled on the projected map with the source task's ground truth deciding
who is a positive or a negative. The result is the mean over targets of the per-pair losses (each a mean over its
triplets); the criterion multiplies it by λ.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from mtcontrast.config import ParamsError
from mtcontrast.config.loss import ContrastParams
from mtcontrast.regularizer import objectives, sampling
from mtcontrast.regularizer.criteria import SourceCriterion
from mtcontrast.regularizer.grid import GridLabels, infer_stride, labels_full_res, labels_on_grid, source_kind
from mtcontrast.regularizer.projectors import ProjectorBank, pair_key
from mtcontrast.regularizer.sources import SourceSelector, step_seed


@dataclass
class ContrastOutput:
    """``loss``: (1/N)·Σ_t factor_t·L_t, not yet multiplied by λ; ``pair_losses``: detached L(t, s) by
    ``<t>_from_<s>``; ``stats``: python floats for logging (``contrast/...`` keys)."""

    loss: Tensor
    pair_losses: dict[str, Tensor] = field(default_factory=dict)
    stats: dict[str, float] = field(default_factory=dict)


@dataclass
class _PairResult:
    loss: Tensor
    count: Tensor
    d_ap_sum: Tensor
    d_an_sum: Tensor
    active: Tensor | None  # triplets with a non-zero hinge (triplet loss only)


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
        return table[base + y * w + x]

    top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx
    bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx
    return top * (1 - wy) + bottom * wy


class CrossTaskContrast(nn.Module):
    """The regulariser for a set of tasks; holds the projectors (the only parameters)."""

    def __init__(
        self,
        params: ContrastParams,
        tasks: Sequence[str],
        feat_channels: Mapping[str, int],
        seed: int = 0,
        feat_stride: int | None = None,
    ) -> None:
        super().__init__()
        self.params = params
        self.tasks = tuple(tasks)
        for t in self.tasks:
            source_kind(t)
        if params.targets == "all":
            self.targets = self.tasks
        else:
            unknown = [t for t in params.targets if t not in self.tasks]
            if unknown or not params.targets:
                raise ParamsError(
                    f"loss.contrast.targets = {params.targets}: expected a non-empty subset of the model's tasks "
                    f"{list(self.tasks)}"
                )
            self.targets = tuple(t for t in self.tasks if t in params.targets)
        extra = [t for t in params.lambda_per_target if t not in self.targets]
        if extra:
            raise ParamsError(
                f"loss.contrast.lambda_per_target names {extra}, which are not targets ({list(self.targets)})"
            )
        if params.kind != "triplet" and params.mining != "random":
            raise ParamsError(
                f"loss.contrast.mining = {params.mining!r} applies to kind=triplet only (kind is {params.kind!r})"
            )
        self.seed = seed
        self.feat_stride = feat_stride
        self.selector = SourceSelector(params.source_mode, self.tasks, self.targets, params.fixed_sources, seed)
        self.criteria = {s: SourceCriterion(s, params) for s in self.tasks}
        self.projectors = ProjectorBank(params.projector, self.selector.pairs(), feat_channels, params.proj_dim)
        self.feat_channels = dict(feat_channels)

    # ------------------------------------------------------------------ labels and embeddings
    def _labels(self, source: str, batch: Mapping[str, Tensor], feat: Tensor, cache: dict) -> GridLabels:
        if source not in batch:
            raise ValueError(f"batch has no {source!r} label, needed as a contrast source")
        label = batch[source]
        h, w = feat.shape[-2:]
        if self.params.align == "full_res":
            key = (source, None)
            if key not in cache:
                cache[key] = self.criteria[source].encode(labels_full_res(source, label))
            return cache[key]
        stride = infer_stride(tuple(label.shape[-2:]), (h, w), self.feat_stride)
        key = (source, (h, w), stride)
        if key not in cache:
            cache[key] = self.criteria[source].encode(labels_on_grid(source, label, (h, w), stride))
        return cache[key]

    def _embed(
        self, feat: Tensor, target: str, source: str, labels: GridLabels, indices: list[Tensor], cache: dict
    ) -> list[Tensor]:
        """Unit embeddings (idx.shape × D) at flat indices into B·P: the feature vectors there are gathered (grid)
        or bilinearly read (full_res) and projected in one call."""
        flat = torch.cat([i.reshape(-1) for i in indices])
        if self.params.align == "grid":
            if target not in cache:  # B·h·w × C view of the map, shared by every pair of this target
                cache[target] = feat.flatten(2).transpose(1, 2).reshape(-1, feat.shape[1])
            points = cache[target][flat]
        else:
            stride = infer_stride(labels.size, tuple(feat.shape[-2:]), self.feat_stride)
            points = bilinear_read(feat, flat, labels.size, stride)  # N×C
        z = self.projectors(points, target, source).float()
        return [part.reshape(*i.shape, -1) for part, i in zip(z.split([i.numel() for i in indices]), indices)]

    # ------------------------------------------------------------------ one (target, source) pair
    def _pair(
        self, feat: Tensor, target: str, source: str, labels: GridLabels, gen: torch.Generator, cache: dict
    ) -> _PairResult:
        p = self.params
        crit = self.criteria[source]
        B, P = labels.valid.shape
        anchors, a_ok = sampling.draw_anchors(sampling.strata(labels, p.balance), p.anchors_per_image, gen)
        values, valid = labels.values, labels.valid
        if p.pool == "batch":  # one row over the batch; anchors keep their per-image quota
            anchors = (anchors + torch.arange(B, device=anchors.device).unsqueeze(1) * P).reshape(1, -1)
            a_ok = a_ok.reshape(1, -1)
            values, valid = values.reshape(1, B * P, *values.shape[2:]), valid.reshape(1, B * P)
        R, L = valid.shape
        offset = torch.arange(R, device=anchors.device).view(R, 1) * L  # row-local → flat index into B·P

        def at(idx: Tensor) -> Tensor:  # labels at row-local indices (R×A×K)
            flat = idx.reshape(R, -1)
            if values.dim() == 3:
                return values.gather(1, flat.unsqueeze(-1).expand(-1, -1, 3)).view(*idx.shape, 3)
            return values.gather(1, flat).view_as(idx)

        y_a = at(anchors)

        if p.kind == "supcon":
            A = anchors.shape[1]
            mask = a_ok.unsqueeze(2) & a_ok.unsqueeze(1) & ~torch.eye(A, dtype=torch.bool, device=a_ok.device)
            y_q = y_a.unsqueeze(1).expand(R, A, *y_a.shape[1:])
            pos, neg = crit.relation(y_a, y_q, mask)
            (z,) = self._embed(feat, target, source, labels, [anchors + offset], cache)
            terms, ok = objectives.sup_con(z, pos, neg, p.temperature)
            return self._reduce(terms, ok & a_ok, None)

        n_neg = p.negatives if p.kind == "infonce" else 1
        if crit.discrete and p.mining == "random":
            pos_d, neg_d = sampling.draw_same_and_other(values, valid, anchors, 1, n_neg, gen)
            pos_idx, neg_idx, neg_ok = pos_d.idx[..., 0], neg_d.idx, neg_d.ok
            ok = a_ok & pos_d.ok[..., 0] & neg_d.ok[..., 0]
            z_a, z_p, z_n = self._embed(
                feat,
                target,
                source,
                labels,
                [anchors + offset, pos_idx + offset, neg_idx + offset.unsqueeze(-1)],
                cache,
            )
        else:
            cand = sampling.draw_candidates(valid, anchors, p.candidates, gen)
            pos_m, neg_m = crit.relation(y_a, at(cand.idx), cand.ok & a_ok.unsqueeze(-1))
            if p.mining == "random":
                pick_p = sampling.pick(pos_m, 1, gen)
                pick_n = sampling.pick(neg_m, n_neg, gen)
                pos_idx = cand.idx.gather(-1, pick_p.idx)[..., 0]
                neg_idx = cand.idx.gather(-1, pick_n.idx)
                z_a, z_p, z_n = self._embed(
                    feat,
                    target,
                    source,
                    labels,
                    [anchors + offset, pos_idx + offset, neg_idx + offset.unsqueeze(-1)],
                    cache,
                )
            else:
                # one projector call over anchors and candidates (consistent BN statistics), mine, then gather
                z_a, z_c = self._embed(
                    feat, target, source, labels, [anchors + offset, cand.idx + offset.unsqueeze(-1)], cache
                )
                with torch.no_grad():
                    d_aq = objectives.pair_distance(z_a.unsqueeze(2), z_c, p.distance)
                    pick_p, pick_n = sampling.mine(pos_m, neg_m, d_aq, p.mining, p.margin, gen)
                D = z_c.shape[-1]
                z_p = z_c.gather(2, pick_p.idx.unsqueeze(-1).expand(-1, -1, -1, D))[:, :, 0]
                z_n = z_c.gather(2, pick_n.idx.unsqueeze(-1).expand(-1, -1, -1, D))
            neg_ok = pick_n.ok
            ok = a_ok & pick_p.ok[..., 0] & pick_n.ok[..., 0]

        if p.kind == "infonce":
            terms = objectives.info_nce(
                z_a.flatten(0, 1), z_p.flatten(0, 1), z_n.flatten(0, 1), neg_ok.flatten(0, 1), p.temperature
            )
            return self._reduce(terms, ok.flatten(), None)
        terms = objectives.triplet(z_a, z_p, z_n[:, :, 0], p.margin, p.distance)
        return self._reduce(terms, ok, terms.loss.detach() > 0)

    @staticmethod
    def _reduce(terms: objectives.Terms, ok: Tensor, active: Tensor | None) -> _PairResult:
        """Mean over valid triplets (exactly 0, still in the graph, when there are none)."""
        count = ok.sum()
        loss = torch.where(ok, terms.loss, 0.0).sum() / count.clamp_min(1)
        return _PairResult(
            loss,
            count,
            torch.where(ok, terms.d_ap.detach(), 0.0).sum(),
            torch.where(ok, terms.d_an.detach(), 0.0).sum(),
            None if active is None else (active & ok).sum(),
        )

    # ------------------------------------------------------------------ all targets
    def forward(self, feats: Mapping[str, Tensor], batch: Mapping[str, Tensor], step: int) -> ContrastOutput:
        sources = self.selector.draw(step)
        label_cache: dict = {}
        pair_losses: dict[str, Tensor] = {}
        results: list[_PairResult] = []
        total: Tensor | None = None
        for ti, target in enumerate(self.targets):
            if target not in feats:
                raise ValueError(f"endpoints['feat'] has no entry for contrast target {target!r}")
            feat = feats[target]
            if feat.dim() != 4 or feat.shape[1] != self.feat_channels[target]:
                raise ValueError(
                    f"endpoints['feat'][{target!r}]: expected B×{self.feat_channels[target]}×h×w, "
                    f"got {tuple(feat.shape)}"
                )
            embed_cache: dict = {}
            per_source = []
            for source in sources[target]:
                labels = self._labels(source, batch, feat, label_cache)
                si = self.tasks.index(source)
                gen = torch.Generator(device=feat.device).manual_seed(step_seed(self.seed, step, 1 + ti, 1 + si))
                res = self._pair(feat, target, source, labels, gen, embed_cache)
                pair_losses[pair_key(target, source)] = res.loss.detach()
                per_source.append(res.loss)
                results.append(res)
            term = torch.stack(per_source).mean() * self.params.lambda_per_target.get(target, 1.0)
            total = term if total is None else total + term
        assert total is not None
        loss = total / len(self.targets)
        # Every projector joins the graph (exact zero gradient when not drawn): DDP without find_unused_parameters.
        for param in self.projectors.parameters():
            loss = loss + 0.0 * param.sum()
        return ContrastOutput(loss, pair_losses, self._stats(pair_losses, results))

    def _stats(self, pair_losses: dict[str, Tensor], results: list[_PairResult]) -> dict[str, float]:
        count = torch.stack([r.count for r in results]).sum()
        named: dict[str, Tensor] = {f"contrast/{k}": v for k, v in pair_losses.items()}
        named["contrast/triplets"] = count.float()
        named["contrast/d_ap"] = torch.stack([r.d_ap_sum for r in results]).sum() / count.clamp_min(1)
        named["contrast/d_an"] = torch.stack([r.d_an_sum for r in results]).sum() / count.clamp_min(1)
        if all(r.active is not None for r in results):
            active = torch.stack([r.active for r in results if r.active is not None]).sum()
            named["contrast/active_frac"] = active.float() / count.clamp_min(1)
        values = torch.stack([v.detach().float() for v in named.values()]).cpu().tolist()  # one device sync
        return dict(zip(named, values))
