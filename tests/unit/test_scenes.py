"""Procedural scenes: label content (NYUD and PASCAL conventions), cross-task consistency, determinism and the
files written in the real layouts."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io
from PIL import Image

from mtcontrast.cli import main as mtc
from mtcontrast.config import ParamsError, ScenesParams, load_params
from mtcontrast.scenes import generate, generate_scenes, render_nyud, render_pascal, sample_id, sample_rng
from mtcontrast.scenes.camera import Camera, look_rotation
from mtcontrast.scenes.indoor import FOCAL, NYU, SIGNATURES
from mtcontrast.scenes.maps import boundary_edges
from mtcontrast.scenes.pascal import context_ids
from mtcontrast.tasks import NYU40_CLASSES, PERSON_PART_GROUPS, VOC_CLASSES, VOC_TO_CONTEXT_ID

DB_INFO = Path(__file__).resolve().parents[2] / "src" / "mtcontrast" / "data" / "db_info"


def _nyud(n: int, **kw: object) -> list:
    params = ScenesParams(**kw)  # type: ignore[arg-type]
    return [render_nyud(sample_rng(0, "nyud", "train", k), params) for k in range(n)]


@pytest.fixture(scope="module")
def nyud_small() -> list:
    return _nyud(12, image_size=(48, 64), hole_fraction=0.03)


@pytest.fixture(scope="module")
def pascal_set() -> list:
    params = ScenesParams(persons=(1, 2), unannotated_person_rate=0.3)
    return [render_pascal(sample_rng(0, "pascal", "train", k), params) for k in range(150)]


# ------------------------------------------------------------------------------------------------------- NYUD


def test_nyud_depth_is_metric_with_exact_hole_fraction(nyud_small: list) -> None:
    for s in nyud_small:
        assert s.depth.dtype == np.float32 and s.depth.shape == (48, 64)
        assert (s.depth == 0).sum() == round(0.03 * 48 * 64)  # 92 holes, exactly
        valid = s.depth[s.depth > 0]
        assert 0.3 < valid.min() and valid.max() < 12.0
    medians = [float(np.median(s.depth[s.depth > 0])) for s in nyud_small]
    assert 1.5 < np.median(medians) < 6.0  # NYU-like room depths


def test_nyud_holes_prefer_specular_surfaces() -> None:
    spec_ids = [NYU["mirror"], NYU["window"], NYU["television"]]
    on_spec = total_spec = 0
    for s in _nyud(40, image_size=(48, 64), hole_fraction=0.03):
        spec = np.isin(s.semseg, spec_ids)
        on_spec += int((spec & (s.depth == 0)).sum())
        total_spec += int(spec.sum())
    assert total_spec > 0 and on_spec / total_spec > 3 * 0.03


def test_nyud_normals_unit_facing_camera_and_planar_floor(nyud_small: list) -> None:
    rays = Camera.create(48, 64, FOCAL * 64, np.zeros(3), look_rotation(0.0, 0.0)).rays_camera()
    for s in nyud_small:
        np.testing.assert_allclose(np.linalg.norm(s.normals, axis=-1), 1.0, atol=1e-5)
        assert (np.einsum("hwc,hwc->hw", s.normals, rays) < 0).all()
        floor = (s.semseg == NYU["floor"]) & (s.depth > 0)
        if floor.sum() < 20:
            continue
        n = s.normals[floor]
        assert np.ptp(n, axis=0).max() < 1e-6  # one flat floor: one normal
        assert n[0, 1] < -0.85  # pointing up, i.e. −y in the camera frame
        # Depth and normals agree: every floor point X satisfies n · X = −(camera height).
        points = (s.depth[..., None] * rays / rays[..., 2:])[floor]
        offsets = points @ n[0]
        assert offsets.std() < 1e-4 and -1.75 < offsets.mean() < -0.95


def test_nyud_edges_are_instance_contours(nyud_small: list) -> None:
    for s in nyud_small:
        np.testing.assert_array_equal(s.edge, boundary_edges(s.instances))
        semseg_edge = np.zeros(s.semseg.shape, dtype=bool)
        semseg_edge[:, :-1] |= s.semseg[:, :-1] != s.semseg[:, 1:]
        semseg_edge[:-1, :] |= s.semseg[:-1, :] != s.semseg[1:, :]
        assert (s.edge[semseg_edge] == 1).all()
        assert 0.02 < s.edge.mean() < 0.3


def test_all_40_nyu_classes_in_1000_tiny_images() -> None:
    params = ScenesParams(image_size=(24, 32))
    hist = np.zeros(41, dtype=np.int64)
    for k in range(1000):
        hist += np.bincount(render_nyud(sample_rng(0, "nyud", "train", k), params).semseg.ravel(), minlength=41)
    assert (hist[1:] > 0).all(), [name for name, i in NYU.items() if hist[i] == 0]
    assert 0 < hist[0] / hist.sum() < 0.01  # a small unlabelled fraction (tiny clutter)


def _class_shares(n: int, **kw: object) -> tuple[np.ndarray, np.ndarray]:
    """Share of the labelled pixels and share of the images of each NYU-40 class over ``n`` val frames."""
    params = ScenesParams(**kw)  # type: ignore[arg-type]
    pixels, images = np.zeros(41), np.zeros(41)
    for k in range(n):
        counts = np.bincount(render_nyud(sample_rng(1, "nyud", "val", k), params).semseg.ravel(), minlength=41)
        pixels += counts
        images += counts > 0
    return pixels[1:] / pixels[1:].sum(), images[1:] / n


def test_default_statistics_give_every_class_pixel_mass() -> None:
    """The CPU profile's scenes (docs/cpu-benchmark.md): with the room-type draws alone (class_mix 0, natural item
    sizes, 4-9 objects) walls + floor + the next class hold ~70 % of the pixels and 7 classes under 0.25 %; the
    defaults spread the draws so that every class holds >= 0.25 % and shows up in >= 1 image in 10."""
    natural, _ = _class_shares(120, class_mix=0.0, item_scale=1.0, objects=(4, 9))
    shares, present = _class_shares(120)
    assert np.sort(natural)[-3:].sum() > 0.65 and (natural < 0.0025).sum() >= 5
    assert np.sort(shares)[-3:].sum() < 0.58
    assert shares.min() >= 0.0025, [NYU40_CLASSES[i] for i in np.flatnonzero(shares < 0.0025)]
    assert present.min() >= 0.1


def test_class_tint_multiplies_each_class_by_its_signature_and_changes_no_label() -> None:
    params = {"image_size": (48, 64), "noise": 0.0}
    plain = render_nyud(sample_rng(0, "nyud", "train", 3), ScenesParams(class_tint=0.0, **params))  # type: ignore[arg-type]
    tinted = render_nyud(sample_rng(0, "nyud", "train", 3), ScenesParams(class_tint=1.0, **params))  # type: ignore[arg-type]
    for name in ("semseg", "depth", "normals", "edge", "instances"):
        np.testing.assert_array_equal(getattr(plain, name), getattr(tinted, name))
    assert len(np.unique(SIGNATURES, axis=0)) == 41 and np.allclose(SIGNATURES[1:].mean(1), ([1.2, 0.8, 1.0] * 14)[:40])
    lin_plain = (plain.image / 255.0) ** 2.2
    lin_tint = (tinted.image / 255.0) ** 2.2
    for label in np.unique(plain.semseg):
        sel = (
            (plain.semseg == label)
            & (plain.image.min(-1) > 40)
            & (tinted.image.max(-1) < 250)
            & (tinted.image.min(-1) > 40)
        )
        if sel.sum() < 20:
            continue
        ratio = np.median(lin_tint[sel] / lin_plain[sel], axis=0)
        np.testing.assert_allclose(ratio, SIGNATURES[label], rtol=0.05)


# ----------------------------------------------------------------------------------------------------- PASCAL


def test_pascal_sizes_normals_and_saliency(pascal_set: list) -> None:
    shapes = {s.image.shape[:2] for s in pascal_set}
    assert all(max(shape) == 160 for shape in shapes)
    assert any(h > w for h, w in shapes) and any(h < w for h, w in shapes)
    for s in pascal_set:
        np.testing.assert_allclose(np.linalg.norm(s.normals, axis=-1), 1.0, atol=1e-5)
        assert s.sal.dtype == np.float32 and 0.0 <= s.sal.min() and s.sal.max() <= 1.0
        objects = np.zeros(s.semseg.shape, dtype=bool)
        for o in s.objects:
            objects |= o.mask
        near = cv2.dilate(objects.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        assert not (s.sal > 0.5)[~near].any()  # salient pixels are object pixels (up to the 3×3 softening)
    assert np.mean([s.sal.max() == 1.0 for s in pascal_set]) > 0.8


def test_pascal_labelmap_semseg_and_void_band(pascal_set: list) -> None:
    voc_ids = {VOC_TO_CONTEXT_ID[name]: i for i, name in enumerate(VOC_CLASSES) if i}
    to_voc = np.zeros(2**16, dtype=np.uint8)
    to_voc[list(voc_ids)] = list(voc_ids.values())
    stuff_seen: set[int] = set()
    for s in pascal_set:
        lm, seg = s.labelmap, s.semseg
        assert lm.dtype == np.uint16 and seg.dtype == np.uint8 and (lm > 0).all()
        is_voc = np.isin(lm, list(voc_ids))
        labelled = seg != 255
        np.testing.assert_array_equal(seg[labelled], to_voc[lm][labelled])
        stuff_seen |= set(np.unique(lm[~is_voc]).tolist())
        if is_voc.any():
            assert (seg == 255).any()  # void band along object contours
            near = np.zeros_like(is_voc)
            for dy in range(-2, 3):
                for dx in range(-2, 3):
                    near |= np.roll(is_voc, (dy, dx), axis=(0, 1))
            assert near[seg == 255].all()
        else:
            assert not (seg == 255).any()
    context = context_ids()
    nyu = json.loads((DB_INFO / "nyu_classes.json").read_text())
    normals_set = {context[n] for n in nyu if n in context and n != "unknown"}
    assert stuff_seen & normals_set and stuff_seen - normals_set  # e.g. wall / floor inside, sky / grass outside
    assert context["sky"] in stuff_seen


def test_pascal_covers_voc_classes_and_person_parts(pascal_set: list) -> None:
    voc = np.zeros(21, dtype=np.int64)
    parts = np.zeros(7, dtype=np.int64)
    annotated = unannotated = 0
    for s in pascal_set:
        voc += np.bincount(s.semseg[s.semseg != 255], minlength=21)
        for o in s.objects:
            assert o.class_name == VOC_CLASSES[o.class_index]
            if o.class_index != 15 or not o.mask.any():
                assert not o.parts
                continue
            if not o.parts:
                unannotated += 1
                continue
            annotated += 1
            union = np.zeros_like(o.mask)
            for part in o.parts:
                assert part.mask.any() and not (part.mask & union).any()
                union |= part.mask
                parts[PERSON_PART_GROUPS[part.name]] += 1
            np.testing.assert_array_equal(union, o.mask)  # the parts tile the person
    assert (voc > 0).all(), [VOC_CLASSES[i] for i in np.flatnonzero(voc == 0)]
    assert (parts[1:] > 0).all()
    assert annotated > 0 and 0.1 < unannotated / (annotated + unannotated) < 0.5


# ---------------------------------------------------------------------------------------------- files on disk


def _params(out: Path, **kw: object) -> ScenesParams:
    base: dict[str, object] = dict(
        out_dir=out,
        layouts=["nyudv2", "nyud_mt", "pascal_context"],
        image_size=(32, 40),
        pascal_max_side=48,
        train=4,
        val=3,
        persons=(1, 2),
        unannotated_person_rate=0.5,
    )
    base.update(kw)
    return ScenesParams(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scenes")
    generate_scenes(_params(out), progress=False)
    return out


def _read_anno(path: Path) -> list:
    """The protocol access path (docs/benchmark-protocol.md §1.2)."""
    return list(scipy.io.loadmat(path)["anno"][0][0][1][0])


def test_layout_files_manifest_and_splits(generated: Path) -> None:
    assert sorted(p.name for p in generated.iterdir()) == ["nyud_mt", "nyudv2", "pascal_context"]  # no .tmp-*
    ids = {"train": ["0001", "0003", "0005", "0007"], "val": ["0002", "0004", "0006"]}
    files = {
        "nyudv2": ("images/{}.png", "segmentation/{}.png", "depth/{}.npy", "normals/{}.png", "edge/{}.png"),
        "nyud_mt": ("images/{}.jpg", "segmentation/{}.png", "depth/{}.npy", "normals/{}.npy", "edge/{}.npy"),
    }
    for layout, patterns in files.items():
        root = generated / layout
        for split, expected in ids.items():
            assert (root / "gt_sets" / f"{split}.txt").read_text().split() == expected
            for sid in expected:
                assert all((root / pat.format(sid)).is_file() for pat in patterns)
        manifest = json.loads((root / "scenes_manifest.json").read_text())
        assert manifest["layout"] == layout and manifest["counts"] == {"train": 4, "val": 3}
        assert manifest["image_size"] == [32, 40] and manifest["version"] == generate.GENERATOR_VERSION
        assert manifest["params"]["seed"] == 0
    assert np.load(generated / "nyud_mt" / "edge" / "0001.npy").dtype == np.float32
    assert set(np.unique(np.asarray(Image.open(generated / "nyudv2" / "edge" / "0001.png")))) <= {0, 255}

    root = generated / "pascal_context"
    manifest = json.loads((root / "scenes_manifest.json").read_text())
    assert manifest["image_size"] is None and manifest["max_side"] == 48
    for split, n in (("train", 4), ("val", 3)):
        sids = [sample_id("pascal", split, k) for k in range(n)]
        assert (root / "ImageSets" / "Context" / f"{split}.txt").read_text().split() == sids
        cache = json.loads((root / "ImageSets" / "Parts" / f"{split}.txt").read_text())
        assert list(cache) == sids
        for sid in sids:
            for pat in (
                "JPEGImages/{}.jpg",
                "pascal-context/trainval/{}.mat",
                "semseg/VOC12/{}.png",
                "normals_distill/{}.png",
                "sal_distill/{}.png",
            ):
                assert (root / pat.format(sid)).is_file()
            image = Image.open(root / "JPEGImages" / f"{sid}.jpg")
            assert max(image.size) == 48
            labelmap = scipy.io.loadmat(root / "pascal-context" / "trainval" / f"{sid}.mat")["LabelMap"]
            assert labelmap.dtype == np.uint16 and labelmap.shape == image.size[::-1]
            mat = root / "human_parts" / f"{sid}.mat"
            assert mat.is_file() == bool(cache[sid])  # written only for images with objects
            anno = _read_anno(mat) if mat.is_file() else []
            assert cache[sid] == [int(o[1][0][0]) if o[2].sum() > 0 else -1 for o in anno]
            for o in anno:
                assert str(o[0][0]) == VOC_CLASSES[int(o[1][0][0])] and o[2].shape == labelmap.shape
                if int(o[1][0][0]) == 15 and o[3].size:
                    names = [str(o[3][0][i][0][0]) for i in range(o[3].shape[1])]
                    assert set(names) <= set(PERSON_PART_GROUPS)
                    union = np.any([o[3][0][i][1] for i in range(len(names))], axis=0)
                    np.testing.assert_array_equal(union, o[2].astype(bool))


def _files(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_files_subsets_agree_other_seed_differs(generated: Path, tmp_path: Path) -> None:
    """Image k depends only on (seed, split, k): a smaller re-run reproduces the first images byte for byte."""
    params = _params(tmp_path / "a", train=2, val=1, layouts=["nyudv2", "pascal_context"])
    small = generate_scenes(params, progress=False)
    for layout, root in small.items():
        for rel, path in _files(root).items():
            if rel.endswith(".mat"):  # scipy stamps the creation time into the header: compare the arrays
                a, b = scipy.io.loadmat(path), scipy.io.loadmat(generated / layout / rel)
                key = "LabelMap" if "LabelMap" in a else "anno"
                if key == "LabelMap":
                    np.testing.assert_array_equal(a[key], b[key])
                else:
                    for oa, ob in zip(_read_anno(path), _read_anno(generated / layout / rel), strict=True):
                        np.testing.assert_array_equal(oa[2], ob[2])
            elif "ImageSets" not in rel and "gt_sets" not in rel and rel != "scenes_manifest.json":
                assert path.read_bytes() == (generated / layout / rel).read_bytes(), rel
    other = generate_scenes(_params(tmp_path / "b", train=2, val=1, layouts=["nyudv2"], seed=1), progress=False)
    first = "images/0001.png"
    assert (other["nyudv2"] / first).read_bytes() != (small["nyudv2"] / first).read_bytes()


def test_regeneration_replaces_old_folder_and_failure_keeps_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = _params(tmp_path, layouts=["nyudv2"], train=2, val=1)
    stale = tmp_path / "nyudv2" / "stale.txt"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    generate_scenes(params, progress=False)
    assert not stale.exists() and (tmp_path / "nyudv2" / "images" / "0003.png").is_file()

    calls = {"n": 0}
    real = generate.render_nyud

    def failing(rng: np.random.Generator, p: ScenesParams):  # a crash half-way through the run
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real(rng, p)

    monkeypatch.setattr(generate, "render_nyud", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        generate_scenes(params.model_copy(update={"seed": 5}), progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nyudv2"]  # no temp folder left
    assert json.loads((tmp_path / "nyudv2" / "scenes_manifest.json").read_text())["seed"] == 0  # old one intact


def test_cli_scenes_prints_summary(tmp_path: Path, repo_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = mtc(
        [
            "scenes",
            "--params",
            str(repo_root / "params.yaml"),
            "-q",
            "-S",
            f"scenes.out_dir={tmp_path}",
            "-S",
            "scenes.train=2",
            "-S",
            "scenes.val=1",
            "-S",
            "scenes.image_size=[24, 32]",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "scenes: 3 images (nyudv2)" in out and "images/s" in out and "NYU-40 classes" in out
    assert (tmp_path / "nyudv2" / "gt_sets" / "val.txt").read_text() == "0002\n"


def test_scenes_params_validation() -> None:
    with pytest.raises(ParamsError, match=r"scenes.objects = \[5, 2\]: expected \[min, max\] with 0 <= min <= max"):
        load_params(None, ["scenes.objects=[5, 2]"])
    with pytest.raises(ParamsError, match="scenes.image_size"):
        load_params(None, ["scenes.image_size=[8, 8]"])
    assert load_params(None, ["scenes.layouts=[pascal_context]"]).scenes.layouts == ["pascal_context"]
