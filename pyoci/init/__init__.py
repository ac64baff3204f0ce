"""The container side: namespaces, rootfs, devices, security, exec."""
