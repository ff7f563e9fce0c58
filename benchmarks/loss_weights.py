"""The CPU profile's task-loss weights (``loss.weights``) from one stated rule: equal gradient on the shared trunk.

The multi-task host of params.yaml (variant ``mtl``, regulariser off) is trained with every task weight set to 1 for
the first ``--steps`` steps, on procedural scenes of ``--scenes-seed`` (by default not the pipeline's
``scenes.seed``, so the choice never sees the pipeline's data). At every step the gradient of each task's unweighted
loss with respect to the *shared* parameters (every host parameter outside the task heads: encoder and fusion) is
taken with ``torch.autograd.grad``; its L2 norm is recorded. The weight that gives each task the same median pull on
the shared trunk is

    w_t = median_s ‖∇θ L_semseg‖ / median_s ‖∇θ L_t‖        (semseg is the reference, w = 1)

rounded to two significant digits. Nothing here looks at a validation metric or at the regulariser.

    .venv/bin/python benchmarks/loss_weights.py [--steps 40] [--scenes-seed 1] [-S key=value ...]

Writes benchmarks/out/loss_weights.json and prints a markdown table (the numbers go to docs/cpu-benchmark.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch
from torch.utils.data import default_collate

from mtcontrast.config import load_params, resolve_variant
from mtcontrast.data import prepare_dataset
from mtcontrast.data.dataset import build_dataset
from mtcontrast.engine.optim import build_optimizer, poly_schedule
from mtcontrast.engine.sampler import IterationSampler
from mtcontrast.engine.trainer import _param_groups, build_training_model
from mtcontrast.scenes import generate_scenes

OUT = Path(__file__).resolve().parent / "out" / "loss_weights.json"


def _round2(x: float) -> float:
    """Two significant digits: the rule sets a scale, not a precise constant."""
    return float(f"{x:.2g}")


def measure(params_file: str, steps: int, scenes_seed: int, overrides: list[str], threads: int) -> dict[str, object]:
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        base = load_params(
            params_file,
            [
                f"scenes.seed={scenes_seed}",
                f"scenes.out_dir={tmp}/raw",
                f"data.root={tmp}/raw/nyudv2",
                f"data.prepared_dir={tmp}/prepared",
                f"train.runs_dir={tmp}/runs",
                *overrides,
            ],
        )
        generate_scenes(base.scenes, progress=False)
        prepare_dataset(base.data, progress=False)
        p = resolve_variant(base, "mtl")
        tasks = list(p.model.tasks or [])
        for t in tasks:
            p.loss.weights[t] = 1.0
        model = build_training_model(p)
        model.train()
        shared = [prm for name, prm in model.host.named_parameters() if not name.startswith("heads.")]
        opt = build_optimizer(p.train, _param_groups(model))
        sched = poly_schedule(opt, p.train.iterations, p.train.poly_power)
        ds = build_dataset(p, "train", tasks=model.host.tasks)
        sampler = IterationSampler(len(ds), p.train.batch_size, seed=p.seed)
        norms: dict[str, list[float]] = {t: [] for t in model.host.tasks}
        for step, (epoch, indices) in zip(range(steps), sampler.batches(0), strict=False):
            ds.set_epoch(epoch)
            batch = default_collate([ds[i] for i in indices])
            _, out = model(batch, step)
            for t in model.host.tasks:
                grads = torch.autograd.grad(out.components[f"loss_{t}"], shared, retain_graph=True, allow_unused=True)
                norms[t].append(float(torch.sqrt(sum((g.float() ** 2).sum() for g in grads if g is not None))))
            opt.zero_grad(set_to_none=True)
            out.total.backward()
            if p.train.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), p.train.grad_clip)
            opt.step()
            sched.step()
    med = {t: statistics.median(v) for t, v in norms.items()}
    ref = med["semseg"] if "semseg" in med else next(iter(med.values()))
    weights = {t: _round2(ref / m) for t, m in med.items()}
    return {
        "steps": steps,
        "scenes_seed": scenes_seed,
        "overrides": overrides,
        "host": p.model.host,
        "encoder": p.model.encoder.name,
        "shared_params": sum(x.numel() for x in shared),
        "median_grad_norm": {t: round(m, 5) for t, m in med.items()},
        "quartiles": {t: [round(q, 5) for q in statistics.quantiles(v, n=4)] for t, v in norms.items()},
        "weights": weights,
        "params_yaml_weights": {t: base.loss.weights[t] for t in med},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--steps", type=int, default=40, help="measured training steps (the first ones)")
    parser.add_argument("--scenes-seed", type=int, default=1, help="scenes.seed of the measurement's own scenes")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("-S", dest="overrides", action="append", default=[], help="params override, key=value")
    args = parser.parse_args()
    out = measure(args.params, args.steps, args.scenes_seed, args.overrides, args.threads)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=2))
    print(f"{out['host']} on {out['encoder']}, first {out['steps']} steps, scenes.seed={out['scenes_seed']}\n")
    print("| task | median ‖∇ shared‖ (w = 1) | quartiles | equal-gradient weight | params.yaml |")
    print("|---|---|---|---|---|")
    for t, m in out["median_grad_norm"].items():  # type: ignore[union-attr]
        q = out["quartiles"][t]  # type: ignore[index]
        print(f"| {t} | {m:.4g} | {q[0]:.3g}–{q[2]:.3g} | {out['weights'][t]} | {out['params_yaml_weights'][t]} |")  # type: ignore[index]
    print(f"\nwritten: {OUT}")


if __name__ == "__main__":
    main()
