"""Exporting trained models and running exported ones.

* ``input_types``: the OD API input types a SavedModel takes (no TensorFlow);
* ``detection_module``: the exported computation (raw images -> resize as in training ->
  model -> detections), per OD API input type;
* ``exporter``: ``export_model`` / ``export_run`` write SavedModel, frozen graph, pipeline
  config and model checkpoint, all or nothing;
* ``export_record``: ``export.json``, the completeness marker written last into an export;
* ``frozen_graph``: the GraphDef with constants and the TF1 OD API tensor names;
* ``run_folder``: which checkpoint (best / latest / step) and config of a run folder;
* ``grid_exports``: the run folders of an experiment grid and their export folders;
* ``inference``: ``load_model`` (SavedModel or frozen graph) -> ``detect`` / ``detect_folder``;
* ``image_files``: image files of a folder (and its symbolic links), read as RGB arrays.
"""
