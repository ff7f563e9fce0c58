"""``train``: the iteration-based training recipe (optimiser, poly schedule, clipping, AMP, checkpoints)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field

from mtcontrast.config.base import Section


@dataclass(frozen=True)
class RunPaths:
    """Every file of one run's folder ``<train.runs_dir>/<variant>/s<seed>/``: the one home of these names."""

    dir: Path

    @classmethod
    def of(cls, runs_dir: Path, variant: str, seed: int) -> RunPaths:
        """The folder of the run (``variant``, ``seed``): one folder per variant, one sub-folder per seed."""
        return cls(Path(runs_dir) / variant / f"s{int(seed)}")

    @property
    def checkpoint(self) -> Path:
        return self.dir / "checkpoint.pt"

    @property
    def history(self) -> Path:
        return self.dir / "history.jsonl"

    @property
    def history_table(self) -> Path:
        """The same steps as ``history.jsonl`` as one CSV table (a format ``dvc plots`` reads), rewritten whole."""
        return self.dir / "history.csv"

    @property
    def recipe(self) -> Path:
        """``config.variant_recipe`` of the variant: the one params dependency of DVC's ``train@<variant>``."""
        return self.dir / "recipe.json"

    @property
    def summary(self) -> Path:
        return self.dir / "train_summary.json"

    @property
    def label_mask(self) -> Path:
        """The training labels kept per image under ``data.partial`` (only written when it is on)."""
        return self.dir / "label_mask.json"

    @property
    def mlflow_record(self) -> Path:
        return self.dir / "mlflow_run.json"

    @property
    def eval_dir(self) -> Path:
        return self.dir / "eval"

    @property
    def metrics(self) -> Path:
        return self.eval_dir / "metrics.json"

    @property
    def per_image(self) -> Path:
        return self.eval_dir / "per_image.parquet"

    @property
    def confusion(self) -> Path:
        return self.eval_dir / "confusion.npz"

    @property
    def seism_dir(self) -> Path:
        return self.eval_dir / "seism"

    @property
    def figures_dir(self) -> Path:
        return self.eval_dir / "figures"


class AugmentParams(Section):
    """Training augmentation of docs/benchmark-protocol.md §3.1 (ATRC / InvPT)."""

    scale: tuple[float, float] = (0.8, 1.25)  # random rescale range, depth divided by it; protocol: (0.5, 2.0)
    cat_max_ratio: float = Field(0.75, gt=0.0, le=1.0)  # crop redraw rule on semseg
    flip: bool = True  # horizontal flip, p = 0.5, negates normals x
    # brightness / contrast / saturation / hue, each p = 0.5 (the protocol); off in the CPU profile, whose scenes give
    # each class a colour signature (docs/cpu-benchmark.md)
    photometric: bool = False


class TrainParams(Section):
    iterations: int = Field(400, ge=1)
    batch_size: int = Field(8, ge=1)  # per process; DDP multiplies it by the world size
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(8e-3, gt=0.0)
    weight_decay: float = Field(1e-4, ge=0.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)  # sgd only
    poly_power: float = Field(0.9, ge=0.0)  # lr = base · (1 − step / iterations) ^ power, per iteration
    grad_clip: float | None = Field(10.0, gt=0.0)  # max total grad norm; null = off
    amp: Literal["none", "bf16", "fp16"] = "none"  # CUDA only; ignored with a warning on CPU
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(None, ge=1)  # torch CPU threads; null = torch default
    log_every: int = Field(10, ge=1)
    # evaluations of the primary val metrics during training, evenly spaced, the last at the final step; logged as
    # val/<task>_<metric> to history and MLflow (the learning-curve evidence); 0 = off. Not part of the recipe.
    val_evals: int = Field(5, ge=0)
    val_edge_threshold_step: int = Field(5, ge=1)  # every k-th odsF threshold in those evaluations (their cost)
    checkpoint_every: int = Field(100, ge=1)
    max_nonfinite: int = Field(5, ge=1)  # abort after this many consecutive non-finite losses
    crop_size: tuple[int, int] = (64, 80)  # H, W of training crops
    augment: AugmentParams = Field(default_factory=AugmentParams)
    num_workers: int = Field(0, ge=0)  # DataLoader worker processes
    runs_dir: Path = Path("runs")  # <runs_dir>/<variant>/s<seed>/ holds checkpoint, history, evaluation

    def run_paths(self, variant: str, seed: int) -> RunPaths:
        """The run folder of (``variant``, ``seed``) and the names of the files in it."""
        return RunPaths.of(self.runs_dir, variant, seed)
