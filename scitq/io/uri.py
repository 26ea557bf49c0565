"""Provides the URI grammar of scitq data: `<proto>[@opt…]://<resource>[|<action>]`, parsed and checked.

Plain paths (no `://`) mean `file://`. The check is about form only: whether a protocol is usable
(an rclone remote, gcsfs installed...) is known only where the transfer runs.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from scitq.errors import BadInput

__all__ = ["URI", "parse_uri", "check_uri", "redact", "ACTIONS", "RUN_SCHEMES", "RUN_OPTIONS"]

ACTIONS = ("gunzip", "untar", "unzip", "mv:<dir>")
RUN_SCHEMES = ("run+fastq", "run+submitted")
RUN_OPTIONS = ("sra", "ftp", "aspera", "filter_r1", "ena")
# options accepted for v1 compatibility on transfer protocols (aria2 meant "parallel download")
TRANSFER_OPTIONS = ("aria2",)
BUCKET_SCHEMES = ("s3", "azure", "az", "gcs", "gs")

_PROTO = re.compile(r"^[a-z][a-z0-9+._-]*$")
_OPT = re.compile(r"^[A-Za-z0-9_.-]+$")
_RUN = re.compile(r"^[A-Z]{3}[0-9]+$")
_FAST = re.compile(r"^[a-z][a-z0-9+._-]*://[^|\s]+$")   # the common case: no option, no action


@dataclass(frozen=True, slots=True)
class URI:
    """A parsed URI. `resource` excludes the action; `proto` is `file` for plain paths."""

    raw: str
    proto: str
    resource: str
    opts: tuple[str, ...] = ()
    action: str | None = None

    @property
    def base(self) -> str:
        """The URI without its action (what is actually transferred)."""
        if self.proto == "file" and "://" not in self.raw.split("|")[0]:
            return self.resource
        opts = "".join(f"@{o}" for o in self.opts)
        return f"{self.proto}{opts}://{self.resource}"

    @property
    def is_dir(self) -> bool:
        """A trailing `/` names a folder: its whole content is transferred."""
        return self.resource.endswith("/")

    @property
    def name(self) -> str:
        """Last path element (the file name a download gets)."""
        return self.resource.rstrip("/").rsplit("/", 1)[-1]

    @property
    def mv_dir(self) -> str | None:
        """The sub-folder of a `|mv:<dir>` action, else None."""
        return self.action[3:] if self.action and self.action.startswith("mv:") else None

    @property
    def is_run(self) -> bool:
        return self.proto in RUN_SCHEMES

    def join(self, rel: str) -> "URI":
        """The URI of `rel` under this one (a folder), keeping protocol and options, dropping the action."""
        res = self.resource if self.resource.endswith("/") else self.resource + "/"
        return URI(raw="", proto=self.proto, resource=res + rel.lstrip("/"), opts=self.opts)

    def __str__(self) -> str:
        return self.raw or self.base


REDACTED = "***"
# proto://user:password@ (the password may hold '@': up to the last '@' before the path)
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.@_-]*://[^\s:/@]*):(?P<secret>[^\s/]*)@")
# query parameters of signed URLs (S3 presigned, Azure SAS, GCS signed, tokens)
_QUERY = re.compile(r"(?P<head>[?&](?:sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|"
                    r"x-goog-signature|x-goog-credential|token|access_token|api_key|apikey|key|secret|password|"
                    r"passwd|pwd)=)(?P<secret>[^&\s#\"']+)", re.IGNORECASE)
# Azure connection strings
_CONN = re.compile(r"(?P<head>(?:AccountKey|SharedAccessSignature|SharedAccessKey)=)(?P<secret>[^;\s\"']+)",
                   re.IGNORECASE)


def redact(text: str) -> str:
    """`text` with the credentials of every URI in it replaced by `***`: the password of
    `proto://user:password@host`, signature and token parameters of signed URLs, Azure account keys.
    Used wherever scitq displays a URI, a command or a message that may hold one; the stored value
    is unchanged."""
    if not isinstance(text, str) or ("://" not in text and "=" not in text):
        return text
    text = _USERINFO.sub(lambda m: f"{m['head']}:{REDACTED}@" if m["secret"] else m[0], text)
    text = _QUERY.sub(lambda m: m["head"] + REDACTED, text)
    return _CONN.sub(lambda m: m["head"] + REDACTED, text)


def _local(uri: str, path: str, action: str | None) -> URI:
    return URI(raw=uri, proto="file", resource=path, action=action)


def parse_uri(uri: str) -> URI:
    """Parse `uri`; raise BadInput with one line naming what is wrong."""
    if not isinstance(uri, str) or not uri.strip():
        raise BadInput("empty URI", hint="expected <proto>://<resource> or a local path")
    if uri != uri.strip() or any(c.isspace() for c in uri):
        raise BadInput(f"{uri!r}: a URI cannot contain spaces (separate several URIs with spaces)")
    body, sep, tail = uri.partition("|")
    action: str | None = None
    if sep:
        if "|" in tail:
            raise BadInput(f"{uri!r}: only one action is allowed after '|'")
        action = _check_action(uri, tail)
    if "://" not in body:
        if ":" in body.split("/", 1)[0]:
            head, _, tail = body.partition(":")
            raise BadInput(f"{uri!r} is not a URI: expected <proto>://<resource> (did you mean {head}://{tail.lstrip('/')}?)")
        return _local(uri, body, action)
    head, _, resource = body.partition("://")
    proto, *opts = head.split("@")
    if not proto:
        raise BadInput(f"{uri!r}: missing protocol before '://'")
    if not _PROTO.match(proto):
        raise BadInput(f"{uri!r}: bad protocol {proto!r} (letters, digits, '+', '-', '.', '_'; lower case)")
    for opt in opts:
        if not opt:
            raise BadInput(f"{uri!r}: empty option after '@'")
        if not _OPT.match(opt):
            raise BadInput(f"{uri!r}: bad option {opt!r}")
    if not resource:
        raise BadInput(f"{uri!r}: nothing after '://'")
    if proto == "file":
        if not resource.startswith("/"):
            raise BadInput(f"{uri!r}: file:// needs an absolute path (file:///path)")
        if opts:
            raise BadInput(f"{uri!r}: file:// takes no option")
        return URI(raw=uri, proto="file", resource=resource, action=action)
    if proto in RUN_SCHEMES:
        for opt in opts:
            if opt not in RUN_OPTIONS:
                raise BadInput(f"{uri!r}: unknown option {opt!r} for {proto} (expected one of {', '.join(RUN_OPTIONS)})")
        if not _RUN.match(resource):
            raise BadInput(f"{uri!r}: {resource!r} is not a run accession (like SRR1234567 or ERR1234567)")
    else:
        for opt in opts:
            if opt not in TRANSFER_OPTIONS:
                raise BadInput(f"{uri!r}: unknown option {opt!r} for {proto}://")
        if proto in BUCKET_SCHEMES and (resource.startswith("/") or not resource.split("/", 1)[0]):
            raise BadInput(f"{uri!r}: missing bucket/container name after {proto}://")
        if proto in ("http", "https", "ftp") and (resource.startswith("/") or not resource.split("/", 1)[0]):
            raise BadInput(f"{uri!r}: missing host after {proto}://")
    return URI(raw=uri, proto=proto, resource=resource, opts=tuple(opts), action=action)


def _check_action(uri: str, action: str) -> str:
    if action in ("gunzip", "untar", "unzip"):
        return action
    if action.startswith("mv:"):
        target = action[3:]
        if not target:
            raise BadInput(f"{uri!r}: mv: needs a folder name (|mv:<dir>)")
        parts = target.split("/")
        if target.startswith("/") or ".." in parts:
            raise BadInput(f"{uri!r}: mv:{target} must be a relative folder without '..'")
        return action
    raise BadInput(f"{uri!r}: unknown action {action!r} after '|' (expected gunzip, untar, unzip or mv:<dir>)")


def check_uri(uri: str) -> str:
    """Return `uri` unchanged if it follows the grammar; raise BadInput naming what is wrong otherwise."""
    if isinstance(uri, str) and _FAST.match(uri):
        proto, _, resource = uri.partition("://")
        if proto not in BUCKET_SCHEMES and proto not in RUN_SCHEMES and proto not in ("file", "http", "https", "ftp"):
            return uri
    parse_uri(uri)
    return uri


def local_path(uri: URI) -> str:
    """Absolute local path of a `file://` URI or plain path."""
    return os.path.abspath(os.path.expanduser(uri.resource))
