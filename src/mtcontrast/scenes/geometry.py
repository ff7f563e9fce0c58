"""Vectorised ray intersections with boxes, ellipsoids, cylinders and rectangles (quads).

Every primitive lives in its own orthonormal frame (``center`` + ``rotation`` whose columns are the local axes in
world coordinates), so one canonical intersection per kind serves any pose: rays are moved into the local frame
and intersected there. Distances are computed for all candidate rays, normals only afterwards for the surface
points that won the z-buffer (analytically from the local hit point), which halves the work per primitive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from mtcontrast.scenes.camera import rot_y

Kind = Literal["box", "ellipsoid", "cylinder", "quad"]
EPS = 1e-6  # minimum hit distance (m): ignore self-hits at the ray origin
_TINY = 1e-12

_UNIT_CORNERS = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=float)


@dataclass(frozen=True)
class Primitive:
    """``size`` holds half extents (box; quad uses x and z, its normal is local y), radii (ellipsoid), or
    (radius x, half height, radius z) for a cylinder whose axis is local y."""

    kind: Kind
    center: np.ndarray
    rotation: np.ndarray
    size: np.ndarray

    def corners(self) -> np.ndarray:
        """8 world points whose convex hull contains the primitive (its local bounding box)."""
        return self.center + (_UNIT_CORNERS * self.size) @ self.rotation.T

    def to_local(self, points: np.ndarray) -> np.ndarray:
        return (points - self.center) @ self.rotation


def box(center: np.ndarray, half: np.ndarray, yaw: float = 0.0) -> Primitive:
    """A box turned by ``yaw`` about the vertical axis."""
    return Primitive("box", np.asarray(center, float), rot_y(yaw), np.asarray(half, float))


def ellipsoid(center: np.ndarray, radii: np.ndarray, yaw: float = 0.0) -> Primitive:
    return Primitive("ellipsoid", np.asarray(center, float), rot_y(yaw), np.asarray(radii, float))


def cylinder(
    base: np.ndarray, radius: float, height: float, yaw: float = 0.0, radius_z: float | None = None
) -> Primitive:
    """Upright cylinder standing on ``base`` (centre of its bottom cap); elliptic when ``radius_z`` is given."""
    rz = radius if radius_z is None else radius_z
    center = np.asarray(base, float) + np.array([0.0, height / 2.0, 0.0])
    return Primitive("cylinder", center, rot_y(yaw), np.array([radius, height / 2.0, rz]))


def frame_from_axis(axis: np.ndarray) -> np.ndarray:
    """An orthonormal frame whose second column (local y) is ``axis``."""
    y = axis / np.linalg.norm(axis)
    helper = np.array([1.0, 0.0, 0.0]) if abs(y[0]) < 0.9 else np.array([0.0, 0.0, 1.0])
    x = np.cross(helper, y)
    x /= np.linalg.norm(x)
    z = np.cross(x, y)
    return np.stack([x, y, z], axis=1)


def segment(p0: np.ndarray, p1: np.ndarray, radius: float) -> Primitive:
    """Cylinder from ``p0`` to ``p1`` (limbs, wheels, legs at any angle)."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    axis = p1 - p0
    half = float(np.linalg.norm(axis)) / 2.0
    return Primitive("cylinder", (p0 + p1) / 2.0, frame_from_axis(axis), np.array([radius, half, radius]))


def quad(center: np.ndarray, normal_axis: np.ndarray, half_u: float, half_v: float) -> Primitive:
    """Rectangle through ``center`` with normal ``normal_axis``; for a vertical normal its u side runs along
    world x, otherwise along the horizontal direction perpendicular to the normal and v runs vertically."""
    n = np.asarray(normal_axis, float)
    n = n / np.linalg.norm(n)
    up = np.array([0.0, 1.0, 0.0])
    if abs(n[1]) > 0.9:
        u, v = np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0])
    else:
        u = np.cross(up, n)
        u /= np.linalg.norm(u)
        v = up
    return Primitive("quad", np.asarray(center, float), np.stack([u, n, v], axis=1), np.array([half_u, 0.0, half_v]))


def _safe(d: np.ndarray) -> np.ndarray:
    """Direction components bounded away from 0 so slab divisions stay finite (the sign is kept)."""
    return np.where(np.abs(d) < _TINY, np.where(d < 0, -_TINY, _TINY), d)


def _box(o: np.ndarray, d: np.ndarray, half: np.ndarray) -> np.ndarray:
    inv = 1.0 / _safe(d)
    t1 = (-half - o) * inv
    t2 = (half - o) * inv
    t_near = np.minimum(t1, t2).max(axis=1)
    t_far = np.maximum(t1, t2).min(axis=1)
    return np.where((t_near <= t_far) & (t_near > EPS), t_near, np.inf)


def _ellipsoid(o: np.ndarray, d: np.ndarray, radii: np.ndarray) -> np.ndarray:
    os_, ds = o / radii, d / radii
    a = np.einsum("ij,ij->i", ds, ds)
    b = 2.0 * (ds @ os_)
    c = float(os_ @ os_) - 1.0
    disc = b * b - 4.0 * a * c
    t = (-b - np.sqrt(np.maximum(disc, 0.0))) / (2.0 * a)
    return np.where((disc >= 0.0) & (t > EPS), t, np.inf)


def _cylinder(o: np.ndarray, d: np.ndarray, size: np.ndarray) -> np.ndarray:
    rx, h, rz = size
    ox, oy, oz = o[0] / rx, o[1], o[2] / rz
    dx, dy, dz = d[:, 0] / rx, d[:, 1], d[:, 2] / rz
    a = dx * dx + dz * dz
    b = 2.0 * (ox * dx + oz * dz)
    c = ox * ox + oz * oz - 1.0
    disc = b * b - 4.0 * a * c
    with np.errstate(divide="ignore", invalid="ignore"):
        t_side = (-b - np.sqrt(np.maximum(disc, 0.0))) / (2.0 * a)
    side = (disc >= 0.0) & (a > _TINY) & (t_side > EPS) & (np.abs(oy + t_side * dy) <= h)
    dy_safe = _safe(dy)
    t_cap = (-np.sign(dy_safe) * h - oy) / dy_safe  # the cap facing the ray
    cx, cz = ox + t_cap * dx, oz + t_cap * dz
    cap = (t_cap > EPS) & (cx * cx + cz * cz <= 1.0)
    return np.minimum(np.where(side, t_side, np.inf), np.where(cap, t_cap, np.inf))


def _quad(o: np.ndarray, d: np.ndarray, size: np.ndarray) -> np.ndarray:
    dy = _safe(d[:, 1])
    t = -o[1] / dy
    hit = (t > EPS) & (np.abs(o[0] + t * d[:, 0]) <= size[0]) & (np.abs(o[2] + t * d[:, 2]) <= size[2])
    return np.where(hit, t, np.inf)


_DISTANCE = {"box": _box, "ellipsoid": _ellipsoid, "cylinder": _cylinder, "quad": _quad}


def hit_distance(prim: Primitive, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """Distance (N,) along unit world rays ``dirs`` from ``origin`` to the first hit; ``inf`` where missed."""
    return _DISTANCE[prim.kind]((origin - prim.center) @ prim.rotation, dirs @ prim.rotation, prim.size)


def local_normals(prim: Primitive, local: np.ndarray) -> np.ndarray:
    """Outward unit normals (N, 3) in the primitive frame at surface points ``local`` (N, 3)."""
    size = np.maximum(prim.size, _TINY)
    if prim.kind == "quad":
        normal = np.zeros_like(local)
        normal[:, 1] = 1.0
        return normal
    if prim.kind == "box":  # the face whose slab the point is on: the largest |p| / half
        axis = np.abs(local / size).argmax(axis=1)
        normal = np.zeros_like(local)
        rows = np.arange(len(local))
        normal[rows, axis] = np.sign(local[rows, axis])
        return normal
    if prim.kind == "ellipsoid":
        normal = local / (size * size)
    else:  # cylinder: on a cap where |y| / h exceeds the radial coordinate, else on the side
        radial = np.hypot(local[:, 0] / size[0], local[:, 2] / size[2])
        on_cap = np.abs(local[:, 1]) / size[1] > radial
        normal = np.stack([local[:, 0] / size[0] ** 2, np.zeros(len(local)), local[:, 2] / size[2] ** 2], axis=1)
        normal[on_cap] = 0.0
        normal[on_cap, 1] = np.sign(local[on_cap, 1])
    return normal / np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), _TINY)


def world_normals(prim: Primitive, local: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """World unit normals at ``local`` surface points, flipped to face the rays ``dirs`` (n·d < 0)."""
    normal = local_normals(prim, local) @ prim.rotation.T
    facing = np.einsum("ij,ij->i", normal, dirs)
    normal[facing > 0] *= -1.0
    return normal
