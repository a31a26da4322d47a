"""Generative models (homework 4): the GAN and VAE tasks, their networks and objectives, sampling, the Frechet
distance and its feature network, and the 2-D toy distributions where mode collapse shows."""
