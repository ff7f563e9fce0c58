"""Training and evaluation loops, checkpoints, distributed helpers."""
