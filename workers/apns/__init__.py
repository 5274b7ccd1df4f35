"""APNs delivery: provider-token JWTs shared via Redis, raw HTTP/2 connections, the request
headers, Apple's error table, and the gateway the engine calls (Sygnal style: one concern per
module)."""
