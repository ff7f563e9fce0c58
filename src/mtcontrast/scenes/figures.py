"""Objects built from primitives: person figures with named PASCAL-Part parts, furniture, animals and vehicles.

Every builder takes a :class:`Placement` (a ground point and a heading) and returns the object's parts in world
coordinates; the caller decides the labels. Sizes are in metres and follow real object proportions, so depth and
apparent size agree the way they do in photographs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtcontrast.scenes.geometry import Primitive, box, cylinder, ellipsoid, segment
from mtcontrast.scenes.render import Color, Part
from mtcontrast.scenes.textures import Material, Pattern, make_material

UP = np.array([0.0, 1.0, 0.0])

SKIN: list[Color] = [(0.78, 0.56, 0.45), (0.6, 0.4, 0.3), (0.33, 0.2, 0.13), (0.88, 0.7, 0.6)]
HAIR: list[Color] = [(0.05, 0.04, 0.03), (0.25, 0.14, 0.06), (0.62, 0.5, 0.28), (0.45, 0.45, 0.45)]
CLOTH: list[Color] = [
    (0.7, 0.1, 0.1),
    (0.1, 0.2, 0.6),
    (0.15, 0.45, 0.2),
    (0.85, 0.75, 0.2),
    (0.9, 0.9, 0.88),
    (0.3, 0.3, 0.32),
    (0.55, 0.2, 0.55),
    (0.9, 0.45, 0.1),
]
TROUSERS: list[Color] = [(0.08, 0.1, 0.25), (0.12, 0.12, 0.12), (0.5, 0.44, 0.32), (0.3, 0.3, 0.33)]
SHOES: list[Color] = [(0.04, 0.04, 0.04), (0.35, 0.22, 0.12), (0.85, 0.85, 0.85)]
WOOD: list[Color] = [(0.45, 0.25, 0.12), (0.6, 0.4, 0.2), (0.3, 0.17, 0.08), (0.72, 0.56, 0.36)]
FABRIC: list[Color] = [
    (0.6, 0.15, 0.15),
    (0.2, 0.3, 0.6),
    (0.3, 0.5, 0.3),
    (0.7, 0.6, 0.4),
    (0.4, 0.4, 0.45),
    (0.82, 0.76, 0.66),
]
METAL: list[Color] = [(0.6, 0.6, 0.62), (0.35, 0.35, 0.37), (0.85, 0.85, 0.86)]
DARK: list[Color] = [(0.03, 0.03, 0.035), (0.06, 0.06, 0.07)]
PAINT: list[Color] = [
    (0.75, 0.05, 0.05),
    (0.05, 0.15, 0.55),
    (0.85, 0.85, 0.85),
    (0.1, 0.1, 0.1),
    (0.6, 0.6, 0.62),
    (0.85, 0.7, 0.05),
    (0.1, 0.4, 0.15),
]


@dataclass(frozen=True)
class Placement:
    """A ground point and a heading: ``forward`` = (sin yaw, 0, cos yaw); ``left`` is the object's own left."""

    base: np.ndarray
    yaw: float

    @property
    def forward(self) -> np.ndarray:
        return np.array([np.sin(self.yaw), 0.0, np.cos(self.yaw)])

    @property
    def left(self) -> np.ndarray:
        return np.array([-np.cos(self.yaw), 0.0, np.sin(self.yaw)])

    def at(self, fwd: float, left: float, up: float) -> np.ndarray:
        return self.base + fwd * self.forward + left * self.left + up * UP

    def box(self, fwd: float, left: float, up: float, lateral: float, vertical: float, long: float) -> Primitive:
        """Box centred at (fwd, left, up) with these half extents, aligned with the heading."""
        return box(self.at(fwd, left, up), np.array([lateral, vertical, long]), self.yaw)

    def ellipsoid(self, fwd: float, left: float, up: float, lateral: float, vertical: float, long: float) -> Primitive:
        return ellipsoid(self.at(fwd, left, up), np.array([lateral, vertical, long]), self.yaw)


def _mat(
    rng: np.random.Generator,
    palette: list[Color],
    pattern: Pattern = "plain",
    scale: float = 8.0,
    contrast: float = 0.15,
) -> Material:
    return make_material(rng, palette, pattern, scale, contrast)


def person(rng: np.random.Generator, p: Placement, height: float) -> list[Part]:
    """A standing figure in a random pose: head (+ hair), neck, torso, upper / lower arms, hands, upper / lower
    legs and feet, each named with its PASCAL-Part name (person's own left = ``l``)."""
    hh = height
    skin = _mat(rng, SKIN, "noise", 20, 0.06)
    shirt = _mat(rng, CLOTH, "noise", 12, 0.2)
    trousers = _mat(rng, TROUSERS, "noise", 12, 0.2)
    sleeve = skin if rng.random() < 0.4 else shirt
    shin = skin if rng.random() < 0.25 else trousers
    hair = _mat(rng, HAIR, "noise", 30, 0.3)
    shoes = _mat(rng, SHOES)
    # Joint angles (radians): leg swing / knee bend, arm swing / abduction / elbow bend.
    joints: dict[str, np.ndarray] = {}  # (forward, left, up) in the figure's frame
    lowest = np.inf
    for side, s in (("l", 1.0), ("r", -1.0)):
        swing, knee = rng.uniform(-0.35, 0.35), rng.uniform(0.0, 0.5)
        hip = np.array([0.0, s * 0.055 * hh, 0.5 * hh])
        knee_p = hip + 0.245 * hh * np.array([np.sin(swing), 0.0, -np.cos(swing)])
        ankle = knee_p + 0.23 * hh * np.array([np.sin(swing - knee), 0.0, -np.cos(swing - knee)])
        joints[f"{side}hip"], joints[f"{side}knee"], joints[f"{side}ankle"] = hip, knee_p, ankle
        lowest = min(lowest, ankle[2] - 0.025 * hh)
        arm, spread, elbow = rng.uniform(-0.6, 0.6), rng.uniform(0.05, 0.5), rng.uniform(0.0, 1.4)
        shoulder = np.array([0.0, s * 0.125 * hh, 0.8 * hh])
        v1 = np.array([np.sin(arm) * np.cos(spread), s * np.sin(spread), -np.cos(arm) * np.cos(spread)])
        v2 = np.array([np.sin(arm + elbow) * np.cos(spread), s * np.sin(spread), -np.cos(arm + elbow) * np.cos(spread)])
        joints[f"{side}shoulder"] = shoulder
        joints[f"{side}elbow"] = shoulder + 0.17 * hh * v1
        joints[f"{side}wrist"] = joints[f"{side}elbow"] + 0.15 * hh * v2
        joints[f"{side}hand"] = joints[f"{side}wrist"] + 0.035 * hh * v2
    lift = -lowest  # bent knees: lower the body until the lowest sole touches the ground

    def w(j: np.ndarray) -> np.ndarray:
        return p.at(j[0], j[1], j[2] + lift)

    parts = [
        Part(p.ellipsoid(0.0, 0.0, 0.655 * hh + lift, 0.115 * hh, 0.17 * hh, 0.07 * hh), shirt, "torso"),
        Part(segment(p.at(0, 0, 0.79 * hh + lift), p.at(0, 0, 0.87 * hh + lift), 0.028 * hh), skin, "neck"),
        Part(p.ellipsoid(0.0, 0.0, 0.925 * hh + lift, 0.055 * hh, 0.07 * hh, 0.06 * hh), skin, "head"),
        Part(p.ellipsoid(-0.012 * hh, 0.0, 0.945 * hh + lift, 0.059 * hh, 0.062 * hh, 0.061 * hh), hair, "hair"),
    ]
    for side in ("l", "r"):
        parts += [
            Part(segment(w(joints[f"{side}shoulder"]), w(joints[f"{side}elbow"]), 0.03 * hh), shirt, f"{side}uarm"),
            Part(segment(w(joints[f"{side}elbow"]), w(joints[f"{side}wrist"]), 0.025 * hh), sleeve, f"{side}larm"),
            Part(ellipsoid(w(joints[f"{side}hand"]), np.full(3, 0.025 * hh)), skin, f"{side}hand"),
            Part(segment(w(joints[f"{side}hip"]), w(joints[f"{side}knee"]), 0.046 * hh), trousers, f"{side}uleg"),
            Part(segment(w(joints[f"{side}knee"]), w(joints[f"{side}ankle"]), 0.036 * hh), shin, f"{side}lleg"),
        ]
        ankle = joints[f"{side}ankle"]
        foot = p.box(ankle[0] + 0.035 * hh, ankle[1], ankle[2] + lift - 0.012 * hh, 0.03 * hh, 0.014 * hh, 0.06 * hh)
        parts.append(Part(foot, shoes, f"{side}foot"))
    return parts


def chair(rng: np.random.Generator, p: Placement, mat: Material, seat: float = 0.45) -> list[Part]:
    """Seat, back (on the −forward side) and four legs."""
    s = seat * rng.uniform(0.9, 1.15)
    sh = 0.45 * rng.uniform(0.92, 1.08)
    back = rng.uniform(0.35, 0.55)
    parts = [
        Part(p.box(0.0, 0.0, sh, s / 2, 0.025, s / 2), mat),
        Part(p.box(-s / 2 + 0.025, 0.0, sh + back / 2, s / 2, back / 2, 0.025), mat),
    ]
    for f in (-1, 1):
        for lft in (-1, 1):
            foot = p.at(f * (s / 2 - 0.03), lft * (s / 2 - 0.03), 0.0)
            parts.append(Part(segment(foot, foot + UP * (sh - 0.02), 0.018), mat))
    return parts


def table(p: Placement, mat: Material, width: float, depth: float, height: float) -> list[Part]:
    """Top (``width`` across, ``depth`` along forward) on four legs."""
    parts = [Part(p.box(0.0, 0.0, height - 0.02, width / 2, 0.02, depth / 2), mat)]
    for f in (-1, 1):
        for lft in (-1, 1):
            foot = p.at(f * (depth / 2 - 0.05), lft * (width / 2 - 0.05), 0.0)
            parts.append(Part(segment(foot, foot + UP * (height - 0.04), 0.025), mat))
    return parts


def sofa(p: Placement, mat: Material, width: float, depth: float = 0.85) -> list[Part]:
    """Base, backrest on the −forward side, two arms; seat top at 0.42 m."""
    return [
        Part(p.box(0.0, 0.0, 0.21, width / 2, 0.21, depth / 2), mat),
        Part(p.box(-depth / 2 + 0.1, 0.0, 0.6, width / 2, 0.25, 0.1), mat),
        Part(p.box(0.0, width / 2 - 0.08, 0.45, 0.08, 0.15, depth / 2), mat),
        Part(p.box(0.0, -width / 2 + 0.08, 0.45, 0.08, 0.15, depth / 2), mat),
    ]


def bed(p: Placement, frame: Material, sheet: Material, width: float, length: float) -> list[Part]:
    """Frame, mattress and a headboard on the −forward end; mattress top at 0.55 m."""
    return [
        Part(p.box(0.0, 0.0, 0.2, width / 2, 0.2, length / 2), frame),
        Part(p.box(0.0, 0.0, 0.47, width / 2 - 0.02, 0.08, length / 2 - 0.02), sheet),
        Part(p.box(-length / 2 + 0.03, 0.0, 0.55, width / 2, 0.55, 0.03), frame),
    ]


def screen(rng: np.random.Generator, p: Placement, width: float, height: float, stand: bool) -> list[Part]:
    """A television / monitor: dark screen box, on a foot (``stand``) or at its base height."""
    body = _mat(rng, DARK, "plain", 2.0, 0.1)
    lift = 0.12 if stand else 0.0
    parts = [Part(p.box(0.0, 0.0, lift + height / 2, width / 2, height / 2, 0.03), body)]
    if stand:
        parts.append(Part(segment(p.at(-0.04, 0, 0.0), p.at(-0.04, 0, lift + 0.02), 0.02), body))
        parts.append(Part(p.box(-0.04, 0.0, 0.01, width / 5, 0.01, 0.08), body))
    return parts


def lamp(rng: np.random.Generator, p: Placement, height: float) -> list[Part]:
    """Round foot, pole and a bright cylindrical shade."""
    metal = _mat(rng, METAL)
    shade = _mat(rng, [(0.95, 0.9, 0.7), (0.95, 0.95, 0.92), (0.9, 0.75, 0.55)], "plain", 4.0, 0.05)
    r = rng.uniform(0.1, 0.2) * max(height, 0.5) / 0.8
    return [
        Part(cylinder(p.base, 0.08, 0.03), metal),
        Part(segment(p.at(0, 0, 0.03), p.at(0, 0, height - 0.15), 0.012), metal),
        Part(cylinder(p.at(0, 0, height - 0.22), r, 0.22), shade),
    ]


def potted_plant(rng: np.random.Generator, p: Placement, height: float) -> list[Part]:
    pot = _mat(rng, [(0.55, 0.25, 0.12), (0.8, 0.8, 0.78), (0.2, 0.2, 0.22)], "plain")
    leaves = _mat(rng, [(0.1, 0.35, 0.08), (0.2, 0.45, 0.12), (0.05, 0.25, 0.05)], "noise", 25, 0.5)
    pot_h = 0.35 * height
    r = 0.22 * height
    parts = [Part(cylinder(p.base, r * 0.7, pot_h), pot)]
    fr = 0.5 * (height - pot_h)
    parts.append(Part(p.ellipsoid(0.0, 0.0, pot_h + fr, fr * 1.1, fr, fr * 1.1), leaves))
    for _ in range(int(rng.integers(1, 3))):
        a = rng.uniform(0, 2 * np.pi)
        tuft = p.ellipsoid(np.cos(a) * fr * 0.7, np.sin(a) * fr * 0.7, pot_h + fr * 1.1, fr * 0.6, fr * 0.6, fr * 0.6)
        parts.append(Part(tuft, leaves))
    return parts


def bottle(rng: np.random.Generator, p: Placement, height: float) -> list[Part]:
    glass = _mat(rng, [(0.1, 0.35, 0.1), (0.35, 0.2, 0.05), (0.7, 0.8, 0.8), (0.05, 0.1, 0.4)], "noise", 30, 0.3)
    r = 0.13 * height
    body = 0.62 * height
    return [
        Part(cylinder(p.base, r, body), glass),
        Part(p.ellipsoid(0, 0, body, r, 0.12 * height, r), glass),
        Part(cylinder(p.at(0, 0, body), 0.045 * height, height - body), glass),
    ]


# Species: body length range (m), leg length (m), girth (width / length), coat palette, coat pattern.
SPECIES: dict[str, tuple[tuple[float, float], float, float, list[Color], Pattern]] = {
    "cat": (
        (0.4, 0.5),
        0.16,
        0.22,
        [(0.3, 0.2, 0.1), (0.05, 0.05, 0.05), (0.8, 0.55, 0.25), (0.6, 0.6, 0.6)],
        "stripes",
    ),
    "dog": (
        (0.6, 1.0),
        0.38,
        0.25,
        [(0.5, 0.3, 0.12), (0.05, 0.05, 0.05), (0.85, 0.75, 0.55), (0.9, 0.9, 0.88)],
        "noise",
    ),
    "sheep": ((1.0, 1.25), 0.38, 0.36, [(0.85, 0.83, 0.75), (0.7, 0.68, 0.6)], "noise"),
    "cow": ((1.8, 2.3), 0.7, 0.3, [(0.9, 0.9, 0.88), (0.4, 0.22, 0.1), (0.08, 0.08, 0.08)], "spots"),
    "horse": ((1.9, 2.3), 0.85, 0.24, [(0.4, 0.2, 0.08), (0.1, 0.07, 0.05), (0.85, 0.8, 0.7)], "noise"),
}


def quadruped(rng: np.random.Generator, p: Placement, species: str) -> list[Part]:
    """Body, four legs, neck, head and tail, proportioned per species (cat, dog, sheep, cow, horse)."""
    (lo, hi), leg, girth, fur, pattern = SPECIES[species]
    length = float(rng.uniform(lo, hi))
    coat = make_material(rng, fur, pattern, 6.0 / length, 0.8 if pattern == "spots" else 0.3)
    half = length / 2
    width = girth * length
    body_y = leg + 0.5 * width
    parts = [Part(p.ellipsoid(0.0, 0.0, body_y, width, 0.55 * width + 0.02, half), coat)]
    for f in (-1, 1):
        for lft in (-1, 1):
            hip = p.at(f * half * 0.6, lft * width * 0.5, body_y)
            swing = rng.uniform(-0.25, 0.25)
            foot = p.at(f * half * 0.6 + np.sin(swing) * leg, lft * width * 0.5, 0.0)
            parts.append(Part(segment(hip, foot, 0.09 * width + 0.01), coat))
    neck_top = p.at(half * 1.05, 0.0, body_y + (0.9 if species == "horse" else 0.5) * width + 0.05)
    parts.append(Part(segment(p.at(half * 0.75, 0, body_y + 0.2 * width), neck_top, 0.22 * width), coat))
    head = 0.45 * width + 0.03
    head_up = neck_top[1] - p.base[1]
    parts.append(Part(p.ellipsoid(half * 1.05 + head * 0.6, 0.0, head_up, head * 0.7, head * 0.7, head * 1.1), coat))
    rump, tip = p.at(-half * 0.95, 0, body_y + 0.2 * width), p.at(-half * 1.3, 0, body_y - 0.3 * width)
    tail = segment(rump, tip, 0.05 * width)
    parts.append(Part(tail, coat))
    return parts


def bird(rng: np.random.Generator, p: Placement, size: float, flying: bool) -> list[Part]:
    feathers = _mat(rng, [(0.3, 0.25, 0.2), (0.05, 0.05, 0.05), (0.8, 0.8, 0.8), (0.6, 0.1, 0.05)], "noise", 40, 0.4)
    parts = [
        Part(p.ellipsoid(0.0, 0.0, 0.0, 0.35 * size, 0.35 * size, 0.6 * size), feathers),
        Part(ellipsoid(p.at(0.55 * size, 0, 0.3 * size), np.full(3, 0.22 * size)), feathers),
    ]
    if flying:
        parts += [
            Part(p.box(0.0, 0.9 * size, 0.1 * size, 0.8 * size, 0.03 * size, 0.25 * size), feathers),
            Part(p.box(0.0, -0.9 * size, 0.1 * size, 0.8 * size, 0.03 * size, 0.25 * size), feathers),
        ]
    else:
        for lft in (-1, 1):
            leg = segment(p.at(0, lft * 0.1 * size, -0.3 * size), p.at(0, lft * 0.1 * size, -0.75 * size), 0.03 * size)
            parts.append(Part(leg, feathers))
    return parts


def _wheel(center: np.ndarray, axle: np.ndarray, radius: float, width: float, mat: Material) -> Part:
    return Part(segment(center - axle * width / 2, center + axle * width / 2, radius), mat)


def car(rng: np.random.Generator, p: Placement) -> list[Part]:
    paint = _mat(rng, PAINT, "plain", 2.0, 0.1)
    glass = _mat(rng, [(0.08, 0.1, 0.12)], "noise", 3.0, 0.4)
    tyre = _mat(rng, DARK)
    ln, wd = rng.uniform(3.8, 4.8), rng.uniform(1.7, 1.9)
    parts = [
        Part(p.box(0.0, 0.0, 0.6, wd / 2, 0.35, ln / 2), paint),
        Part(p.box(-0.1 * ln, 0.0, 1.2, wd / 2 - 0.08, 0.27, ln / 4), glass),
    ]
    for f in (-1, 1):
        for lft in (-1, 1):
            parts.append(_wheel(p.at(f * ln * 0.32, lft * wd / 2, 0.33), p.left, 0.33, 0.22, tyre))
    return parts


def bus(rng: np.random.Generator, p: Placement) -> list[Part]:
    paint = _mat(rng, [(0.85, 0.65, 0.05), (0.75, 0.05, 0.05), (0.85, 0.85, 0.85), (0.1, 0.25, 0.6)], "grid", 1.2, 0.7)
    tyre = _mat(rng, DARK)
    ln = rng.uniform(9.0, 12.0)
    parts = [Part(p.box(0.0, 0.0, 1.8, 1.25, 1.45, ln / 2), paint)]
    for f in (-0.35, 0.3):
        for lft in (-1, 1):
            parts.append(_wheel(p.at(f * ln, lft * 1.2, 0.5), p.left, 0.5, 0.3, tyre))
    return parts


def train(rng: np.random.Generator, p: Placement) -> list[Part]:
    paint = _mat(rng, PAINT, "grid", 0.8, 0.6)
    parts = []
    cars = int(rng.integers(1, 4))
    for k in range(cars):
        parts.append(Part(p.box(-k * 21.0, 0.0, 2.4, 1.5, 1.9, 10.0), paint))
    parts.append(Part(p.ellipsoid(10.0, 0.0, 2.2, 1.5, 1.7, 1.5), paint))
    return parts


def motorbike(rng: np.random.Generator, p: Placement) -> list[Part]:
    paint = _mat(rng, PAINT, "plain", 2.0, 0.1)
    tyre = _mat(rng, DARK)
    metal = _mat(rng, METAL)
    return [
        Part(p.ellipsoid(0.0, 0.0, 0.65, 0.2, 0.25, 0.6), paint),
        Part(p.box(-0.3, 0.0, 0.85, 0.14, 0.05, 0.3), tyre),
        _wheel(p.at(0.7, 0, 0.32), p.left, 0.32, 0.12, tyre),
        _wheel(p.at(-0.7, 0, 0.32), p.left, 0.32, 0.14, tyre),
        Part(segment(p.at(0.55, 0, 0.6), p.at(0.45, 0, 1.05), 0.03), metal),
        Part(segment(p.at(0.45, -0.35, 1.05), p.at(0.45, 0.35, 1.05), 0.02), metal),
    ]


def bicycle(rng: np.random.Generator, p: Placement) -> list[Part]:
    frame = _mat(rng, PAINT, "plain", 2.0, 0.1)
    tyre = _mat(rng, DARK)
    r = 0.34
    rear, front = p.at(-0.52, 0, r), p.at(0.52, 0, r)
    crank, seat, head = p.at(0.0, 0, 0.3), p.at(-0.1, 0, 0.85), p.at(0.4, 0, 0.88)
    return [
        _wheel(rear, p.left, r, 0.05, tyre),
        _wheel(front, p.left, r, 0.05, tyre),
        Part(segment(crank, seat, 0.025), frame),
        Part(segment(seat, head, 0.025), frame),
        Part(segment(crank, head, 0.03), frame),
        Part(segment(crank, rear, 0.02), frame),
        Part(segment(head, front, 0.025), frame),
        Part(segment(p.at(0.42, -0.28, 1.0), p.at(0.42, 0.28, 1.0), 0.02), frame),
        Part(p.box(-0.12, 0.0, 0.9, 0.08, 0.03, 0.13), tyre),
    ]


def aeroplane(rng: np.random.Generator, p: Placement, scale: float) -> list[Part]:
    """Fuselage, wings, tail fin and stabiliser; ``p.base`` is the fuselage centre (in the air or at gear height)."""
    paint = _mat(rng, [(0.9, 0.9, 0.9), (0.75, 0.75, 0.78), (0.85, 0.3, 0.1)], "plain", 0.5, 0.1)
    s = scale
    return [
        Part(p.ellipsoid(0.0, 0.0, 0.0, 1.9 * s, 1.9 * s, 16.0 * s), paint),
        Part(p.box(0.5 * s, 0.0, -0.6 * s, 15.0 * s, 0.25 * s, 2.6 * s), paint),
        Part(p.box(-13.5 * s, 0.0, 2.6 * s, 0.2 * s, 2.4 * s, 1.8 * s), paint),
        Part(p.box(-14.0 * s, 0.0, 0.6 * s, 5.0 * s, 0.15 * s, 1.4 * s), paint),
    ]


def boat(rng: np.random.Generator, p: Placement, length: float) -> list[Part]:
    """Hull half under the water line (y = base), a cabin and a mast."""
    hull = _mat(rng, [(0.85, 0.85, 0.85), (0.6, 0.05, 0.05), (0.1, 0.2, 0.45), (0.45, 0.28, 0.12)], "plain", 1.0, 0.1)
    cabin = _mat(rng, [(0.9, 0.9, 0.88), (0.6, 0.6, 0.62)], "grid", 3.0, 0.3)
    mast = _mat(rng, METAL)
    w = 0.3 * length
    return [
        Part(p.ellipsoid(0.0, 0.0, 0.0, w / 2, 0.15 * length, length / 2), hull),
        Part(p.box(-0.08 * length, 0.0, 0.15 * length, w / 3, 0.08 * length, length / 6), cabin),
        Part(segment(p.at(0.05 * length, 0, 0.1 * length), p.at(0.05 * length, 0, 0.8 * length), 0.015 * length), mast),
    ]
