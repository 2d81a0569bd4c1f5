"""ONNX, OpenVINO and TFLite exports (``convert_model.py --format``): each runtime gives
TensorFlow's detections, the graph carries explicit pads, the TFLite file holds builtin ops
only, the formats' records, and one-sentence refusals.

The runtime tests need the optional extras ``.[onnx]`` and ``.[openvino]`` and skip, saying
which, where they are not installed (CI installs them; TFLite needs only TensorFlow).
Tolerances: 1e-4 on boxes, scores and box-relative masks, as the issue asks; measured on the
tiny model, ONNX Runtime, OpenVINO f32 and tf.lite.Interpreter differ from TensorFlow by about
1e-7 on boxes, 4e-7 on scores and 1e-5 on masks.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import convert_model
from object_detection.export import export_formats, inference

from tests.cli.conftest import error_line
from tests.export.conftest import sample_image

ALL_FORMATS = "saved_model,frozen_graph,onnx,openvino,tflite"
OUTPUTS = ("num_detections", "detection_boxes", "detection_scores", "detection_classes",
           "detection_masks")


def _require(*formats: str) -> None:
    for name in formats:
        reason = export_formats.missing_reason(name)
        if reason:
            pytest.skip(f"{reason}; CI installs it")


@pytest.fixture(scope="module")
def every_format(tiny_export, tmp_path_factory) -> Path:
    """The tiny run (fixed_shape_resizer 64 x 64) exported in all five formats with
    convert_model.py."""
    _require(export_formats.ONNX, export_formats.OPENVINO)
    out = tmp_path_factory.mktemp("every_format") / "export"
    code = convert_model.main(["--model_dir", str(tiny_export.run_dir), "--output_dir",
                               str(out), "--format", ALL_FORMATS])
    assert code == 0
    return out


@pytest.mark.parametrize("model_format", ["onnx", "openvino", "tflite"])
def test_each_runtime_detects_as_tensorflow(every_format, model_format):
    """Raw outputs of ONNX Runtime / OpenVINO (f32) / tf.lite.Interpreter against the
    SavedModel's, for a batch of two images and a single image of another size (the input
    is dynamic)."""
    reference = inference.load_model(every_format, "saved_model")
    model = inference.load_model(every_format, model_format)
    assert model.kind == model_format and model.input_type == "image_tensor"
    batches = [[sample_image(0), sample_image(1)], [sample_image(2, height=120, width=90)]]
    for images in batches:
        want, got = reference.run(images), model.run(images)
        assert set(got) == set(OUTPUTS)
        for key in OUTPUTS:
            assert got[key].shape == want[key].shape, key
            np.testing.assert_allclose(got[key], want[key], atol=1e-4, rtol=0, err_msg=key)
        assert want["num_detections"].min() > 0  # detections to compare, not padding only


@pytest.mark.parametrize("model_format", ["onnx", "openvino", "tflite"])
def test_detect_gives_the_same_detections(every_format, model_format):
    image = sample_image(3)
    want = inference.load_model(every_format).detect(image)
    got = inference.load_model(every_format, model_format).detect(image)
    assert len(got) == len(want) > 0
    np.testing.assert_array_equal(got.classes, want.classes)
    assert np.abs(got.boxes - want.boxes).max() < 1e-4
    assert np.abs(got.scores - want.scores).max() < 1e-4
    assert max(np.abs(a - b).max() for a, b in zip(got.masks, want.masks)) < 1e-4


def test_files_and_record(every_format):
    record = json.loads((every_format / "export.json").read_text(encoding="utf-8"))
    assert record["formats"] == ["saved_model", "frozen_graph", "onnx", "openvino", "tflite"]
    assert record["openvino_inference_precision"] == "f32"
    assert {"model.onnx", "openvino/model.xml", "openvino/model.bin",
            "model.tflite"} <= set(record["files"])
    # The files load by path too: the .onnx, the .tflite, the .xml and the openvino/ folder.
    assert inference.load_model(every_format / "model.onnx").kind == "onnx"
    assert inference.load_model(every_format / "model.tflite").kind == "tflite"
    for path in (every_format / "openvino", every_format / "openvino" / "model.xml"):
        model = inference.load_model(path)
        assert model.kind == "openvino" and model.path.name == "model.xml"


def test_onnx_dilated_convolutions_have_explicit_pads(every_format):
    """ONNX Runtime's CPU Conv refuses auto_pad=SAME_UPPER with dilations: every dilated Conv
    of the graph (the tiny model is atrous: output stride 8) has explicit pads."""
    import onnx

    def convs(graph):
        for node in graph.node:
            if node.op_type == "Conv":
                yield {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            for attribute in node.attribute:
                if attribute.type == onnx.AttributeProto.GRAPH:
                    yield from convs(attribute.g)

    dilated = [c for c in convs(onnx.load(every_format / "model.onnx").graph)
               if max(c.get("dilations", [1])) > 1]
    assert dilated
    for conv in dilated:
        assert conv.get("auto_pad", b"NOTSET") == b"NOTSET" and len(conv["pads"]) == 4


def test_openvino_bf16_is_asked_for_not_the_default(every_format):
    """An export records f32 and loads in f32 (the f32 results are the ones within 1e-4
    above); bf16 is there when asked for and stays close (the tiny model's scores move by
    ~0.007 on a CPU with AVX512_BF16; on other CPUs OpenVINO computes f32 anyway)."""
    image = sample_image(0)
    want = inference.load_model(every_format).run([image])
    bf16 = inference.load_model(every_format, "openvino", openvino_precision="bf16")
    got = bf16.run([image])
    assert np.abs(got["detection_scores"] - want["detection_scores"]).max() < 0.05
    with pytest.raises(ValueError, match="must be one of f32, bf16, got 'f16'"):
        inference.load_model(every_format, "openvino", openvino_precision="f16")


def test_tflite_holds_builtin_ops_only(every_format):
    """Every operator code of the .tflite flatbuffer is a builtin: no custom op, no Flex
    (Select TF) op, which a plain TFLite / LiteRT runtime could not run; no CropAndResize."""
    from tensorflow.lite.python import schema_py_generated as schema

    data = (every_format / "model.tflite").read_bytes()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    names = {value: name for name, value in vars(schema.BuiltinOperator).items()
             if not name.startswith("_")}
    codes = [max(code.builtinCode, code.deprecatedBuiltinCode) for code in model.operatorCodes]
    assert [code.customCode for code in model.operatorCodes if code.customCode] == []
    assert schema.BuiltinOperator.CUSTOM not in codes
    ops = {names[code] for code in codes}
    assert {"CONV_2D", "GATHER", "WHILE"} <= ops and not any("CROP" in op for op in ops), ops
    assert model.signatureDefs[0].signatureKey == b"serving_default"


def test_tflite_needs_a_fixed_shape_resizer(tmp_path, capsys):
    """A keep_aspect_ratio_resizer (each image its own size) with --format tflite is refused
    in one sentence before anything is built or written."""
    from tests.export.conftest import make_run_folder, tiny_pipeline

    run = tmp_path / "run"
    run.mkdir()
    make_run_folder(run, tiny_pipeline("model.faster_rcnn.image_resizer={keep_aspect_ratio_resizer "
                                       "{min_dimension: 64 max_dimension: 96}}"))
    out = tmp_path / "out"
    code = convert_model.main(["--model_dir", str(run), "--output_dir", str(out),
                               "--format", "saved_model,tflite"])
    assert code == 1
    assert error_line(capsys.readouterr().err) == (
        "error: --format tflite needs a fixed_shape_resizer (or a keep_aspect_ratio_resizer "
        "with pad_to_max_dimension): this model's is a keep_aspect_ratio_resizer (its per-image "
        "sizes make TensorArrays of unknown element shape in the exported preprocessing, which "
        "the TFLite converter cannot lower into builtin ops)")
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_onnx_only_export(tiny_export, tmp_path, capsys):
    """--format onnx writes the ONNX model (with the config, checkpoint and record) and no TF
    model; the folder then loads its ONNX model."""
    _require(export_formats.ONNX)
    out = tmp_path / "onnx only"
    assert convert_model.main(["--model_dir", str(tiny_export.run_dir), "--output_dir",
                               str(out), "--format", "onnx"]) == 0
    assert f"wrote {out / 'model.onnx'}\n" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint", "export.json", "model.onnx",
                                                    "pipeline.config"]
    assert inference.load_model(out).kind == "onnx"
    with pytest.raises(ValueError, match="lists no saved_model model"):
        inference.load_model(out, "saved_model")


@pytest.mark.parametrize("suffix, what", [(".onnx", "ONNX model"), (".xml", "OpenVINO IR"),
                                          (".tflite", "TFLite model")])
def test_broken_files_are_refused_in_one_sentence(tmp_path, suffix, what):
    _require({".onnx": export_formats.ONNX, ".xml": export_formats.OPENVINO}.get(suffix, "tflite"))
    path = tmp_path / f"model{suffix}"
    path.write_bytes(b"not a model")
    with pytest.raises(ValueError, match=f"not a loadable {what}") as error:
        inference.load_model(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("args, message", [
    (["--format", "onnx,tfjs"], "--format takes a comma-separated list of saved_model, "
                                "frozen_graph, onnx, openvino, tflite; got 'tfjs'"),
    (["--format", ""], "got nothing"),
    (["--format", "openvino", "--precision", "bfloat16"],
     "--format openvino is exported from the float32 model"),
    (["--format", "tflite", "--precision", "bfloat16"],
     "--format tflite is exported from the float32 model"),
])
def test_bad_format_flags(tiny_export, tmp_path, capsys, args, message):
    out = tmp_path / "out"
    code = convert_model.main(["--model_dir", str(tiny_export.run_dir), "--output_dir",
                               str(out)] + args)
    assert code == 1 and message in error_line(capsys.readouterr().err)
    assert not out.exists()


def test_a_missing_extra_is_named_before_anything_is_built(tiny_export, tmp_path, capsys,
                                                           monkeypatch):
    monkeypatch.setattr(export_formats.importlib.util, "find_spec",
                        lambda name: None if name == "onnxruntime" else object())
    out = tmp_path / "out"
    code = convert_model.main(["--model_dir", str(tiny_export.run_dir), "--output_dir",
                               str(out), "--format", "saved_model,onnx"])
    assert code == 1
    assert error_line(capsys.readouterr().err) == (
        'error: the onnx format needs onnxruntime (install the extra: pip install -e ".[onnx]")')
    assert not out.exists()
    with pytest.raises(ValueError, match=r'needs onnxruntime \(install the extra'):
        inference.load_model(_touch(tmp_path / "x.onnx"))


def _touch(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def test_parse_formats():
    assert export_formats.parse_formats("onnx, saved_model") == ("saved_model", "onnx")
    assert export_formats.parse_formats("openvino,openvino") == ("openvino",)
    with pytest.raises(ValueError, match="got 'pb'"):
        export_formats.parse_formats("saved_model,pb")
