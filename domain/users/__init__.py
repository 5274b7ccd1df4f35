"""Panel users: accounts with argon2 passwords (``passwords``), their role per app (``store``),
server-side sessions (``sessions``) and the failed sign-in throttle (``throttle``)."""
