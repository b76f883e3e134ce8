"""What tells people: digest building (pure), templates, and delivery (SMTP, outbox files)."""
