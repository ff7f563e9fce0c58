"""Four processes logging to one fresh SQLite store at once lose nothing (schema creation included)."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

STEPS = 100
WORKERS = 4


def _log_run(uri: str, root: str, k: int) -> str:
    """One spawned logger: its own run dir, one write per step (no buffering) to maximise lock contention."""
    from mtcontrast import tracking
    from mtcontrast.config import load_params
    from mtcontrast.tracking import runs

    runs.FLUSH_SECONDS = 0.0
    tracking.configure(uri)
    params = load_params(None, [f"train.runs_dir={root}/runs{k}", f"data.prepared_dir={root}/data"])
    with tracking.tracked_run(params, "mtl", source=f"test:worker{k}", run_dir=Path(root) / f"runs{k}" / "mtl") as cb:
        for step in range(1, STEPS + 1):
            cb.on_log(step, {"train/loss": k + step / 1000, "train/lr": 1.0 / step})
    return str(cb.run_id)


@pytest.mark.slow  # ~35 s on 2 cores: four interpreters importing mlflow and torch
@pytest.mark.timeout(300)
def test_four_processes_log_in_parallel_without_losing_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mtcontrast import tracking

    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"  # not created yet: the workers race to create it
    with mp.get_context("spawn").Pool(WORKERS) as pool:
        run_ids = pool.starmap(_log_run, [(uri, str(tmp_path), k) for k in range(WORKERS)])
    assert len(set(run_ids)) == WORKERS
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = tracking.client()
    experiments = [e.name for e in client.search_experiments()]
    assert experiments.count("mtcontrast/scenes_nyudv2") == 1  # created once despite the race
    for k, run_id in enumerate(run_ids):
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED" and run.data.tags["source"] == f"test:worker{k}"
        loss = client.get_metric_history(run_id, "train/loss")
        lr = client.get_metric_history(run_id, "train/lr")
        assert sorted(m.step for m in loss) == list(range(1, STEPS + 1)) == sorted(m.step for m in lr)
        assert sorted(m.value for m in loss) == pytest.approx([k + s / 1000 for s in range(1, STEPS + 1)], abs=0)
        assert len(run.data.params) > 90
