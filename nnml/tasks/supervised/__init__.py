"""Supervised learning on ``(x, y)`` (homework 1): classification or regression chosen from the data, the
regularizers that act on the step, and the figures (confusion matrix, decision boundary). The shared base of the
text classifier, fine-tuning and distillation."""
