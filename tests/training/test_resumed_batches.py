"""What a resumed run reads: each epoch's training input is built anew with the seed
``run seed + first step of the epoch`` (``runner._Run._train_dataset``, the function training
uses), so the epoch that follows a checkpoint draws from the same seeds whether the run went
on or was resumed from that checkpoint; with deterministic input the batches are identical."""

from __future__ import annotations

import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from object_detection import config as config_lib
from object_detection.dataset_tools.synthetic_dataset import SplitSpec, ensure_synthetic_dataset
from object_detection.fields import InputFields
from object_detection.training import runner
from tests.training.conftest import QUICKSTART, tiny_overrides

RUN_SEED = 7
STEPS_PER_EPOCH = 6          # 12 images of batch 2
SPLITS = (SplitSpec("train", num_maps=12, seed=3, height=64, width=64, num_shards=3),
          SplitSpec("eval", num_maps=2, seed=4, height=64, width=64))


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("sharded_maps")
    ensure_synthetic_dataset(str(root), SPLITS)
    return config_lib.load_pipeline_config(QUICKSTART, tiny_overrides(root))


def _epoch_input(pipeline, first_step: int, deterministic: bool):
    """The training input of the epoch starting at ``first_step``, built by the runner's own
    method (on a stand-in holding what it reads), after the seeding the runner does."""
    keras.utils.set_random_seed(RUN_SEED)
    state = types.SimpleNamespace(
        pipeline=pipeline, run=types.SimpleNamespace(seed=RUN_SEED),
        options=runner.RunOptions(deterministic_input=deterministic),
        strategy=tf.distribute.get_strategy())
    return iter(runner._Run._train_dataset(state, first_step))


def _read(batches, count: int) -> list[dict[str, np.ndarray]]:
    return [{key: value.numpy() for key, value in next(batches).items()} for _ in range(count)]


def _same(first: list[dict], second: list[dict]) -> bool:
    return all(a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
               for a, b in zip(first, second, strict=True))


def test_the_epoch_after_a_checkpoint_reads_the_same_batches_when_resumed(pipeline):
    # Uninterrupted: epoch 1 (steps 0-5) read to its end, then epoch 2 from step 6.
    first_epoch = _epoch_input(pipeline, 0, deterministic=True)
    epoch_1 = _read(first_epoch, STEPS_PER_EPOCH)
    uninterrupted = _read(_epoch_input(pipeline, STEPS_PER_EPOCH, deterministic=True),
                          STEPS_PER_EPOCH)
    # Resumed from ckpt-6: nothing of epoch 1 read, the epoch built straight away.
    resumed = _read(_epoch_input(pipeline, STEPS_PER_EPOCH, deterministic=True), STEPS_PER_EPOCH)
    assert _same(uninterrupted, resumed)
    # The seed moved with the step: epoch 2 is not epoch 1 again.
    assert not _same(epoch_1, uninterrupted)
    assert {int(i) for b in epoch_1 for i in b[InputFields.num_groundtruth_boxes]}  # real data


def test_the_seed_of_an_epoch_is_the_run_seed_plus_its_first_step(pipeline, monkeypatch):
    """Also without deterministic input (train_and_eval.py's default): the same seed, though
    tf.data's parallel reads may then deliver the records in another order."""
    seeds = []
    build = runner.input_builder.build_input_from_pipeline

    def recording(*args, **kwargs):
        seeds.append((kwargs["seed"], kwargs["deterministic"], kwargs["training"]))
        return build(*args, **kwargs)

    monkeypatch.setattr(runner.input_builder, "build_input_from_pipeline", recording)
    _epoch_input(pipeline, 0, deterministic=False)
    _epoch_input(pipeline, 500, deterministic=False)
    assert seeds == [(RUN_SEED, False, True), (RUN_SEED + 500, False, True)]
