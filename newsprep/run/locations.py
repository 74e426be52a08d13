"""SOURCE and DEST before a run touches them: credentials out of the URLs, the two places
apart, and storage errors told in one line.

Credentials written into a URL (`s3://KEY:SECRET@bucket/...`, `ftp://user:pw@host/...`)
become fsspec options handed over in the environment (`apply_storage_options`), exactly
like `--storage-option`: the URLs that go on to Prefect (flow parameters, run name, logs,
events), the manifest and the summary carry none.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

import fsspec
import fsspec.config
from fsspec.core import split_protocol

from newsprep.config import ConfigError, RunConfig
from newsprep.run.ledger.summary import redact
from newsprep.tasks.io.stores import on_local_disk, url_fs

# scheme://userinfo@rest, userinfo without a slash
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@]*)@")
# the fsspec options a URL's user and password stand for, per protocol
_CREDENTIAL_OPTIONS = {
    "s3": ("key", "secret"), "s3a": ("key", "secret"),
    "ftp": ("username", "password"), "sftp": ("username", "password"),
    "ssh": ("username", "password"), "smb": ("username", "password"),
}


def split_credentials(url: str) -> tuple[str, dict[str, dict[str, str]]]:
    """The URL without credentials, and the fsspec options they stand for, per protocol."""
    parts, options = [], {}
    for part in url.split("::"):
        scheme, _, rest = part.partition("://")
        if scheme.lower() in ("http", "https") and ("?" in rest or "#" in rest):
            raise ConfigError(
                f"a query string in a {scheme.lower()}:// URL is not supported "
                f"({redact(re.split(r'[?#]', part, maxsplit=1)[0])}?...): a presigned URL's "
                "signature would reach Prefect, the logs and the outputs; download the "
                "file and give its path"
            )
        found = _USERINFO.match(part)
        if found is None:
            parts.append(part)
            continue
        protocol = found["scheme"][:-3].lower()
        names = _CREDENTIAL_OPTIONS.get(protocol)
        if names is None:
            raise ConfigError(
                f"credentials in a {protocol}:// URL are not supported ({redact(part)}); "
                "pass them with --storage-option KEY=VALUE or the environment"
            )
        user, _, password = found["userinfo"].partition(":")
        given = {names[0]: unquote(user)}
        if password:
            given[names[1]] = unquote(password)
        options[protocol] = given
        parts.append(_USERINFO.sub(r"\g<scheme>", part))
    return "::".join(parts), options


def strip_credentials(
    source: str, dest: str
) -> tuple[str, str, dict[str, dict[str, str]]]:
    """SOURCE and DEST without credentials, and the options they carried, per protocol."""
    source, from_source = split_credentials(source)
    dest, from_dest = split_credentials(dest)
    for protocol in from_source.keys() & from_dest.keys():
        if from_source[protocol] != from_dest[protocol]:
            raise ConfigError(
                f"SOURCE and DEST carry different {protocol}:// credentials in their URLs; "
                "one set serves both: use --storage-option, or the environment"
            )
    return source, dest, {**from_source, **from_dest}


def apply_storage_options(urls: Sequence[str], options: dict[str, Any]) -> None:
    """Hand fsspec options to every filesystem of these URLs, in this process and in the
    worker processes it starts (fsspec reads FSSPEC_<PROTOCOL> when imported)."""
    if not options:
        return
    protocols = {split_protocol(part)[0] for url in urls for part in url.split("::")}
    for protocol in sorted(p for p in protocols if p not in (None, "file", "tar")):
        apply_protocol_options(protocol, options)


def without_credentials(config: RunConfig) -> RunConfig:
    """The config with credentials taken out of its SOURCE and DEST URLs and handed to
    fsspec's configuration instead (in this process and the workers it starts), so they
    reach no name, log, record or summary."""
    source, dest, url_options = strip_credentials(config.source, config.dest)
    for protocol, given in url_options.items():
        apply_protocol_options(protocol, given)
    return config.model_copy(update={"source": source, "dest": dest})


def apply_protocol_options(protocol: str, options: dict[str, Any]) -> None:
    variable = f"FSSPEC_{protocol.upper()}"
    merged = {**json.loads(os.environ.get(variable, "{}")), **options}
    os.environ[variable] = json.dumps(merged)
    fsspec.config.conf.setdefault(protocol, {}).update(options)


def _place(url: str) -> tuple[str, str]:
    """(filesystem kind, absolute path) of a URL; local paths with symlinks resolved."""
    fs, path = url_fs(url)  # tar://member::archive: where the archive is
    if on_local_disk(fs):
        return "file", os.path.realpath(path)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return protocol, "/" + path.strip("/")


def check_apart(source: str, dest: str) -> None:
    """SOURCE and DEST must not overlap: a DEST inside SOURCE (directly or through a
    symbolic link) is read back as input by every later run, a SOURCE inside DEST gets
    written over. Raises ConfigError naming both."""
    try:
        (source_kind, source_path), (dest_kind, dest_path) = _place(source), _place(dest)
    except Exception:  # reported in one line when it is opened
        return  # an unusable URL, a missing package, a server that does not answer
    if source_kind != dest_kind:
        return
    shown = f"(SOURCE {redact(source)}, DEST {redact(dest)}"
    if source_kind == "file":
        shown += f"; resolved: {source_path} and {dest_path}"
    shown += ")"
    if source_path == dest_path:
        raise ConfigError(f"SOURCE and DEST are the same place {shown}; choose another DEST")
    if _inside(dest_path, source_path):
        raise ConfigError(
            f"DEST is inside SOURCE {shown}: the output would be read back as articles; "
            "choose a DEST outside SOURCE"
        )
    if _inside(source_path, dest_path):
        raise ConfigError(
            f"SOURCE is inside DEST {shown}: the output could write over the articles; "
            "choose a DEST outside SOURCE"
        )


def _inside(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip("/") + "/") or (folder == "/" and path != "/")


def describe_storage_error(exc: BaseException, what: str) -> str:
    """One line for an error opening SOURCE or DEST: what went wrong and what to do."""
    name = type(exc).__name__
    text = (str(exc).splitlines() or [""])[0]
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return (f"no credentials for {what}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(or AWS_PROFILE), or pass --storage-option key=... --storage-option secret=...")
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError",
                "ClientConnectorError", "ServerDisconnectedError"):
        return (f"cannot reach the storage endpoint for {what}: {text} (check "
                "AWS_ENDPOINT_URL / --storage-option endpoint_url and the network)")
    if isinstance(exc, PermissionError):
        return f"no permission for {what}: {getattr(exc, 'strerror', None) or text}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot use {what}: {exc.strerror}"
    return f"cannot use {what}: {name}: {text}"
