"""Reference data read at run time (catalogues, demo templates), each figure with its source and
date; installed as the package `analysis.data` and read with `analysis.reference`."""
