"""Pure rules of Voxline: no I/O, no framework imports."""
