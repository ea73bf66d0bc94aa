"""Engines: one module per job kind, each a pure ``setup()`` + ``run(ctx)``."""
