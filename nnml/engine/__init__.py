"""The training engine: device and precision, losses and metrics by task, checkpoints, the loop itself.
It knows nothing of consoles or files except through callbacks."""
