"""What users do with detections: drawing them, cutting figures out, matching ground truth.

Plain numpy and Pillow (no TensorFlow, except ``ImageDetections.from_model_output``, which
reframes box-relative masks with ``object_detection.core.mask_ops``):

* ``detections``: ``ImageDetections``, one image's boxes, scores, classes and image-sized masks;
* ``drawing``: boxes, translucent masks and labels on the image;
* ``cutout``: crops, masked crops, square padding, filled holes, keypoints moved into crops;
* ``matching``: detections to ground-truth figures by largest mask overlap;
* ``extraction``: the published "for animation" and "for training" output layouts;
* ``outputs``: safe file names and writing only inside an output folder.
"""
