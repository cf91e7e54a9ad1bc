"""The edge-first LLM router: backends by tier (``backends/``), routing order (``routing.py``),
breakers and probes (``health.py``), the response cache (``cache.py``), stats, the MQTT signals
it reads (``signals.py``) and the interface callers use (``service.py``)."""
