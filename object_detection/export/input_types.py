"""The input types of an exported SavedModel, as the OD API names them (no TensorFlow here, so
that a command line can offer them before TensorFlow starts).

* ``image_tensor``: uint8 ``[B, H, W, 3]`` RGB;
* ``float_image_tensor``: float32 ``[B, H, W, 3]`` RGB in 0..255;
* ``encoded_image_string_tensor``: string ``[B]`` of encoded PNG / JPEG / BMP / GIF files;
* ``tf_example``: string ``[B]`` of serialized ``tf.train.Example`` with ``image/encoded``.
"""

from __future__ import annotations

IMAGE_TENSOR = "image_tensor"
FLOAT_IMAGE_TENSOR = "float_image_tensor"
ENCODED_IMAGE_STRING_TENSOR = "encoded_image_string_tensor"
TF_EXAMPLE = "tf_example"
INPUT_TYPES = (IMAGE_TENSOR, ENCODED_IMAGE_STRING_TENSOR, TF_EXAMPLE, FLOAT_IMAGE_TENSOR)


def check_input_type(input_type: str) -> str:
    """``input_type`` itself; ValueError naming the supported ones otherwise."""
    if input_type not in INPUT_TYPES:
        raise ValueError(f"input type not supported: {input_type!r} (supported: "
                         f"{', '.join(INPUT_TYPES)})")
    return input_type
