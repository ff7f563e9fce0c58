"""Shared fixtures. Everything runs offline on generated data.

``tiny_recipe`` is the one small recipe of the integration tests: the repo's params.yaml with :data:`TINY` applied
(timm's 0.37 M-parameter ``test_resnet`` encoder, narrow heads, a few anchors, 6 steps), so the tests exercise the
real defaults and drift with them, not with a hand-made copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

import mtcontrast  # noqa: F401  first: sets the offline / telemetry env defaults before any test imports MLflow
from mtcontrast.config import Params, load_params

REPO_ROOT = Path(__file__).resolve().parents[1]

TINY = [
    "model.encoder.name=test_resnet",
    "model.head_channels=16",
    "model.fuse_channels=32",
    "loss.contrast.anchors_per_image=16",
    "loss.contrast.candidates=16",
    "loss.contrast.proj_dim=16",
    "scenes.image_size=[64, 80]",
    "scenes.train=8",
    "scenes.val=4",
    "train.crop_size=[64, 80]",
    "train.batch_size=2",
    "train.iterations=6",
    "train.log_every=1",
    "train.checkpoint_every=2",
    "train.threads=1",
    "eval.batch_size=2",
    "eval.workers=1",
]


@dataclass(frozen=True)
class TinyRecipe:
    """params.yaml + :data:`TINY`; :meth:`at` moves every folder under a test's root and adds overrides."""

    file: Path
    overrides: tuple[str, ...] = tuple(TINY)  # also applied by DVC's own -S rewrite (tests/slow)

    def at(self, root: Path, *overrides: str) -> Params:
        folders = [
            f"scenes.out_dir={root}/raw",
            f"data.root={root}/raw/nyudv2",
            f"data.prepared_dir={root}/prepared",
            f"train.runs_dir={root}/runs",
            f"ablation.runs_dir={root}/studies",
            f"ablation.out_dir={root}/reports/ablation",
        ]
        return load_params(self.file, [*self.overrides, *folders, *overrides])

    def write(self, path: Path, params: Params) -> Path:
        """A complete params file (what DVC stages, the CLI and flow children read)."""
        path.write_text(yaml.safe_dump(params.model_dump(mode="json"), sort_keys=False))
        return path


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def tiny_recipe() -> TinyRecipe:
    return TinyRecipe(REPO_ROOT / "params.yaml")
