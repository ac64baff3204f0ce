"""pyoci conformance: a spec-clause-driven suite runnable against any OCI runtime."""
