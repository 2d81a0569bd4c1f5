"""What users do with detections: drawing them, cutting figures out, matching ground truth.

Plain numpy and Pillow, no TensorFlow. They take ``core.detections.ImageDetections`` (one
image's boxes, scores, classes and each detection's mask over its pixel box):

* ``drawing``: boxes, translucent masks and labels on the image;
* ``cutout``: crops, masked crops, square padding, filled holes, keypoints moved into crops;
* ``matching``: detections to ground-truth figures by largest mask overlap;
* ``extraction``: the published "for animation" and "for training" output layouts;
* ``outputs``: safe file names and writing only inside an output folder.
"""
