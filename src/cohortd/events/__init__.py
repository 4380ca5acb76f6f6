"""The event log (SPEC §7): every change recorded as an event, listed and kept a while."""
