"""Dataset and task facts shared by every layer (data, models, losses, metrics).

Values follow docs/benchmark-protocol.md §1; label conventions are those of the prepared-data read contract:
discrete labels use 255 as ignore, depth uses 0 as invalid, normals use the zero vector as invalid.
"""

from __future__ import annotations

from dataclasses import dataclass

IGNORE_INDEX = 255

NYU40_CLASSES: tuple[str, ...] = (
    "wall",
    "floor",
    "cabinet",
    "bed",
    "chair",
    "sofa",
    "table",
    "door",
    "window",
    "bookshelf",
    "picture",
    "counter",
    "blinds",
    "desk",
    "shelves",
    "curtain",
    "dresser",
    "pillow",
    "mirror",
    "floor mat",
    "clothes",
    "ceiling",
    "books",
    "refridgerator",
    "television",
    "paper",
    "towel",
    "shower curtain",
    "box",
    "whiteboard",
    "person",
    "night stand",
    "toilet",
    "sink",
    "lamp",
    "bathtub",
    "bag",
    "otherstructure",
    "otherfurniture",
    "otherprop",
)

VOC_CLASSES: tuple[str, ...] = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)

# PASCAL-Context LabelMap id of each VOC class 1..20 (docs/benchmark-protocol.md §1.2).
VOC_TO_CONTEXT_ID: dict[str, int] = {
    "aeroplane": 2,
    "bicycle": 23,
    "bird": 25,
    "boat": 31,
    "bottle": 34,
    "bus": 45,
    "car": 59,
    "cat": 65,
    "chair": 72,
    "cow": 98,
    "diningtable": 397,
    "dog": 113,
    "horse": 207,
    "motorbike": 258,
    "person": 284,
    "pottedplant": 308,
    "sheep": 347,
    "sofa": 368,
    "train": 416,
    "tvmonitor": 427,
}

HUMAN_PARTS_CLASSES: tuple[str, ...] = (
    "background",
    "head",
    "torso",
    "upper arm",
    "lower arm",
    "upper leg",
    "lower leg",
)

# The benchmark's 6-part grouping of PASCAL-Part person part names (ids 1..6, 0 = background).
PERSON_PART_GROUPS: dict[str, int] = {
    **dict.fromkeys(("hair", "head", "lear", "rear", "lebrow", "rebrow", "leye", "reye", "mouth", "nose"), 1),
    **dict.fromkeys(("neck", "torso"), 2),
    **dict.fromkeys(("luarm", "ruarm"), 3),
    **dict.fromkeys(("llarm", "rlarm", "lhand", "rhand"), 4),
    **dict.fromkeys(("luleg", "ruleg"), 5),
    **dict.fromkeys(("llleg", "rlleg", "lfoot", "rfoot"), 6),
}
PERSON_CLASS_INDEX = 15  # VOC / PASCAL-Part category id of person

ALL_TASKS: tuple[str, ...] = ("semseg", "depth", "normals", "edge", "human_parts", "sal")
DISCRETE_TASKS: frozenset[str] = frozenset({"semseg", "human_parts", "edge", "sal"})


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset provides: its tasks, class lists, split sizes and protocol constants."""

    name: str
    tasks: tuple[str, ...]
    class_names: dict[str, tuple[str, ...]]
    split_counts: dict[str, int]
    edge_max_dist: float  # BSDS maxDist as a fraction of the image diagonal (SEISM eval_method.m)
    edge_pos_weight: float  # fraction of negatives used to balance the edge BCE

    def num_classes(self, task: str) -> int:
        """Output channels a head needs for ``task`` (1 for depth/edge, 3 for normals, 2 for saliency)."""
        if task in self.class_names:
            return len(self.class_names[task])
        return {"depth": 1, "normals": 3, "edge": 1, "sal": 2}[task]


_NYUD_TASKS = ("semseg", "depth", "normals", "edge")
DATASETS: dict[str, DatasetSpec] = {
    "nyudv2": DatasetSpec("nyudv2", _NYUD_TASKS, {"semseg": NYU40_CLASSES}, {"train": 795, "val": 654}, 0.011, 0.95),
    "nyud_mt": DatasetSpec("nyud_mt", _NYUD_TASKS, {"semseg": NYU40_CLASSES}, {"train": 795, "val": 654}, 0.011, 0.95),
    "pascal_context": DatasetSpec(
        "pascal_context",
        ("semseg", "human_parts", "sal", "normals", "edge"),
        {"semseg": VOC_CLASSES, "human_parts": HUMAN_PARTS_CLASSES},
        {"train": 4998, "val": 5105},
        0.0075,
        0.95,
    ),
}


def dataset_spec(name: str) -> DatasetSpec:
    """Look up a dataset by name with an error that lists the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None
