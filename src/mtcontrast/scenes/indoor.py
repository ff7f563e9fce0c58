"""NYUD-like indoor scenes: room types, the NYU-40 class catalogue (how each class looks and where it goes), and
the rendering of one labelled RGB-D frame (image, 0..40 semantics, depth in metres with holes, normals, edges).

Room types set which classes co-occur (beds with pillows and night stands, toilets with sinks and towels), so the
semantics carry the scene context real NYU images have; every class is reachable from some room type, so a set of
1,000 images contains all 40 classes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mtcontrast.config.scenes import ScenesParams
from mtcontrast.scenes import figures
from mtcontrast.scenes.camera import Camera, look_rotation
from mtcontrast.scenes.figures import WOOD, Placement
from mtcontrast.scenes.geometry import box, cylinder, segment
from mtcontrast.scenes.maps import boundary_edges, depth_holes
from mtcontrast.scenes.render import Color, Lighting, Part, SceneObject, render, to_uint8
from mtcontrast.scenes.room import CEILING, FLOOR, RoomLayout, Support, Wall
from mtcontrast.scenes.textures import Material, Pattern, make_material
from mtcontrast.tasks import NYU40_CLASSES

NYU: dict[str, int] = {name: i + 1 for i, name in enumerate(NYU40_CLASSES)}  # raw ids, 0 = unlabelled
SPECULAR = frozenset({"mirror", "window", "television"})  # the depth sensor returns holes on these
FOCAL = 0.85  # focal length / image width (Kinect: 518.9 px at 640, cropped to 560)

_WHITE: list[Color] = [(0.88, 0.88, 0.86), (0.82, 0.8, 0.74), (0.78, 0.8, 0.84)]
_VIVID: list[Color] = [
    (0.7, 0.1, 0.1),
    (0.1, 0.25, 0.65),
    (0.15, 0.5, 0.2),
    (0.85, 0.7, 0.1),
    (0.5, 0.15, 0.55),
    (0.9, 0.45, 0.1),
    (0.1, 0.55, 0.6),
]


@dataclass(frozen=True)
class Style:
    pattern: Pattern
    palette: list[Color]
    scale: float = 4.0
    contrast: float = 0.3


STYLES: dict[str, Style] = {
    "wall": Style("noise", [(0.85, 0.82, 0.75), (0.8, 0.8, 0.8), (0.72, 0.78, 0.68), (0.85, 0.74, 0.62)], 1.5, 0.06),
    "floor": Style("stripes", WOOD, 5.0, 0.3),
    "ceiling": Style("plain", [(0.92, 0.92, 0.9)], 1.0, 0.05),
    "cabinet": Style("stripes", WOOD + _WHITE, 4.0, 0.2),
    "bed": Style("stripes", WOOD, 4.0, 0.25),
    "chair": Style("stripes", WOOD + figures.FABRIC, 6.0, 0.2),
    "sofa": Style("noise", figures.FABRIC, 10.0, 0.3),
    "table": Style("stripes", WOOD, 5.0, 0.35),
    "door": Style("stripes", WOOD + _WHITE, 3.0, 0.15),
    "window": Style("noise", [(0.75, 0.85, 0.98), (0.95, 0.97, 1.0)], 2.0, 0.35),
    "bookshelf": Style("grid", WOOD, 9.0, 0.8),
    "picture": Style("noise", _VIVID, 14.0, 0.9),
    "counter": Style("noise", [(0.5, 0.5, 0.5), (0.8, 0.78, 0.74), (0.25, 0.25, 0.27)], 12.0, 0.25),
    "blinds": Style("grid", _WHITE + [(0.6, 0.5, 0.35)], 30.0, 0.15),
    "desk": Style("stripes", WOOD + [(0.85, 0.85, 0.85)], 5.0, 0.3),
    "shelves": Style("stripes", WOOD + _WHITE, 5.0, 0.2),
    "curtain": Style("waves", figures.FABRIC + _VIVID, 6.0, 0.35),
    "dresser": Style("stripes", WOOD, 4.0, 0.3),
    "pillow": Style("noise", _WHITE + figures.FABRIC, 15.0, 0.2),
    "mirror": Style("noise", [(0.8, 0.85, 0.9)], 3.0, 0.4),
    "floor mat": Style("checker", _VIVID + figures.FABRIC, 8.0, 0.5),
    "clothes": Style("noise", figures.CLOTH, 14.0, 0.35),
    "books": Style("grid", _VIVID, 20.0, 0.5),
    "refridgerator": Style("plain", _WHITE + figures.METAL, 2.0, 0.05),
    "television": Style("plain", figures.DARK, 2.0, 0.1),
    "paper": Style("plain", [(0.95, 0.95, 0.93)], 2.0, 0.05),
    "towel": Style("noise", _WHITE + _VIVID, 25.0, 0.25),
    "shower curtain": Style("waves", _WHITE + [(0.6, 0.75, 0.85)], 8.0, 0.2),
    "box": Style("plain", [(0.55, 0.4, 0.24), (0.62, 0.5, 0.32)], 3.0, 0.1),
    "whiteboard": Style("plain", [(0.93, 0.93, 0.95)], 1.0, 0.05),
    "night stand": Style("stripes", WOOD, 6.0, 0.3),
    "toilet": Style("plain", [(0.93, 0.93, 0.92)], 2.0, 0.04),
    "sink": Style("plain", [(0.9, 0.9, 0.9)] + figures.METAL, 2.0, 0.05),
    "bathtub": Style("plain", [(0.92, 0.92, 0.9)], 2.0, 0.04),
    "bag": Style("noise", figures.DARK + figures.TROUSERS + [(0.5, 0.3, 0.15)], 10.0, 0.3),
    "otherstructure": Style("noise", [(0.75, 0.75, 0.72), (0.6, 0.6, 0.6)], 3.0, 0.1),
    "otherfurniture": Style("stripes", WOOD + figures.METAL, 4.0, 0.25),
    "otherprop": Style("plain", _VIVID + figures.METAL, 4.0, 0.1),
    "unlabelled": Style("noise", _VIVID + figures.DARK + _WHITE, 20.0, 0.4),
}

# Relative frequency of each class per room type (walls, floor and ceiling are always there).
ROOM_TYPES: dict[str, tuple[float, dict[str, float]]] = {
    "bedroom": (
        0.24,
        {
            "bed": 4,
            "night stand": 2.5,
            "dresser": 2,
            "lamp": 2,
            "picture": 2,
            "window": 2,
            "curtain": 2,
            "blinds": 1,
            "clothes": 2,
            "mirror": 1,
            "door": 1,
            "cabinet": 1,
            "chair": 1,
            "floor mat": 1,
            "box": 1,
            "bag": 1,
            "television": 1,
            "otherprop": 1,
            "books": 1,
            "shelves": 1,
            "otherfurniture": 1,
            "pillow": 1,
        },
    ),
    "living": (
        0.2,
        {
            "sofa": 4,
            "table": 2,
            "television": 2,
            "pillow": 2,
            "lamp": 2,
            "picture": 2,
            "window": 2,
            "curtain": 2,
            "bookshelf": 1,
            "chair": 1,
            "floor mat": 2,
            "person": 1,
            "books": 1,
            "otherfurniture": 1,
            "otherprop": 1,
            "door": 1,
            "shelves": 1,
            "box": 1,
            "bag": 1,
            "otherstructure": 0.5,
        },
    ),
    "kitchen": (
        0.16,
        {
            "counter": 4,
            "cabinet": 3,
            "refridgerator": 2,
            "sink": 2,
            "window": 1,
            "blinds": 1,
            "table": 2,
            "chair": 2,
            "towel": 1,
            "paper": 1,
            "otherprop": 2,
            "box": 1,
            "door": 1,
            "picture": 1,
            "lamp": 0.5,
            "floor mat": 1,
            "bag": 1,
            "otherstructure": 1,
            "person": 0.5,
        },
    ),
    "bathroom": (
        0.15,
        {
            "toilet": 3,
            "sink": 3,
            "bathtub": 2,
            "shower curtain": 2,
            "towel": 2,
            "mirror": 2,
            "floor mat": 2,
            "cabinet": 1,
            "door": 1,
            "window": 1,
            "otherprop": 1,
            "box": 1,
            "clothes": 1,
            "otherstructure": 1,
            "counter": 1,
            "paper": 0.5,
        },
    ),
    "office": (
        0.25,
        {
            "desk": 3,
            "chair": 3,
            "whiteboard": 2,
            "bookshelf": 2,
            "books": 2,
            "paper": 2,
            "television": 1,
            "window": 2,
            "blinds": 1,
            "door": 1,
            "box": 2,
            "bag": 1,
            "lamp": 1,
            "person": 1.5,
            "shelves": 1,
            "cabinet": 1,
            "otherfurniture": 1,
            "otherprop": 1,
            "table": 1,
            "picture": 1,
            "otherstructure": 0.5,
        },
    ),
}
_TILED = {"kitchen", "bathroom"}


@dataclass
class NyudSample:
    """One frame in the raw NYUD conventions (semseg 0 = unlabelled, 1..40; depth 0 = invalid)."""

    image: np.ndarray  # H×W×3 uint8
    semseg: np.ndarray  # H×W uint8
    depth: np.ndarray  # H×W float32, metres
    normals: np.ndarray  # H×W×3 float32, camera frame, unit
    edge: np.ndarray  # H×W uint8 {0, 1}
    instances: np.ndarray  # H×W int32 object index (each wall, book, chair, ... its own); edges are its contours


@dataclass
class _Ctx:
    rng: np.random.Generator
    room: RoomLayout
    item_scale: float = 1.0  # scenes.item_scale: size factor of small items

    def mat(self, name: str) -> Material:
        st = STYLES[name]
        return make_material(self.rng, st.palette, st.pattern, st.scale, st.contrast)

    def obj(self, name: str, parts: list[Part]) -> SceneObject:
        return SceneObject(NYU.get(name, 0), parts, specular=name in SPECULAR)

    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))


Builder = Callable[[_Ctx], list[SceneObject]]


Range = tuple[float, float]


def _against_wall(name: str, w: Range, h: Range, d: Range, top: bool) -> Builder:
    """A box (width, height, depth drawn from the ranges) standing against a wall; ``top``: items may stand on it."""

    def build(c: _Ctx) -> list[SceneObject]:
        width, height, depth = c.u(*w), c.u(*h), c.u(*d)
        spot = c.room.wall_spot(c.rng, (width / 2, depth / 2))
        if spot is None:
            return []
        _, p = spot
        if top:
            c.room.supports.append(Support(name, p, (width / 2, depth / 2), height))
        return [c.obj(name, [Part(p.box(0.0, 0.0, height / 2, width / 2, height / 2, depth / 2), c.mat(name))])]

    return build


def _panel(name: str, w: Range, h: Range, y0: Range | None, thick: float) -> Builder:
    """A thin box on a wall, bottom at ``y0`` (None: hung up to 0.1 m under the ceiling)."""

    def build(c: _Ctx) -> list[SceneObject]:
        width = c.u(*w)
        top_max = c.room.height - 0.05
        height = min(c.u(*h), top_max - 0.05)
        bottom = c.u(*y0) if y0 is not None else c.room.height - 0.1 - height
        bottom = float(np.clip(bottom, 0.0, top_max - height))
        spot = c.room.panel_spot(c.rng, width, bottom, bottom + height)
        if spot is None:
            return []
        wall, s = spot
        objs = [_wall_box(c, name, wall, s, width, bottom, height, thick * c.u(0.9, 1.1))]
        if name == "window":
            objs += _window_dressing(c, wall, s, width, bottom, height)
        return objs

    return build


def _wall_box(
    c: _Ctx, name: str, wall: Wall, s: float, width: float, bottom: float, height: float, thick: float
) -> SceneObject:
    """A thin box flat on ``wall`` at ``s`` metres along it, from ``bottom`` up ``height``."""
    center = wall.origin + wall.tangent * s + wall.inward * (thick / 2) + np.array([0.0, bottom + height / 2, 0.0])
    return c.obj(name, [Part(box(center, np.array([width / 2, height / 2, thick / 2]), wall.yaw), c.mat(name))])


def _window_dressing(c: _Ctx, wall: Wall, s: float, width: float, bottom: float, height: float) -> list[SceneObject]:
    """Windows come with blinds over their upper part or curtains at both sides (scene context)."""
    r = c.rng.random()
    if r < 0.3:
        cover = height * c.u(0.3, 1.0)
        return [_wall_box(c, "blinds", wall, s, width + 0.06, bottom + height - cover, cover + 0.03, 0.05)]
    if r < 0.65:
        cw = c.u(0.25, 0.45)
        top = min(c.room.height - 0.05, bottom + height + 0.25)
        low = max(0.02, bottom - c.u(0.1, 0.9))
        sides = [float(np.clip(s + k * (width / 2 + cw / 2 - 0.05), cw / 2, wall.length - cw / 2)) for k in (-1, 1)]
        return [_wall_box(c, "curtain", wall, pos, cw, low, top - low, 0.09) for pos in sides]
    return []


def _table(name: str) -> Builder:
    """A table in the free floor (random heading) or a desk against a wall, with chairs pulled up to it."""

    def build(c: _Ctx) -> list[SceneObject]:
        width, depth = c.u(0.9, 1.8), c.u(0.6, 1.0)
        height = c.u(0.7, 0.78)
        if name == "desk":
            spot = c.room.wall_spot(c.rng, (width / 2, depth / 2))
            p = None if spot is None else spot[1]
        else:
            p = c.room.floor_spot(c.rng, (width / 2, depth / 2))
        if p is None:
            return []
        mat = c.mat(name)
        parts = figures.table(p, mat, width, depth, height)
        if name == "desk":  # drawer block under one side
            parts.append(Part(p.box(0.0, width / 2 - 0.22, height / 2, 0.2, height / 2 - 0.03, depth / 2 - 0.03), mat))
        c.room.supports.append(Support(name, p, (width / 2, depth / 2), height))
        objs = [c.obj(name, parts)]
        sides = [1.0] if name == "desk" else [1.0, -1.0]
        for side in sides:
            if c.rng.random() < 0.6:
                facing = p.yaw + (np.pi if side > 0 else 0.0)
                seat = Placement(p.at(side * (depth / 2 + 0.3), c.u(-0.3, 0.3) * width, 0.0), facing)
                if c.room.fits(seat.base, (0.25, 0.25), seat.yaw, True):
                    objs.append(c.obj("chair", figures.chair(c.rng, seat, c.mat("chair"))))
        return objs

    return build


def _chair(c: _Ctx) -> list[SceneObject]:
    p = c.room.floor_spot(c.rng, (0.25, 0.25))
    if p is None:
        return []
    c.room.supports.append(Support("chair", p, (0.2, 0.2), 0.47))
    return [c.obj("chair", figures.chair(c.rng, p, c.mat("chair")))]


def _sofa(c: _Ctx) -> list[SceneObject]:
    width = c.u(1.5, 2.4)
    spot = c.room.wall_spot(c.rng, (width / 2, 0.43))
    if spot is None:
        return []
    p = spot[1]
    c.room.supports.append(Support("sofa", Placement(p.at(0.1, 0.0, 0.0), p.yaw), (width / 2 - 0.2, 0.2), 0.42))
    return [c.obj("sofa", figures.sofa(p, c.mat("sofa"), width))]


def _bed(c: _Ctx) -> list[SceneObject]:
    width, length = c.u(1.0, 1.8), c.u(1.9, 2.1)
    spot = c.room.wall_spot(c.rng, (width / 2, length / 2))
    if spot is None:
        return []
    p = spot[1]
    sheet = make_material(c.rng, STYLES["pillow"].palette, "noise", 8.0, 0.15)
    objs = [c.obj("bed", figures.bed(p, c.mat("bed"), sheet, width, length))]
    mattress = Placement(p.at(0.15, 0.0, 0.0), p.yaw)
    c.room.supports.append(Support("bed", mattress, (width / 2 - 0.1, length / 2 - 0.3), 0.55))
    if c.rng.random() < 0.75:
        count = int(c.rng.integers(1, 3))
        for k in range(count):
            lat = 0.0 if count == 1 else (k - 0.5) * width / 2
            pillow = p.ellipsoid(-length / 2 + 0.3, lat, 0.6, min(0.3, width / 4), 0.07, 0.18)
            objs.append(c.obj("pillow", [Part(pillow, c.mat("pillow"))]))
    return objs


def _on_top(
    c: _Ctx, half: tuple[float, float], kinds: tuple[str, ...] | None, floor_ok: bool = True
) -> tuple[Placement, float] | None:
    """A spot on a support (of ``kinds``), else on the floor (height 0) when ``floor_ok``."""
    spot = c.room.support_spot(c.rng, half, kinds)
    if spot is not None:
        return spot
    if floor_ok:
        p = c.room.floor_spot(c.rng, half)
        if p is not None:
            return p, 0.0
    return None


def _lifted(p: Placement, top: float) -> Placement:
    return Placement(p.base + np.array([0.0, top, 0.0]), p.yaw)


def _lamp(c: _Ctx) -> list[SceneObject]:
    spot = c.room.support_spot(c.rng, (0.15, 0.15), ("table", "desk", "night stand", "dresser", "otherfurniture"))
    if spot is not None and c.rng.random() < 0.8:
        return [c.obj("lamp", figures.lamp(c.rng, _lifted(*spot), c.u(0.35, 0.6)))]
    p = c.room.floor_spot(c.rng, (0.2, 0.2))
    return [] if p is None else [c.obj("lamp", figures.lamp(c.rng, p, c.u(1.3, 1.7)))]


def _toilet(c: _Ctx) -> list[SceneObject]:
    spot = c.room.wall_spot(c.rng, (0.22, 0.35))
    if spot is None:
        return []
    p = spot[1]
    mat = c.mat("toilet")
    parts = [
        Part(cylinder(p.at(0.08, 0.0, 0.0), 0.19, 0.4, p.yaw, radius_z=0.25), mat),
        Part(p.box(-0.24, 0.0, 0.6, 0.2, 0.2, 0.09), mat),
    ]
    return [c.obj("toilet", parts)]


def _sink(c: _Ctx) -> list[SceneObject]:
    spot = c.room.support_spot(c.rng, (0.3, 0.22), ("counter",))
    if spot is not None:
        p = _lifted(*spot)
        basin = cylinder(p.base, 0.26, 0.025, p.yaw, radius_z=0.19)
        tap = segment(p.at(-0.22, 0.0, 0.0), p.at(-0.22, 0.0, 0.22), 0.015)
        return [c.obj("sink", [Part(basin, c.mat("sink")), Part(tap, c.mat("sink"))])]
    wspot = c.room.panel_spot(c.rng, 0.55, 0.65, 0.9)
    if wspot is None:
        return []
    wall, s = wspot
    center = wall.origin + wall.tangent * s + wall.inward * 0.22 + np.array([0.0, 0.8, 0.0])
    return [c.obj("sink", [Part(box(center, np.array([0.27, 0.1, 0.22]), wall.yaw), c.mat("sink"))])]


def _person(c: _Ctx) -> list[SceneObject]:
    p = c.room.floor_spot(c.rng, (0.25, 0.25))
    return [] if p is None else [c.obj("person", figures.person(c.rng, p, c.u(1.5, 1.9)))]


def _floor_mat(c: _Ctx) -> list[SceneObject]:
    half = (c.u(0.3, 0.8), c.u(0.2, 0.5))
    p = c.room.floor_spot(c.rng, half, register=False)
    if p is None:
        return []
    return [c.obj("floor mat", [Part(p.box(0.0, 0.0, 0.006, half[0], 0.006, half[1]), c.mat("floor mat"))])]


def _soft(name: str, size: tuple[float, float, float], kinds: tuple[str, ...] | None) -> Builder:
    """Flattened lumps (clothes, pillows, bags) on a bed / sofa / chair, else on the floor."""

    def build(c: _Ctx) -> list[SceneObject]:
        radii = np.array(size) * c.rng.uniform(0.75, 1.25, 3) * c.item_scale
        spot = _on_top(c, (radii[0], radii[2]), kinds)
        if spot is None:
            return []
        p = _lifted(*spot)
        mat = c.mat(name)
        parts = [Part(p.ellipsoid(0.0, 0.0, radii[1] * 0.8, *radii), mat)]
        if name == "clothes" and c.rng.random() < 0.6:
            parts.append(Part(p.ellipsoid(radii[2] * 0.6, radii[0] * 0.4, radii[1] * 0.6, *(radii * 0.7)), mat))
        if name == "bag":
            handle = segment(p.at(0, -radii[0] * 0.6, radii[1] * 1.5), p.at(0, radii[0] * 0.6, radii[1] * 1.5), 0.012)
            parts.append(Part(handle, mat))
        return [c.obj(name, parts)]

    return build


_SMALL_SUPPORTS = ("table", "desk", "dresser", "night stand", "shelves", "counter", "otherfurniture", "cabinet")


def _books(c: _Ctx) -> list[SceneObject]:
    """A row of standing books, each its own instance (edges between spines, as in NYU)."""
    count = int(c.rng.integers(2, 7))
    k = c.item_scale
    spot = _on_top(c, (0.04 * count * k, 0.1 * k), ("shelves", "desk", "table", "dresser", "night stand", "bookshelf"))
    if spot is None:
        return []
    p = _lifted(*spot)
    objs = []
    offset = -0.035 * count * k / 2
    for _ in range(count):
        thick, height, depth = c.u(0.02, 0.05) * k, c.u(0.17, 0.28) * k, c.u(0.12, 0.2) * k
        offset += thick / 2
        book = p.box(0.0, offset, height / 2, thick / 2, height / 2, depth / 2)
        objs.append(c.obj("books", [Part(book, c.mat("books"))]))
        offset += thick / 2 + 0.003 * k
    return objs


def _paper(c: _Ctx) -> list[SceneObject]:
    objs = []
    for _ in range(int(c.rng.integers(1, 4))):
        k = c.item_scale
        spot = _on_top(c, (0.11 * k, 0.15 * k), ("desk", "table", "counter", "dresser"))
        if spot is None:
            break
        p = _lifted(*spot)
        objs.append(c.obj("paper", [Part(p.box(0.0, 0.0, 0.002, 0.105 * k, 0.002, 0.148 * k), c.mat("paper"))]))
    return objs


def _television(c: _Ctx) -> list[SceneObject]:
    width = c.u(0.5, 1.2)
    height = width * 0.58
    spot = c.room.support_spot(c.rng, (width / 2, 0.1), ("dresser", "table", "otherfurniture", "desk", "cabinet"))
    if spot is not None and c.rng.random() < 0.6:
        return [c.obj("television", figures.screen(c.rng, _lifted(*spot), width, height, stand=True))]
    bottom = c.u(0.9, 1.5)
    wspot = c.room.panel_spot(c.rng, width, bottom, bottom + height)
    return [] if wspot is None else [_wall_box(c, "television", *wspot, width, bottom, height, 0.06)]


def _small_prop(name: str, size: tuple[float, float]) -> Builder:
    """Boxes and miscellaneous props: a random primitive on a support or the floor (class 0 = unlabelled)."""

    def build(c: _Ctx) -> list[SceneObject]:
        s = c.u(*size) * c.item_scale
        spot = _on_top(c, (s, s), _SMALL_SUPPORTS)
        if spot is None:
            return []
        p = _lifted(*spot)
        mat = c.mat(name)
        shape = "box" if name == "box" else ("box", "cylinder", "ellipsoid")[int(c.rng.integers(3))]
        hgt = s * c.u(0.6, 2.0)
        if shape == "box":
            parts = [Part(p.box(0.0, 0.0, hgt / 2, s, hgt / 2, s * c.u(0.6, 1.0)), mat)]
            if name == "box" and c.rng.random() < 0.35:  # a stack
                parts.append(Part(p.box(0.02, 0.0, hgt * 1.35, s * 0.8, hgt * 0.35, s * 0.7), c.mat("box")))
        elif shape == "cylinder":
            parts = [Part(cylinder(p.base, s * 0.7, hgt, p.yaw), mat)]
        else:
            parts = [Part(p.ellipsoid(0.0, 0.0, hgt / 2, s, hgt / 2, s), mat)]
        return [c.obj(name, parts)]

    return build


def _otherstructure(c: _Ctx) -> list[SceneObject]:
    """A column from floor to ceiling, or a beam across the ceiling."""
    mat = c.mat("otherstructure")
    h = c.room.height
    if c.rng.random() < 0.5:
        r = c.u(0.12, 0.25)
        p = c.room.floor_spot(c.rng, (r, r))
        if p is None:
            return []
        prim = cylinder(p.base, r, h, p.yaw) if c.rng.random() < 0.5 else p.box(0.0, 0.0, h / 2, r, h / 2, r)
        return [c.obj("otherstructure", [Part(prim, mat)])]
    z = c.u(0.4, 0.9) * c.room.depth
    beam = box(np.array([c.room.width / 2, h - 0.15, z]), np.array([c.room.width / 2, 0.15, c.u(0.1, 0.25)]))
    return [c.obj("otherstructure", [Part(beam, mat)])]


def _shelves(c: _Ctx) -> list[SceneObject]:
    width, height, depth = c.u(0.6, 1.4), c.u(0.04, 0.6), c.u(0.2, 0.35)
    bottom = c.u(0.8, 1.6)
    spot = c.room.panel_spot(c.rng, width, bottom, bottom + height)
    if spot is None:
        return []
    wall, s = spot
    obj = _wall_box(c, "shelves", wall, s, width, bottom, height, depth)
    top = Placement(wall.origin + wall.tangent * s + wall.inward * depth / 2, wall.yaw)
    c.room.supports.append(Support("shelves", top, (width / 2, depth / 2), bottom + height))
    return [obj]


BUILDERS: dict[str, Builder] = {
    "cabinet": _against_wall("cabinet", (0.5, 1.6), (0.5, 2.0), (0.35, 0.6), top=True),
    "bookshelf": _against_wall("bookshelf", (0.6, 1.4), (1.0, 2.1), (0.25, 0.4), top=True),
    "counter": _against_wall("counter", (1.0, 2.6), (0.85, 0.95), (0.55, 0.65), top=True),
    "dresser": _against_wall("dresser", (0.8, 1.5), (0.7, 1.1), (0.4, 0.55), top=True),
    "refridgerator": _against_wall("refridgerator", (0.6, 0.9), (1.5, 1.9), (0.6, 0.75), top=False),
    "night stand": _against_wall("night stand", (0.35, 0.55), (0.45, 0.65), (0.35, 0.45), top=True),
    "bathtub": _against_wall("bathtub", (1.4, 1.7), (0.45, 0.6), (0.7, 0.8), top=False),
    "otherfurniture": _against_wall("otherfurniture", (0.4, 1.2), (0.4, 1.3), (0.3, 0.7), top=True),
    "door": _panel("door", (0.75, 0.95), (1.95, 2.1), (0.0, 0.0), 0.04),
    "window": _panel("window", (0.6, 1.6), (0.7, 1.4), (0.7, 1.2), 0.015),
    "picture": _panel("picture", (0.25, 1.0), (0.2, 0.8), (1.1, 1.6), 0.025),
    "mirror": _panel("mirror", (0.4, 0.9), (0.5, 1.1), (0.8, 1.2), 0.015),
    "whiteboard": _panel("whiteboard", (1.2, 2.4), (0.9, 1.2), (0.8, 1.0), 0.02),
    "towel": _panel("towel", (0.3, 0.6), (0.4, 0.8), (0.5, 1.0), 0.035),
    "blinds": _panel("blinds", (0.6, 1.5), (0.8, 1.4), (0.8, 1.2), 0.045),
    "curtain": _panel("curtain", (0.8, 2.0), (1.6, 2.6), None, 0.085),
    "shower curtain": _panel("shower curtain", (0.8, 1.6), (1.7, 2.0), (0.1, 0.3), 0.065),
    "table": _table("table"),
    "desk": _table("desk"),
    "chair": _chair,
    "sofa": _sofa,
    "bed": _bed,
    "lamp": _lamp,
    "toilet": _toilet,
    "sink": _sink,
    "person": _person,
    "floor mat": _floor_mat,
    "clothes": _soft("clothes", (0.22, 0.06, 0.18), ("bed", "sofa", "chair")),
    "pillow": _soft("pillow", (0.25, 0.07, 0.17), ("bed", "sofa")),
    "bag": _soft("bag", (0.18, 0.15, 0.1), ("bed", "sofa", "chair")),
    "books": _books,
    "paper": _paper,
    "television": _television,
    "box": _small_prop("box", (0.12, 0.3)),
    "otherprop": _small_prop("otherprop", (0.05, 0.2)),
    "unlabelled": _small_prop("unlabelled", (0.03, 0.1)),
    "otherstructure": _otherstructure,
    "shelves": _shelves,
}
# Placement order: big things first, so that small items (priority 3) find the tops they stand on.
_PRIORITY: dict[str, int] = {
    **dict.fromkeys(
        (
            "cabinet",
            "bookshelf",
            "counter",
            "dresser",
            "refridgerator",
            "night stand",
            "bathtub",
            "otherfurniture",
            "bed",
            "sofa",
            "desk",
            "toilet",
        ),
        0,
    ),
    **dict.fromkeys(("table", "chair", "person", "floor mat", "otherstructure"), 1),
    **dict.fromkeys(
        (
            "door",
            "window",
            "picture",
            "mirror",
            "whiteboard",
            "towel",
            "blinds",
            "curtain",
            "shower curtain",
            "shelves",
        ),
        2,
    ),
}


# The object classes a room can draw (every NYU-40 class but the room shell and the unlabelled clutter), in
# catalogue order: ``scenes.class_mix`` spreads that share of the draws uniformly over them.
_OBJECT_CLASSES: tuple[str, ...] = tuple(n for n in NYU40_CLASSES if n not in ("wall", "floor", "ceiling"))


def _signatures(n: int) -> np.ndarray:
    """``n`` + 1 RGB colour-signature multipliers (row 0 = unlabelled, all ones): hues on the golden angle and three
    saturation / lightness levels, so neighbouring class ids look unlike each other; each row's mean is its
    lightness (0.8, 1 or 1.2). Fixed (no randomness)."""
    out = np.ones((n + 1, 3))
    for i in range(1, n + 1):
        hue = (i * 0.618034) % 1.0
        sat, light = ((1.0, 1.0), (0.6, 1.2), (1.0, 0.8))[i % 3]
        rgb = np.clip(np.abs(np.mod(hue * 6.0 + np.array([0.0, 4.0, 2.0]), 6.0) - 3.0) - 1.0, 0.0, 1.0)
        centred = rgb - rgb.mean()
        out[i] = light * (1.0 + 0.7 * sat * centred / np.abs(centred).max())
    return out


SIGNATURES = _signatures(len(NYU40_CLASSES))  # ``scenes.class_tint`` blends albedo × this row of the class


def _room_shell(c: _Ctx, kind: str) -> list[SceneObject]:
    """Floor, ceiling and four walls, each its own instance; tiles in kitchens and bathrooms."""
    floor_style = STYLES["floor"]
    if kind in _TILED or c.rng.random() < 0.15:
        floor = make_material(c.rng, [(0.8, 0.78, 0.72), (0.55, 0.55, 0.55), (0.7, 0.62, 0.5)], "checker", 3.0, 0.25)
    elif c.rng.random() < 0.35:  # carpet
        floor = make_material(c.rng, figures.FABRIC, "noise", 20.0, 0.15)
    else:
        floor = make_material(c.rng, floor_style.palette, floor_style.pattern, floor_style.scale, floor_style.contrast)
    if kind == "bathroom" and c.rng.random() < 0.6:
        wall = make_material(c.rng, [(0.85, 0.88, 0.9), (0.8, 0.85, 0.8)], "checker", 5.0, 0.12)
    else:
        wall = c.mat("wall")
    objs = []
    for face, prim in c.room.faces().items():
        if face == FLOOR:
            objs.append(SceneObject(NYU["floor"], [Part(prim, floor)]))
        elif face == CEILING:
            objs.append(SceneObject(NYU["ceiling"], [Part(prim, c.mat("ceiling"))]))
        else:
            objs.append(SceneObject(NYU["wall"], [Part(prim, wall)]))
    return objs


def _sample_room(rng: np.random.Generator, height: int, width: int) -> tuple[str, RoomLayout]:
    kinds = list(ROOM_TYPES)
    probs = np.array([ROOM_TYPES[k][0] for k in kinds])
    kind = kinds[int(rng.choice(len(kinds), p=probs / probs.sum()))]
    small = kind == "bathroom"
    rw = rng.uniform(2.2, 3.6) if small else rng.uniform(3.0, 6.0)
    rd = rng.uniform(2.5, 4.0) if small else rng.uniform(3.5, 7.0)
    rh = rng.uniform(2.4, 3.0)
    position = np.array([rng.uniform(0.3, 0.7) * rw, rng.uniform(1.0, 1.7), rng.uniform(0.25, 0.9)])
    rotation = look_rotation(rng.uniform(-0.5, 0.5), rng.uniform(0.0, 0.45), rng.normal(0.0, 0.03))
    camera = Camera.create(height, width, FOCAL * width, position, rotation)
    return kind, RoomLayout(rw, rd, rh, camera)


def render_nyud(rng: np.random.Generator, params: ScenesParams) -> NyudSample:
    """One indoor frame at ``params.image_size``; every random choice comes from ``rng``."""
    height, width = params.image_size
    kind, room = _sample_room(rng, height, width)
    c = _Ctx(rng, room, params.item_scale)
    objects = _room_shell(c, kind)
    weights = ROOM_TYPES[kind][1]
    names = list(_OBJECT_CLASSES)
    room_probs = np.array([weights.get(n, 0.0) for n in names])
    probs = (1.0 - params.class_mix) * room_probs / room_probs.sum() + params.class_mix / len(names)
    count = int(rng.integers(params.objects[0], params.objects[1] + 1))
    picks = [names[i] for i in rng.choice(len(names), size=count, p=probs / probs.sum())]
    picks += ["unlabelled"] * int(rng.integers(0, 3))
    picks.sort(key=lambda n: _PRIORITY.get(n, 3))  # stable: draw order kept within a priority
    for name in picks:
        objects += BUILDERS[name](c)

    light = np.array([room.width * rng.uniform(0.3, 0.7), room.height - 0.2, room.depth * rng.uniform(0.3, 0.7)])
    lighting = Lighting(rng.uniform(0.08, 0.2), rng.uniform(0.7, 1.2), point=light, falloff=rng.uniform(0.2, 0.4))
    frame = render(objects, room.camera, lighting)
    tint = rng.uniform(0.9, 1.1, 3)
    labels = np.array([o.label for o in objects] + [0], dtype=np.uint8)
    radiance = frame.radiance * tint
    if params.class_tint > 0:  # each class's colour signature, multiplied into its albedo (shading and texture kept)
        radiance = radiance * (1.0 - params.class_tint + params.class_tint * SIGNATURES)[labels[frame.obj]]
    image = to_uint8(radiance, params.noise, rng)

    specular = np.array([o.specular for o in objects] + [False])
    semseg = labels[frame.obj]
    depth = frame.depth.copy()
    depth[depth_holes(rng, (height, width), params.hole_fraction, specular[frame.obj])] = 0.0
    return NyudSample(image, semseg, depth, frame.normals, boundary_edges(frame.obj), frame.obj)
