"""The web page: static files (HTML, CSS, JavaScript modules) served by the API process.

No build step: ``static/`` is what the browser gets. ``api/routes/page.py`` serves it."""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
