"""The hub: registry, templates, state, services, recorder, broker management."""

