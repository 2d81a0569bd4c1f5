"""Feature extractors: ResNet v1 (slim layout and variable names, atrous) for Faster/Mask R-CNN."""
