"""The e-mail channel: parse, thread and ingest inbound mail; IMAP polling; loop guards."""
