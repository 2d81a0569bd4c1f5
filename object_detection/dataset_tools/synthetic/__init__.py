"""Synthetic pictorial maps with human figures: backgrounds, figures, composition, pasting.

The entry points are in ``object_detection.dataset_tools.synthetic_maps``; the modules here
are its parts (numpy and Pillow only, so importing them is fast):

* ``noise``: smooth value noise computed at low resolution and upscaled;
* ``palettes``: colour schemes of maps (old sepia, bright tourist, ...) and of clothing;
* ``backgrounds``: land, water, coastlines, rivers, roads, hatching, symbols and labels;
* ``skeleton``: a random pose as the 16 keypoints plus the body-part shapes;
* ``figures``: drawing one figure into a ``Sprite`` (colours and exact body-part labels);
* ``compose``: placing sprites on a background with occlusion into a ``FigureMap``;
* ``paste``: cutting figures out of a figure folder and pasting them on other backgrounds.
"""
