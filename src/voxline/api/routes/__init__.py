"""One module of routes per API resource."""
