"""Ray casting building blocks of the procedural scenes, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from mtcontrast.scenes.camera import Camera, look_rotation
from mtcontrast.scenes.geometry import box, cylinder, ellipsoid, hit_distance, quad, segment, world_normals
from mtcontrast.scenes.maps import boundary_edges, depth_holes, saliency_map, void_band
from mtcontrast.scenes.render import Lighting, Part, SceneObject, render
from mtcontrast.scenes.textures import Material

ORIGIN = np.zeros(3)
FORWARD = np.array([[0.0, 0.0, 1.0]])


def _normal(prim, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = hit_distance(prim, ORIGIN, dirs)
    local = prim.to_local(ORIGIN + np.where(np.isfinite(t), t, 0.0)[:, None] * dirs)
    return t, world_normals(prim, local, dirs)


def test_box_hit_distance_and_face_normal() -> None:
    prim = box(np.array([0.0, 0.0, 5.0]), np.array([1.0, 1.0, 1.0]))
    dirs = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.1, 0.0, 1.0] / np.linalg.norm([0.1, 0.0, 1.0])])
    t, n = _normal(prim, dirs)
    assert t[0] == pytest.approx(4.0)
    assert np.isinf(t[1])
    assert t[2] == pytest.approx(4.0 * np.sqrt(1.01))
    np.testing.assert_allclose(n[0], [0.0, 0.0, -1.0], atol=1e-12)
    # Turned by 45°: the ray meets the vertical edge at z = 5 − √2.
    turned = box(np.array([0.0, 0.0, 5.0]), np.array([1.0, 1.0, 1.0]), yaw=np.pi / 4)
    assert hit_distance(turned, ORIGIN, FORWARD)[0] == pytest.approx(5.0 - np.sqrt(2.0))


def test_ellipsoid_and_sphere_normals() -> None:
    sphere = ellipsoid(np.array([0.0, 0.0, 10.0]), np.array([2.0, 2.0, 2.0]))
    d = np.array([[0.0, 0.6, 8.0]]) / np.linalg.norm([0.0, 0.6, 8.0])
    t, n = _normal(sphere, d)
    hit = t[0] * d[0]
    np.testing.assert_allclose(np.linalg.norm(hit - sphere.center), 2.0, atol=1e-9)
    np.testing.assert_allclose(n[0], (hit - sphere.center) / 2.0, atol=1e-9)
    flat = ellipsoid(np.array([0.0, 0.0, 10.0]), np.array([1.0, 1.0, 3.0]))
    assert hit_distance(flat, ORIGIN, FORWARD)[0] == pytest.approx(7.0)


def test_cylinder_side_cap_and_segment() -> None:
    cyl = cylinder(np.array([0.0, -1.0, 6.0]), radius=0.5, height=2.0)  # y from −1 to 1
    t, n = _normal(cyl, FORWARD)
    assert t[0] == pytest.approx(5.5)
    np.testing.assert_allclose(n[0], [0.0, 0.0, -1.0], atol=1e-12)
    from_above = np.array([[0.0, -1.0, 0.0]])
    t_cap = hit_distance(cylinder(np.array([0.0, -5.0, 0.0]), 0.5, 2.0), ORIGIN, from_above)
    assert t_cap[0] == pytest.approx(3.0)  # the top cap at y = −3
    rod = segment(np.array([-1.0, 0.0, 4.0]), np.array([1.0, 0.0, 4.0]), 0.25)  # lying across the view
    t, n = _normal(rod, FORWARD)
    assert t[0] == pytest.approx(3.75)
    np.testing.assert_allclose(n[0], [0.0, 0.0, -1.0], atol=1e-9)


def test_quad_is_two_sided_and_bounded() -> None:
    wall = quad(np.array([0.0, 0.0, 3.0]), np.array([0.0, 0.0, -1.0]), 1.0, 1.0)
    dirs = np.array([[0.0, 0.0, 1.0], [0.5, 0.0, 1.0] / np.linalg.norm([0.5, 0.0, 1.0])])
    t, n = _normal(wall, dirs)
    assert t[0] == pytest.approx(3.0)
    assert np.isinf(t[1])  # x = 1.5 is outside the 1 m half width
    np.testing.assert_allclose(n[0], [0.0, 0.0, -1.0], atol=1e-12)
    behind = quad(np.array([0.0, 0.0, -3.0]), np.array([0.0, 0.0, 1.0]), 1.0, 1.0)
    assert np.isinf(hit_distance(behind, ORIGIN, FORWARD)[0])


def test_camera_rays_and_screen_rect() -> None:
    cam = Camera.create(48, 64, 50.0, np.zeros(3), look_rotation(0.0, 0.0))
    rays = cam.rays_camera()
    np.testing.assert_allclose(np.linalg.norm(rays, axis=-1), 1.0)
    # Pixel (24, 32) has its centre half a pixel right / below the principal point.
    np.testing.assert_allclose(rays[24, 32] * 100.0 / rays[24, 32, 2], [1.0, 1.0, 100.0])
    world = cam.to_world(rays)
    assert world[0, 32, 1] > 0  # top rows look up (camera y is down, world y is up)
    b = box(np.array([0.0, 0.0, 10.0]), np.array([0.5, 0.5, 0.5]))
    rows, cols = cam.screen_rect(b.corners())
    # Corners at z = 9.5 project to ±50 · 0.5 / 9.5 = ±2.63 px around (32, 24); one pixel of margin.
    assert (rows.start, rows.stop, cols.start, cols.stop) == (20, 28, 28, 36)
    assert cam.screen_rect(box(np.array([0.0, 0.0, -5.0]), np.ones(3)).corners()) is None


def test_render_floor_depth_and_constant_normal() -> None:
    """A camera 1.5 m above an infinite floor, pitched down 0.3 rad: analytic depth and normal per pixel."""
    pitch, height = 0.3, 1.5
    cam = Camera.create(30, 40, 35.0, np.array([0.0, height, 0.0]), look_rotation(0.0, pitch))
    floor = quad(np.array([0.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]), 1e4, 1e4)
    mat = Material((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    frame = render([SceneObject(7, [Part(floor, mat)])], cam, Lighting(0.3, 0.7, direction=np.array([0.0, 1.0, 0.0])))
    n_cam = np.array([0.0, -np.cos(pitch), -np.sin(pitch)])  # world up seen from the camera
    rays = cam.rays_camera()
    denom = rays @ n_cam
    seen = frame.obj == 0
    assert seen[-1].all() and not seen[0].any()  # floor at the bottom, sky at the top
    expected = -height / denom * rays[..., 2]
    np.testing.assert_allclose(frame.depth[seen], expected[seen], rtol=1e-6)  # float32 maps
    np.testing.assert_allclose(frame.normals[seen], np.broadcast_to(n_cam, (int(seen.sum()), 3)), atol=1e-6)
    assert (frame.depth[~seen] == 0).all()
    np.testing.assert_allclose(frame.normals[~seen], -rays[~seen], atol=1e-6)  # sky faces the camera
    # Lambert: irradiance 0.3 + 0.7 · (n · up) = 1.0 on the floor, times albedo 0.5.
    np.testing.assert_allclose(frame.radiance[seen], 0.5, atol=1e-9)


def test_render_occlusion_and_parts() -> None:
    cam = Camera.create(20, 20, 20.0, np.zeros(3), look_rotation(0.0, 0.0))
    mat = Material((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    far = SceneObject(1, [Part(quad(np.array([0.0, 0.0, 8.0]), np.array([0.0, 0.0, -1.0]), 50.0, 50.0), mat)])
    near = SceneObject(2, [Part(box(np.array([0.0, 0.0, 4.0]), np.array([0.5, 0.5, 0.5])), mat, "head")])
    frame = render([far, near], cam, Lighting(1.0, 0.0, direction=np.array([0.0, 0.0, -1.0])))
    center = frame.obj[10, 10]
    assert center == 1 and frame.part_names == ["head"] and frame.part[10, 10] == 0
    assert frame.depth[10, 10] == pytest.approx(3.5) and frame.depth[0, 0] == pytest.approx(8.0)
    assert frame.obj[0, 0] == 0 and frame.part[0, 0] == -1


def test_boundary_edges_are_one_pixel_contours() -> None:
    inst = np.zeros((6, 6), dtype=np.int32)
    inst[2:4, 2:4] = 1
    expected = np.zeros((6, 6), dtype=np.uint8)
    expected[1, 2:4] = 1  # above the square: differs from the pixel below
    expected[2:4, 1] = 1  # left of it: differs from the pixel to the right
    expected[2:4, 3] = 1  # its right column and bottom row differ from their outer neighbours
    expected[3, 2:4] = 1
    np.testing.assert_array_equal(boundary_edges(inst), expected)


def test_void_band_straddles_object_contours_only() -> None:
    inst = np.zeros((8, 10), dtype=np.int32)
    inst[:, 5:] = 1  # two stuff regions
    inst[2:5, 1:3] = 2  # an object inside region 0
    band = void_band(inst, inst == 2, width=2)
    assert not band[:, 4:6].any()  # the stuff | stuff contour is not void
    assert band[2:5, 0].all() and band[2:5, 1].all() and band[2:5, 2].all() and band[2:5, 3].all()
    assert band.sum() == 16 and not band[6:].any()
    assert void_band(inst, inst == 2, width=4).sum() > band.sum()


def test_depth_holes_exact_count_and_specular_preference() -> None:
    rng = np.random.default_rng(0)
    specular = np.zeros((40, 50), dtype=bool)
    specular[5:15, 5:20] = True
    holes = depth_holes(rng, (40, 50), 0.04, specular)
    assert holes.sum() == 80
    assert holes[specular].mean() > holes[~specular].mean()
    assert not depth_holes(rng, (40, 50), 0.0, specular).any()


def test_saliency_map_is_soft_mask() -> None:
    obj = np.full((10, 10), -1, dtype=np.int32)
    obj[2:8, 2:8] = 3
    obj[0, 0] = 4
    sal = saliency_map(obj, [3])
    assert sal.dtype == np.float32 and sal.min() == 0.0 and sal.max() == 1.0
    assert (sal[3:7, 3:7] == 1.0).all() and sal[0, 0] == 0.0
    assert sal[2, 2] == pytest.approx(4 / 9)  # corner of the square: 4 of 9 neighbours salient
    expected = obj == 3
    expected[[2, 2, 7, 7], [2, 7, 2, 7]] = False  # corners: 4/9 < 0.5
    np.testing.assert_array_equal(sal > 0.5, expected)
