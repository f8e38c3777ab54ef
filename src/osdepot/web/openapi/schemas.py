"""The components of the OpenAPI document: the JSON bodies the API takes and gives."""

from __future__ import annotations

from typing import Any

from osdepot.domain.images import LISTING_GROUPS, TYPE_ALIASES, ImageType
from osdepot.web.openapi.parts import ref

IMAGE_TYPES = sorted([*(t.value for t in ImageType), *TYPE_ALIASES])

SCHEMAS: dict[str, Any] = {
    "Message": {
        "type": "object",
        "required": ["id", "text", "explanation", "recovery"],
        "properties": {
            "id": {"type": "string", "description": "FQXHM… message id"},
            "text": {"type": "string"},
            "explanation": {"type": "string"},
            "recovery": {
                "type": "object",
                "required": ["text", "URL"],
                "properties": {"text": {"type": "string"}, "URL": {"type": "string"}},
            },
        },
    },
    "Envelope": {
        "type": "object",
        "required": ["result", "messages"],
        "properties": {
            "result": {"type": "string", "enum": ["success"]},
            "messages": {"type": "array", "items": ref("Message")},
        },
    },
    "Failed": {
        "type": "object",
        "required": ["result", "messages"],
        "properties": {
            "result": {"type": "string", "enum": ["failed"]},
            "messages": {"type": "array", "minItems": 1, "items": ref("Message")},
        },
    },
    "Login": {
        "type": "object",
        "required": ["UserId", "password"],
        "properties": {"UserId": {"type": "string"}, "password": {"type": "string"}},
    },
    "JobCreated": {
        "type": "object",
        "required": ["result", "jobId", "messages"],
        "properties": {
            "result": {"type": "string", "enum": ["success"]},
            "jobId": {"type": "string"},
            "messages": {"type": "array", "items": ref("Message")},
        },
    },
    "FileImported": {
        "type": "object",
        "required": ["result", "messages"],
        "properties": {
            "result": {"type": "string", "enum": ["success"]},
            "fileid": {"type": "string", "description": "Id of the stored file (uploads)"},
            "imageId": {"type": "string", "description": "OS image id (OS media)"},
            "jobId": {"type": "string", "description": "The job of a remote import"},
            "taskId": {"type": "string"},
            "messages": {"type": "array", "items": ref("Message")},
        },
    },
    "StoredFile": {
        "type": "object",
        "required": ["id", "name", "type", "size"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "type": {"type": "string"},
            "os": {"type": "string"},
            "osrelease": {"type": "string"},
            "size": {"type": "integer", "minimum": 0},
            "sha256": {"type": "string"},
            "checksums": {"type": "object", "additionalProperties": {"type": "string"}},
            "importedBy": {"type": "string"},
            "importedAt": {"type": "string"},
        },
    },
    "Profile": {
        "type": "object",
        "required": ["id", "name"],
        "properties": {
            "id": {"type": "string", "description": "{imageId}|{imageId}-{arch}-install-{Profile}"},
            "name": {"type": "string"},
            "profile": {"type": "string"},
            "type": {"type": "string"},
            "description": {"type": "string"},
            "osImageId": {"type": "string"},
        },
    },
    "OsImage": {
        "type": "object",
        "required": ["id", "name", "type", "profiles"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "os": {"type": "string"},
            "osrelease": {"type": "string"},
            "version": {"type": "string"},
            "arch": {"type": "string"},
            "type": {"type": "string", "enum": ["OS"]},
            "deployStatus": {"type": "string"},
            "osBuildId": {"type": "string"},
            "editions": {"type": "array"},
            "variants": {"type": "array"},
            "size": {"type": "integer"},
            "sha256": {"type": "string"},
            "profiles": {"type": "array", "items": ref("Profile")},
        },
    },
    "Listing": {
        "type": "object",
        "required": ["result", "messages", "items"],
        "properties": {
            "result": {"type": "string", "enum": ["success"]},
            "messages": {"type": "array", "items": ref("Message")},
            "items": {"type": "array", "items": ref("OsImage")},
            **{g.key: {"type": "array", "items": ref("StoredFile")} for g in LISTING_GROUPS},
            "supportedImages": {"type": "array"},
        },
    },
    "ProfileListing": {
        "type": "object",
        "required": ["result", "messages"],
        "description": "The answer to imageType=OSPROFILE: the OS images holding the profiles.",
    },
    "ImportJob": {
        "type": "object",
        "properties": {
            "Action": {"type": "string", "description": "init (any case)"},
            "fileSize": {
                "oneOf": [{"type": "integer", "minimum": 0}, {"type": "string"}],
                "description": "Size in bytes of the file to come",
            },
        },
        "required": ["Action"],
    },
    "RemoteImport": {
        "type": "object",
        "required": ["serverId", "path"],
        "properties": {
            "serverId": {"type": "string"},
            "path": {"type": "string", "description": "Path of the file on the remote server"},
            "checksumType": {"type": "string"},
            "checksumValue": {"type": "string"},
        },
    },
    "Upload": {
        "type": "object",
        "required": ["uploadedfile"],
        "properties": {
            "uploadedfile": {"type": "string", "format": "binary"},
            "checksumType": {"type": "string", "enum": ["MD5", "SHA1", "SHA256", "SHA512"]},
            "checksumValue": {"type": "string"},
        },
    },
    "RemoteServerInput": {
        "type": "object",
        "required": ["address", "port", "protocol"],
        "properties": {
            "serverId": {"type": "string", "description": "Modify this profile instead"},
            "displayName": {"type": "string"},
            "address": {"type": "string"},
            "port": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
            "protocol": {"type": "string", "enum": ["HTTP", "HTTPS", "FTP", "SFTP"]},
            "username": {"type": "string"},
            "password": {"type": "string", "writeOnly": True},
            "keyType": {
                "type": "string",
                "enum": ["RSA-2048", "RSA-4096", "ECDSA-521-secp521r1"],
            },
            "keyPassphrase": {"type": "string", "writeOnly": True},
            "keyPassphras": {"type": "string", "writeOnly": True},
            "keyComment": {"type": "string"},
            "caCertificate": {"type": "string"},
            "hostKeyFingerprint": {"type": "string"},
            "resetHostKey": {"type": "boolean"},
        },
    },
    "RemoteServer": {
        "type": "object",
        "required": ["serverId", "displayName", "address", "port", "protocol"],
        "properties": {
            "serverId": {"type": "string"},
            "displayName": {"type": "string"},
            "address": {"type": "string"},
            "port": {"type": "integer"},
            "protocol": {"type": "string"},
            "username": {"type": "string"},
            "keyType": {"type": "string"},
            "serverPublicKey": {"type": "string"},
            "keySignature": {"type": "string"},
        },
    },
    "RemoteServerAnswer": {
        "allOf": [ref("RemoteServer"), ref("Envelope")],
    },
    "RemoteServerList": {
        "type": "object",
        "required": ["result", "serverList", "messages"],
        "properties": {
            "result": {"type": "string", "enum": ["success"]},
            "serverList": {"type": "array", "items": ref("RemoteServer")},
            "messages": {"type": "array", "items": ref("Message")},
        },
    },
    "Task": {
        "type": "object",
        "required": ["jobUID", "id", "status", "percentage", "complete"],
        "properties": {
            "jobUID": {"type": "string"},
            "id": {"type": "string"},
            "uuid": {"type": "string"},
            "status": {
                "type": "string",
                "enum": ["Pending", "Running", "Complete", "Stopped", "Cancelled"],
            },
            "percentage": {"type": "integer", "minimum": 0, "maximum": 100},
            "complete": {"type": "boolean"},
            "createdBy": {"type": "string"},
            "isCancelable": {"type": "boolean"},
            "startTime": {"type": "string"},
            "endTime": {"type": "string"},
            "fileName": {"type": "string"},
            "fileSize": {"type": ["integer", "null"]},
            "bytesReceived": {"type": "integer"},
            "messageID": {"type": "string"},
            "messageDisplay": {"type": "string"},
            "messages": {"type": "array", "items": ref("Message")},
            "children": {"type": "array"},
        },
    },
    "Tasks": {"type": "array", "items": ref("Task")},
    "Cancel": {
        "type": "object",
        "required": ["action", "list"],
        "properties": {
            "action": {"type": "string", "enum": ["cancel"]},
            "list": {"type": "array", "items": {"type": "string"}},
        },
    },
}
