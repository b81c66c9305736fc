"""The request path: a request becomes venue calls and one final (pipeline reads top to bottom)."""
