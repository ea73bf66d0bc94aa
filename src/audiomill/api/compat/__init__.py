"""One thin router per seed document, translating its shapes onto the shared services."""
