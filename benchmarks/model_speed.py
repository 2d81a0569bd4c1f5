"""Speed of the Mask R-CNN of a pipeline config: inference, its stages and the training step.

What is timed. The model of ``--config`` (with ``--override``s) is built as the project builds
it, ``builders.model_builder.build(config.model, is_training=True, seed=0, precision=...)``
(``--precision float32`` or ``bfloat16``; a package whose ``build`` takes no ``precision``
times float32 only), and given the benchmark weights (below). It is fed ``--batch_size``
random images of ``--size`` (the resized, padded input the model sees; uniform 0..255, seed 0)
with NUM_BOXES random ground-truth boxes and box-filled masks each. After one warm-up call of
each (tracing, building), ``--steps`` calls are timed of:

* **inference**: ``model(images, true_image_shapes, training=False)`` (both stages, NMS, the
  masks of the final detections) in a ``tf.function`` with a fixed input signature
  ([batch, H, W, 3] float32, [batch, 3] int32); seconds per call and per image;
* **the stages of inference**, each in its own ``tf.function`` fed the previous stage's
  outputs, computed once and materialized beforehand:
  ``first stage`` = ``model.predict_first_stage(images, true_image_shapes)`` (backbone to
  block3, RPN head, anchors, proposals and their NMS), ``box classifier`` =
  ``model.predict_second_stage(first_stage_outputs)`` (crop and resize at all proposals,
  max pool, block4, box head), ``postprocess + masks`` = ``model.postprocess(second_stage_
  outputs)`` (per-class NMS, then crops at the detections, block4 again and the mask head).
  Packages (older git revisions) whose model lacks the two ``predict_*`` methods skip this
  with a printed note; the totals still run;
* **training step**: the project's own step, ``training.trainer.Trainer.train_step`` (as
  ``train_and_eval.py`` trains: the config's optimizer and learning-rate schedule, the
  variables ``freeze_variables`` / ``update_trainable_variables`` leave, the losses with
  ``add_regularization_loss``, clipping to ``gradient_clipping_by_norm``, its loss values
  read back every step); seconds per step (one batch) and per image.

Benchmark weights. A random initialization explodes through a deep ResNet v1 (each unit adds
its residual to the sum, so the scale grows with every unit: class logits of -1e8 and no
detection after ResNet-101), which makes NMS and the mask path unlike those of a trained
model. So every variable of ``model.slim_variable_names()`` (TF1 checkpoint name -> variable)
is set from its name and shape alone (a NumPy generator seeded with ``--seed`` and the CRC-32
of the name): the same weights in every git revision (see ``benchmark_weight``). Convolution
and fully connected weights He normal (std sqrt(2 / fan_in)), the stem convolution scaled by
STEM_SCALE (0..255 pixels to activations of order one) and the last convolution of each
residual branch (``bottleneck_v1/conv3``) by RESIDUAL_SCALE (the sum then grows by about 2 %
of its variance per unit: features stay of order one through ResNet-101's 30 first-stage
units, block3 std 3.5 and class logits below 5 on the published config at 800 x 1365);
batch norm gamma 1, beta 0, moving mean 0, moving variance 1; biases 0; the heads' weights
(``FirstStageBoxPredictor/``, ``SecondStageBoxPredictor/``, ``Conv/``) normal with std
HEAD_STD, as the configs' initializers. ``--write_checkpoint DIR`` writes them as a TF1
name-based checkpoint (``DIR/model.ckpt``, the OD API's names; a fine-tune start with
``fine_tune_checkpoint_type: "detection"``). The block3 features, RPN and class logits of the
breakdown's stages are printed (std, max |x|) to show that they stay of order one.

Detections. By default the second stage keeps ``--detections`` (30) boxes a map:
``score_threshold`` 0 and ``max_detections_per_class`` 30 (``--detections 0``: the config's
post-processing); ``--override`` comes after and wins. The mean number of detections per
image is printed (a warning when 0: the mask path then does nearly nothing).

FLOPs are counted on each traced graph from the static shapes of its convolutions (forward and
backward) and matrix products, which carry nearly all the work (the TF1 profiler crashes on
TF 2.21 graphs), and reported per image (the call's count divided by the batch size); GFLOP/s
is the achieved rate. The mask path runs on a dynamic number of rows (batch x the most
detections of an image): its ops are counted per row and multiplied by the measured count
(marked ``*``); ops of other unknown shapes are left out (marked ``+?``).

A machine probe, a fixed float32 3 x 3 convolution (PROBE_SHAPE input NHWC, 256 -> 256
channels, SAME; median GFLOP/s of PROBE_ROUNDS calls), is timed in the same process before the
inference timing, before the training timing and after it: other work on the machine, or a
virtual machine's changing share of its host, lowers it, and the timings with it.

``--profile DIR`` traces the timed inference calls once more with the TensorFlow profiler
(the trace in DIR, for TensorBoard) and prints the op types by their self time.

``--json PATH`` writes every figure (see ``result_json``); ``benchmarks/compare_revisions.py``
reads it.

  python benchmarks/model_speed.py --config configs/quickstart.config --size 512x512 \\
      --batch_size 2
  python benchmarks/model_speed.py --config configs/mask_rcnn_resnet101_atrous_pictorial_maps.config \\
      --size 800x1365 --steps 3 --precision bfloat16 --json speed.json
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

import object_detection
from object_detection import config as config_lib
from object_detection.builders import model_builder, optimizer_builder
from object_detection.fields import InputFields
from object_detection.training.trainer import (
    Trainer,
    TrainSettings,
    select_trainable_variables,
)

NUM_BOXES = 4
PRECISIONS = ("float32", "bfloat16")
DETECTIONS = 30
NMS = "model.faster_rcnn.second_stage_post_processing.batch_non_max_suppression"

# The machine probe: a 3 x 3 convolution, 256 -> 256 channels, on an input of this NHWC shape
# (a block3-sized map of an 800 x 1365 image at stride 8), ~20 GFLOP a call.
PROBE_SHAPE = (1, 100, 171, 256)
PROBE_ROUNDS = 5

# The benchmark weights (see the module docstring and ``benchmark_weight``).
STEM_SCALE = 1.0 / 64.0
RESIDUAL_SCALE = 0.15
HEAD_STD = 0.01
HEAD_PREFIXES = ("FirstStageBoxPredictor/", "SecondStageBoxPredictor/", "Conv/")
CHECKPOINT_NAME = "model.ckpt"

PROFILE_ROWS = 12       # op types printed by --profile

STAGES = (("first_stage", "first stage"), ("box_classifier", "box classifier"),
          ("postprocess_masks", "postprocess + masks"))


@dataclass
class Timing:
    name: str
    seconds: float          # per call (inference) or per step (training), of one batch
    batch: int              # images per call / step
    flops: float | None     # per call / step
    key: str = ""           # name in the JSON output
    flops_dynamic: bool = False    # includes ops counted from the measured detection count
    flops_partial: bool = False    # ops of unknown shape were left out

    @property
    def per_image(self) -> float:
        return self.seconds / self.batch

    @property
    def flops_per_image(self) -> float | None:
        return None if not self.flops else self.flops / self.batch


@dataclass
class BenchmarkResult:
    timings: list[Timing]
    probes: dict[str, float] = field(default_factory=dict)  # GFLOP/s: before_inference, ...
    detections_per_image: float | None = None
    flop_rows: int | None = None        # rows of the mask path, from the detections
    activations: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    checkpoint: str | None = None
    op_profile: list[dict] = field(default_factory=list)   # --profile: op types by self time

    def timing(self, key: str) -> Timing | None:
        return next((t for t in self.timings if t.key == key), None)


# ------------------------------------------------------------------------------ the machine


def machine_probe(shape: tuple[int, int, int, int] | None = None,
                  rounds: int | None = None) -> float:
    """GFLOP/s of a fixed float32 3 x 3 convolution (SAME, C -> C channels) of an NHWC input of
    ``shape`` (default PROBE_SHAPE), in a ``tf.function`` after one warm-up call, timed now in
    this process: the median of ``rounds`` (default PROBE_ROUNDS) calls."""
    shape = tuple(shape or PROBE_SHAPE)
    rounds = rounds or PROBE_ROUNDS
    channels = shape[-1]
    images = tf.random.stateless_normal(shape, seed=[1, 2])
    kernel = tf.random.stateless_normal([3, 3, channels, channels], seed=[3, 4]) * 0.02
    convolve = tf.function(lambda x, k: tf.reduce_sum(tf.nn.conv2d(x, k, 1, "SAME")),
                           autograph=False)
    convolve(images, kernel).numpy()
    flops = 2.0 * np.prod(shape) * 9 * channels
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        convolve(images, kernel).numpy()
        rates.append(flops / (time.perf_counter() - start) / 1e9)
    return float(np.median(rates))


def probe_description() -> str:
    n, h, w, c = PROBE_SHAPE
    return f"float32 3x3 conv [{n}, {h}, {w}, {c}] -> {c} channels"


def device_description() -> str:
    """The accelerator TF uses (GPU names), else the CPU model and its core count."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = []
        for gpu in gpus:
            try:
                names.append(tf.config.experimental.get_device_details(gpu).get(
                    "device_name", gpu.name))
            except (ValueError, RuntimeError):
                names.append(gpu.name)
        return "GPU: " + ", ".join(names)
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((line.split(":", 1)[1].strip() for line in f
                          if line.startswith("model name")), model)
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"CPU: {model} ({cores} cores)"


# ------------------------------------------------------------------------------- the inputs


def parse_size(text: str) -> tuple[int, int]:
    """'HxW' -> (H, W); ValueError naming the text otherwise."""
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size must be HEIGHTxWIDTH, e.g. 800x1365, got {text!r}") from None
    if height < 33 or width < 33:
        raise ValueError(f"--size must be at least 33x33, got {text!r}")
    return height, width


def synthetic_batch(batch: int, height: int, width: int, seed: int = 0) -> dict[str, tf.Tensor]:
    """Random images and NUM_BOXES random boxes per image with filled-box masks."""
    rng = np.random.default_rng(seed)
    corners = np.sort(rng.uniform(0.0, 1.0, [batch, NUM_BOXES, 2, 2]), axis=2)
    boxes = np.concatenate([corners[:, :, 0], corners[:, :, 1]], axis=-1).astype(np.float32)
    boxes[..., 2:] = np.maximum(boxes[..., 2:], boxes[..., :2] + 0.05)
    masks = np.zeros([batch, NUM_BOXES, height, width], np.uint8)
    for b in range(batch):
        for i, (y0, x0, y1, x1) in enumerate(boxes[b]):
            masks[b, i, int(y0 * height):int(np.ceil(y1 * height)),
                  int(x0 * width):int(np.ceil(x1 * width))] = 1
    return {
        InputFields.image: tf.constant(rng.uniform(0, 255, [batch, height, width, 3]),
                                       tf.float32),
        InputFields.true_image_shape: tf.constant([[height, width, 3]] * batch, tf.int32),
        InputFields.groundtruth_boxes: tf.constant(np.clip(boxes, 0.0, 1.0)),
        InputFields.groundtruth_classes: tf.ones([batch, NUM_BOXES], tf.int32),
        InputFields.groundtruth_instance_masks: tf.constant(masks),
        InputFields.num_groundtruth_boxes: tf.fill([batch], NUM_BOXES),
    }


def detection_overrides(detections: int) -> list[str]:
    """The overrides that keep ``detections`` boxes a map (none for 0)."""
    if detections < 0:
        raise ValueError(f"--detections must be >= 0, got {detections}")
    if detections == 0:
        return []
    return [f"{NMS}.score_threshold=0.0", f"{NMS}.max_detections_per_class={detections}"]


# ---------------------------------------------------------------------------------- FLOPs

_MATMULS = ("MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")
_CONVS = ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "DepthwiseConv2dNative")


@dataclass
class FlopCount:
    """Float operations of one call: ``known`` of the ops of static shapes, ``per_row`` of the
    ops whose only unknown dimension is the leading one (per row of it), ``unknown`` the number
    of conv / matmul ops of other unknown shapes (not counted)."""

    known: float = 0.0
    per_row: float = 0.0
    unknown: int = 0

    def total(self, rows: int | None) -> float | None:
        """Known plus ``rows`` times ``per_row``; None when rows are needed but unknown."""
        if self.per_row and rows is None:
            return None
        return self.known + self.per_row * (rows or 0)


def _flops_of_shapes(op: tf.Operation, inputs: list[list[int]], out: list[int]) -> float:
    """2 x multiply-adds of one conv or matrix product of the given (known) shapes."""
    if op.type == "Conv2D":
        return 2.0 * np.prod(out) * np.prod(inputs[1][:3])
    if op.type == "Conv2DBackpropInput":     # out: the input gradient [B, H, W, Cin]
        return 2.0 * np.prod(inputs[2]) * np.prod(inputs[1][:3])
    if op.type == "Conv2DBackpropFilter":    # out: the kernel gradient [kh, kw, Cin, Cout]
        return 2.0 * np.prod(inputs[2]) * np.prod(out[:3])
    if op.type == "DepthwiseConv2dNative":   # kernel [kh, kw, C, m]
        return 2.0 * np.prod(out) * inputs[1][0] * inputs[1][1]
    transpose = op.get_attr("transpose_a") if op.type == "MatMul" else op.get_attr("adj_x")
    a = inputs[0]
    return 2.0 * np.prod(out) * (a[-2] if transpose else a[-1])


def op_flops(op: tf.Operation) -> FlopCount:
    """The FlopCount of one operation (zero for ops other than convs and matrix products)."""
    if op.type not in _CONVS + _MATMULS:
        return FlopCount()
    try:
        shapes = [t.shape.as_list() for t in [*op.inputs, *op.outputs]]
    except ValueError:                       # unknown rank
        return FlopCount(unknown=1)
    dynamic = any(s and s[0] is None for s in shapes)
    shapes = [[1 if (i == 0 and d is None) else d for i, d in enumerate(s)] for s in shapes]
    if any(d is None for s in shapes for d in s):
        return FlopCount(unknown=1)
    n = len(op.inputs)
    flops = float(_flops_of_shapes(op, shapes[:n], shapes[n]))
    return FlopCount(per_row=flops) if dynamic else FlopCount(known=flops)


def count_flops(concrete_function) -> FlopCount:
    """Float operations of one call of a traced function: convolutions (forward and backward)
    and matrix products, from their shapes, in the graph and the functions it calls (once per
    call site; loop bodies counted once). Other ops are left out: a lower bound."""
    graph = concrete_function.graph
    graphs = [graph] + [f.graph for f in getattr(graph, "_functions", {}).values()
                        if getattr(f, "graph", None) is not None]
    total = FlopCount()
    for g in graphs:
        for op in g.get_operations():
            count = op_flops(op)
            total.known += count.known
            total.per_row += count.per_row
            total.unknown += count.unknown
    return total


# ------------------------------------------------------------------------ benchmark weights


def benchmark_weight(name: str, shape, seed: int = 0) -> np.ndarray:
    """The benchmark value (float32) of the variable called ``name`` (TF1 checkpoint name) of
    ``shape``: a function of the name, the shape and ``seed`` only (see the module docstring).
    ValueError for a name of no known kind."""
    shape = tuple(int(d) for d in shape)
    leaf = name.rsplit("/", 1)[-1]
    if leaf in ("gamma", "moving_variance"):
        return np.ones(shape, np.float32)
    if leaf in ("beta", "moving_mean", "biases", "bias"):
        return np.zeros(shape, np.float32)
    if leaf not in ("weights", "kernel"):
        raise ValueError(f"benchmark weights: no rule for the variable {name!r}")
    rng = np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8"))])
    values = rng.standard_normal(shape)
    if name.startswith(HEAD_PREFIXES):
        return (values * HEAD_STD).astype(np.float32)
    fan_in = int(np.prod(shape[:-1]))
    values *= np.sqrt(2.0 / fan_in)
    if name.endswith("/bottleneck_v1/conv3/weights"):
        values *= RESIDUAL_SCALE
    elif _is_stem(name):
        values *= STEM_SCALE
    return values.astype(np.float32)


def _is_stem(name: str) -> bool:
    """The root convolution: ``FirstStageFeatureExtractor/<arch>/conv1/weights``."""
    parts = name.split("/")
    return len(parts) == 4 and parts[0] == "FirstStageFeatureExtractor" and parts[2:] == [
        "conv1", "weights"]


def benchmark_weights(names_to_variables, seed: int = 0) -> dict[str, np.ndarray]:
    """{TF1 name: benchmark value} of every variable in ``names_to_variables``."""
    return {name: benchmark_weight(name, variable.shape, seed)
            for name, variable in names_to_variables.items()}


def assign_benchmark_weights(model, size: tuple[int, int], seed: int = 0,
                             ) -> dict[str, np.ndarray]:
    """Builds ``model`` (``ensure_built(size)``) and sets every variable of
    ``model.slim_variable_names()`` to its benchmark value; returns {name: value}."""
    model.ensure_built(size)
    variables = model.slim_variable_names()
    values = benchmark_weights(variables, seed)
    for name, variable in variables.items():
        variable.assign(tf.cast(values[name], variable.dtype))
    return values


def write_checkpoint(directory: str | os.PathLike, values: dict[str, np.ndarray]) -> str:
    """Writes ``values`` ({TF1 name: array}) as a TF1 name-based checkpoint
    ``directory/model.ckpt`` (SaveV2, as ``tf.compat.v1.train.Saver`` writes, with the
    ``checkpoint`` state file); returns its prefix."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    prefix = str(directory / CHECKPOINT_NAME)
    names = sorted(values)
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(values[n]) for n in names])
    (directory / "checkpoint").write_text(
        f'model_checkpoint_path: "{CHECKPOINT_NAME}"\n'
        f'all_model_checkpoint_paths: "{CHECKPOINT_NAME}"\n', encoding="utf-8")
    return prefix


# ------------------------------------------------------------------------------ the model


def build_takes_precision() -> bool:
    """Whether this package's ``model_builder.build`` has a ``precision`` keyword."""
    parameters = inspect.signature(model_builder.build).parameters
    return "precision" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def build_model(model_config, precision: str = "float32"):
    """``model_builder.build(model_config, is_training=True, seed=0, precision=...)``; a
    package whose ``build`` has no ``precision`` builds float32 only (ValueError otherwise)."""
    if precision not in PRECISIONS:
        raise ValueError(f"--precision must be one of {', '.join(PRECISIONS)}, got "
                         f"{precision!r}")
    if build_takes_precision():
        return model_builder.build(model_config, is_training=True, seed=0, precision=precision)
    if precision != "float32":
        raise ValueError(
            f"--precision {precision}: the package at {package_path()} cannot build it: its "
            "builders.model_builder.build takes no 'precision' keyword (a revision before "
            "mixed precision); only float32 can be timed there")
    return model_builder.build(model_config, is_training=True, seed=0)


def package_path() -> str:
    return str(Path(object_detection.__file__).resolve().parent)


def has_stages(model) -> bool:
    return all(callable(getattr(model, m, None))
               for m in ("predict_first_stage", "predict_second_stage", "postprocess"))


def _specs(tensors: dict[str, tf.Tensor]) -> dict[str, tf.TensorSpec]:
    return {key: tf.TensorSpec(value.shape, value.dtype) for key, value in tensors.items()}


def _time(function, args, steps: int):
    """Seconds per call of ``function(*args)`` over ``steps`` calls, and the last result
    (read back, which waits for the device)."""
    start = time.perf_counter()
    for _ in range(steps):
        result = function(*args)
    tf.nest.map_structure(lambda t: t.numpy(), result)
    return (time.perf_counter() - start) / steps, result


def _trainer(config, model, element_spec) -> Trainer:
    """The project's training step for ``model``, set up as the runner sets it up."""
    settings = TrainSettings.from_config(config.train_config)
    variables = select_trainable_variables(model, settings.update_trainable_variables,
                                           settings.freeze_variables)
    optimizer, _ = optimizer_builder.build_optimizer(config.train_config.optimizer)
    optimizer.build(variables)
    return Trainer(model, optimizer, tf.distribute.get_strategy(), element_spec,
                   settings=settings, variables=variables)


def _flop_timing(name: str, key: str, seconds: float, batch: int, count: FlopCount,
                 rows: int | None) -> Timing:
    return Timing(name, seconds, batch, count.total(rows), key=key,
                  flops_dynamic=bool(count.per_row), flops_partial=bool(count.unknown))


def _stats(tensor) -> tuple[float, float]:
    values = np.asarray(tf.cast(tensor, tf.float32))
    return float(values.std()), float(np.abs(values).max()) if values.size else 0.0


def activation_figures(first: dict, second: dict, detections: dict) -> dict[str, float]:
    """Std and max |x| of the block3 features, the RPN objectness logits and the class logits,
    and the highest detection score."""
    figures = {}
    for key, tensor in (("block3_features", first["rpn_features_to_crop"]),
                        ("rpn_objectness_logits",
                         first["rpn_objectness_predictions_with_background"]),
                        ("class_logits", second["class_predictions_with_background"])):
        figures[f"{key}_std"], figures[f"{key}_max_abs"] = _stats(tensor)
    scores = np.asarray(detections["detection_scores"])
    figures["max_detection_score"] = float(scores.max()) if scores.size else 0.0
    return figures


def _mask_rows(outputs: dict, batch: int) -> int:
    """Rows the mask path runs on: batch x the most detections of an image (at least 1)."""
    return batch * max(1, int(np.max(np.asarray(outputs["num_detections"]))))


def profile_op_types(function, args, calls: int, logdir: str | os.PathLike) -> list[dict]:
    """Traces ``calls`` calls of ``function(*args)`` with the TensorFlow profiler into
    ``logdir`` and returns the op types by their total self time, most first: dicts with
    ``type``, ``ms_per_call`` and ``share`` (of all ops' self time; the profiler's IDLE left
    out). The trace stays in ``logdir`` for TensorBoard's profile plugin. Reads the trace with
    TensorFlow's own converter (``_pywrap_profiler_plugin``, not a public API): RuntimeError
    when this TensorFlow lacks it."""
    try:
        from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as plugin
    except ImportError as error:
        raise RuntimeError(f"this TensorFlow cannot read profiles ({error})") from None
    tf.profiler.experimental.start(os.fspath(logdir))
    try:
        for _ in range(calls):
            tf.nest.map_structure(lambda t: t.numpy(), function(*args))
    finally:
        tf.profiler.experimental.stop()
    traces = sorted(Path(logdir).glob("plugins/profile/*/*.xplane.pb"),
                    key=lambda p: p.stat().st_mtime)
    data, ok = plugin.xspace_to_tools_data([os.fspath(traces[-1])], "framework_op_stats", {})
    if not ok:
        raise RuntimeError(f"the profiler could not read {traces[-1]}")
    table = json.loads(data)[0]
    columns = [c["id"] for c in table["cols"]]
    totals: dict[str, float] = {}
    for row in table["rows"]:
        cells = {columns[i]: (c or {}).get("v") for i, c in enumerate(row["c"])}
        if cells["type"] != "IDLE":
            totals[cells["type"]] = totals.get(cells["type"], 0.0) + cells["total_self_time"]
    everything = sum(totals.values()) or 1.0
    return [{"type": name, "ms_per_call": us / calls / 1000.0, "share": us / everything}
            for name, us in sorted(totals.items(), key=lambda item: -item[1])]


def benchmark(config_path: str, size: tuple[int, int], steps: int, batch: int,
              overrides: list[str], warmup: int = 1, probes: list[float] | None = None, *,
              precision: str = "float32", detections: int = DETECTIONS, seed: int = 0,
              checkpoint_dir: str | None = None, stages: bool = True,
              profile_dir: str | None = None) -> BenchmarkResult:
    """Times inference, its stages and the training step (see the module docstring).
    ``probes`` (a list), when given, gets the three machine probes appended too.
    ``profile_dir``: also trace ``steps`` inference calls there (``profile_op_types``)."""
    config = config_lib.load_pipeline_config(
        config_path, detection_overrides(detections) + list(overrides))
    model = build_model(config.model, precision)
    result = BenchmarkResult(timings=[])
    values = assign_benchmark_weights(model, size, seed)
    if checkpoint_dir is not None:
        result.checkpoint = write_checkpoint(checkpoint_dir, values)
    inputs = synthetic_batch(batch, *size)
    image_spec = tf.TensorSpec([batch, *size, 3], tf.float32)
    shape_spec = tf.TensorSpec([batch, 3], tf.int32)
    infer_args = (inputs[InputFields.image], inputs[InputFields.true_image_shape])

    def probe(when: str) -> None:
        result.probes[when] = machine_probe()
        if probes is not None:
            probes.append(result.probes[when])

    @tf.function(input_signature=[image_spec, shape_spec])
    def infer(images, true_image_shapes):
        return model(images, true_image_shapes, training=False)

    for _ in range(warmup):
        infer(*infer_args)
    probe("before_inference")
    seconds, outputs = _time(infer, infer_args, steps)
    result.detections_per_image = float(np.mean(np.asarray(outputs["num_detections"])))
    result.flop_rows = _mask_rows(outputs, batch)
    result.timings.append(_flop_timing(
        "inference", "inference", seconds, batch,
        count_flops(infer.get_concrete_function(*infer_args)), result.flop_rows))
    if profile_dir is not None:
        result.op_profile = profile_op_types(infer, infer_args, steps, profile_dir)
    if stages and has_stages(model):
        result.timings.extend(_time_stages(model, infer_args, image_spec, shape_spec, steps,
                                           warmup, batch, result))
    elif stages:
        result.notes.append(
            "stage breakdown skipped: the model of the package at "
            f"{package_path()} has no predict_first_stage / predict_second_stage (a revision "
            "before them); inference and training totals only")
    train_spec = _specs(inputs)
    trainer = _trainer(config, model, train_spec)
    for _ in range(warmup):
        trainer.train_step(inputs)
    probe("before_training")
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(inputs)              # returns the losses as floats: synchronous
    seconds = (time.perf_counter() - start) / steps
    probe("after_training")
    result.timings.append(_flop_timing("training step", "training_step", seconds, batch,
                                       count_flops(trainer.traced_step()), None))
    if not any(t.flops_dynamic for t in result.timings):
        result.flop_rows = None                 # nothing was counted from it
    if not result.detections_per_image:
        result.notes.append("WARNING: no detections: the mask path ran on one empty row, far "
                            "less than a map with figures costs")
    a = result.activations
    if a and not (all(np.isfinite(list(a.values())))
                  and a["block3_features_max_abs"] < 1e4 and a["class_logits_max_abs"] < 1e3):
        result.notes.append("WARNING: the activations are not of order one (see below): NMS "
                            "and the mask path do not work as with a trained model")
    return result


def _time_stages(model, infer_args, image_spec, shape_spec, steps: int, warmup: int,
                 batch: int, result: BenchmarkResult) -> list[Timing]:
    """The three stages of inference, each a tf.function fed the previous one's outputs."""

    @tf.function(input_signature=[image_spec, shape_spec])
    def first_stage(images, true_image_shapes):
        return model.predict_first_stage(images, true_image_shapes, training=False)

    first = first_stage(*infer_args)

    @tf.function(input_signature=[_specs(first)])
    def box_classifier(prediction):
        return model.predict_second_stage(prediction, training=False)

    second = box_classifier(first)

    @tf.function(input_signature=[_specs(second)])
    def postprocess(prediction):
        return model.postprocess(prediction)

    detections = postprocess(second)
    rows = _mask_rows(detections, batch)
    result.activations = activation_figures(first, second, detections)
    timings = []
    for (key, name), function, args in zip(STAGES, (first_stage, box_classifier, postprocess),
                                           (infer_args, (first,), (second,))):
        for _ in range(warmup - 1):
            function(*args)
        seconds, _ = _time(function, args, steps)
        timings.append(_flop_timing(name, key, seconds, batch,
                                    count_flops(function.get_concrete_function(*args)), rows))
    return timings


# ------------------------------------------------------------------------------- reporting


def _gflop(timing: Timing) -> str:
    if not timing.flops:
        return "?"
    mark = ("*" if timing.flops_dynamic else "") + ("+?" if timing.flops_partial else "")
    return f"{timing.flops_per_image / 1e9:.2f}{mark}"


def format_table(results, batch: int) -> str:
    """The timings (a BenchmarkResult or a list of Timing) as a table with its footnotes."""
    timings = results.timings if isinstance(results, BenchmarkResult) else results
    lines = [f"{'':22s} {'s/call':>8s} {'s/image':>8s} {'GFLOP/image':>12s} {'GFLOP/s':>8s}",
             "-" * 62]
    stage_keys = {key for key, _ in STAGES}
    stages = [t for t in timings if t.key in stage_keys]
    for t in timings:
        label = f"  {t.name}" if t.key in stage_keys else t.name
        rate = f"{t.flops / 1e9 / t.seconds:8.1f}" if t.flops else f"{'?':>8s}"
        lines.append(f"{label:22s} {t.seconds:8.3f} {t.per_image:8.3f} {_gflop(t):>12s} {rate}")
        if len(stages) == len(STAGES) and t is stages[-1]:
            total = sum(s.seconds for s in stages)
            lines.append(f"{'  (stages summed)':22s} {total:8.3f} {total / batch:8.3f}")
    lines.append(f"(batch {batch} per call / training step; GFLOP per image: convolutions and "
                 "matrix products of the traced graph divided by the batch; training step: "
                 "training.trainer.Trainer.train_step)")
    if any(t.flops_dynamic for t in timings):
        rows = results.flop_rows if isinstance(results, BenchmarkResult) else None
        lines.append("* the mask path (a dynamic number of rows) counted for the measured "
                     f"batch x most detections of an image = {rows} rows")
    if any(t.flops_partial for t in timings):
        lines.append("+? some convolutions / matrix products of unknown shape not counted")
    return "\n".join(lines)


def _timing_json(t: Timing) -> dict:
    return {
        "name": t.name,
        "seconds_per_call": t.seconds,
        "seconds_per_image": t.per_image,
        "gflop_per_image": None if not t.flops else t.flops_per_image / 1e9,
        "gflop_per_second": None if not t.flops else t.flops / 1e9 / t.seconds,
        "gflop_from_detection_count": t.flops_dynamic,
        "gflop_partial": t.flops_partial,
    }


def result_json(result: BenchmarkResult, args, size: tuple[int, int]) -> dict:
    """Every figure of a run, as ``--json`` writes it."""
    return {
        "config": args.config,
        "overrides": list(args.override),
        "size": list(size),
        "batch": args.batch_size,
        "steps": args.steps,
        "precision": args.precision,
        "detections_override": args.detections,
        "seed": args.seed,
        "tf_version": tf.__version__,
        "device": device_description(),
        "package": package_path(),
        "stages": all(result.timing(key) is not None for key, _ in STAGES),
        "timings": {t.key: _timing_json(t) for t in result.timings},
        "detections_per_image": result.detections_per_image,
        "mask_rows": result.flop_rows,
        "activations": result.activations,
        "probe": {"what": probe_description(), "rounds": PROBE_ROUNDS,
                  "gflop_per_second": result.probes},
        "checkpoint": result.checkpoint,
        "notes": result.notes,
        "inference_op_profile": result.op_profile,
    }


def _print_report(result: BenchmarkResult, args, size: tuple[int, int]) -> None:
    print(f"{args.config} at {size[0]}x{size[1]}, {args.precision}, on {device_description()} "
          f"(TF {tf.__version__}, package {package_path()}):")
    print(format_table(result, args.batch_size))
    for note in result.notes:
        print(note)
    kept = (f"--detections {args.detections}" if args.detections
            else "the config's post-processing")
    print(f"detections per image: {result.detections_per_image:.1f} ({kept})")
    if result.activations:
        a = result.activations
        print(f"activations: block3 features std {a['block3_features_std']:.3g} max |x| "
              f"{a['block3_features_max_abs']:.3g}; RPN objectness logits max |x| "
              f"{a['rpn_objectness_logits_max_abs']:.3g}; class logits std "
              f"{a['class_logits_std']:.3g} max |x| {a['class_logits_max_abs']:.3g}; best "
              f"score {a['max_detection_score']:.3f}")
    p = result.probes
    print(f"machine probe ({probe_description()}, GFLOP/s): "
          f"{p['before_inference']:.1f} before inference, {p['before_training']:.1f} before "
          f"training, {p['after_training']:.1f} after training")
    if result.op_profile:
        print(f"inference profile ({args.profile}), op types by self time per call:")
        for entry in result.op_profile[:PROFILE_ROWS]:
            print(f"  {entry['type']:32s} {entry['ms_per_call']:9.1f} ms  "
                  f"{100 * entry['share']:5.1f} %")
    if result.checkpoint:
        print(f"benchmark weights written to {result.checkpoint} (TF1 names; fine-tune with "
              'fine_tune_checkpoint_type: "detection")')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="pipeline config file")
    parser.add_argument("--size", required=True, help="input HEIGHTxWIDTH, e.g. 800x1365")
    parser.add_argument("--steps", type=int, default=5, help="timed calls of each (default 5)")
    parser.add_argument("--batch_size", type=int, default=1, help="images per call (default 1)")
    parser.add_argument("--override", action="append", default=[],
                        help="config override PATH=VALUE (repeatable; applied last)")
    parser.add_argument("--precision", default="float32", choices=PRECISIONS,
                        help="model_builder.build(precision=...) (default float32)")
    parser.add_argument("--detections", type=int, default=DETECTIONS,
                        help=f"detections kept a map: score threshold 0 and at most N per "
                             f"class (default {DETECTIONS}; 0: the config's post-processing)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the benchmark weights")
    parser.add_argument("--write_checkpoint", metavar="DIR",
                        help="also write the benchmark weights to DIR/model.ckpt (TF1 names)")
    parser.add_argument("--no_stages", action="store_true",
                        help="skip the stage breakdown of inference")
    parser.add_argument("--profile", metavar="DIR",
                        help="also trace --steps inference calls with the TensorFlow profiler "
                             "into DIR (for TensorBoard) and print the op types by self time")
    parser.add_argument("--json", metavar="PATH", help="write every figure to PATH as JSON")
    args = parser.parse_args(argv)
    try:
        size = parse_size(args.size)
        if args.steps < 1 or args.batch_size < 1:
            raise ValueError("--steps and --batch_size must be >= 1")
        result = benchmark(args.config, size, args.steps, args.batch_size, args.override,
                           precision=args.precision, detections=args.detections,
                           seed=args.seed, checkpoint_dir=args.write_checkpoint,
                           stages=not args.no_stages, profile_dir=args.profile)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    _print_report(result, args, size)
    if args.json:
        Path(args.json).write_text(json.dumps(result_json(result, args, size), indent=2) + "\n",
                                   encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
