"""The HTTP edge: one module per group of endpoints (:mod:`.routes` lists them all),
authentication, JSON errors, the response schemas and the OpenAPI document."""
