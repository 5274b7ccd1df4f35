"""Gateway-independent delivery machinery shared by the APNs and FCM workers: batched reliable
consumption from the Redis lists, the per-process asyncio engine, outcome publishing to ``dlr``,
retries through the queue, the shared rate limit and the exactly-once guard."""
