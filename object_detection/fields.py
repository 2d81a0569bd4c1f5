"""The names of everything passed between stages: one vocabulary for the whole package.

Four groups:

* ``TfExampleKeys``: feature keys inside serialized ``tf.train.Example`` records, the same
  keys as the TF Object Detection API, so records written here train there and back.
* ``InputFields``: keys of the tensor dictionaries produced by the input pipeline
  (``object_detection.data``) and consumed by the model and the evaluators.
* ``DetectionResultFields``: keys of the detection dictionaries returned by the model's
  postprocess and by exported models (the OD API's output names).
* ``LossNames``: the loss names of the model's ``loss`` (the OD API's TensorBoard tags), as
  training, evaluation and the progress line report them.

Conventions, kept the same everywhere in the package:

* boxes are float32 ``[ymin, xmin, ymax, xmax]`` normalized to ``[0, 1]`` by the image height
  and width; absolute pixels appear only at the edges (COCO files, drawing);
* class ids are 1-based in records, label maps and outputs (0 is background inside the model);
* instance masks are uint8 ``{0, 1}`` arrays of the image's size, ``[num_instances, H, W]``;
* keypoints are float32 ``[num_instances, num_keypoints, 2]`` as normalized ``(y, x)``, with a
  visibility ``[num_instances, num_keypoints]`` (0 not labelled, 2 visible, the COCO codes);
  a keypoint that is not labelled has coordinates NaN.
"""


class TfExampleKeys:
    """Feature keys of the records (``tf.train.Example``), as in the TF OD API."""

    image_encoded = "image/encoded"
    image_format = "image/format"
    height = "image/height"
    width = "image/width"
    filename = "image/filename"
    source_id = "image/source_id"
    key_sha256 = "image/key/sha256"
    bbox_xmin = "image/object/bbox/xmin"
    bbox_ymin = "image/object/bbox/ymin"
    bbox_xmax = "image/object/bbox/xmax"
    bbox_ymax = "image/object/bbox/ymax"
    class_label = "image/object/class/label"
    class_text = "image/object/class/text"
    instance_masks = "image/object/mask"
    is_crowd = "image/object/is_crowd"
    area = "image/object/area"
    keypoint_x = "image/object/keypoint/x"
    keypoint_y = "image/object/keypoint/y"
    keypoint_visibility = "image/object/keypoint/visibility"
    keypoint_text = "image/object/keypoint/text"


class InputFields:
    """Keys of the tensor dictionaries that the input pipeline yields."""

    image = "image"                      # float32 [H, W, 3] RGB, 0..255
    original_image_spatial_shape = "original_image_spatial_shape"  # int32 [2]: H, W before resizing
    true_image_shape = "true_image_shape"  # int32 [3]: unpadded H, W, 3 after resizing
    source_id = "source_id"              # string []
    filename = "filename"                # string []
    key = "key"                          # string []: the sha256 of the encoded image
    groundtruth_boxes = "groundtruth_boxes"          # float32 [N, 4] normalized
    groundtruth_classes = "groundtruth_classes"      # int32 [N], 1-based
    groundtruth_instance_masks = "groundtruth_instance_masks"  # uint8 [N, H, W]
    groundtruth_instance_mask_weights = "groundtruth_instance_mask_weights"  # float32 [N]: 0 = no mask
    groundtruth_is_crowd = "groundtruth_is_crowd"    # bool [N]
    groundtruth_area = "groundtruth_area"            # float32 [N], pixels of the source image
    groundtruth_keypoints = "groundtruth_keypoints"  # float32 [N, K, 2] normalized (y, x)
    groundtruth_keypoint_visibilities = "groundtruth_keypoint_visibilities"  # int32 [N, K]
    num_groundtruth_boxes = "num_groundtruth_boxes"  # int32 []: N before padding


class DetectionResultFields:
    """Keys of the detection dictionaries that the model's postprocess and exported models return
    (the OD API's output names), batched: ``[B, ...]``."""

    num_detections = "num_detections"        # float32 [B]: valid rows of each image
    detection_boxes = "detection_boxes"      # float32 [B, K, 4] normalized to the unpadded image
    detection_scores = "detection_scores"    # float32 [B, K]
    detection_classes = "detection_classes"  # float32 [B, K], 1-based
    detection_masks = "detection_masks"      # float32 [B, K, mask_h, mask_w] box-relative


class LossNames:
    """Names of the losses (the OD API's TensorBoard tags): the model's ``loss`` returns the
    five weighted losses and, with weight decay, the regularization loss; training and
    evaluation add their sum."""

    rpn_localization = "Loss/RPNLoss/localization_loss"
    rpn_objectness = "Loss/RPNLoss/objectness_loss"
    box_localization = "Loss/BoxClassifierLoss/localization_loss"
    box_classification = "Loss/BoxClassifierLoss/classification_loss"
    mask = "Loss/BoxClassifierLoss/mask_loss"
    regularization = "Loss/regularization_loss"
    total = "Loss/total_loss"
