"""The RPC protocol both services share: routing, body parsing, errors, auth."""
