"""Models. Every model takes ``input_shape`` and ``num_outputs`` from the dataset at build time."""
