"""Faster / Mask R-CNN: region proposals, box classifier and mask head on a ResNet backbone.

The TF Object Detection API's two-stage meta-architecture, in TF2 with static shapes:

* **First stage.** Backbone conv1..block3 -> RPN head (objectness with 2 logits per anchor and
  box codes) on grid anchors. Proposals: decoded, NMS'd (``first_stage_nms_*``), clipped to the
  unpadded image and cut to ``first_stage_max_proposals`` (zero-padded, ``num_proposals`` valid).
* **Second stage.** Crop-and-resize of the RPN features at the proposals to
  ``initial_crop_size``, max pool, block4, then the box classifier (``num_classes + 1`` logits,
  class-specific box codes) and, with masks, the mask head.
* **Training** (``predict`` given ground truth): RPN targets at IoU 0.7 / 0.3 with a forced
  match per ground-truth box, a balanced sample of ``first_stage_minibatch_size`` anchors;
  ``second_stage_batch_size`` proposals sampled at IoU 0.5 and ``second_stage_balance_fraction``;
  masks predicted for the sampled proposals and compared with the ground-truth masks cropped at
  them. Losses are normalized as the OD API does (see ``loss``).
* **Inference**: the box classifier on all proposals, softmax scores, per-class NMS
  (``second_stage_post_processing``), then (``number_of_stages: 3``) masks recomputed on the
  final boxes.

Coordinates: anchors, proposals, ground truth and detections are normalized
``[ymin, xmin, ymax, xmax]`` relative to the UNPADDED resized image (``true_image_shapes``);
feature maps and ground-truth masks cover the padded image, and crops convert between the two
frames. Class ids: 0 is background inside the model, detection classes are 1-based.

Precision: the layers compute in their dtype policy's compute dtype (bfloat16 under mixed
bfloat16, ``core.precision``); everything the model returns is float32 (head outputs are cast
back before decoding, NMS, scores, masks and losses).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import keras
import tensorflow as tf

from object_detection.core import box_ops, losses, mask_ops, roi_ops
from object_detection.core.anchor_generator import GridAnchorGenerator
from object_detection.core.box_coder import FasterRcnnBoxCoder
from object_detection.core.post_processing import batch_multiclass_nms, nms_proposals
from object_detection.core.sampler import balanced_sample, max_positives
from object_detection.core.target_assigner import assign_box_targets
from object_detection.fields import DetectionResultFields, InputFields, LossNames
from object_detection.meta_architectures import groundtruth as gt_lib
from object_detection.meta_architectures.box_head import BoxClassifierHead
from object_detection.meta_architectures.mask_head import MaskHead
from object_detection.meta_architectures.rpn_head import RPNHead
from object_detection.meta_architectures.sampling import sample_proposals

logger = logging.getLogger(__name__)

# Target assignment thresholds of the OD API's "FasterRCNN" proposal target assigner.
RPN_MATCHED_THRESHOLD = 0.7
RPN_UNMATCHED_THRESHOLD = 0.3

# Output names, as the OD API's.
NUM_DETECTIONS = DetectionResultFields.num_detections
DETECTION_BOXES = DetectionResultFields.detection_boxes
DETECTION_SCORES = DetectionResultFields.detection_scores
DETECTION_CLASSES = DetectionResultFields.detection_classes
DETECTION_MASKS = DetectionResultFields.detection_masks

# Loss names, as the OD API's (fields.LossNames).

SCORE_CONVERTERS = ("softmax", "sigmoid", "identity")

# Size codes (th, tw) are clipped at log(1000 / 16) before decoding, as Detectron does, so that
# untrained or diverging heads still give finite boxes (the OD API does not clip; trained heads
# stay far below). In units of the box coder's scale factors 5.
MAX_SIZE_CODE = 5.0 * math.log(1000.0 / 16.0)

# Where anchors left out of training (crossing the image border) are moved for matching: a
# zero-area box far outside the image, so its IoU with every ground-truth box is 0.
_FAR_AWAY_BOX = (-10.0, -10.0, -10.0, -10.0)


@dataclass(frozen=True)
class FirstStageSettings:
    """The RPN's sampling, proposal and loss settings (``first_stage_*`` config fields)."""

    minibatch_size: int = 256
    positive_balance_fraction: float = 0.5
    nms_score_threshold: float = 0.0
    nms_iou_threshold: float = 0.7
    max_proposals: int = 300
    localization_loss_weight: float = 1.0
    objectness_loss_weight: float = 1.0
    clip_anchors_to_image: bool = False


@dataclass(frozen=True)
class SecondStageSettings:
    """Cropping, sampling, loss and post-processing settings of the second stage."""

    initial_crop_size: int = 14
    maxpool_kernel_size: int = 2
    maxpool_stride: int = 2
    batch_size: int = 64
    balance_fraction: float = 0.25
    localization_loss_weight: float = 1.0
    classification_loss_weight: float = 1.0
    mask_loss_weight: float = 1.0
    classification_loss_logit_scale: float = 1.0
    score_converter: str = "softmax"
    logit_scale: float = 1.0
    score_threshold: float = 0.0
    iou_threshold: float = 0.6
    max_detections_per_class: int = 100
    max_total_detections: int = 100


_every_row = False  # set by masks_on_every_row(); read when _detection_masks is traced


@contextlib.contextmanager
def masks_on_every_row() -> Iterator[None]:
    """Within it, graphs traced compute the masks of all ``max_total_detections`` rows, not
    only of the first ``max(num_detections)``: a static size, for runtimes that mishandle the
    dynamic one (OpenVINO 2026.4's CPU plugin crashed after some calls of changing sizes:
    ``export.openvino_format``). Rows that are no detection are zero either way."""
    global _every_row
    previous, _every_row = _every_row, True
    try:
        yield
    finally:
        _every_row = previous


class MaskRCNN(keras.Model):
    """Faster R-CNN (``mask_head`` None) or Mask R-CNN; see the module docstring.

    Args:
      num_classes: object classes, background excluded.
      feature_extractor: a ``FasterRcnnResnetV1FeatureExtractor`` (``preprocess``,
        ``first_stage``, ``second_stage``, ``checkpoint_variable_map``).
      anchor_generator: grid anchors of the first-stage feature map.
      rpn_head, box_head, mask_head: the heads (``mask_head`` None: boxes only).
      first_stage, second_stage: settings.
      add_groundtruth_to_proposals: in training, also offer the ground-truth boxes to the
        second-stage sampler (Detectron does this; the OD API does not, hence off by default).
      seed: seed of the samplers' random streams (None: nondeterministic).
    """

    def __init__(self, num_classes: int, feature_extractor: keras.layers.Layer,
                 anchor_generator: GridAnchorGenerator, rpn_head: RPNHead,
                 box_head: BoxClassifierHead, mask_head: MaskHead | None = None,
                 first_stage: FirstStageSettings = FirstStageSettings(),
                 second_stage: SecondStageSettings = SecondStageSettings(), *,
                 add_groundtruth_to_proposals: bool = False, seed: int | None = None,
                 name: str = "mask_rcnn") -> None:
        super().__init__(name=name)
        if second_stage.score_converter not in SCORE_CONVERTERS:
            raise ValueError(f"score converter not supported: {second_stage.score_converter} "
                             f"(supported: {', '.join(SCORE_CONVERTERS)})")
        self.num_classes = num_classes
        self.feature_extractor = feature_extractor
        self.anchor_generator = anchor_generator
        self.rpn_head = rpn_head
        self.box_head = box_head
        self.mask_head = mask_head
        self.first_stage_settings = first_stage
        self.second_stage_settings = second_stage
        self.add_groundtruth_to_proposals = add_groundtruth_to_proposals
        self.box_coder = FasterRcnnBoxCoder()
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.precision = "float32"   # what the layers compute in (set by the model builder)

    @property
    def predicts_masks(self) -> bool:
        return self.mask_head is not None

    # ------------------------------------------------------------------------- public API

    def call(self, images: tf.Tensor, true_image_shapes: tf.Tensor | None = None,
             training: bool = False) -> dict[str, tf.Tensor]:
        """Detections for images [B, H, W, 3] (RGB 0..255, padded at the bottom / right);
        ``true_image_shapes`` int32 [B, 3] the unpadded sizes (None: the whole image)."""
        return self.postprocess(self.predict(images, true_image_shapes, training=training))

    def compute_losses(self, inputs: Mapping[str, tf.Tensor],
                       training: bool = True) -> dict[str, tf.Tensor]:
        """Losses of a batch from the input pipeline (``InputFields`` keys: image,
        true_image_shape, groundtruth_*, num_groundtruth_boxes)."""
        groundtruth = gt_lib.from_inputs(inputs)
        prediction = self.predict(inputs[InputFields.image],
                                  inputs.get(InputFields.true_image_shape),
                                  groundtruth=groundtruth, training=training)
        return self.loss_dict(prediction, groundtruth)

    def predict(self, images: tf.Tensor, true_image_shapes: tf.Tensor | None = None,
                groundtruth: gt_lib.Groundtruth | None = None,
                training: bool = False) -> dict[str, tf.Tensor]:
        """Runs both stages. With ``groundtruth`` (training), the second stage runs on a
        balanced sample of the proposals and the dictionary carries its targets; without, on
        all proposals. ``training`` switches batch norm (where trainable) and dropout.

        Returns a dict: ``image_shape`` int32 [4], ``true_image_shapes`` [B, 3],
        ``rpn_features_to_crop`` [B, h, w, C], ``anchors`` [B, M, 4], ``anchor_valid`` [M],
        ``rpn_box_encodings`` [B, M, 4], ``rpn_objectness_predictions_with_background``
        [B, M, 2], ``proposal_boxes`` [B, P, 4], ``num_proposals`` [B],
        ``refined_box_encodings`` [B*P, K, 4], ``class_predictions_with_background``
        [B*P, num_classes + 1], in training the second-stage targets (``target_*``) and the
        masks of the positive rows, ``mask_predictions`` [B*Q, Km, mh, mw] of the rows
        ``mask_proposal_index`` [B, Q]; P is ``max_proposals`` or ``batch_size``.
        """
        prediction = self.predict_first_stage(images, true_image_shapes, training=training,
                                              prune_anchors=groundtruth is not None)
        return self.predict_second_stage(prediction, groundtruth, training=training)

    def predict_first_stage(self, images: tf.Tensor, true_image_shapes: tf.Tensor | None = None,
                            training: bool = False, prune_anchors: bool = False,
                            ) -> dict[str, tf.Tensor]:
        """Backbone to block3, RPN head, anchors and proposals: the first half of
        :meth:`predict`'s dictionary (``image_shape`` .. ``num_proposals``, without the
        second-stage keys). ``prune_anchors``: leave out anchors crossing the border, as in
        training."""
        images = tf.convert_to_tensor(images, tf.float32)
        image_shape = tf.shape(images)
        true_image_shapes = self._true_image_shapes(images, true_image_shapes)
        features = self.feature_extractor.first_stage(
            self.feature_extractor.preprocess(images), training=training)
        rpn_box_encodings, rpn_logits = (tf.cast(t, tf.float32) for t in self.rpn_head(features))
        anchors, anchor_valid = self._anchors(features, image_shape, true_image_shapes,
                                              prune=prune_anchors)
        proposals, num_proposals = self._proposals(rpn_box_encodings, rpn_logits, anchors,
                                                   anchor_valid)
        return {
            "image_shape": image_shape,
            "true_image_shapes": true_image_shapes,
            "rpn_features_to_crop": tf.cast(features, tf.float32),
            "anchors": anchors,
            "anchor_valid": anchor_valid,
            "rpn_box_encodings": rpn_box_encodings,
            "rpn_objectness_predictions_with_background": rpn_logits,
            "proposal_boxes": proposals,
            "num_proposals": num_proposals,
        }

    def predict_second_stage(self, prediction: Mapping[str, tf.Tensor],
                             groundtruth: gt_lib.Groundtruth | None = None,
                             training: bool = False) -> dict[str, tf.Tensor]:
        """The box classifier on :meth:`predict_first_stage`'s proposals (all of them, or with
        ``groundtruth`` a balanced sample, with its targets and the positives' masks): the
        whole :meth:`predict` dictionary."""
        prediction = dict(prediction)
        proposals, num_proposals = prediction["proposal_boxes"], prediction["num_proposals"]
        if groundtruth is not None:
            s = self.second_stage_settings
            targets = sample_proposals(
                proposals, num_proposals, groundtruth.boxes, groundtruth.classes,
                groundtruth.valid, s.batch_size, s.balance_fraction, self.box_coder,
                self._seed(), add_groundtruth=self.add_groundtruth_to_proposals)
            prediction.update(targets)
            proposals, num_proposals = targets["target_boxes"], targets["target_count"]
        prediction["proposal_boxes"] = proposals
        prediction["num_proposals"] = num_proposals
        box_features = self._box_classifier_features(
            prediction["rpn_features_to_crop"], proposals, prediction["image_shape"],
            prediction["true_image_shapes"], training)
        refined, class_logits = (tf.cast(t, tf.float32)
                                 for t in self.box_head(box_features, training=training))
        prediction["refined_box_encodings"] = refined
        prediction["class_predictions_with_background"] = class_logits
        if groundtruth is not None and self.mask_head is not None:
            prediction.update(self._training_masks(box_features, prediction["target_positive"]))
        return prediction

    def _training_masks(self, box_features: tf.Tensor, positive: tf.Tensor,
                        ) -> dict[str, tf.Tensor]:
        """The mask head on the positive proposals only (the mask loss sees no other):
        ``mask_proposal_index`` int32 [B, Q], each image's positive rows first (in order),
        then filler rows; ``mask_predictions`` [B*Q, Km, mh, mw] of those rows. Q is the most
        positives the sampler keeps per image, so no positive is left out."""
        s = self.second_stage_settings
        slots = max(1, max_positives(s.batch_size, s.balance_fraction))
        index = positive_rows_first(positive, slots)
        shape = tf.shape(box_features)
        rows = tf.reshape(box_features, tf.concat([[-1, s.batch_size], shape[1:]], 0))
        picked = tf.gather(rows, index, axis=1, batch_dims=1)               # [B, Q, h, w, C]
        picked = tf.reshape(picked, tf.concat([[-1], shape[1:]], 0))
        return {"mask_proposal_index": index,
                "mask_predictions": tf.cast(self.mask_head(picked), tf.float32)}

    def loss_dict(self, prediction: Mapping[str, tf.Tensor],
                  groundtruth: gt_lib.Groundtruth) -> dict[str, tf.Tensor]:
        """Scalar losses (OD API names), each already multiplied by its config weight.
        (The OD API's ``loss``; Keras reserves that attribute.)

        RPN: summed over the sampled anchors of an image, divided by their number, averaged
        over the batch. Box classifier: divided by the number of sampled proposals of the image
        and the batch size. Mask: sigmoid cross entropy summed over the positive proposals'
        pixels, divided by their number times the mask area. ``Loss/regularization_loss`` is
        added when some layer has a regularizer.
        """
        if "target_boxes" not in prediction:
            raise ValueError("loss_dict needs the predictions of predict(..., groundtruth=...)")
        result = self._rpn_loss(prediction, groundtruth)
        result.update(self._box_classifier_loss(prediction))
        if self.mask_head is not None:
            result[LossNames.mask] = self._mask_loss(prediction, groundtruth)
        if self.losses:
            result[LossNames.regularization] = tf.add_n(
                [tf.cast(l, tf.float32) for l in self.losses])
        return result

    def postprocess(self, prediction: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Detections from inference predictions: ``num_detections`` float32 [B],
        ``detection_boxes`` [B, K, 4] normalized to the unpadded image, ``detection_scores``
        [B, K], ``detection_classes`` float32 [B, K] (1-based), and with masks
        ``detection_masks`` [B, K, mask_height, mask_width] box-relative probabilities;
        K = ``max_total_detections``, rows past ``num_detections`` are zero."""
        s = self.second_stage_settings
        proposals = prediction["proposal_boxes"]
        batch, num_proposals = tf.shape(proposals)[0], proposals.shape[1]
        refined = prediction["refined_box_encodings"]
        refined = tf.reshape(refined, [batch, num_proposals, refined.shape[1],
                                       self.box_coder.code_size])
        boxes = self._decode(refined, proposals[:, :, tf.newaxis, :])
        logits = tf.reshape(prediction["class_predictions_with_background"],
                            [batch, num_proposals, self.num_classes + 1])
        scores = _convert_scores(logits / s.logit_scale, s.score_converter)[:, :, 1:]
        valid = tf.range(num_proposals)[tf.newaxis, :] < prediction["num_proposals"][:, tf.newaxis]
        scores = tf.where(valid[..., tf.newaxis], scores, -1.0)
        window = tf.tile(tf.constant([[0.0, 0.0, 1.0, 1.0]]), [batch, 1])
        nms = batch_multiclass_nms(boxes, scores, s.score_threshold, s.iou_threshold,
                                   s.max_detections_per_class, s.max_total_detections,
                                   clip_window=window)
        k = s.max_total_detections
        is_detection = tf.range(k)[tf.newaxis, :] < nms["num_detections"][:, tf.newaxis]
        detections = {
            NUM_DETECTIONS: tf.cast(nms["num_detections"], tf.float32),
            DETECTION_BOXES: nms["detection_boxes"],
            DETECTION_SCORES: nms["detection_scores"],
            DETECTION_CLASSES: tf.cast(tf.where(is_detection, nms["detection_classes"] + 1, 0),
                                       tf.float32),
        }
        if self.mask_head is not None:
            detections[DETECTION_MASKS] = self._detection_masks(
                prediction, nms["detection_boxes"], nms["detection_classes"],
                nms["num_detections"])
        return detections

    def checkpoint_variable_map(self, layout: str = "detection") -> dict[str, keras.Variable]:
        """Checkpoint names -> variables. "detection": the whole model under the TF1 OD API's
        names (``FirstStageFeatureExtractor/...``, ``Conv/...``, ``FirstStageBoxPredictor/...``,
        ``SecondStageFeatureExtractor/...``, ``SecondStageBoxPredictor/...``);
        "classification": the backbone under slim ImageNet names. Builds the model first."""
        self.ensure_built()
        names = dict(self.feature_extractor.checkpoint_variable_map(layout))
        if layout == "detection":
            heads = [self.rpn_head, self.box_head]
            heads += [self.mask_head] if self.mask_head is not None else []
            for head in heads:
                names.update(head.slim_variable_names())
        return names

    def slim_variable_names(self) -> dict[str, keras.Variable]:
        """The whole model under TF1 OD API detection-checkpoint names."""
        return self.checkpoint_variable_map("detection")

    def ensure_built(self, image_size: tuple[int, int] = (64, 64)) -> None:
        """Creates every variable (one inference on a blank image) if not done yet."""
        heads = [self.box_head] + ([self.mask_head] if self.mask_head is not None else [])
        if not all(head.built for head in heads):
            self(tf.zeros([1, *image_size, 3], tf.float32))

    # --------------------------------------------------------------------------- first stage

    @staticmethod
    def _true_image_shapes(images: tf.Tensor, true_image_shapes: tf.Tensor | None) -> tf.Tensor:
        if true_image_shapes is None:
            shape = tf.shape(images)
            return tf.tile(shape[tf.newaxis, 1:], [shape[0], 1])
        return tf.cast(true_image_shapes, tf.int32)

    def _anchors(self, features: tf.Tensor, image_shape: tf.Tensor, true_image_shapes: tf.Tensor,
                 prune: bool) -> tuple[tf.Tensor, tf.Tensor]:
        """Anchors [B, M, 4] normalized to each true image, and valid bool [M].

        As the OD API: in training anchors that cross the (padded) image border are left out
        (or, with ``clip_anchors_to_image``, clipped); at inference they are clipped.
        """
        feature_shape = tf.shape(features)
        absolute = self.anchor_generator.generate(feature_shape[1], feature_shape[2])
        height = tf.cast(image_shape[1], tf.float32)
        width = tf.cast(image_shape[2], tf.float32)
        window = tf.stack([0.0, 0.0, height, width])
        if prune and not self.first_stage_settings.clip_anchors_to_image:
            valid = ((absolute[:, 0] >= 0.0) & (absolute[:, 1] >= 0.0)
                     & (absolute[:, 2] <= height) & (absolute[:, 3] <= width))
        else:
            absolute = box_ops.clip_to_window(absolute, window)
            valid = box_ops.area(absolute) > 0.0
        true_hw = tf.cast(true_image_shapes[:, :2], tf.float32)
        scale = tf.concat([true_hw, true_hw], axis=-1)[:, tf.newaxis, :]     # [B, 1, 4]
        return absolute[tf.newaxis] / scale, valid

    def _proposals(self, box_encodings: tf.Tensor, logits: tf.Tensor, anchors: tf.Tensor,
                   anchor_valid: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Decoded, NMS'd proposals [B, max_proposals, 4] (clipped to the true image,
        zero-padded) and their number [B]."""
        f = self.first_stage_settings
        boxes = tf.stop_gradient(self._decode(box_encodings, anchors))
        scores = tf.stop_gradient(tf.nn.softmax(logits)[..., 1])
        scores = tf.where(anchor_valid[tf.newaxis, :], scores, -1.0)
        window = tf.tile(tf.constant([[0.0, 0.0, 1.0, 1.0]]), [tf.shape(boxes)[0], 1])
        proposals, _, num_proposals = nms_proposals(
            boxes, scores, f.nms_iou_threshold, f.nms_score_threshold, f.max_proposals,
            clip_window=window)
        return _finite(proposals), num_proposals

    def _rpn_loss(self, prediction: Mapping[str, tf.Tensor],
                  groundtruth: gt_lib.Groundtruth) -> dict[str, tf.Tensor]:
        f = self.first_stage_settings
        valid = prediction["anchor_valid"][tf.newaxis, :]
        anchors = prediction["anchors"]
        anchors = tf.where(valid[..., tf.newaxis], anchors, tf.constant(_FAR_AWAY_BOX))
        assigned = assign_box_targets(anchors, groundtruth.boxes, groundtruth.valid,
                                      RPN_MATCHED_THRESHOLD, RPN_UNMATCHED_THRESHOLD,
                                      self.box_coder, force_match=True)
        positive = assigned["positive"] & valid
        negative = assigned["negative"] & valid
        sampled = balanced_sample(positive | negative, positive, f.minibatch_size,
                                  f.positive_balance_fraction, self._seed())
        sampled = tf.cast(sampled, tf.float32)
        normalizer = tf.maximum(tf.reduce_sum(sampled, axis=1), 1.0)
        localization = losses.smooth_l1(prediction["rpn_box_encodings"],
                                        assigned["box_targets"],
                                        sampled * tf.cast(positive, tf.float32))
        objectness = losses.softmax_cross_entropy(
            prediction["rpn_objectness_predictions_with_background"],
            tf.one_hot(tf.cast(positive, tf.int32), 2), sampled)
        return {
            LossNames.rpn_localization: f.localization_loss_weight * tf.reduce_mean(
                tf.reduce_sum(localization, axis=1) / normalizer),
            LossNames.rpn_objectness: f.objectness_loss_weight * tf.reduce_mean(
                tf.reduce_sum(objectness, axis=1) / normalizer),
        }

    # -------------------------------------------------------------------------- second stage

    def _crop_frame(self, boxes: tf.Tensor, image_shape: tf.Tensor,
                    true_image_shapes: tf.Tensor) -> tf.Tensor:
        """Boxes [B, N, 4] normalized to the true image -> normalized to the padded image."""
        padded = tf.cast(image_shape[1:3], tf.float32)
        factors = tf.cast(true_image_shapes[:, :2], tf.float32) / padded      # [B, 2]
        return boxes * tf.concat([factors, factors], axis=-1)[:, tf.newaxis, :]

    def _box_classifier_features(self, features: tf.Tensor, boxes: tf.Tensor,
                                 image_shape: tf.Tensor, true_image_shapes: tf.Tensor,
                                 training: bool) -> tf.Tensor:
        """[B*N, h', w', C2]: crop at boxes [B, N, 4], max pool, block4."""
        s = self.second_stage_settings
        crops = roi_ops.crop_and_resize(
            features, _finite(self._crop_frame(boxes, image_shape, true_image_shapes)),
            s.initial_crop_size)
        pooled = tf.nn.max_pool2d(crops, s.maxpool_kernel_size, s.maxpool_stride, "VALID")
        return self.feature_extractor.second_stage(pooled, training=training)

    def _box_classifier_loss(self, prediction: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        s = self.second_stage_settings
        boxes = prediction["target_boxes"]
        batch, size = tf.shape(boxes)[0], s.batch_size
        valid = tf.cast(prediction["target_valid"], tf.float32)
        positive = tf.cast(prediction["target_positive"], tf.float32)
        classes = prediction["target_classes"]
        count = tf.cast(tf.maximum(prediction["target_count"], 1), tf.float32)
        normalizer = count[:, tf.newaxis] * tf.cast(batch, tf.float32)       # [B, 1]
        logits = tf.reshape(prediction["class_predictions_with_background"],
                            [batch, size, self.num_classes + 1])
        classification = losses.softmax_cross_entropy(
            logits, tf.one_hot(classes, self.num_classes + 1), valid,
            logit_scale=s.classification_loss_logit_scale)
        refined = tf.reshape(prediction["refined_box_encodings"],
                             [batch, size, -1, self.box_coder.code_size])
        refined = _pick_class(refined, classes)
        localization = losses.smooth_l1(refined, prediction["target_box_encodings"], positive)
        return {
            LossNames.box_localization: s.localization_loss_weight * tf.reduce_sum(
                localization / normalizer),
            LossNames.box_classification: s.classification_loss_weight * tf.reduce_sum(
                classification / normalizer),
        }

    def _mask_loss(self, prediction: Mapping[str, tf.Tensor],
                   groundtruth: gt_lib.Groundtruth) -> tf.Tensor:
        if groundtruth.masks is None:
            raise ValueError("the model predicts masks but the ground truth has none: set "
                             "load_instance_masks: true in the input reader")
        s = self.second_stage_settings
        mask_height, mask_width = self.mask_head.mask_height, self.mask_head.mask_width
        index = prediction["mask_proposal_index"]                            # [B, Q]

        def rows(name: str) -> tf.Tensor:
            return tf.gather(prediction[name], index, axis=1, batch_dims=1)

        boxes, gt_index = rows("target_boxes"), rows("target_gt_index")
        logits = tf.reshape(prediction["mask_predictions"],
                            [tf.shape(index)[0], tf.shape(index)[1], -1, mask_height, mask_width])
        logits = _pick_class(logits, rows("target_classes"))
        targets = tf.stop_gradient(mask_ops.crop_masks_to_boxes(
            groundtruth.masks, boxes, gt_index, mask_height, mask_width,
            valid_shape=prediction["true_image_shapes"][:, :2]))
        weights = tf.cast(rows("target_positive"), tf.float32) * tf.gather(
            groundtruth.mask_weights, gt_index, axis=1, batch_dims=1)
        per_pixel = losses.sigmoid_cross_entropy(logits, targets,
                                                 weights[:, :, tf.newaxis, tf.newaxis])
        normalizer = tf.maximum(tf.reduce_sum(weights) * mask_height * mask_width, 1.0)
        return s.mask_loss_weight * tf.reduce_sum(per_pixel) / normalizer

    def _detection_masks(self, prediction: Mapping[str, tf.Tensor], boxes: tf.Tensor,
                         classes: tf.Tensor, num_detections: tf.Tensor) -> tf.Tensor:
        """Masks [B, K, mh, mw] (probabilities) of the final boxes [B, K, 4] (classes 0-based).

        The crop, block4 and the mask head run on the first ``n = max(num_detections)`` rows of
        each image only (at least one, a dynamic size): rows that are no detection are zero and
        cost nothing, so the mask path costs ~n / K of running on all K rows. Traced inside
        ``masks_on_every_row()`` it runs on all K rows (a static size; the same values)."""
        batch, k = tf.shape(boxes)[0], boxes.shape[1]
        n = tf.maximum(tf.reduce_max(num_detections), 1)
        if _every_row:
            n = tf.constant(k, tf.int32)
        features = self._box_classifier_features(
            prediction["rpn_features_to_crop"], boxes[:, :n], prediction["image_shape"],
            prediction["true_image_shapes"], training=False)
        height, width = self.mask_head.mask_height, self.mask_head.mask_width
        logits = tf.cast(self.mask_head(features), tf.float32)
        logits = tf.reshape(logits, [batch, n, self.mask_head.num_masks, height, width])
        masks = tf.sigmoid(_pick_class(logits, classes[:, :n] + 1))
        valid = tf.range(n)[tf.newaxis, :] < num_detections[:, tf.newaxis]
        # expand_dims, not valid[:, :, tf.newaxis, tf.newaxis]: the TFLite converter leaves
        # that bool StridedSlice a TF op, not a builtin (export.tflite_format).
        valid = tf.expand_dims(tf.expand_dims(valid, -1), -1)
        masks = tf.where(valid, masks, tf.zeros_like(masks))
        masks = tf.pad(masks, [[0, 0], [0, k - n], [0, 0], [0, 0]])
        return tf.reshape(masks, [batch, k, height, width])

    def _seed(self) -> tf.Tensor:
        return self.seed_generator.next()

    def _decode(self, codes: tf.Tensor, anchors: tf.Tensor) -> tf.Tensor:
        """Boxes from codes [..., 4] (size codes clipped at MAX_SIZE_CODE) and anchors."""
        codes = tf.concat([codes[..., :2], tf.minimum(codes[..., 2:], MAX_SIZE_CODE)], axis=-1)
        return self.box_coder.decode(codes, anchors)


def positive_rows_first(positive: tf.Tensor, slots: int) -> tf.Tensor:
    """int32 [B, slots]: per row of ``positive`` bool [B, S], the indices of its True entries in
    order, then of its False entries in order, cut to ``slots``."""
    return tf.math.top_k(tf.cast(positive, tf.int32), k=slots, sorted=True).indices


def _finite(boxes: tf.Tensor) -> tf.Tensor:
    """Boxes with non-finite coordinates (a diverged network) set to 0: crop-and-resize
    reads out of bounds on NaN coordinates."""
    return tf.where(tf.math.is_finite(boxes), boxes, tf.zeros_like(boxes))


def _pick_class(values: tf.Tensor, classes: tf.Tensor) -> tf.Tensor:
    """values [B, N, K, ...] per class (K = num_classes, or 1 when shared), classes [B, N]
    with 0 background -> [B, N, ...] of each row's class (class 1 for background rows)."""
    if values.shape[2] == 1:
        return values[:, :, 0]
    index = tf.maximum(classes - 1, 0)
    return tf.gather(values, index, axis=2, batch_dims=2)


def _convert_scores(logits: tf.Tensor, converter: str) -> tf.Tensor:
    if converter == "softmax":
        return tf.nn.softmax(logits)
    if converter == "sigmoid":
        return tf.sigmoid(logits)
    return logits
