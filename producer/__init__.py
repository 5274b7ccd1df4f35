"""The intake API (ASGI): authenticate, validate, persist, enqueue one send task per token."""
