"""HTTP API: the primary /api/v1 surface plus one thin compat router per seed."""
