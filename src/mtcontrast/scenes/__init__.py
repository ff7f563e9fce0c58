"""Built-in procedural scenes: ray-cast rooms and outdoor views written in the real NYUD / PASCAL-Context layouts.

``generate_scenes(params.scenes)`` is the entry point (``mtc scenes``, DVC stage ``scenes``); ``render_nyud`` and
``render_pascal`` give one frame's arrays without touching the disk.
"""

from mtcontrast.scenes.generate import GENERATOR_VERSION, MANIFEST, generate_scenes, sample_id, sample_rng
from mtcontrast.scenes.indoor import NyudSample, render_nyud
from mtcontrast.scenes.pascal import PascalSample, render_pascal

__all__ = [
    "GENERATOR_VERSION",
    "MANIFEST",
    "NyudSample",
    "PascalSample",
    "generate_scenes",
    "render_nyud",
    "render_pascal",
    "sample_id",
    "sample_rng",
]
