"""Speech analysis shared by engines: who speaks when (diarization)."""
