"""A deployment run's config: the deployment's `config` with the run's fields over it.

Prefect merges a run's parameters into its deployment's at the top level only, so
`prefect deployment run ... --param 'config={"source": "X"}'` would replace the whole
`config` and lose the deployment's `dest`, `profile` and the rest. The flow merges the two
itself, field by field and into nested objects (`options`, `overrides`).
"""

from __future__ import annotations

from typing import Any

from newsprep.config import RunConfig


def merged(base: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """`given` over `base`; nested objects are merged the same way."""
    result = dict(base)
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            value = merged(result[key], value)
        result[key] = value
    return result


def with_deployment_settings(config: RunConfig) -> RunConfig:
    """The config of the running flow run: for a deployment's run, the deployment's
    `config` with the fields the run was given over it; else `config` as it is."""
    from prefect.client.orchestration import get_client
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    flow_run = context.flow_run if context is not None else None
    if flow_run is None or flow_run.deployment_id is None:
        return config
    given = (flow_run.parameters or {}).get("config")  # as the run was created
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment(flow_run.deployment_id)
    base = (deployment.parameters or {}).get("config")
    if not isinstance(given, dict) or not isinstance(base, dict):
        return config
    return RunConfig.model_validate(merged(base, given))
