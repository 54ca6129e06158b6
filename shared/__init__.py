"""Code shared by the gateway firmware and the ingest server."""
