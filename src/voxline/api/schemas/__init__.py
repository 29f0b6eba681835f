"""Request and response models of the public API (Pydantic lives only at the edges)."""
