"""Drawing: pixels change exactly on masks, box outlines and labels; colours are fixed."""

from __future__ import annotations

import numpy as np
import pytest

from object_detection.core.detections import ImageDetections
from object_detection.apps.drawing import blend_masks, draw_detections, instance_colour, label_text
from tests.apps.handmade import (BOX_A, BOX_B, HEIGHT, PIXEL_BOX_A, PIXEL_BOX_B, WIDTH,
                                    detections, mask_a, mask_b, two_figures)

GREY = 100
NAMES = {1: "character"}


def _grey():
    return np.full((HEIGHT, WIDTH, 3), GREY, np.uint8)


def _outline(box, width=2):
    """bool [H, W]: the ``width`` pixels just inside the pixel box's edges."""
    left, top, right, bottom = box
    region = np.zeros((HEIGHT, WIDTH), bool)
    region[top:bottom, left:right] = True
    region[top + width:bottom - width, left + width:right - width] = False
    return region


def _changed(a, b):
    return np.any(a != b, axis=-1)


def test_masks_and_outlines_without_labels_change_exactly_their_pixels():
    dets = two_figures()
    drawn = draw_detections(_grey(), dets, NAMES, show_labels=False)
    assert drawn.dtype == np.uint8 and drawn.shape == (HEIGHT, WIDTH, 3)
    masks = list(dets.image_masks())
    outlines = _outline(PIXEL_BOX_A) | _outline(PIXEL_BOX_B)
    np.testing.assert_array_equal(_changed(drawn, _grey()), masks[0] | masks[1] | outlines)
    for k, box in enumerate((PIXEL_BOX_A, PIXEL_BOX_B)):
        colour = np.array(instance_colour(k))
        assert np.all(drawn[_outline(box)] == colour)
        inner = masks[k] & ~outlines
        blended = np.rint(0.6 * GREY + 0.4 * colour).astype(np.uint8)   # alpha 0.4
        assert inner.any() and np.all(drawn[inner] == blended)


def test_overlapping_masks_are_blended_in_turn_rounding_after_each():
    # A's mask (rows 12..28, columns 9..20) and a second one on rows 20..33, columns 15..26
    # (inside box [0.5, 0.25, 0.875, 0.5]: pixels 15..29 x 20..35) share rows 20..28 x 15..20.
    second = np.zeros((HEIGHT, WIDTH), np.float32)
    second[20:34, 15:27] = 0.7
    dets = detections([BOX_A, [0.5, 0.25, 0.875, 0.5]], [mask_a(), second])
    colours = [instance_colour(0), instance_colour(1)]
    grey = 98                               # where rounding once would differ (below)
    image = np.full((HEIGHT, WIDTH, 3), grey, np.uint8)
    blended = blend_masks(image, dets, colours)
    first_only = np.zeros((HEIGHT, WIDTH), bool)
    first_only[12:29, 9:21] = True
    first_only[12, 9] = False                                          # 0.5: not above
    both = first_only & (second > 0.5)
    second_only = (second > 0.5) & ~first_only
    first_only &= ~both
    assert both.sum() == 9 * 6 and second_only.any() and first_only.any()
    # each blend is rounded to uint8 before the next: (6 p + 4 c) / 10 is never a tie
    once = [round(0.6 * grey + 0.4 * c) for c in colours[0]]
    twice = [round(0.6 * p + 0.4 * c) for p, c in zip(once, colours[1])]
    assert twice != [round(0.6 * (0.6 * grey + 0.4 * c0) + 0.4 * c1)
                     for c0, c1 in zip(*colours)]                      # not rounded once
    expected = image.copy()
    expected[first_only] = once
    expected[second_only] = [round(0.6 * grey + 0.4 * c) for c in colours[1]]
    expected[both] = twice
    np.testing.assert_array_equal(blended, expected)
    assert np.all(image == grey)                                       # a copy
    np.testing.assert_array_equal(blend_masks(image, dets, colours, mask_threshold=0.8),
                                  np.where(first_only[..., None] | both[..., None],
                                           np.array(once, np.uint8), image))


def test_label_sits_above_the_box_when_there_is_room():
    dets = detections([BOX_B], [mask_b()], scores=[0.87])              # top row 20
    with_label = draw_detections(_grey(), dets, NAMES)
    without = draw_detections(_grey(), dets, NAMES, show_labels=False)
    label = _changed(with_label, without)
    rows, cols = np.nonzero(label)
    left, top = PIXEL_BOX_B[:2]
    assert label.sum() > 50
    assert rows.max() < top and rows.min() >= top - 20                 # just above the box
    assert cols.min() == left                                          # from its left edge on
    # the label background is the box colour
    assert np.sum(np.all(with_label[label] == instance_colour(0), axis=-1)) > label.sum() // 2


def test_label_goes_inside_the_box_at_the_top_edge():
    dets = detections([[0.0, 0.125, 0.75, 0.375]], [mask_a()])        # top row 0, left 7
    with_label = draw_detections(_grey(), dets, NAMES)
    without = draw_detections(_grey(), dets, NAMES, show_labels=False)
    rows, cols = np.nonzero(_changed(with_label, without))
    # columns 7 and 8 are the outline, already in the label's colour
    assert len(rows) > 50 and rows.min() == 0 and rows.max() < 20 and cols.min() == 9


def test_label_text():
    assert label_text(1, 0.873, NAMES) == "character: 87%"
    assert label_text(7, 0.5, NAMES) == "7: 50%"


def test_drawing_is_deterministic_and_colours_differ():
    first = draw_detections(_grey(), two_figures(), NAMES)
    np.testing.assert_array_equal(first, draw_detections(_grey(), two_figures(), NAMES))
    colours = [instance_colour(i) for i in range(12)]
    assert len(set(colours)) == 12
    assert min(max(abs(a - b) for a, b in zip(c1, c2))
               for i, c1 in enumerate(colours[:6]) for c2 in colours[i + 1:6]) >= 40


def test_boxes_only_without_masks():
    dets = ImageDetections([BOX_A], [0.9], [1])
    drawn = draw_detections(_grey(), dets, NAMES, show_labels=False)
    np.testing.assert_array_equal(_changed(drawn, _grey()), _outline(PIXEL_BOX_A))


def test_input_image_is_not_modified_and_no_detections_change_nothing():
    image = _grey()
    draw_detections(image, two_figures(), NAMES)
    assert np.all(image == GREY)
    empty = ImageDetections(np.zeros((0, 4)), [], [])
    np.testing.assert_array_equal(draw_detections(image, empty, NAMES), image)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="uint8"):
        draw_detections(_grey().astype(np.float32), two_figures(), NAMES)
    with pytest.raises(ValueError, match="masks are of a 60x40 image .* image is 61x40"):
        draw_detections(np.zeros((HEIGHT, WIDTH + 1, 3), np.uint8), two_figures(), NAMES)
