"""Framework-free detection maths on tensors (TensorFlow ops only, no Keras).

Boxes are float32 ``[..., 4]`` = ``[ymin, xmin, ymax, xmax]``; batch dimension first.
"""
