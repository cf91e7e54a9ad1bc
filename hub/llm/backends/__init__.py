"""LLM backends: the :class:`~hub.llm.backends.base.LlmBackend` ABC and the ``type``-keyed
registry (``ollama``: Ollama's native API; ``openai``: any OpenAI-compatible server)."""
