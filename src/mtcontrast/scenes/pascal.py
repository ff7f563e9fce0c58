"""PASCAL-Context-like scenes: outdoor views (sky, ground, water, buildings, trees) and indoor rooms with the 20
VOC object classes and person figures, rendered into the raw PASCAL annotations.

Labels follow the real files: ``LabelMap`` holds PASCAL-Context ids (VOC objects through ``VOC_TO_CONTEXT_ID``,
background stuff through ``context_classes.json``, some inside the 170-class normals set, some outside), VOC semseg
has a 255 void band along object contours, persons carry PASCAL-Part part masks (unless unannotated), normals are
camera-frame unit vectors valid everywhere (the "distilled" teacher output) and saliency marks the prominent objects.
Outdoors the camera looks along +z (the world is unbounded, so no generality is lost); water, when present, covers
everything beyond the shore line z = ``shore``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from mtcontrast.config.scenes import ScenesParams
from mtcontrast.data.layouts import PascalObject, PascalPart
from mtcontrast.scenes import figures
from mtcontrast.scenes.camera import Camera, look_rotation
from mtcontrast.scenes.figures import Placement
from mtcontrast.scenes.geometry import Primitive, box, cylinder, ellipsoid, quad, segment
from mtcontrast.scenes.maps import saliency_map, void_band
from mtcontrast.scenes.render import Color, Lighting, Part, SceneObject, render, to_uint8
from mtcontrast.scenes.room import CEILING, FLOOR, RoomLayout, Support
from mtcontrast.scenes.textures import Material, Pattern, make_material
from mtcontrast.tasks import IGNORE_INDEX, PERSON_CLASS_INDEX, VOC_CLASSES, VOC_TO_CONTEXT_ID

UP = np.array([0.0, 1.0, 0.0])
GROUNDS: dict[str, tuple[Pattern, list[Color], float]] = {  # context class: pattern, palette, scale
    "grass": ("noise", [(0.15, 0.35, 0.08), (0.25, 0.4, 0.1), (0.3, 0.35, 0.12)], 3.0),
    "road": ("noise", [(0.2, 0.2, 0.21), (0.3, 0.3, 0.3)], 2.0),
    "ground": ("noise", [(0.4, 0.3, 0.2), (0.5, 0.42, 0.3)], 2.5),
    "sand": ("noise", [(0.75, 0.65, 0.45), (0.8, 0.72, 0.55)], 2.0),
    "snow": ("noise", [(0.9, 0.92, 0.95)], 1.5),
}
OUTDOOR_CLASSES: dict[str, float] = {
    "aeroplane": 1.0,
    "bicycle": 1.0,
    "bird": 1.0,
    "boat": 1.0,
    "bus": 1.0,
    "car": 1.5,
    "cat": 0.5,
    "cow": 1.0,
    "dog": 1.0,
    "horse": 1.0,
    "motorbike": 1.0,
    "sheep": 1.0,
    "train": 1.0,
    "bottle": 0.3,
    "chair": 0.4,
    "pottedplant": 0.4,
    "diningtable": 0.3,
}
INDOOR_CLASSES: dict[str, float] = {
    "bottle": 1.0,
    "cat": 1.0,
    "chair": 1.5,
    "diningtable": 1.0,
    "dog": 1.0,
    "pottedplant": 1.0,
    "sofa": 1.0,
    "tvmonitor": 1.2,
    "bird": 0.3,
    "bicycle": 0.3,
}
DISTANCE: dict[str, tuple[float, float]] = {  # ground distance (m) from the camera, outdoors
    "aeroplane": (35.0, 90.0),
    "bicycle": (3.0, 10.0),
    "bird": (1.5, 5.0),
    "boat": (8.0, 40.0),
    "bus": (10.0, 30.0),
    "car": (5.0, 20.0),
    "cat": (1.5, 5.0),
    "chair": (2.0, 6.0),
    "cow": (5.0, 20.0),
    "diningtable": (2.5, 7.0),
    "dog": (2.0, 8.0),
    "horse": (5.0, 18.0),
    "motorbike": (3.0, 12.0),
    "person": (2.0, 12.0),
    "sheep": (4.0, 15.0),
    "train": (18.0, 45.0),
    "bottle": (1.0, 3.0),
    "pottedplant": (1.5, 5.0),
    "sofa": (2.5, 6.0),
    "tvmonitor": (1.5, 4.0),
}
FOOTPRINT: dict[str, float] = {  # radius (m) kept free around an object on the ground
    "aeroplane": 16.0,
    "bicycle": 0.9,
    "bird": 0.2,
    "boat": 5.0,
    "bus": 6.0,
    "car": 2.5,
    "cat": 0.3,
    "chair": 0.4,
    "cow": 1.2,
    "diningtable": 0.9,
    "dog": 0.5,
    "horse": 1.3,
    "motorbike": 1.0,
    "person": 0.35,
    "sheep": 0.7,
    "train": 30.0,
    "bottle": 0.1,
    "pottedplant": 0.4,
    "sofa": 1.2,
    "tvmonitor": 0.4,
}
INDOOR_HALF: dict[str, tuple[float, float]] = {  # floor footprint half extents indoors (default 0.3 × 0.3)
    "sofa": (0.9, 0.45),
    "diningtable": (0.9, 0.5),
    "person": (0.25, 0.25),
    "bicycle": (0.9, 0.3),
}
CLOSE_UPS = frozenset({"bottle", "cat", "bird", "pottedplant", "dog"})  # framed looking down when present
ON_TABLES = ("bottle", "tvmonitor", "pottedplant", "cat")  # indoors, these often stand on a table or cabinet
WALL_PANELS: list[tuple[str, tuple[float, float], tuple[float, float], float, list[Color]]] = [
    ("window", (0.6, 1.5), (0.9, 1.6), 0.015, [(0.75, 0.85, 0.98)]),  # name, width, bottom..top, thickness
    ("door", (0.75, 0.95), (0.0, 2.05), 0.04, figures.WOOD),
    ("picture", (0.3, 0.9), (1.2, 1.9), 0.025, [(0.7, 0.1, 0.1), (0.1, 0.25, 0.65), (0.85, 0.7, 0.1)]),
    ("curtain", (0.4, 0.9), (0.2, 2.3), 0.08, figures.FABRIC),
]
WALL_PAINT: list[Color] = [(0.85, 0.82, 0.75), (0.8, 0.8, 0.8), (0.72, 0.78, 0.68), (0.85, 0.74, 0.62)]


@functools.cache
def context_ids() -> dict[str, int]:
    """PASCAL-Context class name → ``LabelMap`` id (the packaged ``db_info/context_classes.json``)."""
    path = resources.files("mtcontrast.data") / "db_info" / "context_classes.json"
    ids: dict[str, int] = json.loads(path.read_text())
    return ids


def ctx(name: str) -> int:
    try:
        return context_ids()[name]
    except KeyError:
        raise KeyError(f"{name!r} is not a PASCAL-Context class in db_info/context_classes.json") from None


@dataclass
class PascalSample:
    """One image in the raw PASCAL conventions, ready for :func:`mtcontrast.data.layouts.write_pascal_sample`."""

    image: np.ndarray  # H×W×3 uint8
    labelmap: np.ndarray  # H×W uint16, PASCAL-Context ids
    semseg: np.ndarray  # H×W uint8, VOC 0..20, 255 void band
    objects: list[PascalObject]  # every placed VOC object (mask area may be 0 when fully occluded)
    normals: np.ndarray  # H×W×3 float32 unit
    sal: np.ndarray  # H×W float32 in [0, 1]

    def parts_cache(self) -> list[int]:
        """The ``ImageSets/Parts`` entry: each object's class index, −1 when its mask area is 0."""
        return [o.class_index if o.mask.any() else -1 for o in self.objects]


@dataclass
class _Scene:
    rng: np.random.Generator
    camera: Camera
    room: RoomLayout | None  # None outdoors
    shore: float = np.inf  # outdoors: water beyond z = shore
    objects: list[SceneObject] = field(default_factory=list)
    taken: list[tuple[float, float, float]] = field(default_factory=list)  # x, z, radius of ground footprints

    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def mat(
        self, palette: list[Color], pattern: Pattern = "plain", scale: float = 4.0, contrast: float = 0.3
    ) -> Material:
        return make_material(self.rng, palette, pattern, scale, contrast)

    def stuff(self, name: str, *prims: tuple[Primitive, Material]) -> None:
        self.objects.append(SceneObject(ctx(name), [Part(p, m) for p, m in prims]))

    @property
    def pitch_down(self) -> float:
        return float(np.arcsin(-self.camera.rotation[1, 2]))

    def ground_spot(self, r_range: tuple[float, float], radius: float, water: bool = False) -> Placement | None:
        """A free ground point in view at a distance in ``r_range`` (on water beyond the shore when ``water``)."""
        cam = self.camera
        # The ground the camera sees lies between the distances where the bottom and top image rows meet it;
        # objects of a class whose usual distances fall outside that band are brought into it.
        half_fov = np.arctan(cam.height / 2 / cam.fy)
        near = cam.position[1] / np.tan(np.clip(half_fov + self.pitch_down, 0.05, 1.4))
        top = self.pitch_down - half_fov  # angle of the top row below horizontal (< 0: the horizon is in view)
        far = cam.position[1] / np.tan(top) if top > 0.01 else np.inf
        lo, hi = max(r_range[0], 1.05 * near), min(r_range[1], 0.95 * far)
        if hi <= lo:
            lo = 1.05 * near
            hi = max(min(0.95 * far, 3.0 * lo), 1.2 * lo)
        if water:
            lo = max(lo, self.shore + radius)
            hi = max(hi, lo + 1.0)
        elif hi > self.shore - radius:
            hi = self.shore - radius
            if hi <= lo:
                return None
        half_hfov = np.arctan(cam.width / 2 / cam.fx)
        for _ in range(8):
            r = float(np.exp(self.rng.uniform(np.log(lo), np.log(hi))))
            bearing = self.rng.uniform(-0.8, 0.8) * half_hfov
            x, z = cam.position[0] + r * np.sin(bearing), cam.position[2] + r * np.cos(bearing)
            ahead = z - cam.position[2]
            if (ahead < self.shore + radius) if water else (ahead > self.shore - radius):
                continue
            if all(np.hypot(x - a, z - b) > radius + c for a, b, c in self.taken):
                self.taken.append((x, z, radius))
                return Placement(np.array([x, 0.0, z]), float(self.rng.uniform(0, 2 * np.pi)))
        return None

    def sky_spot(self, distance: float, frac: float) -> Placement:
        """A point in the air in view: bearing within the field of view, elevation below the top image border."""
        cam = self.camera
        top = np.arctan(cam.height / 2 / cam.fy) - self.pitch_down
        elevation = self.u(0.05, max(0.1, frac * top))
        bearing = self.u(-0.7, 0.7) * np.arctan(cam.width / 2 / cam.fx)
        horiz = distance * np.cos(elevation)
        offset = np.array([horiz * np.sin(bearing), distance * np.sin(elevation), horiz * np.cos(bearing)])
        return Placement(cam.position + offset, self.u(0, 2 * np.pi))

    def indoor_spot(self, name: str) -> Placement | None:
        room = self.room
        assert room is not None
        half = INDOOR_HALF.get(name, (0.3, 0.3))
        if name in ON_TABLES and self.rng.random() < 0.6:
            spot = room.support_spot(self.rng, (0.1, 0.1))
            if spot is not None:
                return Placement(spot[0].base + UP * spot[1], spot[0].yaw)
        if name == "sofa":
            against = room.wall_spot(self.rng, half)
            return None if against is None else against[1]
        return room.floor_spot(self.rng, half)


def _voc_parts(s: _Scene, name: str, p: Placement) -> list[Part]:
    """The primitives of one VOC object standing at ``p`` (persons are built separately)."""
    rng = s.rng
    if name == "aeroplane":
        scale = s.u(0.5, 1.0)
        if p.base[1] == 0.0:  # parked: fuselage centre above the landing gear
            p = Placement(p.base + UP * 2.2 * scale, p.yaw)
        return figures.aeroplane(rng, p, scale)
    if name == "bird":
        size = s.u(0.1, 0.2)
        flying = p.base[1] > 0.0
        return figures.bird(rng, p if flying else Placement(p.base + UP * 0.75 * size, p.yaw), size, flying)
    if name == "train":  # seen side-on, running across the view
        return figures.train(rng, Placement(p.base, np.pi / 2 + rng.normal(0, 0.3)))
    builders: dict[str, Callable[[], list[Part]]] = {
        "boat": lambda: figures.boat(rng, p, s.u(4.0, 12.0)),
        "bicycle": lambda: figures.bicycle(rng, p),
        "bus": lambda: figures.bus(rng, p),
        "car": lambda: figures.car(rng, p),
        "motorbike": lambda: figures.motorbike(rng, p),
        "cat": lambda: figures.quadruped(rng, p, "cat"),
        "dog": lambda: figures.quadruped(rng, p, "dog"),
        "cow": lambda: figures.quadruped(rng, p, "cow"),
        "horse": lambda: figures.quadruped(rng, p, "horse"),
        "sheep": lambda: figures.quadruped(rng, p, "sheep"),
        "bottle": lambda: figures.bottle(rng, p, s.u(0.25, 0.4)),
        "pottedplant": lambda: figures.potted_plant(rng, p, s.u(0.4, 1.0)),
        "chair": lambda: figures.chair(rng, p, s.mat(figures.WOOD + figures.FABRIC, "stripes", 6.0, 0.2)),
        "sofa": lambda: figures.sofa(p, s.mat(figures.FABRIC, "noise", 10.0), s.u(1.5, 2.2)),
        "diningtable": lambda: figures.table(
            p, s.mat(figures.WOOD, "stripes", 5.0), s.u(1.0, 1.8), s.u(0.7, 1.0), s.u(0.72, 0.78)
        ),
        "tvmonitor": lambda: figures.screen(rng, p, s.u(0.4, 0.9), s.u(0.3, 0.55), stand=True),
    }
    return builders[name]()


def _add_voc(s: _Scene, name: str, annotated: bool = True, subject: bool = False) -> None:
    """Place one VOC object (or person) in view and append it to the scene; nothing when no free spot is found.
    The photo's ``subject`` stands in the nearer third of its class's distance range, so it is prominent."""
    if s.room is not None:
        p = s.indoor_spot(name)
    elif name == "aeroplane" and s.rng.random() < 0.7:
        p = s.sky_spot(s.u(*DISTANCE[name]), 0.85)
    elif name == "bird" and s.rng.random() < 0.4:
        p = s.sky_spot(s.u(2.0, 6.0), 0.9)
    else:
        lo, hi = DISTANCE[name]
        p = s.ground_spot((lo, lo + (hi - lo) / 3) if subject else (lo, hi), FOOTPRINT[name], water=name == "boat")
    if p is None:
        return
    label, voc = VOC_TO_CONTEXT_ID[name], VOC_CLASSES.index(name)
    if name == "person":
        height = s.u(1.5, 1.9) if s.rng.random() < 0.8 else s.u(1.0, 1.4)
        s.objects.append(SceneObject(label, figures.person(s.rng, p, height), voc=voc, annotated=annotated))
        return
    parts = _voc_parts(s, name, p)
    s.objects.append(SceneObject(label, parts, voc=voc))
    if name == "diningtable" and s.room is not None:
        top = parts[0].prim
        half = (float(top.size[0]), float(top.size[2]))
        s.room.supports.append(Support("diningtable", p, half, float(top.center[1] + top.size[1])))


def _outdoor_stuff(s: _Scene) -> None:
    """Ground (and water beyond the shore), a mountain, buildings, trees, fence, sign, bench and bushes."""
    rng = s.rng
    kind = list(GROUNDS)[int(rng.integers(len(GROUNDS)))]
    pattern, palette, scale = GROUNDS[kind]
    cam = s.camera.position
    s.stuff(kind, (quad(np.array([cam[0], 0.0, cam[2]]), UP, 4000.0, 4000.0), s.mat(palette, pattern, scale)))
    if np.isfinite(s.shore):
        water = s.mat([(0.1, 0.25, 0.4), (0.15, 0.3, 0.35)], "waves", 0.8, 0.25)
        s.stuff("water", (quad(np.array([cam[0], 0.01, cam[2] + s.shore + 3000.0]), UP, 4000.0, 3000.0), water))

    def ahead(lo: float, hi: float, spread: float = 0.8) -> np.ndarray:
        r = s.u(lo, hi)
        return np.array([cam[0] + r * s.u(-spread, spread), 0.0, cam[2] + r])

    if rng.random() < 0.3:
        radii = np.array([s.u(200, 500), s.u(60, 150), s.u(100, 200)])
        rock = s.mat([(0.35, 0.4, 0.45), (0.3, 0.35, 0.25)], "noise", 0.02, 0.2)
        s.stuff("mountain", (ellipsoid(ahead(300.0, 600.0, 0.4), radii), rock))
    facades: list[Color] = [(0.6, 0.55, 0.5), (0.5, 0.3, 0.2), (0.8, 0.8, 0.78), (0.4, 0.42, 0.45)]
    for _ in range(int(rng.integers(0, 4))):
        if np.isfinite(s.shore) and rng.random() >= 0.3:
            continue
        half = np.array([s.u(4.0, 15.0), s.u(3.0, 15.0), s.u(4.0, 10.0)])
        block = box(ahead(35.0, 90.0) + UP * half[1], half, s.u(0, np.pi))
        s.stuff("building", (block, s.mat(facades, "grid", 0.4, 0.35)))
    for _ in range(int(rng.integers(0, 5))):
        base = ahead(8.0, 45.0, 1.0)
        if base[2] - cam[2] > s.shore or any(np.hypot(base[0] - a, base[2] - b) < c + 2.0 for a, b, c in s.taken):
            continue
        h = s.u(4.0, 12.0)
        crown = s.u(0.25, 0.4) * h
        leaves = s.mat([(0.08, 0.25, 0.05), (0.15, 0.35, 0.1), (0.3, 0.3, 0.05)], "noise", 3.0, 0.45)
        s.stuff(
            "tree",
            (cylinder(base, 0.04 * h, h * 0.6), s.mat([(0.25, 0.15, 0.08)], "stripes", 8.0)),
            (ellipsoid(base + UP * (h - crown), np.array([crown, crown * s.u(0.9, 1.3), crown])), leaves),
        )
    p = s.ground_spot((4.0, 15.0), 0.5) if rng.random() < 0.25 else None
    if p is not None:  # a fence across the view
        rails = s.mat(figures.WOOD + [(0.85, 0.85, 0.85)], "grid", 6.0, 0.4)
        s.stuff("fence", (box(p.base + UP * 0.6, np.array([s.u(2.5, 7.5), 0.6, 0.03]), rng.normal(0, 0.4)), rails))
    p = s.ground_spot((3.0, 12.0), 0.5) if rng.random() < 0.2 else None
    if p is not None:
        board = s.mat([(0.8, 0.1, 0.1), (0.1, 0.3, 0.7), (0.9, 0.8, 0.1)], "plain", 2.0, 0.1)
        pole = segment(p.base, p.base + UP * 2.2, 0.04)
        plate = box(p.base + UP * 2.4, np.array([0.4, 0.3, 0.03]), np.pi)
        s.stuff("sign", (pole, s.mat(figures.METAL)), (plate, board))
    p = s.ground_spot((3.0, 10.0), 1.0) if rng.random() < 0.2 else None
    if p is not None:
        bench = figures.sofa(p, s.mat(figures.WOOD, "stripes", 10.0), s.u(1.2, 1.8), 0.5)
        s.objects.append(SceneObject(ctx("bench"), bench))
    for _ in range(int(rng.integers(0, 3))):
        p = s.ground_spot((4.0, 15.0), 0.6)
        if p is not None:
            r = s.u(0.3, 0.8)
            s.stuff("plant", (ellipsoid(p.base, np.array([r, r * 0.8, r])), s.mat([(0.1, 0.3, 0.06)], "noise", 10.0)))


def _indoor_stuff(s: _Scene) -> None:
    """Walls, floor, ceiling (all inside the 170-class normals set), windows, doors, pictures, curtains, a cabinet
    and a ceiling light."""
    room, rng = s.room, s.rng
    assert room is not None
    wall = s.mat(WALL_PAINT, "noise", 1.5, 0.06)
    surfaces = {FLOOR: ("floor", s.mat(figures.WOOD, "stripes", 5.0)), CEILING: ("ceiling", s.mat([(0.92, 0.92, 0.9)]))}
    for face, prim in room.faces().items():
        name, mat = surfaces.get(face, ("wall", wall))
        s.stuff(name, (prim, mat))
    for name, (w0, w1), (y0, y1), thick, palette in WALL_PANELS:
        if rng.random() >= 0.45:
            continue
        width, top = s.u(w0, w1), min(y1, room.height - 0.05)
        spot = room.panel_spot(rng, width, y0, top)
        if spot is not None:
            wall_, pos = spot
            center = wall_.origin + wall_.tangent * pos + wall_.inward * thick / 2 + UP * (y0 + top) / 2
            half = np.array([width / 2, (top - y0) / 2, thick / 2])
            texture = s.mat(palette, "waves" if name == "curtain" else "noise", 8.0)
            s.stuff(name, (box(center, half, wall_.yaw), texture))
    if rng.random() < 0.5:
        half = np.array([s.u(0.3, 0.7), s.u(0.3, 0.5), s.u(0.18, 0.28)])
        against = room.wall_spot(rng, (half[0], half[2]))
        if against is not None:
            p = against[1]
            room.supports.append(Support("cabinet", p, (half[0], half[2]), 2 * half[1]))
            s.stuff("cabinet", (p.box(0.0, 0.0, half[1], *half), s.mat(figures.WOOD, "stripes", 4.0, 0.25)))
    lamp = np.array([room.width / 2, room.height - 0.08, room.depth * 0.6])
    s.stuff("light", (cylinder(lamp, 0.2, 0.08), s.mat([(0.98, 0.95, 0.85)], "plain", 1.0, 0.02)))


def _image_size(rng: np.random.Generator, max_side: int) -> tuple[int, int, float]:
    """Image size (longer side = ``max_side``, VOC-like aspect ratios, 70 % landscape) and focal length (px)."""
    short = int(round(max_side * rng.uniform(0.62, 0.8)))
    h, w = (short, max_side) if rng.random() < 0.7 else (max_side, short)
    return h, w, max_side * float(rng.uniform(0.9, 1.3))


def _outdoor(rng: np.random.Generator, h: int, w: int, focal: float, picks: list[str]) -> tuple[_Scene, Lighting]:
    # Close-ups of small things (pets, bottles) are framed looking down, as photographers do.
    pitch = rng.uniform(0.2, 0.45) if CLOSE_UPS.intersection(picks) else rng.uniform(-0.05, 0.2)
    position = np.array([0.0, rng.uniform(1.2, 1.8), 0.0])
    camera = Camera.create(h, w, focal, position, look_rotation(0.0, pitch, rng.normal(0.0, 0.03)))
    shore = float(rng.uniform(6.0, 20.0)) if ("boat" in picks or rng.random() < 0.15) else np.inf
    azimuth = rng.uniform(0, 2 * np.pi)
    sun = np.array([np.cos(azimuth), rng.uniform(0.4, 1.5), np.sin(azimuth)])
    if rng.random() < 0.3:  # overcast: flat light, grey sky
        lighting = Lighting(
            rng.uniform(0.3, 0.45),
            0.5,
            direction=sun / np.linalg.norm(sun),
            sky=((0.7, 0.72, 0.75), (0.55, 0.58, 0.62)),
        )
    else:
        lighting = Lighting(rng.uniform(0.3, 0.45), rng.uniform(0.8, 1.1), direction=sun / np.linalg.norm(sun))
    return _Scene(rng, camera, None, shore), lighting


def _indoor(rng: np.random.Generator, h: int, w: int, focal: float) -> tuple[_Scene, Lighting]:
    rw, rd = rng.uniform(3.5, 7.0), rng.uniform(4.0, 8.0)
    position = np.array([rng.uniform(0.3, 0.7) * rw, rng.uniform(1.0, 1.7), rng.uniform(0.25, 0.9)])
    rotation = look_rotation(rng.uniform(-0.5, 0.5), rng.uniform(0.1, 0.4), rng.normal(0.0, 0.03))
    camera = Camera.create(h, w, focal, position, rotation)
    room = RoomLayout(rw, rd, rng.uniform(2.5, 3.2), camera)
    light = np.array([rw * rng.uniform(0.3, 0.7), room.height - 0.2, rd * rng.uniform(0.3, 0.7)])
    return _Scene(rng, camera, room), Lighting(
        rng.uniform(0.12, 0.25), rng.uniform(0.7, 1.2), point=light, falloff=rng.uniform(0.2, 0.4)
    )


def render_pascal(rng: np.random.Generator, params: ScenesParams) -> PascalSample:
    """One PASCAL-like image with all its raw annotations; every random choice comes from ``rng``."""
    h, w, focal = _image_size(rng, params.pascal_max_side)
    outdoor = rng.random() < 0.6
    table = OUTDOOR_CLASSES if outdoor else INDOOR_CLASSES
    names = list(table)
    probs = np.array(list(table.values()))
    count = int(rng.integers(params.pascal_objects[0], params.pascal_objects[1] + 1))
    picks = [names[i] for i in rng.choice(len(names), size=count, p=probs / probs.sum())]
    picks.sort(key=lambda n: n != "diningtable")  # tables first: screens, bottles and plants may stand on them
    picks += ["person"] * int(rng.integers(params.persons[0], params.persons[1] + 1))
    s, lighting = _outdoor(rng, h, w, focal, picks) if outdoor else _indoor(rng, h, w, focal)
    if not outdoor:
        _indoor_stuff(s)
    for k, name in enumerate(picks):
        _add_voc(s, name, annotated=rng.random() >= params.unannotated_person_rate, subject=k == 0)
    if outdoor:
        _outdoor_stuff(s)
    frame = render(s.objects, s.camera, lighting)
    image = to_uint8(frame.radiance * rng.uniform(0.9, 1.1, 3), params.noise, rng)
    return _annotate(s.objects, frame.obj, frame.part, frame.part_names, frame.normals, image, params.pascal_max_side)


def _annotate(
    objects: list[SceneObject],
    obj: np.ndarray,
    part: np.ndarray,
    part_names: list[str],
    normals: np.ndarray,
    image: np.ndarray,
    max_side: int,
) -> PascalSample:
    """Per-pixel object ids → LabelMap, VOC semseg with its void band, PASCAL-Part objects and saliency."""
    labels = np.array([o.label for o in objects] + [ctx("sky")], dtype=np.uint16)  # obj −1 = sky
    vocs = np.array([o.voc for o in objects] + [0], dtype=np.uint8)
    semseg = vocs[obj]
    band = void_band(obj, semseg > 0, max(2, round(5 * max_side / 500)))  # VOC: ~5 px at 500 px
    semseg[band] = IGNORE_INDEX
    annotations: list[PascalObject] = []
    areas: list[tuple[int, int]] = []
    for index, o in enumerate(objects):
        if not o.voc:
            continue
        mask = obj == index
        parts = []
        if o.annotated and o.voc == PERSON_CLASS_INDEX:
            for k, name in enumerate(part_names):
                part_mask = mask & (part == k)
                if part_mask.any():
                    parts.append(PascalPart(name, part_mask))
        annotations.append(PascalObject(VOC_CLASSES[o.voc], o.voc, mask, parts))
        areas.append((int(mask.sum()), index))
    # Prominent = the largest visible objects: ≥ 35 % of the largest one and ≥ 1 % of the image.
    biggest = max((a for a, _ in areas), default=0)
    salient = [i for a, i in areas if a > 0 and a >= max(0.01 * obj.size, 0.35 * biggest)]
    return PascalSample(image, labels[obj], semseg, annotations, normals, saliency_map(obj, salient))
