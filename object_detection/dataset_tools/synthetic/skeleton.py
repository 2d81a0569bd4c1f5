"""Random body proportions and poses: the 16 joints (KEYPOINT_NAMES) and a few helper points.

Units are head heights (the head is 1 tall); x right, y down, the pelvis at the origin.
A front-facing figure has its right side on the image's left (``right_side = -1``).
Limb directions are angles from the body's "down" direction, positive towards image right.
Joints follow the MPII-style KEYPOINT_NAMES: "neck" is the base of the head, "head" a point
near its top (three quarters of the way from the head's centre to its crown), "thorax" the
middle of the shoulder line and "pelvis" the middle of the hip line.
"""

from __future__ import annotations

import dataclasses

import numpy as np

POSE_KINDS = ("stand", "walk", "wave", "cheer", "hands_on_hips", "sit", "free")
_POSE_WEIGHTS = np.array([0.22, 0.24, 0.12, 0.07, 0.08, 0.09, 0.18])


@dataclasses.dataclass(frozen=True)
class Body:
    """Proportions in head heights; radii are half thicknesses of limbs."""

    head_rx: float
    head_ry: float
    neck: float
    torso: float
    shoulder_half: float
    hip_half: float
    upper_arm: float
    lower_arm: float
    upper_leg: float
    lower_leg: float
    foot: float
    upper_arm_radius: float
    lower_arm_radius: float
    hand_radius: float
    upper_leg_radius: float
    lower_leg_radius: float
    foot_radius: float


def sample_body(rng: np.random.Generator) -> Body:
    """Proportions from chibi (about 3 heads tall) to realistic (about 7.5 heads)."""
    heads_tall = float(rng.uniform(3.0, 7.5))
    fat = float(rng.uniform(0.8, 1.35))
    neck = float(rng.uniform(0.08, 0.25))
    trunk_and_legs = heads_tall - 1.0 - neck - 0.15
    torso = trunk_and_legs * float(rng.uniform(0.38, 0.5))
    legs = trunk_and_legs - torso
    upper_leg = legs * float(rng.uniform(0.46, 0.54))
    arm = (torso + neck) * float(rng.uniform(1.0, 1.3))
    upper_arm = arm * float(rng.uniform(0.48, 0.55))
    shoulder_half = float(rng.uniform(0.55, 0.95)) * fat * min(1.0, 0.5 + heads_tall / 10)
    return Body(
        head_rx=0.5 * float(rng.uniform(0.75, 0.95)), head_ry=0.5, neck=neck, torso=torso,
        shoulder_half=shoulder_half, hip_half=shoulder_half * float(rng.uniform(0.55, 0.8)),
        upper_arm=upper_arm, lower_arm=arm - upper_arm, upper_leg=upper_leg,
        lower_leg=legs - upper_leg, foot=float(rng.uniform(0.3, 0.45)),
        upper_arm_radius=0.19 * fat, lower_arm_radius=0.15 * fat, hand_radius=0.17 * fat,
        upper_leg_radius=0.26 * fat, lower_leg_radius=0.19 * fat, foot_radius=0.12 * fat)


@dataclasses.dataclass(frozen=True)
class Pose:
    """Joint positions (float64 (x, y) arrays) and orientation of one posed figure.

    ``joints`` holds the 16 KEYPOINT_NAMES plus ``head_center``, ``right_hand``/``left_hand``
    (hand centres) and ``right_toe``/``left_toe`` (tips of the feet). ``head_up`` is the unit
    vector from the head's centre to its crown; ``right_side`` is -1 when the figure's right is
    on the image's left (seen from the front), +1 seen from the back.
    """

    joints: dict[str, np.ndarray]
    head_up: np.ndarray
    right_side: int
    kind: str


def _rotate(v: np.ndarray, angle: float) -> np.ndarray:
    """``v`` turned by ``angle`` radians, counter-clockwise on screen (y down)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([c * v[0] + s * v[1], -s * v[0] + c * v[1]])


def _limb_angles(rng: np.random.Generator, kind: str, side: str, raised: str
                 ) -> tuple[float, float, float, float]:
    """(upper arm, elbow bend, thigh, knee bend) outward angles in radians for one side."""
    u = rng.uniform
    if kind == "stand":
        return u(0.05, 0.4), u(-0.3, 0.3), u(0.0, 0.15), u(-0.1, 0.1)
    if kind == "walk":
        return u(-0.2, 0.7), u(-0.2, 0.8), u(0.05, 0.45), u(-0.35, 0.35)
    if kind in ("wave", "cheer") and (kind == "cheer" or side == raised):
        return u(1.9, 2.9), u(-0.6, 0.6), u(0.0, 0.25), u(-0.2, 0.2)
    if kind == "wave":
        return u(0.05, 0.5), u(-0.3, 0.4), u(0.0, 0.25), u(-0.2, 0.2)
    if kind == "hands_on_hips":
        return u(0.5, 0.9), u(-2.3, -1.6), u(0.05, 0.3), u(-0.1, 0.1)
    if kind == "sit":
        return u(0.05, 0.6), u(-0.8, 0.3), 0.0, 0.0
    return u(-0.5, 3.0), u(-1.5, 1.5), u(-0.3, 1.2), u(-1.2, 1.2)


def sample_pose(rng: np.random.Generator, body: Body) -> Pose:
    """A random pose of ``body``: joints in head units, pelvis at the origin."""
    kind = POSE_KINDS[int(rng.choice(len(POSE_KINDS), p=_POSE_WEIGHTS))]
    tilt = float(rng.normal(0.0, 0.12))
    if rng.random() < 0.06:
        tilt = float(rng.uniform(-np.pi, np.pi))  # lying, tumbling, flying figures
    right_side = -1 if rng.random() < 0.85 else 1
    facing = 1 if rng.random() < 0.5 else -1
    raised = "right" if rng.random() < 0.5 else "left"
    down = _rotate(np.array([0.0, 1.0]), tilt)
    across = _rotate(np.array([1.0, 0.0]), tilt)  # towards image right when upright

    def direction(angle: float) -> np.ndarray:
        return _rotate(down, angle)

    pelvis = np.zeros(2)
    thorax = pelvis - down * body.torso
    neck = thorax - down * body.neck
    head_up = _rotate(-down, float(rng.normal(0.0, 0.15)))
    head_center = neck + head_up * body.head_ry * 0.85
    joints = {"pelvis": pelvis, "thorax": thorax, "neck": neck, "head_center": head_center,
              "head": head_center + head_up * body.head_ry * 0.75}
    for side in ("right", "left"):
        s = right_side if side == "right" else -right_side
        arm, elbow, thigh, knee = _limb_angles(rng, kind, side, raised)
        shoulder = thorax + across * s * body.shoulder_half
        hip = pelvis + across * s * body.hip_half
        upper_dir = direction(s * arm)
        lower_dir = direction(s * (arm + elbow))
        elbow_point = shoulder + upper_dir * body.upper_arm
        wrist = elbow_point + lower_dir * body.lower_arm
        if kind == "sit":
            thigh_dir = direction(facing * rng.uniform(1.3, 1.75))
            shin_dir = direction(rng.uniform(-0.25, 0.25))
        else:
            thigh_dir = direction(s * thigh)
            shin_dir = direction(s * (thigh + knee))
        knee_point = hip + thigh_dir * body.upper_leg
        ankle = knee_point + shin_dir * body.lower_leg
        toe_side = s if kind in ("stand", "wave", "cheer", "hands_on_hips") else facing
        toe = ankle + _rotate(shin_dir, toe_side * rng.uniform(1.2, 1.75)) * body.foot
        joints.update({
            f"{side}_shoulder": shoulder, f"{side}_elbow": elbow_point, f"{side}_wrist": wrist,
            f"{side}_hand": wrist + lower_dir * body.hand_radius * 0.7,
            f"{side}_hip": hip, f"{side}_knee": knee_point, f"{side}_ankle": ankle,
            f"{side}_toe": toe})
    return Pose(joints=joints, head_up=head_up, right_side=right_side, kind=kind)
