"""Use cases. Routes, the CLI and engine loops call these; these call storage and adapters."""
