"""Semantic segmentation (homework 2): the task, its datasets (procedural shapes, a folder of images and masks),
U-Net and FCN, paired augmentations, losses, metrics and figures."""
