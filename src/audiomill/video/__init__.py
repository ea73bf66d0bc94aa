"""Video out: a still photo + a soundtrack -> an mp4 (see render.py)."""
