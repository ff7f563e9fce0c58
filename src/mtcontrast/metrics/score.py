"""One entry point per use: ``build_meter`` (the engine's streaming meters), ``score`` (arrays in memory) and
``score_folder`` (a prepared split against exported prediction files, the protocol's offline route).

Prediction files, ``<pred_dir>/<task>/<id>.png`` or ``<id>.npy``:
semseg / human_parts PNG = uint8 class index; edge / sal PNG = uint8 v → v/255 (probability);
normals PNG = RGB, n = 2v/255 − 1; ``.npy`` holds the array itself (depth in metres, normals H×W×3 float,
edge / sal probability, class-index maps).

Protocol variants: ``sal`` ∈ {invpt (default), atrc, mtinet}; ``edge`` ∈ {nms (default), plain}. Both can be set
at once with a mapping, e.g. ``{"sal": "atrc", "edge": "plain"}``; a plain string applies to the task it names a
variant of.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from mtcontrast.data.errors import DataError
from mtcontrast.data.ids import check_id, path_inside
from mtcontrast.metrics.base import Meter
from mtcontrast.metrics.depth import DepthMeter
from mtcontrast.metrics.edges.bsds import EdgeMeter
from mtcontrast.metrics.normals import NormalsMeter
from mtcontrast.metrics.saliency import SAL_PROTOCOLS, SaliencyMeter
from mtcontrast.metrics.segmentation import ConfusionMeter
from mtcontrast.tasks import DatasetSpec, dataset_spec

if TYPE_CHECKING:
    from mtcontrast.data.edge_gt import EdgeGtPlan

PROTOCOLS: dict[str, tuple[str, ...]] = {"sal": SAL_PROTOCOLS, "edge": ("nms", "plain")}
DEFAULT_PROTOCOL: dict[str, str] = {"sal": "invpt", "edge": "nms"}
Protocol = str | Mapping[str, str] | None
_EDGE_CHUNK_PER_WORKER = 8


def resolve_protocol(task: str, protocol: Protocol) -> str | None:
    """The variant ``task`` is scored with (None for tasks without variants)."""
    if task not in PROTOCOLS:
        if isinstance(protocol, Mapping) and protocol.get(task) is not None:
            raise ValueError(f"task {task!r} has no protocol variants (only {', '.join(PROTOCOLS)} do)")
        return None
    if isinstance(protocol, Mapping):
        chosen = protocol.get(task)
    elif isinstance(protocol, str):
        known = {p for variants in PROTOCOLS.values() for p in variants}
        if protocol not in known:
            raise ValueError(f"protocol {protocol!r} unknown; sal: {', '.join(SAL_PROTOCOLS)}; edge: nms, plain")
        chosen = protocol if protocol in PROTOCOLS[task] else None
    else:
        chosen = None
    chosen = chosen or DEFAULT_PROTOCOL[task]
    if chosen not in PROTOCOLS[task]:
        raise ValueError(f"{task} protocol {chosen!r} unknown; expected one of {', '.join(PROTOCOLS[task])}")
    return chosen


def build_meter(task: str, dataset: str | DatasetSpec, protocol: Protocol = None, **options: Any) -> Meter:
    """The meter of ``task`` configured for ``dataset`` (K, maxDist) and the protocol variant.

    ``options`` go to the meter (e.g. ``export_dir`` or ``quantize`` for the edge meter).
    """
    spec = dataset if isinstance(dataset, DatasetSpec) else dataset_spec(dataset)
    if task not in spec.tasks:
        raise ValueError(f"task {task!r} is not a task of dataset {spec.name!r} (its tasks: {', '.join(spec.tasks)})")
    variant = resolve_protocol(task, protocol)
    if task in ("semseg", "human_parts"):
        return ConfusionMeter(spec.num_classes(task), **options)
    if task == "depth":
        return DepthMeter(**options)
    if task == "normals":
        return NormalsMeter(**options)
    if task == "sal":
        return SaliencyMeter(variant, **options)  # type: ignore[arg-type]
    return EdgeMeter(spec.edge_max_dist, nms=variant == "nms", **options)


def _edge_shard(config: dict[str, Any], items: list[tuple[str, np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    meter = EdgeMeter(**config)
    for image_id, pred, gt in items:
        meter.update(pred, gt, id=image_id)
    return meter.state()


def feed(meter: Meter, items: Iterable[tuple[str, np.ndarray, np.ndarray]], workers: int = 1) -> Meter:
    """Add ``(id, pred, gt)`` items to ``meter``. With ``workers`` > 1 the edge meter (the only slow one: one
    correspondence per threshold) is fed in contiguous shards by worker processes whose states are merged back
    in order: the result is identical to a single pass."""
    if workers <= 1 or not isinstance(meter, EdgeMeter):
        for image_id, pred, gt in items:
            meter.update(pred, gt, id=image_id)
        return meter
    items = list(items)
    if not items:
        return meter
    config = meter.config() | {"export_dir": meter.export_dir}
    size = -(-len(items) // max(1, min(workers, len(items))))
    shards = [items[i : i + size] for i in range(0, len(items), size)]
    with ProcessPoolExecutor(max_workers=min(workers, len(shards))) as pool:
        for state in pool.map(_edge_shard, [config] * len(shards), shards):
            meter.merge(state)
    return meter


def score(
    task: str,
    preds: Iterable[np.ndarray],
    gts: Iterable[np.ndarray],
    *,
    dataset: str | DatasetSpec,
    protocol: Protocol = None,
    ids: Sequence[str] | None = None,
    workers: int = 1,
) -> dict[str, float]:
    """Metrics of ``task`` over per-image ``preds`` / ``gts`` (native resolution, PreparedSplit conventions).

    preds: semseg / human_parts class-index maps; depth metres; normals H×W×3; edge and sal probabilities.
    Keys: ``miou`` (%); ``rmse`` (m), ``log_rmse``, ``abs_rel``, ``sq_rel``, ``delta1`` (%); ``mean``, ``median``,
    ``rmse`` (°), ``within_11_25``, ``within_22_5``, ``within_30`` (%); ``maxf`` (%); ``odsf``, ``oisf``, ``ap`` (%).
    """
    meter = build_meter(task, dataset, protocol)
    preds, gts = list(preds), list(gts)
    if len(preds) != len(gts):
        raise ValueError(f"score({task!r}): {len(preds)} predictions but {len(gts)} ground-truth maps")
    names = [str(i) for i in range(len(preds))] if ids is None else [str(i) for i in ids]
    if len(names) != len(preds):
        raise ValueError(f"score({task!r}): {len(names)} ids for {len(preds)} images")
    return feed(meter, zip(names, preds, gts), workers).compute()


def read_prediction(task: str, pred_dir: str | Path, image_id: str) -> np.ndarray:
    """Decode ``<pred_dir>/<task>/<id>.png`` (preferred) or ``.npy`` per the export formats. The id must be a plain
    name and the file must lie inside the task folder: an id like ``../../outside/victim`` is refused, not read."""
    folder = Path(pred_dir) / task
    check_id(image_id, folder)
    base = folder / image_id
    png, npy = path_inside(folder, f"{image_id}.png"), path_inside(folder, f"{image_id}.npy")
    if task != "depth" and png.is_file():
        try:
            with Image.open(png) as img:
                array = np.asarray(img)
        except (OSError, ValueError) as err:
            raise DataError(png, f"cannot read prediction PNG ({err})") from None
        if array.dtype != np.uint8:
            raise DataError(png, f"expected an 8-bit PNG; got dtype {array.dtype}")
        if task == "normals":
            if array.ndim != 3 or array.shape[-1] != 3:
                raise DataError(png, f"normals PNG must be RGB H×W×3; got shape {array.shape}")
            return array.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)
        if array.ndim != 2:
            raise DataError(png, f"{task} PNG must be single-channel (class index or 0..255); got shape {array.shape}")
        return array.astype(np.float32) / np.float32(255.0) if task in ("edge", "sal") else array
    if npy.is_file():
        try:
            return np.load(npy, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise DataError(npy, f"cannot read prediction array ({err})") from None
    expected = f"{npy.name}" if task == "depth" else f"{png.name} or {npy.name}"
    raise DataError(base.parent, f"missing prediction for id {image_id!r}: expected {expected}")


def _split_dataset(split: Any, path: Path) -> str:
    for source in (getattr(split, "info", None), getattr(split, "attrs", None)):
        if isinstance(source, Mapping) and "dataset" in source:
            return str(source["dataset"])
        name = getattr(source, "dataset", None)
        if isinstance(name, str):
            return name
    raise DataError(path, "cannot tell which dataset this prepared split holds; pass dataset=")


def evaluate_samples(
    samples: Iterable[Mapping[str, Any]],
    pred_dir: str | Path,
    tasks: Sequence[str],
    dataset: str | DatasetSpec,
    protocol: Protocol = None,
    workers: int = 1,
    edge_thin: bool = True,
    edge_gt: EdgeGtPlan | None = None,
    edge_matcher: str = "fast",
    edge_thresholds: np.ndarray | None = None,
) -> dict[str, Meter]:
    """Meters of ``tasks`` filled from prepared samples (``sample[task]`` GT, ``sample["meta"]["id"]``) and the
    prediction files under ``pred_dir``. A prediction whose size differs from its GT is an error. ``edge_thin``:
    ``EdgeMeter(thin=…)``, params ``eval.edge_thin`` (docs/seism.md §1). ``edge_gt`` (``data.edge_gt``, from
    ``eval.edge_gt``): which images are scored for edges and against which map (default: ``sample["edge"]`` of
    every sample). ``edge_thresholds``: a reduced threshold set (``eval.edge_threshold_step``; default: all)."""
    edge_kw: dict[str, Any] = {
        "thin": edge_thin,
        "gt_kind": edge_gt.gt_kind if edge_gt is not None else "binary",
        "matcher": edge_matcher,
    }
    if edge_thresholds is not None:
        edge_kw["thresholds"] = edge_thresholds
    meters = {task: build_meter(task, dataset, protocol, **(edge_kw if task == "edge" else {})) for task in tasks}
    pending: dict[str, list[tuple[str, np.ndarray, np.ndarray]]] = {task: [] for task in tasks}
    for sample in samples:
        image_id = str(sample["meta"]["id"])
        for task in tasks:
            key = task
            if task == "edge" and edge_gt is not None:
                if not edge_gt.selects(image_id):
                    continue  # not in the edge GT's image set (labelmap_test_new: PASCAL test_new)
                key = edge_gt.sample_key
            gt = np.asarray(sample[key])
            pred = read_prediction(task, pred_dir, image_id)
            if pred.shape[:2] != gt.shape[:2]:
                raise DataError(
                    Path(pred_dir) / task,
                    f"prediction for {image_id!r} is {pred.shape[0]}×{pred.shape[1]}, expected the native size "
                    f"{gt.shape[0]}×{gt.shape[1]}",
                )
            if task == "edge" and workers > 1:
                pending[task].append((image_id, pred, gt))
                if len(pending[task]) >= _EDGE_CHUNK_PER_WORKER * workers:  # bounded memory
                    feed(meters[task], pending.pop(task), workers)
                    pending[task] = []
            else:
                meters[task].update(pred, gt, id=image_id)
    for task, items in pending.items():
        feed(meters[task], items, workers)
    return meters


def score_folder(
    prepared_h5: str | Path,
    pred_dir: str | Path,
    tasks: Sequence[str] | None = None,
    protocol: Protocol = None,
    *,
    dataset: str | None = None,
    workers: int = 1,
    edge_thin: bool = True,
    edge_gt: str = "auto",
    edge_matcher: str = "fast",
    edge_thresholds: np.ndarray | None = None,
    limit: int | None = None,
) -> dict[str, dict[str, float]]:
    """Score exported predictions against a prepared split: ``{task: metrics}``.

    ``tasks`` default: the split's tasks that have a ``<pred_dir>/<task>/`` folder. ``dataset`` default: read from
    the split's metadata. ``edge_thin``: params ``eval.edge_thin``, as the evaluator passes it (docs/seism.md §1).
    ``edge_gt``: params ``eval.edge_gt`` (auto | labelmap_test_new | prepared_edges, docs/seism.md §3); with the
    LabelMap GT only the test_new ids need an edge prediction. ``edge_thresholds``: as the evaluator's
    (``eval.edge_threshold_step``); ``limit``: only the first N images (``eval.limit``).
    """
    from mtcontrast.data.edge_gt import resolve_edge_gt  # late: the data layer is heavier than the metrics
    from mtcontrast.data.prepared import PreparedSplit

    path, pred_dir = Path(prepared_h5), Path(pred_dir)
    if not pred_dir.is_dir():
        raise DataError(pred_dir, "prediction folder not found")
    with PreparedSplit(path) as probe:
        name = dataset or _split_dataset(probe, path)
        held = tuple(probe.tasks)
        if tasks is None:
            tasks = [t for t in held if (pred_dir / t).is_dir()]
            if not tasks:
                raise DataError(pred_dir, f"no task folder found; expected some of {', '.join(held)}")
        n = len(probe) if limit is None else min(len(probe), limit)
        plan = resolve_edge_gt(edge_gt if "edge" in tasks else "prepared_edges", probe, probe.ids[:n])
    spec = dataset_spec(name)
    with PreparedSplit(path, tasks=list(tasks), extras=plan.extras) as split:  # reads only the scored label maps
        samples = (split[i] for i in range(n))
        meters = evaluate_samples(
            samples,
            pred_dir,
            list(tasks),
            spec,
            protocol,
            workers,
            edge_thin,
            plan,
            edge_matcher=edge_matcher,
            edge_thresholds=edge_thresholds,
        )
    return {task: meter.compute() for task, meter in meters.items()}
