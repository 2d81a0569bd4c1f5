"""Speed of the Mask R-CNN of a pipeline config: inference and training step, with GFLOP/s.

Builds the model of ``--config``, feeds batches of ``--batch_size`` random images of ``--size``
(the resized, padded input the model sees) with a few random ground-truth boxes and masks, and
times, after warm-up calls that trace and build:

* inference: ``model(images)`` (both stages, NMS, masks of the final boxes) inside a
  ``tf.function`` with a fixed input signature; seconds per call and per image;
* training: the project's own step, ``training.trainer.Trainer.train_step`` (as
  ``train_and_eval.py`` trains: the config's optimizer and learning-rate schedule, the
  variables ``freeze_variables`` / ``update_trainable_variables`` leave, the losses with
  ``add_regularization_loss``, clipping to ``gradient_clipping_by_norm``, its loss values read
  back every step); seconds per step (one batch) and per image.

FLOPs are counted on each traced graph from the static shapes of its convolutions (forward and
backward) and matrix products, which carry nearly all the work (the TF1 profiler crashes on
TF 2.21 graphs), and reported per image (the call's count divided by the batch size); GFLOP/s
is the achieved rate. A machine probe, a fixed 2048 x 2048 float32 matrix product timed in the
same process before the inference timing, between the two and after the training timing
(median GFLOP/s of 5 rounds each), says what the machine gave at the time: other work on it,
or a virtual machine's changing share of its host, lowers it, and the timings with it.

  python benchmarks/model_speed.py --config configs/quickstart.config --size 512x512 \\
      --batch_size 2
  python benchmarks/model_speed.py --config configs/mask_rcnn_resnet101_atrous_pictorial_maps.config \\
      --size 800x1365 --steps 3
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from object_detection import config as config_lib
from object_detection.builders import model_builder, optimizer_builder
from object_detection.fields import InputFields
from object_detection.training.trainer import Trainer, TrainSettings, select_trainable_variables

NUM_BOXES = 4
PROBE_SIZE = 2048


@dataclass
class Timing:
    name: str
    seconds: float          # per call (inference) or per step (training), of one batch
    batch: int              # images per call / step
    flops: float | None     # per call / step

    @property
    def per_image(self) -> float:
        return self.seconds / self.batch

    @property
    def flops_per_image(self) -> float | None:
        return None if not self.flops else self.flops / self.batch


def machine_probe(size: int | None = None, rounds: int = 5, calls: int = 4) -> float:
    """GFLOP/s of a fixed ``size`` x ``size`` (default ``PROBE_SIZE``) float32 matrix product
    (``tf.function``, after one warm-up call), timed now in this process: the median of
    ``rounds`` rounds of ``calls`` calls each."""
    size = size or PROBE_SIZE
    a = tf.random.stateless_uniform([size, size], seed=[1, 2])
    b = tf.random.stateless_uniform([size, size], seed=[3, 4])
    product = tf.function(lambda x, y: tf.reduce_sum(tf.matmul(x, y)))
    product(a, b).numpy()
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            product(a, b).numpy()
        rates.append(2.0 * size ** 3 * calls / (time.perf_counter() - start) / 1e9)
    return float(np.median(rates))


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


_MATMULS = ("MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")
_CONVS = ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "DepthwiseConv2dNative")


def _op_flops(op: tf.Operation) -> float:
    """2 x multiply-adds of one conv or matrix product (0 for other ops or unknown shapes)."""
    try:
        if op.type in _CONVS:
            out = op.outputs[0].shape.as_list()
            if op.type == "Conv2D":
                kernel = op.inputs[1].shape.as_list()
                return 2.0 * np.prod(out) * np.prod(kernel[:3])
            if op.type == "Conv2DBackpropInput":   # out: the input gradient [B, H, W, Cin]
                kernel = op.inputs[1].shape.as_list()
                grad = op.inputs[2].shape.as_list()
                return 2.0 * np.prod(grad) * np.prod(kernel[:3])
            if op.type == "Conv2DBackpropFilter":  # out: the kernel gradient [kh, kw, Cin, Cout]
                grad = op.inputs[2].shape.as_list()
                return 2.0 * np.prod(grad) * np.prod(out[:3])
            kernel = op.inputs[1].shape.as_list()  # depthwise [kh, kw, C, m]
            return 2.0 * np.prod(out) * kernel[0] * kernel[1]
        if op.type in _MATMULS:
            a, out = op.inputs[0].shape.as_list(), op.outputs[0].shape.as_list()
            transpose = op.get_attr("transpose_a") if op.type == "MatMul" else op.get_attr("adj_x")
            inner = a[-2] if transpose else a[-1]
            return 2.0 * np.prod(out) * inner
    except (TypeError, ValueError):  # a dimension is unknown
        return 0.0
    return 0.0


def count_flops(concrete_function) -> float:
    """Float operations of one call of a traced function: convolutions (forward and backward)
    and matrix products, from their static shapes, in the graph and the functions it calls
    (once per call site; loop bodies counted once). Other ops are left out: a lower bound."""
    graph = concrete_function.graph
    total = sum(_op_flops(op) for op in graph.get_operations())
    for function in getattr(graph, "_functions", {}).values():
        inner = getattr(function, "graph", None)
        if inner is not None:
            total += sum(_op_flops(op) for op in inner.get_operations())
    return float(total)


def _time(function, args, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        result = function(*args)
    tf.nest.map_structure(lambda t: t.numpy(), result)
    return (time.perf_counter() - start) / steps


def _trainer(config, model, element_spec) -> Trainer:
    """The project's training step for ``model``, set up as the runner sets it up."""
    settings = TrainSettings.from_config(config.train_config)
    variables = select_trainable_variables(model, settings.update_trainable_variables,
                                           settings.freeze_variables)
    optimizer, _ = optimizer_builder.build_optimizer(config.train_config.optimizer)
    optimizer.build(variables)
    return Trainer(model, optimizer, tf.distribute.get_strategy(), element_spec,
                   settings=settings, variables=variables)


def benchmark(config_path: str, size: tuple[int, int], steps: int, batch: int,
              overrides: list[str], warmup: int = 1,
              probes: list[float] | None = None) -> list[Timing]:
    """Inference and training step timings; with ``probes`` (a list), ``machine_probe()``
    is appended to it before the inference timing, between the two and after the training
    timing."""
    probe = (lambda: probes.append(machine_probe())) if probes is not None else (lambda: None)
    config = config_lib.load_pipeline_config(config_path, overrides)
    model = model_builder.build(config.model, is_training=True, seed=0)
    inputs = synthetic_batch(batch, *size)
    image_spec = tf.TensorSpec([batch, *size, 3], tf.float32)
    shape_spec = tf.TensorSpec([batch, 3], tf.int32)

    @tf.function(input_signature=[image_spec, shape_spec])
    def infer(images, true_image_shapes):
        return model(images, true_image_shapes, training=False)

    infer_args = (inputs[InputFields.image], inputs[InputFields.true_image_shape])
    model.ensure_built(size)
    train_spec = {key: tf.TensorSpec(value.shape, value.dtype) for key, value in inputs.items()}
    trainer = _trainer(config, model, train_spec)
    results = []
    for _ in range(warmup):
        infer(*infer_args)
    probe()
    seconds = _time(infer, infer_args, steps)
    results.append(Timing("inference", seconds, batch,
                          count_flops(infer.get_concrete_function(*infer_args))))
    for _ in range(warmup):
        trainer.train_step(inputs)
    probe()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(inputs)              # returns the losses as floats: synchronous
    seconds = (time.perf_counter() - start) / steps
    probe()
    results.append(Timing("training step", seconds, batch, count_flops(trainer.traced_step())))
    return results


def format_table(results: list[Timing], batch: int) -> str:
    lines = [f"{'':15s} {'s/call':>8s} {'s/image':>8s} {'GFLOP/image':>12s} {'GFLOP/s':>8s}",
             "-" * 55]
    for r in results:
        gflop = f"{r.flops_per_image / 1e9:12.2f}" if r.flops else f"{'?':>12s}"
        rate = f"{r.flops / 1e9 / r.seconds:8.1f}" if r.flops else f"{'?':>8s}"
        lines.append(f"{r.name:15s} {r.seconds:8.3f} {r.per_image:8.3f} {gflop} {rate}")
    lines.append(f"(batch {batch} per call / training step; GFLOP per image: convolutions and "
                 "matrix products of the traced graph divided by the batch; training step: "
                 "training.trainer.Trainer.train_step)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="pipeline config file")
    parser.add_argument("--size", required=True, help="input HEIGHTxWIDTH, e.g. 800x1365")
    parser.add_argument("--steps", type=int, default=5, help="timed calls of each (default 5)")
    parser.add_argument("--batch_size", type=int, default=1, help="images per call (default 1)")
    parser.add_argument("--override", action="append", default=[],
                        help="config override PATH=VALUE (repeatable)")
    args = parser.parse_args(argv)
    try:
        size = parse_size(args.size)
        if args.steps < 1 or args.batch_size < 1:
            raise ValueError("--steps and --batch_size must be >= 1")
        probes: list[float] = []
        results = benchmark(args.config, size, args.steps, args.batch_size, args.override,
                            probes=probes)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    devices = tf.config.list_physical_devices("GPU") or tf.config.list_physical_devices("CPU")
    print(f"{args.config} at {size[0]}x{size[1]} on {', '.join(d.name for d in devices)}:")
    print(format_table(results, args.batch_size))
    print(f"machine probe ({PROBE_SIZE} x {PROBE_SIZE} float32 matmul, GFLOP/s): "
          f"{probes[0]:.1f} before inference, {probes[1]:.1f} before training, "
          f"{probes[2]:.1f} after training")
    return 0


if __name__ == "__main__":
    sys.exit(main())
