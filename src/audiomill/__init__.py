"""audiomill: a self-hosted audio AI service."""

__version__ = "0.1.0"
