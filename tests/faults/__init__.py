"""The fault suite: real bridge processes whose peers are stopped, slowed, refused or killed
(docs/RELIABILITY.md gives each case and what it measured)."""
