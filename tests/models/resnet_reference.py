"""Test helpers: random slim-named values, a TF1 (graph mode) checkpoint writer and a NumPy
ResNet v1 reference written independently of object_detection.models."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import tensorflow as tf

EPS = 1e-5


def random_value(name: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """A plausible random value for the slim variable ``name`` (positive variances/gammas)."""
    if name.endswith("weights"):
        fan_in = int(np.prod(shape[:-1]))
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), shape).astype(np.float32)
    if name.endswith(("gamma", "moving_variance")):
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    return rng.normal(0.0, 0.1, shape).astype(np.float32)


def randomize(variables: Mapping[str, object], seed: int = 0) -> dict[str, np.ndarray]:
    """Assigns random values to every variable; returns name -> value."""
    rng = np.random.default_rng(seed)
    values = {}
    for name, variable in variables.items():
        values[name] = random_value(name, tuple(variable.shape), rng)
        variable.assign(values[name])
    return values


def write_tf1_checkpoint(prefix: Path, values: Mapping[str, np.ndarray]) -> str:
    """Writes ``values`` as a TF1 name-based checkpoint (graph-mode variables, v1 Saver), the
    way slim / OD API training wrote them. Returns the prefix."""
    with tf.Graph().as_default():
        variables = {name: tf.compat.v1.Variable(value, name=name.replace("/", "_"))
                     for name, value in values.items()}
        saver = tf.compat.v1.train.Saver(var_list=variables)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            return saver.save(session, str(prefix), write_meta_graph=False)


def conv(x: np.ndarray, kernel: np.ndarray, stride: int = 1, rate: int = 1,
         pad: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Plain cross-correlation: x [B, H, W, C], kernel [k, k, C, D], zero padding ``pad``
    (before, after) on both spatial axes, then VALID with stride and dilation."""
    x = np.pad(x, [(0, 0), pad, pad, (0, 0)])
    k = kernel.shape[0]
    span = (k - 1) * rate + 1
    out_h = (x.shape[1] - span) // stride + 1
    out_w = (x.shape[2] - span) // stride + 1
    out = np.zeros((x.shape[0], out_h, out_w, kernel.shape[3]), np.float64)
    for a in range(k):
        for b in range(k):
            patch = x[:, a * rate: a * rate + stride * (out_h - 1) + 1: stride,
                      b * rate: b * rate + stride * (out_w - 1) + 1: stride, :]
            out += patch @ kernel[a, b]
    return out


def same_pad(size: int, k: int, stride: int) -> tuple[int, int]:
    """TF's SAME padding (before, after) for one axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def batch_norm(x: np.ndarray, values: Mapping[str, np.ndarray], scope: str) -> np.ndarray:
    """Inference batch norm with the moving statistics stored under ``scope/BatchNorm``."""
    g, b = values[f"{scope}/BatchNorm/gamma"], values[f"{scope}/BatchNorm/beta"]
    m, v = values[f"{scope}/BatchNorm/moving_mean"], values[f"{scope}/BatchNorm/moving_variance"]
    return (x - m) / np.sqrt(v + EPS) * g + b


def max_pool_same(x: np.ndarray, k: int = 3, stride: int = 2) -> np.ndarray:
    """Max pool with TF SAME padding (padding never wins the max)."""
    pad_h, pad_w = same_pad(x.shape[1], k, stride), same_pad(x.shape[2], k, stride)
    x = np.pad(x, [(0, 0), pad_h, pad_w, (0, 0)], constant_values=-np.inf)
    out_h, out_w = (x.shape[1] - k) // stride + 1, (x.shape[2] - k) // stride + 1
    windows = [x[:, a: a + stride * (out_h - 1) + 1: stride, b: b + stride * (out_w - 1) + 1:
                 stride, :] for a in range(k) for b in range(k)]
    return np.max(windows, axis=0)


def bottleneck(x: np.ndarray, values: Mapping[str, np.ndarray], scope: str, stride: int,
               rate: int) -> np.ndarray:
    """One bottleneck_v1 unit: the 3x3 conv carries stride (explicit symmetric padding when
    strided) and rate (SAME when not strided); the shortcut is a 1x1 conv or a subsample."""
    relu = lambda t: np.maximum(t, 0.0)
    if f"{scope}/shortcut/weights" in values:
        shortcut = batch_norm(conv(x, values[f"{scope}/shortcut/weights"], stride),
                              values, f"{scope}/shortcut")
    else:
        shortcut = x[:, ::stride, ::stride, :]
    r = relu(batch_norm(conv(x, values[f"{scope}/conv1/weights"]), values, f"{scope}/conv1"))
    pad = (rate, rate) if stride == 1 else (1, 1)  # 3x3: k_eff - 1 = 2 * rate
    r = relu(batch_norm(conv(r, values[f"{scope}/conv2/weights"], stride, rate, pad), values,
                        f"{scope}/conv2"))
    r = batch_norm(conv(r, values[f"{scope}/conv3/weights"]), values, f"{scope}/conv3")
    return relu(shortcut + r)


def root(x: np.ndarray, values: Mapping[str, np.ndarray], arch: str) -> np.ndarray:
    """conv1 7x7/2 with padding 3 before and after, BN, ReLU, then 3x3/2 SAME max pool."""
    net = conv(x, values[f"{arch}/conv1/weights"], 2, 1, (3, 3))
    net = np.maximum(batch_norm(net, values, f"{arch}/conv1"), 0.0)
    return max_pool_same(net)
