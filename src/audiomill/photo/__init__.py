"""Photos as inputs to music: what a photo looks like, mapped to a music style (understand.py)."""
