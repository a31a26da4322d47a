"""Batch augmentations on the device: images, 1-D signals, tabular rows, mixup."""
