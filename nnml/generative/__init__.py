"""Generative models: VAE and GAN networks, sample-quality metrics."""
