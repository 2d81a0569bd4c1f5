"""Training: experiment grids, the train / evaluate alternation, checkpoints, distribution."""
