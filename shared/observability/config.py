"""Settings of the worker metrics endpoint (the API serves ``/metrics`` on its own port).

Kept beside the code that reads them rather than in ``shared.settings`` so the observability
package stays self-contained; same ``PUSHFLOW_`` prefix, listed in ``deploy/pushflow.env.sample``.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import ENV_PREFIX


class ObservabilitySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    # Port of a worker process's /metrics, /healthz and /readyz; 0 turns the endpoint off.
    metrics_port: int = Field(0, ge=0, le=65535)
    # 127.0.0.1 on a developer machine; 0.0.0.0 in a container so Prometheus and probes reach it.
    metrics_host: str = "127.0.0.1"
    # Names the process in every log line (api, worker-fcm, dlr, ...); set by `pushflow up`,
    # the compose file and the k8s manifests; derived from the consumed queues when unset.
    process_type: str | None = None


def observability_settings() -> ObservabilitySettings:
    """Read from the environment each call (cheap; called once per process start)."""
    return ObservabilitySettings()
