"""Webhook destinations, signed delivery with retries, and replay (SPEC §7)."""
