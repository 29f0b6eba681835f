"""The sandbox carrier: a simulated phone network inside Voxline (DESIGN §4.1)."""
