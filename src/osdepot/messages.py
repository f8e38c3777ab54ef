"""The message catalogue: every message a user can see, with its stable id, HTTP
status, text, explanation and recovery hint (raised as :class:`~osdepot.errors.OsdepotError`
through :func:`~osdepot.errors.error`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Message:
    """One catalogue entry: a message id and its texts (``str.format`` templates)."""

    id: str
    status: int
    text: str
    explanation: str
    recovery: str

    def render(self, params: dict[str, Any]) -> dict[str, Any]:
        """Return the message as the LXCA envelope's message object."""
        return {
            "id": self.id,
            "text": _fmt(self.text, params),
            "explanation": _fmt(self.explanation, params),
            "recovery": {"text": _fmt(self.recovery, params), "URL": ""},
        }


def _fmt(template: str, params: dict[str, Any]) -> str:
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return template


def _m(mid: str, status: int, text: str, explanation: str, recovery: str) -> Message:
    return Message(mid, status, text, explanation, recovery)


class Messages:
    """The message catalogue, by symbolic name."""

    CHECKSUM_MISMATCH = _m(
        "FQXHMFC0001M",
        409,
        "The checksum of the imported file does not match the provided checksum.",
        "The {algorithm} checksum of the received file is {actual}, but {expected} was "
        "supplied. The file may have been damaged in transit, or the wrong checksum was "
        "given. Nothing was stored.",
        "Make sure that the checksum matches the file and attempt the operation again.",
    )
    UNSUPPORTED_FILE_TYPE = _m(
        "FQXHMFC9001J",
        412,
        "The file {filename} cannot be imported as {image_type} for {os}.",
        "{detail}",
        "Import a file of a supported type (see the table of supported file types), or "
        "choose the image type and operating system that match the file.",
    )
    MISSING_PARAMETER = _m(
        "FQXHMFC9002J",
        412,
        "The required parameter {name} is missing.",
        "{detail}",
        "Repeat the request with the parameter {name}.",
    )
    JOB_NOT_USABLE = _m(
        "FQXHMFC9003J",
        403,
        "Import job {job_id} belongs to another user.",
        "Only the user who created an import job may upload a file with its job ID.",
        "Create a new import job with POST /osImages and use its job ID.",
    )
    REPOSITORY_FULL = _m(
        "FQXHMFC9004M",
        409,
        "The repository cannot hold this file.",
        "{detail}",
        "Delete files that are no longer needed, add storage, or raise the limit, and "
        "attempt the operation again.",
    )
    TARGET_IMAGE_MISSING = _m(
        "FQXHMFC9005J",
        412,
        "The OS image {image_name} does not exist in the repository.",
        "A device driver is added to an OS image that is already in the repository; "
        "imageName names that image.",
        "Import the OS image first, or give the id of an existing OS image as imageName.",
    )
    REMOTE_UNREACHABLE = _m(
        "FQXHMFC9006M",
        409,
        "The remote file server {server} cannot be reached.",
        "{detail} Nothing was stored.",
        "Check the address, the port and the protocol of the remote file-server profile, "
        "that the server runs and that the network lets osdepot reach it.",
    )
    ALREADY_EXISTS = _m(
        "FQXHMFC9007J",
        409,
        "{what} {name} already exists in the repository.",
        "The repository keeps one object under each id.",
        "Delete the existing object first, or import under another name.",
    )
    IN_USE = _m(
        "FQXHMFC9008J",
        409,
        "{what} {name} is in use and cannot be changed now.",
        "{detail}",
        "Wait until the operation that uses it has ended, then try again.",
    )
    IMPORT_COMPLETE = _m(
        "FQXHMFC9009I",
        200,
        "The file {filename} was imported as {file_id}.",
        "{size} bytes were received, verified and stored. SHA-256: {sha256}.",
        "No action is required.",
    )
    INVALID_VALUE = _m(
        "FQXHMFC9010J",
        400,
        "The value of {name} is not valid.",
        "{detail}",
        "Correct the request and send it again.",
    )
    JOB_ALREADY_USED = _m(
        "FQXHMFC9011J",
        409,
        "Import job {job_id} cannot take a file now.",
        "The job is in state {status}. An import job takes exactly one file (a BUNDLE "
        "job takes its BUNDLESIG signature as a second file).",
        "Create a new import job with POST /osImages and use its job ID.",
    )
    SIZE_MISMATCH = _m(
        "FQXHMFC9012J",
        409,
        "The size of the received file does not match the declared size.",
        "The import job declared {declared} bytes, but {received} bytes were received. "
        "Nothing was stored.",
        "Declare the exact file size in POST /osImages, or omit fileSize, and import "
        "the file again.",
    )
    UPLOAD_INTERRUPTED = _m(
        "FQXHMFC9013J",
        400,
        "The upload of the file was interrupted.",
        "{detail} Nothing was stored.",
        "Create a new import job and upload the file again.",
    )
    JOB_CANCELLED = _m(
        "FQXHMFC9014J",
        409,
        "Import job {job_id} was cancelled.",
        "The job was cancelled by {user}. Nothing was stored.",
        "Create a new import job if the file is still wanted.",
    )
    SERVER_INTERRUPTED = _m(
        "FQXHMFC9015M",
        500,
        "The import was interrupted because the server stopped.",
        "The server stopped while the job was running; the partial file was removed "
        "when the server started again.",
        "Create a new import job and import the file again.",
    )
    NOT_FOUND = _m(
        "FQXHMFC9016J",
        404,
        "{what} {name} does not exist.",
        "{detail}",
        "Check the id (GET /osImages lists the repository) and try again.",
    )
    NOT_SUPPORTED = _m(
        "FQXHMFC9017J",
        400,
        "This operation is not supported by this server.",
        "{detail}",
        "See the osdepot documentation for the supported operations.",
    )
    INTERNAL = _m(
        "FQXHMFC9018M",
        500,
        "An internal error occurred.",
        "{detail}",
        "Try again. If the problem persists, collect the server log and report it.",
    )
    JOB_EXPIRED = _m(
        "FQXHMFC9019J",
        409,
        "Import job {job_id} expired before a file was uploaded.",
        "Import jobs that receive no file expire after {seconds} seconds.",
        "Create a new import job with POST /osImages and upload the file promptly.",
    )
    MALFORMED_BODY = _m(
        "FQXHMFC9020J",
        400,
        "The request body is not valid.",
        "{detail}",
        "Send the file as multipart/form-data with the file in the part named uploadedfile.",
    )
    CONTENT_INVALID = _m(
        "FQXHMFC9021J",
        400,
        "The file {filename} is {found}, not a valid {expected}.",
        "osdepot read the file's content: {detail}. Nothing was stored.",
        "Check that this is the file you meant to import, that it was not damaged in "
        "transfer, and that imageType (and os) name what it is.",
    )
    NOT_DEPLOYABLE = _m(
        "FQXHMFC9022J",
        400,
        "The file {filename} was recognised as {what}.",
        "osdepot deploys Red Hat Enterprise Linux and its rebuilds (CentOS, Rocky Linux, "
        "AlmaLinux, Oracle Linux), SUSE Linux Enterprise Server, Ubuntu Server, VMware "
        "ESXi and Windows Server 2016–2025. {detail}Nothing was stored.",
        "Import the server edition of a supported operating system.",
    )
    NOT_INSTALL_MEDIUM = _m(
        "FQXHMFC9023J",
        400,
        "The file {filename} is not an installation medium.",
        "{detail} Nothing was stored.",
        "Import the installation ISO of the operating system (the DVD or the full "
        "installer image), not a boot, rescue or live image.",
    )
    RELEASE_EXISTS = _m(
        "FQXHMFC9024J",
        409,
        "{what} is already in the repository as OS image {image_id}.",
        "The repository keeps one medium per release and architecture (for VMware ESXi, "
        "one per build). Nothing was stored.",
        "Delete OS image {image_id} first if the new medium should replace it.",
    )
    REMOTE_AUTH_FAILED = _m(
        "FQXHMFC9025J",
        409,
        "The remote file server {server} refused the credentials of its profile.",
        "{detail} Nothing was stored.",
        "Correct the user name, password or key in the remote file-server profile (for "
        "SFTP keys, add the profile's serverPublicKey to the user's authorized_keys).",
    )
    REMOTE_HOST_KEY = _m(
        "FQXHMFC9026M",
        409,
        "The SSH host key of the remote file server {server} does not match.",
        "The server presented the key {presented}, but the profile expects {expected}. "
        "Either the server was reinstalled or re-keyed, or the connection is being "
        "intercepted. Nothing was stored.",
        "Verify the server's host key out of band; if the change is genuine, edit the "
        'profile with "resetHostKey": true (or give the new hostKeyFingerprint).',
    )
    REMOTE_PATH = _m(
        "FQXHMFC9027J",
        409,
        "The file {path} cannot be imported from {server}.",
        "{detail} Nothing was stored.",
        "Give the full path of a file (not a folder) on the remote server.",
    )
    REMOTE_TRANSFER = _m(
        "FQXHMFC9028J",
        409,
        "The transfer of {path} from {server} failed.",
        "{detail} Nothing was stored.",
        "Check the remote server and the network, then import the file again.",
    )
    REMOTE_NOT_ALLOWED = _m(
        "FQXHMFC9036J",
        403,
        "The remote file server {server} is on a network osdepot may not reach.",
        "{detail}. The networks are set by OSDEPOT_REMOTE_ALLOW_NETWORKS and "
        "OSDEPOT_REMOTE_DENY_NETWORKS. Nothing was stored.",
        "Import from a server on an allowed network, or ask the operator of osdepot to "
        "allow this one.",
    )
    REMOTE_SERVER_UNKNOWN = _m(
        "FQXHMFC9029J",
        412,
        "The remote file server {server_id} is not registered.",
        "Files are imported only from registered remote file servers "
        "(GET /osImages/remoteFileServers lists them).",
        "Register the server with POST /osImages/remoteFileServers, or use the serverId "
        "of a registered one.",
    )
    UPLOAD_TOO_SLOW = _m(
        "FQXHMFC9030J",
        408,
        "The upload of the file was stopped because the client sent it too slowly.",
        "Fewer than {min_bytes} bytes arrived in {seconds} seconds. Nothing was stored.",
        "Check the network between the client and the repository, create a new import "
        "job and upload the file again.",
    )
    CATALOG_BUSY = _m(
        "FQXHMFC9031M",
        503,
        "The repository catalog is busy.",
        "The catalog database stayed locked by other work for {seconds} seconds. "
        "Nothing was changed by this request.",
        "Attempt the operation again in a moment.",
    )
    CATALOG_FULL = _m(
        "FQXHMFC9066M",
        507,
        "The repository catalog cannot be written: its disk is full.",
        "The catalog database refused the change ({reason}). Nothing was changed by "
        "this request.{reserve}",
        "Free space on the disk that holds the catalog (the data folder, or the "
        "PostgreSQL server's), for instance by deleting files from the repository, then "
        "attempt the operation again.",
    )
    CATALOG_UNAVAILABLE = _m(
        "FQXHMFC9067M",
        503,
        "The repository catalog cannot be reached right now.",
        "The catalog database did not answer, or the connection to it was lost "
        "({reason}); the request was not carried out, unless the connection was lost "
        "while its change was being committed.",
        "Try again in a moment (after a change, GET what it changed first); if it lasts, "
        "check that the database (OSDEPOT_DATABASE_URL) runs and that this server reaches "
        "it.",
    )
    CHANGED_MEANWHILE = _m(
        "FQXHMFC9068J",
        409,
        "The {what} {name} was changed by other requests while this change was made.",
        "The change was made {tries} times of what was stored, and each time another "
        "request had changed it before it could be written. Nothing of this request was "
        "stored; the other changes stay.",
        "Read it again (GET) and send the change again.",
    )
    BODY_TOO_LARGE = _m(
        "FQXHMFC9032J",
        413,
        "The request body is too large.",
        "A {what} may hold at most {limit} bytes; this request declared or sent more. "
        "Nothing was changed.",
        "Send a smaller body. Files are imported with POST /files/osImages.",
    )
    BODIES_BUSY = _m(
        "FQXHMFC9037M",
        503,
        "The server is reading too many request bodies right now.",
        "Request bodies being read at once may hold at most {limit} bytes. Nothing was changed.",
        "Send the request again in a moment.",
    )
    BODY_TOO_SLOW = _m(
        "FQXHMFC9038J",
        408,
        "The request body did not arrive in time.",
        "A JSON request body must arrive within {seconds} seconds. Nothing was changed.",
        "Send the request again from a faster connection.",
    )
    RANGE_NOT_SATISFIABLE = _m(
        "FQXHMFC9040J",
        416,
        "The requested range cannot be served.",
        "The file has {size} bytes: {detail}.",
        "Ask for byte ranges within the file (Range: bytes=first-last), or for the whole "
        "file without a Range header.",
    )
    DOWNLOADS_BUSY = _m(
        "FQXHMFC9041M",
        503,
        "The server is sending too many downloads right now.",
        "Downloads already hold all the memory this server gives them "
        "(OSDEPOT_DOWNLOAD_BUFFER_BYTES), and none was freed within {seconds} seconds.",
        "Try again in a moment; see Retry-After.",
    )
    MEDIUM_DAMAGED = _m(
        "FQXHMFC9039J",
        400,
        "The installation medium {filename} is damaged.",
        "osdepot checked the files the medium's own metadata declares: {detail}. "
        "Nothing was stored.",
        "Download the medium again, compare its checksum with the one the vendor "
        "publishes, and import it again.",
    )
    PROFILE_ARCHIVE_INVALID = _m(
        "FQXHMFC9042J",
        400,
        "The profile archive {filename} cannot be imported.",
        "{detail}. Nothing was stored.",
        "Import an archive exported by GET /osImages/{{profileId}} (osdepot export), "
        "unchanged: every member is checked against the archive's manifest.",
    )
    BASE_IMAGE_MISSING = _m(
        "FQXHMFC9043J",
        409,
        "The OS image {image_id} that profile {profile} is made for is not in the repository.",
        "{detail} Nothing was stored.",
        "Import the medium {medium} first (osdepot import), then import the profile archive again.",
    )
    EXPORT_COMPLETE = _m(
        "FQXHMFC9044I",
        200,
        "Profile {profile} was exported as {filename}.",
        "The archive ({size} bytes, SHA-256 {sha256}) holds the profile's definition, "
        "its {files} file(s) and a manifest of their SHA-256 digests. It is stored as "
        "file {file_id}: GET /files/osImages/{file_id} or GET /osImages/{filename} "
        "downloads it.{pushed}",
        "Import the archive on another osdepot with imageType=OSPROFILE.",
    )
    CUSTOM_SETTINGS_INVALID = _m(
        "FQXHMFC9045J",
        400,
        "The custom configuration settings are not valid.",
        "{count} problem(s) were found; the first, at {location}: {first} The response's "
        "errorReport lists them all.",
        "Correct the settings at the locations the error report names and validate them again.",
    )
    FILE_HELD = _m(
        "FQXHMFC9046J",
        409,
        "File {file_id} is used by customised profile(s) {profiles}.",
        "A file that a customised profile holds is not deleted. Nothing was deleted.",
        "Remove the file from those profiles (PUT /osImages/{{profileId}}) or delete the "
        "profiles, then delete the file.",
    )
    REMOTE_PUSH_FAILED = _m(
        "FQXHMFC9047J",
        409,
        "The export could not be written to {path} on {server}.",
        "{detail} Nothing was stored, here or there (a partial file is removed).",
        "Check the remote file-server profile (address, credentials, a folder the user "
        "may write to) and export again.",
    )
    NODE_LOST = _m(
        "FQXHMFC9048M",
        500,
        "The import was interrupted because the server node running it stopped.",
        "Node {node} sent no heartbeat for {seconds} seconds; node {by} stopped its "
        "jobs. Nothing was stored; the partial file is removed when that node starts "
        "again.",
        "Create a new import job and import the file again.",
    )
    STORE_UNAVAILABLE = _m(
        "FQXHMFC9049M",
        503,
        "The repository's storage cannot be reached right now.",
        "{detail}. Nothing was changed.",
        "Try again in a moment; if it lasts, check that the object store (OSDEPOT_BLOB_URL) "
        "runs and that this server reaches it.",
    )
    BMC_UNREACHABLE = _m(
        "FQXHMFC9050M",
        409,
        "The BMC at {url} cannot be reached.",
        "{detail}. Nothing was changed.",
        "Check the BMC's address and port, that this server reaches it, and its TLS "
        "certificate (give its CA certificate, or register it as insecure if you must).",
    )
    BMC_AUTH_FAILED = _m(
        "FQXHMFC9051J",
        409,
        "The BMC at {url} refused the user name or password.",
        "{detail}. Nothing was changed.",
        "Check the BMC account (and that it may use Redfish), then register the BMC again "
        "or refresh it with the right credentials.",
    )
    BMC_NOT_REDFISH = _m(
        "FQXHMFC9052J",
        409,
        "The BMC at {url} cannot be used.",
        "{detail}. Nothing was changed.",
        "Give the URL of a Redfish service (https://BMC, whose /redfish/v1 answers), whose "
        "account may read its systems and managers.",
    )
    DEPLOY_COMPLETE = _m(
        "FQXHMFC9053I",
        200,
        "{profile} was deployed to {host}.",
        "The installer reported that the installation completed. The virtual media were "
        "ejected and the deployment's links revoked.",
        "No action is required.",
    )
    DEPLOY_FAILED = _m(
        "FQXHMFC9054M",
        409,
        "The deployment of {profile} to {host} failed.",
        "{detail}. The virtual media were ejected and the deployment's links revoked.",
        "Correct the cause and deploy again (PUT /hostPlatforms).",
    )
    DEPLOY_REFUSED = _m(
        "FQXHMFC9055J",
        409,
        "{host} cannot be deployed now.",
        "{detail}. No deployment was started.",
        "Correct the cause and deploy again.",
    )
    UPLOAD_NOT_FOUND = _m(
        "FQXHMFC9056J",
        404,
        "Resumable upload {upload_id} does not exist.",
        "{detail}",
        "Create a new upload with POST /files/osImages/uploads for an open import job.",
    )
    UPLOAD_OFFSET_MISMATCH = _m(
        "FQXHMFC9057J",
        409,
        "The upload continues at byte {expected}, not at byte {provided}.",
        "Resumable upload {upload_id} holds {expected} bytes of the file; a request must "
        "send the bytes that follow them. Nothing was changed.",
        "Ask for the offset (HEAD on the upload's URL) and send the file from there.",
    )
    UPLOAD_BAD_CHUNK = _m(
        "FQXHMFC9058J",
        460,
        "The {algorithm} checksum of the bytes sent does not match Upload-Checksum.",
        "The bytes of this request were discarded; the upload still holds {offset} bytes "
        "and goes on from there.",
        "Send the same bytes again from byte {offset}.",
    )
    UPLOAD_LENGTH = _m(
        "FQXHMFC9059J",
        400,
        "The length of resumable upload {upload_id} does not allow this request.",
        "{detail} Nothing was changed.",
        "Send the file's exact length when creating the upload, and no byte past it.",
    )
    UPLOAD_BUSY = _m(
        "FQXHMFC9060J",
        423,
        "Resumable upload {upload_id} is receiving bytes in another request.",
        "{detail}",
        "Wait a few seconds and ask for the offset again.",
    )
    UPLOAD_EXPIRED = _m(
        "FQXHMFC9061J",
        409,
        "The resumable upload of import job {job_id} expired.",
        "No bytes arrived for {seconds} seconds, so its {offset} bytes were removed. "
        "Nothing was stored.",
        "Create a new import job and upload the file again.",
    )
    UPLOAD_ELSEWHERE = _m(
        "FQXHMFC9062J",
        409,
        "Resumable upload {upload_id} is held by the server node {node}.",
        "Its bytes so far are on that node's own disk; other nodes cannot continue it.",
        "Send the upload's requests to that node (or route them by the upload's URL), "
        "or use an S3 blob store, whose uploads any node continues.",
    )
    TOO_MANY_JOBS = _m(
        "FQXHMFC9063J",
        409,
        "User {user} has too many open jobs.",
        "{detail}",
        "Finish or cancel open jobs, or ask an administrator to raise the limit, and "
        "attempt the operation again.",
    )
    TOO_MANY_LINKS = _m(
        "FQXHMFC9064J",
        409,
        "File {file_id} has {count} valid links, the most one file may have.",
        "Links that expired or were revoked make room for new ones; these have not.",
        "Revoke links that are no longer needed (DELETE /files/osImages/{{fileId}}/links/"
        "{{linkId}}), or wait for some to expire.",
    )
    LIMIT_REACHED = _m(
        "FQXHMFC9065J",
        409,
        "{where} holds {count} {what}, the most it may hold.",
        "{detail}",
        "Delete the ones no longer needed and attempt the operation again.",
    )
    UNSUPPORTED_MEDIA_TYPE = _m(
        "FQXHMFC9033J",
        415,
        "The request body must be sent as {expected}.",
        "The request's Content-Type is {actual!r}. Nothing was changed.",
        "Send the body with the header Content-Type: {expected}.",
    )
    CONTENT_TOO_COSTLY = _m(
        "FQXHMFC9034J",
        400,
        "The file {filename} could not be checked within the time allowed.",
        "Checking the content of this file took more than {seconds} seconds of CPU time; "
        "a file of this kind and size does not need that much, so it was refused. "
        "Nothing was stored.",
        "Make sure that the file is what it claims to be, and import it again.",
    )
    SECRETS_DROPPED = _m(
        "FQXHMFC9035I",
        200,
        "The stored {secrets} of this remote file server were dropped.",
        "The profile now points to another address, port or protocol, or verifies TLS "
        "differently. Secrets stored for the old target are never sent to a new one.",
        "If the new target needs them, send them again with PUT "
        "/osImages/remoteFileServers/{{id}} (a key pair: give keyType for a new one).",
    )
    JOB_NOT_FOUND = _m(
        "FQXHMJM9001J",
        404,
        "Job {job_id} does not exist.",
        "The job id is unknown, or the finished job was removed.",
        "List the jobs with GET /tasks and use one of their ids.",
    )
    JOB_RUNNING = _m(
        "FQXHMJM9002J",
        409,
        "Job {job_id} has not finished and cannot be removed.",
        "Only finished jobs can be removed.",
        "Cancel the job first (PUT /tasks), or wait until it ends.",
    )
    AUTH_REQUIRED = _m(
        "FQXHMSE9001J",
        401,
        "Authentication is required.",
        "The request carried no valid session and no valid credentials.",
        "Log in with POST /sessions, or send HTTP Basic credentials.",
    )
    LOGIN_FAILED = _m(
        "FQXHMSE9002J",
        401,
        "The user name or password is not correct.",
        "The credentials were not accepted.",
        "Check the user name and password and try again.",
    )
    FORBIDDEN = _m(
        "FQXHMSE9003J",
        403,
        "User {user} is not authorized to perform this operation.",
        "The operation needs the privilege {privilege}, which the role {role} does not include.",
        "Ask a supervisor for a role that includes the privilege.",
    )
    CSRF = _m(
        "FQXHMSE9004J",
        403,
        "The request is missing a valid CSRF token.",
        "A state-changing request made with a session cookie must carry the value of the "
        "csrf cookie in the X-Csrf-Token header.",
        "Send the X-Csrf-Token header, or log in again.",
    )
    ACCOUNT_LOCKED = _m(
        "FQXHMSE9006J",
        401,
        "The account {user} is locked.",
        "{failures} logins in a row failed; the account stays locked until {until} UTC.",
        "Wait until then, or ask a supervisor to unlock the account.",
    )
    CROSS_SITE = _m(
        "FQXHMSE9007J",
        403,
        "Cross-site requests are not accepted.",
        "The request came from a page of another site (Origin {origin}, Sec-Fetch-Site "
        "{site}). Browsers send such requests with the user's credentials, so osdepot "
        "refuses them whatever the authentication.",
        "Use the osdepot web UI, the command-line client, or a client that is not a web page.",
    )
    LOGIN_THROTTLED = _m(
        "FQXHMSE9008J",
        429,
        "Too many logins from this address.",
        "Logins from {address} are limited to {rate} per second with bursts of {burst}; "
        "this one was not checked.",
        "Wait {retry} seconds and try again; scripts should log in once and keep the "
        "session, or reuse their Basic credentials (verified ones are remembered).",
    )
    LOGIN_BUSY = _m(
        "FQXHMSE9009J",
        503,
        "The server is checking too many passwords right now.",
        "At most {slots} passwords are checked at once and {queue} more may wait; this "
        "login was not checked.",
        "Try again in a moment.",
    )
    SESSION_EXPIRED = _m(
        "FQXHMSE9005J",
        401,
        "The session has expired.",
        "Sessions end after {seconds} seconds without a request.",
        "Log in again with POST /sessions.",
    )


#: Messages whose explanation quotes what a remote file server answered (banners,
#: refusals, addresses and ports). Users who may not edit remote file servers see a
#: task's message without it (web/tasks.py); the log and the administrators keep it.
REMOTE_REPLY_MESSAGES = frozenset(
    m.id
    for m in (
        Messages.REMOTE_UNREACHABLE,
        Messages.REMOTE_AUTH_FAILED,
        Messages.REMOTE_HOST_KEY,
        Messages.REMOTE_PATH,
        Messages.REMOTE_TRANSFER,
    )
)

#: What those users see as the explanation instead.
REMOTE_REPLY_WITHHELD = (
    "The remote file server's reply is in the server log and in the task as users who "
    "may edit remote file servers see it. Nothing was stored."
)
