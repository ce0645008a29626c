"""The bridge's vocabulary: Alertmanager's payload, label matchers, silences' life, and what a
notification carries. Pure data and rules: nothing here does I/O or imports the rest of the
bridge (docs/architecture.md)."""
