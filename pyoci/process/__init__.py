"""The fork chain of create/exec: plan, sync protocol, id maps."""
