"""Ray casting of a scene of labelled objects into aligned per-pixel maps: depth, normals, object / part ids, RGB.

One z-buffer pass over the primitives, each restricted to the screen rectangle its bounding box can cover, gives
the visible primitive per pixel; every label map is then a lookup through that one id map, so depth, normals,
semantics, instances, parts and shading are consistent by construction (the cross-task structure the regulariser
is measured on).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mtcontrast.scenes.camera import Camera
from mtcontrast.scenes.geometry import Primitive, hit_distance, world_normals
from mtcontrast.scenes.textures import Material, albedo

Color = tuple[float, float, float]


@dataclass(frozen=True)
class Part:
    """One primitive of an object, its material and (for persons) its PASCAL-Part name."""

    prim: Primitive
    material: Material
    name: str = ""


@dataclass
class SceneObject:
    """One instance. ``label`` is its class id in the layout's raw label space (NYU-40 id, 0 = unlabelled, or a
    PASCAL-Context id); ``voc`` its VOC class 1..20 (0 for stuff)."""

    label: int
    parts: list[Part] = field(default_factory=list)
    voc: int = 0
    specular: bool = False  # depth sensors return nothing here (mirror, window, screen)
    annotated: bool = True  # persons: has a PASCAL-Part annotation


@dataclass(frozen=True)
class Lighting:
    """Lambertian lighting: ambient + one point light (indoor ceiling lamp) or one distant light (sun)."""

    ambient: float
    intensity: float
    point: np.ndarray | None = None  # world position of a point light
    direction: np.ndarray | None = None  # unit world direction towards a distant light
    falloff: float = 0.0  # point light: irradiance × 1 / (1 + (falloff · distance)²)
    sky: tuple[Color, Color] = ((0.75, 0.82, 0.9), (0.25, 0.45, 0.85))  # horizon, zenith (rays that miss)


@dataclass
class Frame:
    """Aligned maps of one view. ``obj`` indexes the object list (−1 = sky); ``part`` indexes ``part_names``
    (−1 = no named part); ``normals`` are camera-frame unit vectors facing the camera (sky: −ray)."""

    depth: np.ndarray  # H×W float32, camera z in metres, 0 where nothing was hit
    normals: np.ndarray  # H×W×3 float32
    obj: np.ndarray  # H×W int32
    part: np.ndarray  # H×W int32
    part_names: list[str]
    radiance: np.ndarray  # H×W×3 float64, linear


def render(objects: list[SceneObject], camera: Camera, lighting: Lighting) -> Frame:
    """Cast one ray per pixel through the scene and shade the visible surfaces."""
    prims: list[Primitive] = []
    materials: list[Material] = []
    owner: list[int] = []
    part_of: list[int] = []
    part_names: list[str] = []
    for index, obj in enumerate(objects):
        for part in obj.parts:
            prims.append(part.prim)
            materials.append(part.material)
            owner.append(index)
            if part.name:
                if part.name not in part_names:
                    part_names.append(part.name)
                part_of.append(part_names.index(part.name))
            else:
                part_of.append(-1)

    h, w = camera.height, camera.width
    rays_cam = camera.rays_camera()
    rays = camera.to_world(rays_cam)
    origin = camera.position
    best_t = np.full((h, w), np.inf)
    best_k = np.full((h, w), -1, dtype=np.int32)
    for k, prim in enumerate(prims):
        rect = camera.screen_rect(prim.corners())
        if rect is None:
            continue
        sub_t = best_t[rect]
        t = hit_distance(prim, origin, rays[rect].reshape(-1, 3)).reshape(sub_t.shape)
        closer = t < sub_t
        sub_t[closer] = t[closer]
        best_k[rect][closer] = k

    hit = best_k >= 0
    best_n = np.zeros((h, w, 3))
    radiance = np.empty((h, w, 3))
    # Sky for rays that leave the scene: a vertical gradient.
    horizon, zenith = (np.asarray(c) for c in lighting.sky)
    up = np.clip(rays[..., 1] * 2.5, 0.0, 1.0)[..., None]
    radiance[:] = horizon + up * (zenith - horizon)

    flat_k = best_k.ravel()
    pix = np.flatnonzero(hit.ravel())
    if len(pix):
        t_hit = best_t.ravel()[pix]
        dirs = rays.reshape(-1, 3)[pix]
        points = origin + t_hit[:, None] * dirs
        normals = np.empty((len(pix), 3))
        base = np.empty((len(pix), 3))
        ks = flat_k[pix]
        order = np.argsort(ks, kind="stable")
        bounds = np.searchsorted(ks[order], np.arange(len(prims) + 1))
        for k in range(len(prims)):
            sel = order[bounds[k] : bounds[k + 1]]
            if len(sel):
                local = prims[k].to_local(points[sel])
                normals[sel] = world_normals(prims[k], local, dirs[sel])
                base[sel] = albedo(materials[k], local)
        best_n.reshape(-1, 3)[pix] = normals
        radiance.reshape(-1, 3)[pix] = base * _irradiance(lighting, points, normals)[:, None]

    owner_arr = np.asarray(owner + [-1], dtype=np.int32)
    part_arr = np.asarray(part_of + [-1], dtype=np.int32)
    depth = np.where(hit, best_t * rays_cam[..., 2], 0.0).astype(np.float32)
    normals_cam = np.where(hit[..., None], camera.to_camera(best_n), -rays_cam).astype(np.float32)
    return Frame(depth, normals_cam, owner_arr[best_k], part_arr[best_k], part_names, radiance)


def _irradiance(lighting: Lighting, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
    if lighting.point is not None:
        to_light = lighting.point - points
        dist = np.linalg.norm(to_light, axis=1)
        cos = np.einsum("ij,ij->i", normals, to_light) / np.maximum(dist, 1e-9)
        fall = 1.0 / (1.0 + (lighting.falloff * dist) ** 2)
    elif lighting.direction is not None:
        cos = normals @ lighting.direction
        fall = 1.0
    else:
        raise ValueError("Lighting needs a point light or a light direction")
    return lighting.ambient + lighting.intensity * np.maximum(cos, 0.0) * fall


def to_uint8(radiance: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Linear radiance → 8-bit sRGB-like image with additive Gaussian sensor noise of std ``noise``."""
    img = np.power(np.clip(radiance, 0.0, None), 1.0 / 2.2)
    if noise > 0:
        img = img + rng.normal(0.0, noise, img.shape)
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)
