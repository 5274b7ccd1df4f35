"""The device registry: tokens an app registered, with user, language and tags, and the
gateway's verdict on them (``registry``)."""
