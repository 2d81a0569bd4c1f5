"""COCO box and mask metrics (pycocotools), evaluation logs of runs, and their aggregation."""
