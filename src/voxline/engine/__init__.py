"""The call engine: background loops that place calls, enforce timers and finalize them."""
