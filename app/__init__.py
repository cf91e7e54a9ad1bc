"""Composition root: the command line, the runtime that starts each process, the whole-config
aggregate. The only layer that imports every other."""
