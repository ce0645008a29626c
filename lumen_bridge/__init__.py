"""lumen-bridge: an incident bridge between Alertmanager and the people who must act."""

__version__ = "0.1.0"
