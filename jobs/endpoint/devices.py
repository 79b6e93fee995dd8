"""The devices the endpoint serves: SV1's ARN and qsim's own ``local:qsim/...`` names
(``qsim.device.KNOWN_DEVICES``), with qsim's capabilities document. Any other AWS device ARN (QPUs,
DM1, TN1) is refused at create time, naming the ARN.

Who calls this: ``jobs.endpoint.braket`` (GetDevice, SearchDevices, CreateJob's device check) and
``jobs.endpoint.tasks`` (CreateQuantumTask's device check).
"""

from __future__ import annotations

import json

from jobs.endpoint.model import ApiError, page_offset, page_token

SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
POLL_INTERVAL_MS = 20  # getTaskPollIntervalMillis: how often AwsQuantumTask.result() polls


def served_devices() -> dict[str, tuple[str, str]]:
    """ARN -> (device name, provider) of every device this endpoint runs."""
    from qsim.device import KNOWN_DEVICES

    out = {SV1: ("SV1", "Amazon Braket")}
    out.update({arn: (arn.split("/", 1)[-1], "qsim") for arn in KNOWN_DEVICES})
    return out


def check_device(arn: str, field: str, for_job: bool = False) -> None:
    """Refuse AWS device ARNs qsim does not serve (jobs may also name embedded ``local:`` simulators)."""
    if arn in served_devices() or (for_job and not arn.startswith("arn:")):
        return
    raise ApiError("ValidationException",
                   f"{field}: device {arn!r} is not served by qsim's local endpoint; it runs "
                   f"{', '.join(served_devices())}. QPUs and the other managed simulators (DM1, TN1) need "
                   "Amazon Braket itself")


def capabilities(arn: str) -> dict:
    import qsim
    from qsim.integrations.capabilities import gate_model_capabilities

    doc = gate_model_capabilities(qsim.device("local:qsim/statevector").properties,
                                  {"getTaskPollIntervalMillis": POLL_INTERVAL_MS})
    doc["braketSchemaHeader"] = {"name": "braket.device_schema.simulators.gate_model_simulator_device_capabilities",
                                 "version": "1"}
    doc["service"]["braketSchemaHeader"] = {"name": "braket.device_schema.device_service_properties",
                                            "version": "1"}
    doc["service"]["deviceDocumentation"] = {"imageUrl": "", "summary": f"{arn} served by qsim's local endpoint",
                                             "externalDocumentationUrl": ""}
    doc["service"]["deviceLocation"] = "qsim (this machine)"
    doc["service"]["updatedAt"] = "2026-01-01T00:00:00+00:00"
    doc["deviceParameters"] = {"title": "GateModelSimulatorDeviceParameters", "type": "object"}
    return doc


def _device_summary(arn: str) -> dict:
    name, provider = served_devices()[arn]
    return {"deviceArn": arn, "deviceName": name, "providerName": provider, "deviceType": "SIMULATOR",
            "deviceStatus": "ONLINE"}


def get_device(deviceArn: str) -> dict:  # noqa: N803 - the model's member name
    if deviceArn not in served_devices():
        raise ApiError("ResourceNotFoundException", f"deviceArn: {deviceArn!r} is not served by qsim's local endpoint "
                                                    f"(served: {', '.join(served_devices())})")
    return {**_device_summary(deviceArn), "deviceCapabilities": json.dumps(capabilities(deviceArn)),
            "deviceQueueInfo": [{"queue": "QUANTUM_TASKS_QUEUE", "queueSize": "0", "queuePriority": "Normal"}]}


def search_devices(filters, max_results=None, next_token=None) -> dict:
    keys = {"deviceArn": "deviceArn", "deviceName": "deviceName", "providerName": "providerName",
            "deviceType": "deviceType", "deviceStatus": "deviceStatus"}
    # Only ARNs: the SDK's AwsDevice.get_devices builds an AwsDevice of each, which needs an ARN's form
    # (local:qsim/... names are still served by GetDevice and CreateQuantumTask).
    rows = [_device_summary(a) for a in served_devices() if a.startswith("arn:")]
    for f in filters:
        if f["name"] not in keys:
            raise ApiError("ValidationException", f"filters: name {f['name']!r} is not one of {', '.join(keys)}")
        rows = [r for r in rows if r[keys[f["name"]]] in f["values"]]
    start = page_offset(next_token)
    limit = max_results or 100
    out = {"devices": rows[start:start + limit]}
    if start + limit < len(rows):
        out["nextToken"] = page_token(start + limit)
    return out
