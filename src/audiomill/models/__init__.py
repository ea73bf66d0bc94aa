"""Model weights: where they live, how they are fetched, and the warm in-process cache.

Importing this package is cheap (no torch); the loaders import torch when called.
"""
