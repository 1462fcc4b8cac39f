"""Local fake provider servers speaking the providers' wire formats (for the real SDKs)."""
