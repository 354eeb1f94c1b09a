"""Every call signoff makes to another server passes through here: URL and address
checks (the SSRF guard), the guarded HTTP client, and the provider-credential policy."""
