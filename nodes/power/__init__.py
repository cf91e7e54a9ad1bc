"""Power node: the Control PC's battery / UPS and the grid.

Backends (``backends/``) read a :class:`~nodes.power.backends.base.PowerReading`; the agent
(``agent.py``) publishes entities and one retained power-state message
(:class:`~nodes.power.messages.PowerState`) whose routing strategy comes from
:func:`~nodes.power.strategy.derive_strategy`.
"""
