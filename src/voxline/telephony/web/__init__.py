"""Web calls: the browser's microphone and speaker as a call's line (no carrier)."""
