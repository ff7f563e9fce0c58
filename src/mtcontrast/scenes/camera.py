"""Pinhole camera: intrinsics, pose, per-pixel rays and the screen rectangle a primitive can cover.

Frames. World: x right, y up, z forward (metres). Camera: the OpenCV / NYU convention, x right, y down, z forward,
so depth is the camera z coordinate and normals that face the camera have a negative dot product with their ray.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_NEAR = 0.05  # m; a bounding box reaching closer than this to the camera plane is treated as covering everything


def rot_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def look_rotation(yaw: float, pitch: float, roll: float = 0.0) -> np.ndarray:
    """Camera→world rotation. ``yaw`` turns right about world up, positive ``pitch`` tilts the view down,
    ``roll`` turns about the optical axis; the fixed flip maps camera y-down onto world y-up."""
    flip = np.diag([1.0, -1.0, 1.0])
    return rot_y(yaw) @ rot_x(pitch) @ rot_z(roll) @ flip


@dataclass(frozen=True)
class Camera:
    """Intrinsics in pixels (pixel (i, j) has its centre at (j + 0.5, i + 0.5)) and a pose in the world."""

    height: int
    width: int
    fx: float
    fy: float
    cx: float
    cy: float
    position: np.ndarray  # (3,) world
    rotation: np.ndarray  # (3, 3) camera → world (orthogonal)

    @classmethod
    def create(cls, height: int, width: int, focal: float, position: np.ndarray, rotation: np.ndarray) -> Camera:
        """Square pixels and a centred principal point, as in the NYU calibration (fx ≈ fy, c ≈ image centre)."""
        return cls(height, width, focal, focal, width / 2.0, height / 2.0, np.asarray(position, float), rotation)

    def rays_camera(self) -> np.ndarray:
        """H×W×3 unit ray directions in the camera frame."""
        u = (np.arange(self.width) + 0.5 - self.cx) / self.fx
        v = (np.arange(self.height) + 0.5 - self.cy) / self.fy
        rays = np.empty((self.height, self.width, 3))
        rays[..., 0] = u[None, :]
        rays[..., 1] = v[:, None]
        rays[..., 2] = 1.0
        return rays / np.linalg.norm(rays, axis=-1, keepdims=True)

    def to_world(self, vectors: np.ndarray) -> np.ndarray:
        """Directions (…, 3) camera → world."""
        return vectors @ self.rotation.T

    def to_camera(self, vectors: np.ndarray) -> np.ndarray:
        """Directions (…, 3) world → camera (normals too: the rotation is orthogonal)."""
        return vectors @ self.rotation

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World points (N, 3) → pixel column u, row v and camera depth z."""
        cam = (points - self.position) @ self.rotation
        z = cam[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            u = self.fx * cam[:, 0] / z + self.cx
            v = self.fy * cam[:, 1] / z + self.cy
        return u, v, z

    def screen_rect(self, corners: np.ndarray) -> tuple[slice, slice] | None:
        """Pixel rows / columns that can see the convex hull of ``corners`` (N, 3); None when none can.

        Perspective projection keeps convexity for points in front of the camera, so the box of the projected
        corners bounds every primitive inside them. Hulls reaching behind the near plane get the whole image."""
        u, v, z = self.project(corners)
        if np.all(z <= 0.0):
            return None
        if np.any(z <= _NEAR):
            return slice(0, self.height), slice(0, self.width)
        c0 = max(int(np.floor(u.min())) - 1, 0)
        c1 = min(int(np.ceil(u.max())) + 1, self.width)
        r0 = max(int(np.floor(v.min())) - 1, 0)
        r1 = min(int(np.ceil(v.max())) + 1, self.height)
        if c0 >= c1 or r0 >= r1:
            return None
        return slice(r0, r1), slice(c0, c1)
