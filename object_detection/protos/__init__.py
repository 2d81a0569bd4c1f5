"""Generated config schema modules (``*_pb2.py``), compiled from the repo-root ``protos/``.

Do not edit the generated modules; change ``protos/*.proto`` and run
``python -m object_detection.protos.generate`` (``--check`` tells whether they are fresh).
"""
