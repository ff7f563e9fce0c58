"""A box-shaped room seen from inside, and placement of furniture, wall panels and small items in view.

Positions are drawn by casting a random pixel ray into the empty room: where it lands (floor or a wall) is where
the next object goes. Objects therefore tend to be visible, and their density in the image follows the params.
Footprints (floor) and panel rectangles (walls) are kept so that objects do not interpenetrate.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from mtcontrast.scenes.camera import Camera
from mtcontrast.scenes.figures import Placement
from mtcontrast.scenes.geometry import Primitive, quad

# Face ids: 0 left (x = 0), 1 right (x = W), 2 floor, 3 ceiling, 4 front (z = 0), 5 back (z = D).
FLOOR, CEILING = 2, 3
_PAD = 1e-3  # faces overlap a little so that no ray slips through a corner


@dataclass(frozen=True)
class Wall:
    face: int
    origin: np.ndarray  # floor-level start of the wall
    tangent: np.ndarray  # unit, horizontal, along the wall
    inward: np.ndarray  # unit, horizontal, into the room
    length: float

    @property
    def yaw(self) -> float:
        """Heading that makes an object's forward axis point into the room."""
        return float(np.arctan2(self.inward[0], self.inward[2]))


@dataclass
class Support:
    """A horizontal top (table, bed, counter, shelf) that small items can stand on."""

    kind: str
    placement: Placement  # centre of the top at floor level, heading
    half: tuple[float, float]  # half extents (lateral, along forward)
    top: float  # height of the top (m)


@dataclass
class RoomLayout:
    width: float  # x extent
    depth: float  # z extent
    height: float  # y extent
    camera: Camera
    footprints: list[tuple[float, float, float, float]] = field(default_factory=list)  # x0, x1, z0, z1
    panels: list[tuple[int, float, float, float, float]] = field(default_factory=list)  # face, s0, s1, y0, y1
    supports: list[Support] = field(default_factory=list)
    walls: dict[int, Wall] = field(init=False)

    def __post_init__(self) -> None:
        w, d = self.width, self.depth
        self.walls = {
            0: Wall(0, np.array([0.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0]), d),
            1: Wall(1, np.array([w, 0.0, 0.0]), np.array([0.0, 0.0, 1.0]), np.array([-1.0, 0.0, 0.0]), d),
            4: Wall(4, np.array([0.0, 0.0, 0.0]), np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0]), w),
            5: Wall(5, np.array([0.0, 0.0, d]), np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, -1.0]), w),
        }

    def faces(self) -> dict[int, Primitive]:
        """The six inside faces as quads (normals point into the room)."""
        w, d, h = self.width, self.depth, self.height
        out = {
            FLOOR: quad(np.array([w / 2, 0.0, d / 2]), np.array([0.0, 1.0, 0.0]), w / 2 + _PAD, d / 2 + _PAD),
            CEILING: quad(np.array([w / 2, h, d / 2]), np.array([0.0, -1.0, 0.0]), w / 2 + _PAD, d / 2 + _PAD),
        }
        for face, wall in self.walls.items():
            center = wall.origin + wall.tangent * wall.length / 2 + np.array([0.0, h / 2, 0.0])
            out[face] = quad(center, wall.inward, wall.length / 2 + _PAD, h / 2 + _PAD)
        return out

    def hit(self, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distance and face id where world rays (N, 3) from the camera leave the empty room."""
        o = self.camera.position
        d = np.where(np.abs(dirs) < 1e-12, 1e-12, dirs)
        bounds = np.where(d > 0, np.array([self.width, self.height, self.depth]), 0.0)
        t = (bounds - o) / d
        axis = t.argmin(axis=1)
        rows = np.arange(len(d))
        return t[rows, axis], axis * 2 + (d[rows, axis] > 0)

    def random_rays(self, rng: np.random.Generator, n: int, rows: tuple[float, float] = (0.05, 0.98)) -> np.ndarray:
        """World directions through ``n`` random pixels (``rows`` = allowed band as fractions of the height)."""
        cam = self.camera
        u = rng.uniform(0.04, 0.96, n) * cam.width
        v = rng.uniform(*rows, n) * cam.height
        rays = np.stack([(u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy, np.ones(n)], axis=1)
        return cam.to_world(rays / np.linalg.norm(rays, axis=1, keepdims=True))

    def fits(self, center: np.ndarray, half: tuple[float, float], yaw: float, register: bool) -> bool:
        c, s = abs(np.cos(yaw)), abs(np.sin(yaw))
        ex, ez = c * half[0] + s * half[1], s * half[0] + c * half[1]
        x0, x1, z0, z1 = center[0] - ex, center[0] + ex, center[2] - ez, center[2] + ez
        if x0 < 0.01 or z0 < 0.01 or x1 > self.width - 0.01 or z1 > self.depth - 0.01:
            return False
        cam = self.camera.position
        gap_x = max(x0 - cam[0], 0.0, cam[0] - x1)
        gap_z = max(z0 - cam[2], 0.0, cam[2] - z1)
        if np.hypot(gap_x, gap_z) < 0.7:
            return False
        for a0, a1, b0, b1 in self.footprints:
            if x0 < a1 + 0.03 and a0 - 0.03 < x1 and z0 < b1 + 0.03 and b0 - 0.03 < z1:
                return False
        if register:
            self.footprints.append((x0, x1, z0, z1))
        return True

    def floor_spot(
        self, rng: np.random.Generator, half: tuple[float, float], yaw: float | None = None, register: bool = True
    ) -> Placement | None:
        """A free floor position in view for a footprint with half extents (lateral, along forward)."""
        for ray in self.random_rays(rng, 24, rows=(0.35, 0.98)):
            t, face = self.hit(ray[None])
            if face[0] != FLOOR:
                continue
            center = self.camera.position + t[0] * ray
            heading = float(rng.uniform(0, 2 * np.pi)) if yaw is None else yaw
            if self.fits(center, half, heading, register):
                return Placement(np.array([center[0], 0.0, center[2]]), heading)
        return None

    def _wall_hits(self, rng: np.random.Generator) -> Iterator[tuple[Wall, float]]:
        """Up to 10 random camera rays that land on a wall: (wall, distance along it from its origin)."""
        for ray in self.random_rays(rng, 10):
            t, face = self.hit(ray[None])
            if int(face[0]) in self.walls:
                wall = self.walls[int(face[0])]
                yield wall, float((self.camera.position + t[0] * ray - wall.origin) @ wall.tangent)

    def wall_spot(self, rng: np.random.Generator, half: tuple[float, float]) -> tuple[Wall, Placement] | None:
        """A free floor position against a visible wall, the object's forward axis pointing into the room."""
        for wall, along in self._wall_hits(rng):
            s = float(np.clip(along, half[0] + 0.02, wall.length - half[0] - 0.02))
            center = wall.origin + wall.tangent * s + wall.inward * (half[1] + 0.01)
            if self.fits(center, half, wall.yaw, True):
                return wall, Placement(center, wall.yaw)
        return None

    def panel_spot(
        self, rng: np.random.Generator, width: float, y0: float, y1: float, overlap_ok: bool = False
    ) -> tuple[Wall, float] | None:
        """A visible wall and the position ``s`` along it for a panel ``width`` wide spanning heights y0..y1."""
        for wall, along in self._wall_hits(rng):
            s = float(np.clip(along, width / 2 + 0.03, wall.length - width / 2 - 0.03))
            s0, s1 = s - width / 2, s + width / 2
            clash = any(
                f == wall.face and s0 < b1 and a0 < s1 and y0 < d1 and c0 < y1 for f, a0, b1, c0, d1 in self.panels
            )
            if clash and not overlap_ok:
                continue
            self.panels.append((wall.face, s0, s1, y0, y1))
            return wall, s
        return None

    def support_spot(
        self, rng: np.random.Generator, half: tuple[float, float], kinds: tuple[str, ...] | None = None
    ) -> tuple[Placement, float] | None:
        """A position on a random support top (optionally of the given kinds) and the height of that top."""
        options = [s for s in self.supports if kinds is None or s.kind in kinds]
        if not options:
            return None
        sup = options[int(rng.integers(len(options)))]
        hx, hz = sup.half
        lat = rng.uniform(-1.0, 1.0) * max(hx - half[0], 0.0)
        fwd = rng.uniform(-1.0, 1.0) * max(hz - half[1], 0.0)
        base = sup.placement.at(fwd, lat, 0.0)
        return Placement(base, sup.placement.yaw + float(rng.normal(0.0, 0.3))), sup.top
