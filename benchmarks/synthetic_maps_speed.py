"""Speed of the synthetic pictorial-map generator on one core: maps per second.

Measures generation only (``generate_map``), the background alone, and generation plus
writing the figure folder (``generate_folder``) with png and jpg images, each over the same
maps (seed 0, indices 0..num_maps-1), after one warm-up map.

  python benchmarks/synthetic_maps_speed.py [--num_maps 40] [--height 512] [--width 512]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from object_detection.dataset_tools import synthetic_maps
from object_detection.dataset_tools.synthetic import backgrounds, palettes


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:7.1f} maps/s ({1000 * seconds / count:6.1f} ms/map)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num_maps", type=int, default=40)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--width", type=int, default=512)
    args = parser.parse_args()
    n, h, w = args.num_maps, args.height, args.width
    synthetic_maps.generate_map(0, h, w, index=n)  # warm-up: fonts, caches

    start = time.perf_counter()
    figures = sum(len(synthetic_maps.generate_map(0, h, w, index=i).keypoints) for i in range(n))
    generate = time.perf_counter() - start

    start = time.perf_counter()
    for i in range(n):
        rng = np.random.default_rng([0, i])
        backgrounds.generate_background(rng, h, w, palettes.sample_palette(rng))
    background = time.perf_counter() - start

    print(f"{n} maps of {h}x{w}, {figures} figures ({figures / n:.1f} per map), one process:")
    print(f"  generate only           {_rate(n, generate)}")
    print(f"  background only         {_rate(n, background)}")
    for image_format in ("png", "jpg"):
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            synthetic_maps.generate_folder(folder, n, 0, h, w, image_format=image_format)
            seconds = time.perf_counter() - start
            size = sum(os.path.getsize(os.path.join(root, f))
                       for root, _, files in os.walk(folder) for f in files)
        print(f"  generate + write {image_format}    {_rate(n, seconds)}, "
              f"{size / n / 1024:.0f} KiB per map")


if __name__ == "__main__":
    main()
