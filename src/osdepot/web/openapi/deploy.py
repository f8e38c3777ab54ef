"""The paths of the OpenAPI document for deployment targets and settings: LXCA's
/hostPlatforms and /osdeployment, and osdepot's /bmcs (web/deploy.py)."""

from __future__ import annotations

from typing import Any

from osdepot.domain.deploy import IP_ASSIGNMENTS, TARGET_DEVICES
from osdepot.domain.roles import Privilege
from osdepot.web.openapi.parts import json_body, op, path_param, request_body

DEPLOY = Privilege.DEPLOY.value
GLOBAL = Privilege.EDIT_GLOBAL_SETTINGS.value
_ANY = "any user"
_STR = {"type": "string"}
_TAG = "Deployment"
_UUID = path_param("uuid", "A system's UUID (32 hexadecimal digits, dashes allowed)")
_BMC = path_param("bid", "A registered BMC's id")


def _answer(description: str, result: str = "success", **props: object) -> dict[str, Any]:
    return {
        "200": json_body(
            {
                "type": "object",
                "required": ["result", "messages"],
                "properties": {
                    "result": {"type": "string", "enum": [result]},
                    "messages": {"type": "array"},
                    **props,
                },
            },
            description,
        )
    }


_NUMBER = {"anyOf": [{"type": "integer"}, {"type": "string"}]}
_NETWORK = {
    "type": "object",
    "properties": {
        "hostname": _STR,
        "ipAddress": _STR,
        "subnetMask": _STR,
        "prefixLength": _NUMBER,
        "gateway": _STR,
        "dns1": _STR,
        "dns2": _STR,
        "mtu": _NUMBER,
        "vlanId": _NUMBER,
        "selectedMAC": {"type": "string", "description": "AUTO or a MAC address"},
    },
}
_STORAGE = {
    "type": "object",
    "properties": {"targetDevice": {"type": "string", "enum": list(TARGET_DEVICES)}},
}
_HOST_SETTINGS = {
    "type": "object",
    "required": ["uuid", "networkSettings", "storageSettings"],
    "properties": {"uuid": _STR, "networkSettings": _NETWORK, "storageSettings": _STORAGE},
}
_DEPLOYMENT = {
    "type": "object",
    "required": ["uuid", "selectedImage"],
    "properties": {
        "uuid": _STR,
        "selectedImage": {"type": "string", "description": "A profile's id"},
        "networkSettings": _NETWORK,
        "storageSettings": _STORAGE,
        "licenseKey": {"type": ["string", "null"]},
        "unattendFileId": {"type": "string", "description": "One of the profile's files"},
        "configFileId": {"type": "string", "description": "One of the profile's files"},
        "windowsDomain": {"type": "string", "description": "Windows: the domain to join"},
        "adusername": {"type": "string", "description": "Windows: the joining account"},
        "adpassword": {"type": "string", "description": "Windows: its password"},
        "windowsDomainBlob": {
            "type": "string",
            "description": "Windows: an offline join's provisioning data (base64, djoin)",
        },
    },
}
_GLOBAL = {
    "type": "object",
    "required": ["activeDirectory", "credentials", "ipAssignment", "isVLANMode", "licenseKeys"],
    "properties": {
        "activeDirectory": {"type": "object"},
        "credentials": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "type": {"type": "string", "enum": ["LINUX", "WINDOWS", "ESXi", "RHEL/ESXi"]},
                    "name": _STR,
                    "password": {"type": ["string", "null"]},
                    "passwordChanged": {"type": "boolean"},
                },
            },
        },
        "ipAssignment": {"type": "string", "enum": list(IP_ASSIGNMENTS)},
        "isVLANMode": {"type": "boolean"},
        "licenseKeys": {"type": "object"},
        "deploySettings": {"type": "object"},
    },
}
_BMC_BODY = {
    "type": "object",
    "required": ["url", "username", "password"],
    "properties": {
        "url": {"type": "string", "description": "https://BMC[:port] (or …/redfish/v1)"},
        "username": _STR,
        "password": _STR,
        "caCertificate": {"type": "string", "description": "PEM CA certificate(s)"},
        "skipCertificateVerification": {"type": "boolean"},
    },
}
_BMC_ANSWER: dict[str, Any] = {"bmc": {"type": "object"}, "systems": {"type": "array"}}


def deploy_paths() -> dict[str, Any]:
    return {
        "/hostPlatforms": {
            "put": op(
                "Deploy profiles to hosts: a job per host (every entry checked first)",
                _answer("Started", jobId=_STR, jobIds={"type": "array"}, jobs={"type": "array"}),
                (401, 403, 404, 409, 412),
                privilege=DEPLOY,
                body=request_body(
                    {
                        "anyOf": [
                            {"type": "array", "items": _DEPLOYMENT},
                            _DEPLOYMENT,
                        ]
                    }
                ),
                tag=_TAG,
            ),
            "get": op(
                "Servers that can receive an OS (the systems of the registered BMCs), "
                "with the profiles available to them and their deployment state",
                _answer("The host platforms", availableImages={"type": "array"}, items={}),
                (401,),
                privilege=_ANY,
                tag=_TAG,
            ),
        },
        "/hostPlatforms/{uuid}": {
            "parameters": [_UUID],
            "get": op(
                "One host platform and its deployment state",
                _answer("The host", deployStatus={"type": "object"}),
                (401, 404),
                privilege=_ANY,
                tag=_TAG,
            ),
            "put": op(
                "The installer's status call (LXCA's deployment states): authenticated by "
                "the deployment's token as a Bearer credential, which the rendered "
                "unattended file carries; or by an administrator's login",
                _answer("Recorded", deployStatus={"type": "object"}),
                (401, 403, 404, 409),
                privilege=DEPLOY,
                body=request_body(
                    {
                        "type": "object",
                        "required": ["deployStatus"],
                        "properties": {
                            "deployStatus": {
                                "type": "object",
                                "properties": {"id": _NUMBER, "message": _STR},
                            }
                        },
                    }
                ),
                tag=_TAG,
            ),
        },
        "/deployments/{token}/{name}": {
            "parameters": [
                path_param("token", "A running deployment's token"),
                path_param(
                    "name",
                    "config.iso, the unattended file's name (ks.cfg, …), or install.iso "
                    "(ESXi: the view of its ISO whose boot.cfg names the kickstart)",
                ),
            ],
            "get": op(
                "A running deployment's configuration volume, unattended file or (ESXi) "
                "view of its ISO (no login: the token is the credential; Range and HEAD "
                "work)",
                {
                    "200": {
                        "description": "The bytes",
                        "content": {
                            "application/octet-stream": {"schema": _STR},
                            "text/plain": {"schema": _STR},
                        },
                    },
                    "206": {"description": "A Range of the volume"},
                    "304": {"description": "install.iso: not modified (If-None-Match)"},
                },
                (404, 416),
                tag=_TAG,
                public=True,
            ),
        },
        "/osdeployment/globalSettings": {
            "get": op(
                "The global deployment settings (no password or license key: whether set)",
                _answer("The settings", globalSetting={}, deploySettings={}),
                (401,),
                privilege=_ANY,
                tag=_TAG,
            ),
            "put": op(
                "Change the global deployment settings",
                _answer("The settings now", globalSetting={}, deploySettings={}),
                (401, 403, 412),
                privilege=GLOBAL,
                body=request_body(_GLOBAL),
                tag=_TAG,
            ),
        },
        "/osdeployment/hostSettings": {
            "get": op(
                "The network and storage settings of every host that has them",
                _answer("The settings", "Success", hosts={"type": "array"}),
                (401,),
                privilege=_ANY,
                tag=_TAG,
            ),
            **{
                method: op(
                    f"{verb} hosts' network and storage settings (all checked first)",
                    _answer("Stored", "Success", hosts={"type": "array"}),
                    (401, 403, 404, 412),
                    privilege=DEPLOY,
                    body=request_body(
                        {
                            "anyOf": [
                                {"type": "array", "items": _HOST_SETTINGS},
                                {
                                    "type": "object",
                                    "properties": {
                                        "hosts": {"type": "array", "items": _HOST_SETTINGS}
                                    },
                                },
                            ]
                        }
                    ),
                    tag=_TAG,
                )
                for method, verb in (("post", "Create"), ("put", "Change"))
            },
        },
        "/osdeployment/hostSettings/{uuid}": {
            "parameters": [_UUID],
            "get": op(
                "One host's network and storage settings",
                _answer("The settings", "Success", host={"type": "object"}),
                (401, 404),
                privilege=_ANY,
                tag=_TAG,
            ),
            "delete": op(
                "Forget one host's settings",
                _answer("Forgotten", "Success"),
                (401, 403, 404, 409),
                privilege=DEPLOY,
                tag=_TAG,
            ),
        },
        "/bmcs": {
            "get": op(
                "Registered BMCs (never a password)",
                _answer("The BMCs", bmcs={"type": "array"}),
                (401,),
                privilege=_ANY,
                tag=_TAG,
            ),
            "post": op(
                "Register a BMC: its Redfish service is read with the credentials given "
                "and its systems become host platforms",
                {"201": _answer("Registered", **_BMC_ANSWER)["200"]},
                (401, 403, 409, 412),
                privilege=DEPLOY,
                body=request_body(_BMC_BODY),
                tag=_TAG,
            ),
        },
        "/bmcs/{bid}": {
            "parameters": [_BMC],
            "get": op(
                "One registered BMC",
                _answer("The BMC", bmc={"type": "object"}),
                (401, 404),
                privilege=_ANY,
                tag=_TAG,
            ),
            "delete": op(
                "Remove a BMC with its systems and their settings",
                _answer("Removed"),
                (401, 403, 404, 409),
                privilege=DEPLOY,
                tag=_TAG,
            ),
        },
        "/bmcs/{bid}/refresh": {
            "parameters": [_BMC],
            "post": op(
                "Read the BMC again: its systems as they are now (settings kept)",
                _answer("Refreshed", **_BMC_ANSWER),
                (401, 403, 404, 409),
                privilege=DEPLOY,
                tag=_TAG,
            ),
        },
    }
