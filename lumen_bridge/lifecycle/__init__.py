"""The incident lifecycle's background work (docs/architecture.md): silence reminders and
digests, and escalation of pages nobody acknowledged."""
