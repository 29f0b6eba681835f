"""Telephony providers: credential shapes, the sandbox carrier and (later) the provider adapters."""
