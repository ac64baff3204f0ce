"""Container status and the on-disk state store."""
