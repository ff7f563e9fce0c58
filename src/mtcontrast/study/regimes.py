"""The study across data regimes (``make study``, docs/study.md): plan its children, pair each arm with the host of
the same seed, and report the regulariser's effect per regime with 95 % t intervals over seeds and a verdict
(:func:`write_study`; the Prefect flow ``pipelines/study.py`` only runs the children and calls it).

A regime's children come from :func:`~mtcontrast.study.plan.plan_children` (the ablation's planner) on the params
with the regime's overrides and seeds, under ``<study.runs_dir>/<study.name>/<regime>/``. The host is the child
with the regulariser off; every other child is an *arm*, compared with the host of its seed (both share the seed's
initial weights, data order and annotation). Only t intervals over seeds are given here: they include training
noise, which a bootstrap over val images cannot see (``report.effects``). The single-task baselines
(:func:`plan_baselines`, trained once on full labels) give every regime's host and arms a Δm vs single-task.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mtcontrast.config import Params, apply_overrides
from mtcontrast.config.data import PartialLabelsParams
from mtcontrast.config.study import StudyParams
from mtcontrast.metrics.delta_m import DELTA_M_METRICS
from mtcontrast.report.convergence import TAIL
from mtcontrast.report.results import LABEL, effect_entry, mean_baselines
from mtcontrast.study.plan import ChildPlan, ChildResult, plan_children
from mtcontrast.study.summary import delta_m_or_nan, delta_m_vs_host, host_of, is_host

# contrast diagnostics summarised per arm (history.jsonl keys): why an effect is there or not
DIAGNOSTICS = ("active_frac", "d_ap", "d_an", "images_with_target_label", "images_without_target_label")
BASELINES = "baselines"  # the folder (<runs_dir>/<name>/baselines/) and ``study.regime`` tag of the baselines
BASELINE_SETTING = "single-task"


def plan_study(base: Params, cfg: StudyParams) -> dict[str, list[ChildPlan]]:
    """``{regime: children}``: each regime's grid × its seeds over ``cfg.variant``, its overrides applied first
    (validated: a bad key fails here, naming the regime, before any training)."""
    plans = {}
    for name, regime in cfg.regimes.items():
        seeds = {"seeds": regime.seeds, "baseline_seeds": regime.seeds[:1]}  # the study trains no baselines
        params = apply_overrides(base, {**regime.overrides, **seeds}, f"study.regimes.{name}")
        folder = Path(cfg.runs_dir) / cfg.name / name
        plans[name] = plan_children(params, cfg.variant, regime.grid, folder, section="study")
    return plans


def plan_baselines(base: Params, cfg: StudyParams) -> list[ChildPlan]:
    """The single-task baselines of ``base`` (section ``baselines``, on ``baseline_seeds``) with every training
    label (``data.partial`` off, whatever ``base`` says) and no regime's overrides: the one Δm reference of every
    regime, trained once per study under ``<runs_dir>/<name>/baselines/``. Empty when ``cfg.baselines`` is off."""
    if not cfg.baselines:
        return []
    train = base.train.model_copy(update={"runs_dir": Path(cfg.runs_dir) / cfg.name / BASELINES})
    data = base.data.model_copy(update={"partial": PartialLabelsParams()})
    params = base.model_copy(update={"train": train, "data": data})
    return [
        ChildPlan(name, BASELINE_SETTING, {}, params.at_seed(seed), seed)
        for name in base.baselines
        for seed in base.baseline_seeds
    ]


def baseline_reference(children: Sequence[ChildResult]) -> dict[str, dict[str, float]]:
    """``{task: {metric: mean over the baseline seeds}}`` from the single-task baseline children (the rule of
    ``reports/results.md`` for a seed without baselines of its own: :func:`~mtcontrast.report.results.mean_baselines`)."""
    by_seed: dict[int, dict[str, dict[str, float]]] = {}
    for child in children:
        by_seed.setdefault(child.seed, {}).update(child.metrics)
    return mean_baselines(by_seed, sorted(by_seed))


def _vs_single_task(members: Sequence[ChildResult], reference: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """Δm vs single-task of each member (one per seed), with mean and 95 % t interval over the seeds."""
    dms = [delta_m_or_nan(c.metrics, reference) for c in members]
    entry = effect_entry("Δm vs single-task", dms, [0.0] * len(dms), True, None, digits=2)
    return {"seeds": [c.seed for c in members], **entry}


def _tail_means(history: Path) -> dict[str, float]:
    """Mean of each contrast diagnostic over the last :data:`TAIL` of the logged training steps."""
    if not history.is_file():
        return {}
    rows = [json.loads(line) for line in history.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "train/contrast/d_ap" in r]
    tail = rows[-max(1, math.ceil(TAIL * len(rows))) :] if rows else []
    out = {}
    for key in DIAGNOSTICS:
        values = [r[f"train/contrast/{key}"] for r in tail if f"train/contrast/{key}" in r]
        if values:
            out[key] = float(np.mean(values))
    return out


def regime_effects(
    children: Sequence[ChildResult],
    histories: Mapping[str, Path] | None = None,
    reference: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, Any]:
    """Per arm of one regime (keyed by its setting label): the paired effect (arm − host of the same seed) on each
    task's primary metric and on Δm vs host, with mean, 95 % t interval, half-width and verdict; the host's means;
    with ``histories`` (:attr:`ChildResult.key` → history.jsonl), the arm's contrast diagnostics; with
    ``reference`` (:func:`baseline_reference`), ``single_task``: the host's and each arm's Δm vs single-task."""
    hosts = {c.seed: c for c in children if is_host(c)}
    arms = list(dict.fromkeys(c.setting for c in children if not is_host(c)))
    out: dict[str, Any] = {"host": {}, "arms": {}}
    if reference:
        settings = [next(c.setting for c in children if is_host(c))] if hosts else []
        out["single_task"] = {
            setting: _vs_single_task(
                sorted((c for c in children if c.setting == setting), key=lambda c: c.seed), reference
            )
            for setting in [*settings, *arms]
        }
    if hosts:
        first = next(iter(hosts.values()))
        out["host"] = {
            f"{t}.{DELTA_M_METRICS[t][0]}": float(
                np.mean([h.metrics[t][DELTA_M_METRICS[t][0]] for h in hosts.values()])
            )
            for t in first.metrics
        }
        out["host_seeds"] = sorted(hosts)
    for arm in arms:
        members = sorted((c for c in children if c.setting == arm), key=lambda c: c.seed)
        pairs = [(c, h) for c in members if (h := host_of(c, children)) is not None]
        if not pairs:
            continue
        effects = {}
        for task in pairs[0][0].metrics:
            metric, lower = DELTA_M_METRICS[task]
            effects[f"{task}.{metric}"] = effect_entry(
                f"{task} {LABEL.get(metric, metric)}",
                [c.metrics[task][metric] for c, _ in pairs],
                [h.metrics[task][metric] for _, h in pairs],
                not lower,
                None,
                digits=4 if task == "depth" else 2,
            )
        dms = [delta_m_vs_host(c, h) for c, h in pairs]
        effects["delta_m"] = effect_entry("Δm vs host", dms, [0.0] * len(dms), True, None, digits=2)
        dm = effects["delta_m"]
        entry: dict[str, Any] = {
            "seeds": [c.seed for c, _ in pairs],
            "effects": effects,
            "verdict": dm["verdict"],
            "half_width": None if dm["low"] is None else (dm["high"] - dm["low"]) / 2,
        }
        if histories:
            per_seed = [_tail_means(histories[c.key]) for c, _ in pairs if c.key in histories]
            keys = [k for k in DIAGNOSTICS if per_seed and all(k in d for d in per_seed)]
            entry["diagnostics"] = {k: float(np.mean([d[k] for d in per_seed])) for k in keys}
        out["arms"][arm] = entry
    return out


def _signed(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:+.{digits}f}".replace("-", "−")


def study_markdown(results: Mapping[str, Any]) -> str:
    """``reports/<study>.md``: one table row per (regime, arm) with Δm vs host and each task's paired difference,
    then the verdicts in words and the contrast diagnostics."""
    lines = [f"# The regulariser per data regime (study `{results['name']}`)", "", results["preamble"], ""]
    tasks = results["tasks"]
    head = [f"{t} {LABEL.get(DELTA_M_METRICS[t][0], DELTA_M_METRICS[t][0])}" for t in tasks]
    lines += [
        "| regime | arm (− host) | seeds | Δm vs host [95 % CI] | ± | " + " | ".join(head) + " |",
        "|---|---|---|---|---|" + "---|" * len(tasks),
    ]
    for regime, entry in results["regimes"].items():
        for arm, a in entry["arms"].items():
            e = a["effects"]
            dm = e["delta_m"]
            cells = []
            for t in tasks:
                te = e.get(f"{t}.{DELTA_M_METRICS[t][0]}")
                digits = 4 if t == "depth" else 2
                cells.append(
                    "–"
                    if te is None
                    else f"{_signed(te['mean'], digits)} [{_signed(te['low'], digits)}, {_signed(te['high'], digits)}]"
                )
            half = "–" if a["half_width"] is None else f"{a['half_width']:.2f}"
            lines.append(
                f"| {regime} | {arm} | {len(a['seeds'])} | {_signed(dm['mean'])} [{_signed(dm['low'])}, {_signed(dm['high'])}]"
                f" | {half} | " + " | ".join(cells) + " |"
            )
    lines += ["", "Verdicts (Δm vs host, paired by seed):", ""]
    for regime, entry in results["regimes"].items():
        for arm, a in entry["arms"].items():
            lines.append(f"- **{regime}**, {arm}: {a['verdict']}")
    single = [
        (r, setting, e)
        for r, entry in results["regimes"].items()
        for setting, e in entry.get("single_task", {}).items()
    ]
    if single:
        ref = results.get("baselines", {})
        lines += [
            "",
            "Δm vs the single-task baselines (one model per task, every training frame and label, the mean over "
            f"baseline seeds {ref.get('seeds', [])}): what multi-task learning costs or gains in each regime, for the "
            "host and each arm, with a 95 % t interval over the regime's seeds.",
            "",
            "| regime | run | seeds | Δm vs single-task [95 % CI] |",
            "|---|---|---|---|",
        ]
        for regime, setting, e in single:
            run = "host" if setting == "contrast=off" else f"host + regulariser ({setting})"
            lines.append(
                f"| {regime} | {run} | {len(e['seeds'])} | {_signed(e['mean'])} [{_signed(e['low'])}, {_signed(e['high'])}] |"
            )
    diag = [
        (r, arm, a["diagnostics"])
        for r, e in results["regimes"].items()
        for arm, a in e["arms"].items()
        if a.get("diagnostics")
    ]
    if diag:
        keys = [k for k in DIAGNOSTICS if any(k in d for _, _, d in diag)]
        lines += [
            "",
            f"Contrast diagnostics of the arms (mean over seeds of the last {TAIL:.0%} of logged steps): the share of "
            "triplets with a non-zero hinge, the mean anchor–positive and anchor–negative distances, and the images "
            "per step regularised with / without the target's own label.",
            "",
            "| regime | arm | " + " | ".join(keys) + " |",
            "|---|---|" + "---|" * len(keys),
        ]
        for regime, arm, d in diag:
            lines.append(f"| {regime} | {arm} | " + " | ".join(f"{d[k]:.3g}" if k in d else "–" for k in keys) + " |")
    host_rows = [(r, e["host"]) for r, e in results["regimes"].items() if e["host"]]
    if host_rows:
        keys = list(host_rows[0][1])
        lines += [
            "",
            "The host's own metrics (mean over the regime's seeds):",
            "",
            "| regime | " + " | ".join(keys) + " |",
            "|---|" + "---|" * len(keys),
        ]
        for regime, h in host_rows:
            lines.append(f"| {regime} | " + " | ".join(f"{h[k]:.4g}" for k in keys) + " |")
    return "\n".join(lines) + "\n"


def effect_rows(results: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(label, Δm effect)`` per (regime, arm), in report order: the rows of
    :func:`mtcontrast.report.figures.study_plot`."""
    return [
        (f"{regime}\n{arm.replace(', ', chr(10))}", a["effects"]["delta_m"])
        for regime, entry in results["regimes"].items()
        for arm, a in entry["arms"].items()
    ]


def _preamble(params: Params, regimes: dict[str, Any]) -> str:
    c = params.loss.contrast
    seeds = "; ".join(f"{name}: seeds {r.seeds}" for name, r in regimes.items())
    if params.study.baselines:
        seeds += f"; single-task baselines: seeds {params.baseline_seeds}, full labels"
    return (
        f"Variant `{params.study.variant}` (host `{params.model.host}`, encoder `{params.model.encoder.name}`) on "
        f"`{params.data.name}` (scenes seed {params.scenes.seed}), {params.train.iterations} iterations × batch "
        f"{params.train.batch_size}. Regulariser fixed before the study ran: `{c.kind}`, λ {c.weight}, "
        f"{c.anchors_per_image} anchors per image, sources `{c.source_mode}`, margin {c.margin}. {seeds}. Each arm "
        "is compared with the host (regulariser off) of the same seed: same initial weights, data order and "
        "annotation. Intervals: 95 % t over seeds. Last iterate of every run; nothing is selected on val."
    )


def write_study(
    params: Params,
    finished: dict[str, list[ChildResult]],
    histories: dict[str, dict[str, Path]],
    baselines: Sequence[ChildResult] = (),
) -> dict[str, Path]:
    """``<out_dir>/<name>.json`` and ``.md`` (temp name, then rename) and the figure ``<out_dir>/<name>.png`` (not
    in ``reports/figures``, a DVC output). ``histories``: per regime, each child's history.jsonl (diagnostics);
    ``baselines``: the finished single-task baselines (:func:`plan_baselines`), the Δm vs single-task reference."""
    from mtcontrast.report.figures import study_plot

    cfg = params.study
    reference = baseline_reference(baselines)
    regimes = {r: regime_effects(children, histories.get(r), reference) for r, children in finished.items()}
    first = next((c for children in finished.values() for c in children), None)
    results = {
        "name": cfg.name,
        "preamble": _preamble(params, {r: cfg.regimes[r] for r in finished if r in cfg.regimes}),  # those that ran
        "tasks": list(first.metrics) if first else [],
        "regimes": regimes,
    }
    if reference:
        results["baselines"] = {"seeds": sorted({c.seed for c in baselines}), "metrics": reference}
    out = Path(cfg.out_dir)
    paths = {
        "json": out / f"{cfg.name}.json",
        "markdown": out / f"{cfg.name}.md",
        "figure": out / f"{cfg.name}.png",
    }
    out.mkdir(parents=True, exist_ok=True)
    for key, text in (("json", json.dumps(results, indent=1)), ("markdown", study_markdown(results))):
        tmp = paths[key].with_name(f".{paths[key].name}.tmp-{os.getpid()}")
        tmp.write_text(text)
        os.replace(tmp, paths[key])
    title = f"The regulariser per data regime (study {cfg.name}, {params.data.name})"
    if study_plot(effect_rows(results), paths["figure"], title) is None:
        del paths["figure"]
    return paths
