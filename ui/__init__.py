"""The web layer: the NiceGUI panel and the REST API, over the hub's view."""
