"""Issue 14: move the tree into layers (core, nodes, bridges, hub, ui, app) under the ``spark``
namespace. ``python -m tools.restructure --help``."""
