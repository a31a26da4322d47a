"""Callbacks that observe the loop and record it: the rich console, TensorBoard, CSV and the run's files."""
