"""Representation learning (homework 5): contrastive and autoencoder pretraining, the linear probe and kNN that
measure an encoder, fine-tuning, the views they train on and the encoder reused from another run."""
