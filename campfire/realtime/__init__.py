"""Live delivery: the hub, connections, and the /ws endpoint."""
