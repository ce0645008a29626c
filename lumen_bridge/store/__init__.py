"""Storage: one module per table's repository (incidents, outbox, attempts, silences), read
models for the API, the runner of transactions (one per backend), and the hot path's SQL."""
