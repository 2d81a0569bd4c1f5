"""Drawing one human figure from body parts into a ``Sprite`` with exact body-part labels.

Every body part is a list of shapes (rounded limb segments, polygons, discs) in head units
(see ``skeleton``). They are drawn, back to front, into one Pillow "L" index image: shape i
paints value 2 i with its outline-thickened version and then 2 i + 1 with itself. Colours
and body-part labels are then looked up from that index image, so a pixel's label is
always the part whose colour (fill or outline) it shows: the masks are exact, and the outline
belongs to the figure (to the part it outlines).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image, ImageDraw

from object_detection.dataset_tools.figure_folder import (
    BACKGROUND_BODY_PART, BODY_PART_NAMES, KEYPOINT_NAMES)
from object_detection.dataset_tools.synthetic import palettes, skeleton
from object_detection.dataset_tools.synthetic.palettes import Color, Palette
from object_detection.dataset_tools.synthetic.sprite import Sprite, crop_to_content

_PART_INDEX = {name: i for i, name in enumerate(BODY_PART_NAMES)}
_NO_SHAPE = 255  # index-image value where nothing is drawn


@dataclasses.dataclass(frozen=True)
class Shape:
    """One drawable piece of a body part, in head units.

    kind: "capsule" (a segment ``points[0]``-``points[1]`` of half thickness ``radius`` with
    round ends), "disc" (centre ``points[0]``, ``radius``) or "polygon" (``points`` [n, 2]).
    ``outlined``: False for details drawn inside another shape (hair) without an outline.
    """

    part: str
    color: Color
    kind: str
    points: np.ndarray
    radius: float = 0.0
    outlined: bool = True


@dataclasses.dataclass(frozen=True)
class Style:
    """Colours and clothing of one figure."""

    skin: Color
    hair: Color
    shirt: Color
    pants: Color
    shoes: Color
    outline: Color
    long_sleeves: bool
    long_pants: bool
    hat: Color | None


def sample_style(rng: np.random.Generator, palette: Palette) -> Style:
    """Random clothing colours within the palette's saturation and value ranges."""
    sat, val = palette.figure_saturation, palette.figure_value
    shirt = palettes.hsv_color(rng, sat, val)
    if rng.random() < 0.7:
        outline = palettes.hsv_color(rng, (0.0, 0.5), (0.0, 0.22))
    else:
        outline = palettes.darker(shirt, 0.65)
    return Style(
        skin=palettes.skin_color(rng),
        hair=palettes.hsv_color(rng, (0.2, 0.9), (0.1, 0.7), hue=float(rng.uniform(0.02, 0.14))),
        shirt=shirt, pants=palettes.hsv_color(rng, sat, val), shoes=palettes.hsv_color(
            rng, (0.0, 0.6), (0.1, 0.5)), outline=outline,
        long_sleeves=bool(rng.random() < 0.5), long_pants=bool(rng.random() < 0.7),
        hat=palettes.hsv_color(rng, sat, val) if rng.random() < 0.2 else None)


def _ellipse(center: np.ndarray, up: np.ndarray, rx: float, ry: float, count: int = 20
             ) -> np.ndarray:
    """Polygon [count, 2] of an ellipse with semi-axes rx (across) and ry (along ``up``)."""
    across = np.array([-up[1], up[0]])
    t = np.linspace(0.0, 2 * np.pi, count, endpoint=False)
    return center + np.outer(np.cos(t) * rx, across) + np.outer(np.sin(t) * ry, up)


def _rectangle(bottom_center: np.ndarray, up: np.ndarray, width: float, height: float
               ) -> np.ndarray:
    """Polygon [4, 2] of a rectangle standing on ``bottom_center``, oriented by ``up``."""
    across = np.array([-up[1], up[0]]) * width / 2
    top = bottom_center + up * height
    return np.array([bottom_center - across, bottom_center + across, top + across, top - across])


def _arm(side: str, pose: skeleton.Pose, body: skeleton.Body, style: Style) -> list[Shape]:
    j = pose.joints
    return [
        Shape(f"{side}_upper_arm", style.shirt, "capsule",
              np.array([j[f"{side}_shoulder"], j[f"{side}_elbow"]]), body.upper_arm_radius),
        Shape(f"{side}_lower_arm", style.shirt if style.long_sleeves else style.skin, "capsule",
              np.array([j[f"{side}_elbow"], j[f"{side}_wrist"]]), body.lower_arm_radius),
        Shape(f"{side}_hand", style.skin, "disc", np.array([j[f"{side}_hand"]]),
              body.hand_radius)]


def _leg(side: str, pose: skeleton.Pose, body: skeleton.Body, style: Style) -> list[Shape]:
    j = pose.joints
    return [
        Shape(f"{side}_foot", style.shoes, "capsule",
              np.array([j[f"{side}_ankle"], j[f"{side}_toe"]]), body.foot_radius),
        Shape(f"{side}_lower_leg", style.pants if style.long_pants else style.skin, "capsule",
              np.array([j[f"{side}_knee"], j[f"{side}_ankle"]]), body.lower_leg_radius),
        Shape(f"{side}_upper_leg", style.pants, "capsule",
              np.array([j[f"{side}_hip"], j[f"{side}_knee"]]), body.upper_leg_radius)]


def _head(pose: skeleton.Pose, body: skeleton.Body, style: Style) -> list[Shape]:
    j, up = pose.joints, pose.head_up
    center = j["head_center"]
    outline = _ellipse(center, up, body.head_rx, body.head_ry)
    cut = -0.1 if pose.right_side < 0 else -0.7  # seen from the back: mostly hair
    hair = outline[(outline - center) @ up > cut * body.head_ry]
    shapes = [
        Shape("head", style.skin, "capsule", np.array([j["thorax"], j["neck"]]),
              body.head_rx * 0.4),
        Shape("head", style.skin, "capsule", np.array([center, j["head"]]), 0.1,
              outlined=False),  # hidden under the head; makes sure the crown joint is drawn
        Shape("head", style.skin, "polygon", outline),
        Shape("head", style.hair, "polygon", hair, outlined=False)]
    if style.hat is not None:
        brim = center + up * body.head_ry * 0.55
        shapes.append(Shape("head", style.hat, "polygon",
                            _rectangle(brim, up, body.head_rx * 2.8, body.head_ry * 0.16)))
        shapes.append(Shape("head", style.hat, "polygon",
                            _rectangle(brim, up, body.head_rx * 1.5, body.head_ry * 0.75)))
    return shapes


def figure_shapes(rng: np.random.Generator, pose: skeleton.Pose, body: skeleton.Body,
                  style: Style) -> list[Shape]:
    """The figure's shapes, back to front: maybe one arm behind, legs, torso, head, arms."""
    j = pose.joints
    sides = ["right", "left"]
    rng.shuffle(sides)
    behind = sides[0] if rng.random() < 0.25 else None
    shapes = _arm(behind, pose, body, style) if behind else []
    for side in sides:
        shapes += _leg(side, pose, body, style)
    crotch = j["pelvis"] + (j["pelvis"] - j["thorax"]) * 0.08
    torso = np.array([j["right_shoulder"], j["left_shoulder"], j["left_hip"], crotch,
                      j["right_hip"]])
    shapes.append(Shape("torso", style.shirt, "capsule", np.array([j["pelvis"], j["thorax"]]),
                        0.1, outlined=False))  # hidden; makes sure pelvis and thorax are drawn
    shapes.append(Shape("torso", style.shirt, "polygon", torso))
    shapes += _head(pose, body, style)
    for side in sides:
        if side != behind:
            shapes += _arm(side, pose, body, style)
    return shapes


def _bounds(shapes: list[Shape]) -> tuple[np.ndarray, np.ndarray]:
    """(min, max) (x, y) corners of all shapes including their thickness, in shape units."""
    lows = [s.points.min(axis=0) - s.radius for s in shapes]
    highs = [s.points.max(axis=0) + s.radius for s in shapes]
    return np.min(lows, axis=0), np.max(highs, axis=0)


def _draw_shape(draw: ImageDraw.ImageDraw, shape: Shape, points: np.ndarray, radius: float,
                grow: int, value: int) -> None:
    """Draws ``shape`` at pixel coordinates ``points``, thickened by ``grow`` pixels.

    Pillow truncates coordinates, so a point (x, y) paints pixel (floor(y), floor(x)), the
    pixel that contains it; line widths are odd so lines and round caps share that centre.
    A capsule always paints the pixels of both its end points.
    """
    if shape.kind == "capsule":
        width = (int(2 * radius) | 1) + 2 * grow
        ends = [tuple(p) for p in points.tolist()]
        draw.line(ends, fill=value, width=width)
        if width >= 3:
            half = (width - 1) // 2
            for x, y in ends:
                draw.ellipse([x - half, y - half, x + half, y + half], fill=value)
        else:
            draw.point(ends, fill=value)
    elif shape.kind == "disc":
        half = int(radius) + grow
        x, y = points[0].tolist()
        draw.ellipse([x - half, y - half, x + half, y + half], fill=value)
    else:
        vertices = [tuple(p) for p in points.tolist()]
        draw.polygon(vertices, fill=value)
        if grow > 0:
            draw.line(vertices + [vertices[0]], fill=value, width=2 * grow + 1, joint="curve")


def render_shapes(shapes: list[Shape], joints: dict[str, np.ndarray], scale: float,
                  outline_width: int, outline: Color) -> Sprite:
    """Rasterises ``shapes`` at ``scale`` pixels per unit into a tight Sprite.

    ``joints`` (same units) become the sprite's keypoints (only KEYPOINT_NAMES are kept).
    """
    if 2 * len(shapes) > _NO_SHAPE:
        raise ValueError(f"too many shapes to draw: {len(shapes)}")
    low, high = _bounds(shapes)
    margin = outline_width + 2.0
    size = np.ceil((high - low) * scale + 2 * margin).astype(int) + 1
    index = Image.new("L", (int(size[0]), int(size[1])), _NO_SHAPE)
    draw = ImageDraw.Draw(index)
    colors = np.zeros((256, 3), np.uint8)
    parts = np.full(256, BACKGROUND_BODY_PART, np.uint8)
    for i, shape in enumerate(shapes):
        points = (shape.points - low) * scale + margin
        radius = shape.radius * scale
        if shape.outlined and outline_width > 0:
            _draw_shape(draw, shape, points, radius, outline_width, 2 * i)
            colors[2 * i], parts[2 * i] = outline, _PART_INDEX[shape.part]
        _draw_shape(draw, shape, points, radius, 0, 2 * i + 1)
        colors[2 * i + 1], parts[2 * i + 1] = shape.color, _PART_INDEX[shape.part]
    values = np.asarray(index)
    keypoints = {name: tuple(((joints[name] - low) * scale + margin).tolist())
                 for name in KEYPOINT_NAMES}
    return crop_to_content(Sprite(colors[values], parts[values], keypoints))


def render_figure(rng: np.random.Generator, palette: Palette, min_size: float,
                  max_size: float) -> Sprite:
    """A random figure whose longer side (``Sprite.size``) lies in [min_size, max_size] px.

    The target size is drawn log-uniformly (small figures are more common on maps); the scale
    is corrected until the drawn size falls inside the range.
    """
    if not 4 <= min_size <= max_size:
        raise ValueError(f"figure sizes must satisfy 4 <= min_size <= max_size, "
                         f"got {min_size} and {max_size}")
    body = skeleton.sample_body(rng)
    pose = skeleton.sample_pose(rng, body)
    style = sample_style(rng, palette)
    shapes = figure_shapes(rng, pose, body, style)
    target = float(np.exp(rng.uniform(np.log(min_size), np.log(max_size))))
    outline_width = int(rng.integers(0, int(np.clip(round(target / 45), 1, 3)) + 1))
    low, high = _bounds(shapes)
    extent = float(np.max(high - low))
    scale = max(target - 2 * outline_width - 1, 1.0) / extent
    for _ in range(6):
        sprite = render_shapes(shapes, pose.joints, scale, outline_width, style.outline)
        if min_size <= sprite.size <= max_size:
            return sprite
        scale *= max(target - 2 * outline_width - 1, 1.0) / max(
            sprite.size - 2 * outline_width - 1, 1.0)
    raise RuntimeError(f"could not draw a figure between {min_size} and {max_size} px "
                       f"(last: {sprite.size} px)")
