"""Small helpers without native code that every layer may use (JSON, lean
``os`` helpers, fd passing, mountinfo, signal names, log lines, capability
sets).  Empty on purpose: each is imported on its own, lean commands load
only what they need."""
