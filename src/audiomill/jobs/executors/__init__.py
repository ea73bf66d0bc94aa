"""Executors hand job ids to workers; they never touch job state themselves."""
