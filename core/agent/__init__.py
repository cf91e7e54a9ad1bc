"""The node-agent framework: typed entities, discovery, commands, availability."""
