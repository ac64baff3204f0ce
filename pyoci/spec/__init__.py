"""The runtime-spec configuration: loading, validation, defaults."""
