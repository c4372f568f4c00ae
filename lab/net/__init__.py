"""The operating system's side: TCP_INFO, socket options, addresses, privileges, emulated networks."""
