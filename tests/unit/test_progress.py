"""Training progress as log lines (``training.ProgressLog``): about 20 lines per training at multiples of
``train.log_every``, the last step always, through Prefect's run logger inside a flow and plain logging otherwise."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from mtcontrast.config import load_params
from mtcontrast.training import ProgressLog, progress_logger


class _Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str, *args: object) -> None:
        self.lines.append(msg % args)


def test_a_line_every_n_steps_and_at_the_end() -> None:
    params = load_params(None)
    logger = _Lines()
    progress = ProgressLog("mtl_contrast", iterations=250, log_every=10, logger=logger)
    assert progress.every == 10  # 250 / (10 · 20) rounds to 1 → every logged step
    progress = ProgressLog("mtl_contrast", iterations=1000, log_every=10, logger=logger)
    assert progress.every == 50  # ~20 lines
    progress.on_start(params, "mtl_contrast", Path("runs/mtl_contrast"), 0)
    for step in range(10, 1001, 10):
        progress.on_log(step, {"train/loss": 2.0 - step / 1000})
    progress.on_end(SimpleNamespace(steps=1000, seconds=12.0))
    steps = [line for line in logger.lines if ": step " in line]
    assert len(steps) == 20
    assert steps[0].startswith("train mtl_contrast: step 50/1000 (5%) loss 1.95 · ")
    assert steps[-1].startswith("train mtl_contrast: step 1000/1000 (100%) loss 1 · ") and steps[-1].endswith(
        "0 s left"
    )
    assert logger.lines[0] == "train mtl_contrast: started, 1000 steps"
    assert logger.lines[-1] == "train mtl_contrast: 1000 steps in 12 s"
    resumed = ProgressLog("depth", iterations=60, log_every=5, logger=_Lines())
    resumed.on_start(params, "depth", Path("runs/depth"), 40)
    resumed.on_log(60, {"train/loss": 0.5})
    assert resumed.logger.lines == ["train depth: resumed at step 40, 60 steps", resumed.logger.lines[1]]
    assert resumed.logger.lines[1].startswith("train depth: step 60/60 (100%) loss 0.5")


def test_outside_a_flow_progress_is_plain_logging_on_stderr() -> None:
    logger = progress_logger()
    assert isinstance(logger, logging.Logger) and logger.name == "mtcontrast.progress"
    code = (
        "import sys; from mtcontrast.training import progress_logger; progress_logger().info('train x: step 1/2'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'prefect'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stderr == "train x: step 1/2\n"
    assert out.stdout == "[]\n"  # a stage process never pays Prefect's import (~4 s) to learn it is not in a flow
