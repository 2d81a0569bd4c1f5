"""Box-relative masks pasted into a window of the image, in NumPy: one detection at a time.

``paste_box_mask`` gives exactly the pixels that ``core.mask_ops.reframe_box_masks_to_image_masks``
(the OD API's crop_and_resize reframing, TensorFlow) gives for a window of the image, without
making the image-sized mask: image pixel row ``i`` of an ``H``-row frame sits at ``t = i / (H -
1)`` (0.5 for a single row), inside the box when ``ymin <= t <= ymax`` (up to 1e-6), where the
box mask is sampled bilinearly at ``(t - ymin) / (ymax - ymin) * (h - 1)``; likewise for
columns. In exact arithmetic every pixel with a non-zero value lies inside the box's pixel crop
(``box_ops.to_pixel_crops``: floor of the minimum, ceiling of the maximum), so the crop is all
a consumer needs. The one exception is the 1e-6 edge tolerance: on a frame of ``H`` rows it
reaches ``(H - 1) * 1e-6`` pixels past the box, so for a box ending within that of a crop's edge
(a box at the bottom or right of a map of thousands of pixels, e.g. ``ymin = 0.995`` on 8000
rows) the OD API's reframing also sets the one row or column just outside the crop, which the
crop leaves out (tested).

The window may be given in the coordinates of a larger map that the frame is a tile of:
``frame_top`` / ``frame_left`` say where the frame's pixel (0, 0) is on the map.
"""

from __future__ import annotations

import numpy as np

# As core.mask_ops: pixels this close (normalized) outside a box edge count as on it.
_EDGE_TOLERANCE = np.float32(1e-6)


def _axis_weights(start: float, end: float, pixels: np.ndarray, frame_size: int,
                  cells: int) -> np.ndarray:
    """float32 [len(pixels), cells]: bilinear weights of the box mask's cells for the frame
    pixels ``pixels`` (ints, may lie outside the frame) along one axis; rows of 0 off the box."""
    start, end = np.float32(start), np.float32(end)
    if frame_size > 1:
        t = pixels.astype(np.float32) / np.float32(frame_size - 1)
    else:
        t = np.where(pixels == 0, np.float32(0.5), np.float32(-1.0)).astype(np.float32)
    inside = (t >= start - _EDGE_TOLERANCE) & (t <= end + _EDGE_TOLERANCE)
    extent = np.maximum(end - start, np.float32(1e-4))
    last = np.float32(cells - 1)
    position = np.clip((t - start) / extent * last, np.float32(0), last)
    grid = np.arange(cells, dtype=np.float32)
    weights = np.maximum(np.float32(0), np.float32(1) - np.abs(position[:, None] - grid[None, :]))
    return (weights * inside[:, None]).astype(np.float32)


def paste_box_mask(box_mask: np.ndarray, box: np.ndarray, frame_height: int, frame_width: int,
                   window: np.ndarray, frame_top: int = 0, frame_left: int = 0) -> np.ndarray:
    """float32 [bottom - top, right - left]: the box mask reframed into ``window``.

    Args:
      box_mask: [h, w] probabilities of one detection, covering its box.
      box: normalized ``[ymin, xmin, ymax, xmax]`` of the box in the frame.
      frame_height, frame_width: the size of the frame the box is normalized to (the image
        the model saw, or a tile of a map).
      window: ``(left, top, right, bottom)`` pixels (right/bottom exclusive) of the wanted
        crop, in map coordinates.
      frame_top, frame_left: where the frame's top-left pixel lies on the map (0 when the
        frame is the map).
    """
    box_mask = np.asarray(box_mask, np.float32)
    if box_mask.ndim != 2:
        raise ValueError(f"box mask must be [h, w], got shape {box_mask.shape}")
    left, top, right, bottom = (int(v) for v in window)
    ymin, xmin, ymax, xmax = (float(v) for v in np.asarray(box, np.float32))
    rows = _axis_weights(ymin, ymax, np.arange(top, bottom) - frame_top, frame_height,
                         box_mask.shape[0])
    cols = _axis_weights(xmin, xmax, np.arange(left, right) - frame_left, frame_width,
                         box_mask.shape[1])
    return (rows @ box_mask @ cols.T).astype(np.float32)


def crop_rle_counts(crop: np.ndarray, left: int, top: int, height: int, width: int) -> list[int]:
    """Uncompressed COCO RLE counts (column-major runs, zeros first) of the ``height x width``
    image that is 0 everywhere but ``crop`` (bool [h, w]) at ``(left, top)``; only one column
    strip of the image is made."""
    crop = np.asarray(crop, bool)
    h, w = crop.shape
    if left < 0 or top < 0 or left + w > width or top + h > height:
        raise ValueError(f"a {w}x{h} crop at ({left}, {top}) does not fit a {width}x{height} image")
    strip = np.zeros((w, height), bool)        # the crop's columns, each a full image column
    strip[:, top:top + h] = crop.T
    flat = strip.reshape(-1)
    if flat.size == 0:
        return [height * width]
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate([[0], changes, [flat.size]])).tolist()
    if flat[0]:
        runs.insert(0, 0)
    runs[0] += height * left
    after = height * (width - left - w)
    if len(runs) % 2:   # ends on a run of zeros
        runs[-1] += after
    elif after:
        runs.append(after)
    return [int(v) for v in runs]
