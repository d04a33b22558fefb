"""Per-client MLflow credentials: one connection's login never reaches another server or the process.

MLflow's own clients read `MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD` /
`MLFLOW_TRACKING_TOKEN` from the process environment on every request
(`mlflow.utils.credentials.get_default_host_creds`), so exporting one connection's credentials
sends them to every MLflow server the process talks to. Instead, a `MlflowStore` built with
`MlflowCredentials` gets a client whose stores carry their own credentials:

- tracking and registry calls go through a `RestStore` built with a `get_host_creds` closure
  (MLflow's supported constructor argument: "invoked prior to every REST request"), one per client;
- artifact calls (list, download, log) of that client go through an `mlflow-artifacts` / HTTP
  repository whose credentials are the client's: the repository's `_host_creds` (used by its
  download threads) is the client's, and the calls that ask MLflow's module function
  `get_default_host_creds` directly (listing, multipart) run inside a scope (a ContextVar, set
  only for the duration of that repository's call) that the function consults.

Credentials are only ever sent to the origin (scheme, host, port) of the tracking URI they
were configured for: any other URL gets MLflow's defaults. Nothing is written to os.environ.
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_SCOPE: contextvars.ContextVar[MlflowCredentials | None] = contextvars.ContextVar(
    "driftline_mlflow_credentials", default=None
)


def origin(uri: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of an http(s) URI, the default port made explicit."""
    parsed = urllib.parse.urlsplit(uri)
    scheme = parsed.scheme.lower()
    port = parsed.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parsed.hostname or "").lower(), port


def _mlflow(module: str) -> Any:
    """An MLflow module, untyped (MLflow ships no annotations for these internals)."""
    return importlib.import_module(module)


def is_http(uri: str) -> bool:
    return urllib.parse.urlsplit(uri).scheme.lower() in ("http", "https")


@dataclass(frozen=True)
class MlflowCredentials:
    """Basic-auth login/password or a bearer token for one MLflow server (`server`: its tracking URI)."""

    server: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)

    def covers(self, uri: str) -> bool:
        """True when `uri` is on the server these credentials were issued for."""
        return is_http(uri) and origin(uri) == origin(self.server)

    def host_creds(self, uri: str) -> Any:
        """MLflow's MlflowHostCreds for a request to `uri`: these credentials on their own server,
        MLflow's defaults (TLS settings, no login from here) anywhere else."""
        default = _mlflow("mlflow.utils.credentials").get_default_host_creds(uri)
        if not self.covers(uri):
            return default
        return _mlflow("mlflow.utils.rest_utils").MlflowHostCreds(
            host=uri,
            username=self.username if not self.token else None,
            password=self.password if not self.token else None,
            token=self.token,
            ignore_tls_verification=default.ignore_tls_verification,
            client_cert_path=default.client_cert_path,
            server_cert_path=default.server_cert_path,
        )


@functools.cache
def _install_artifact_scope() -> None:
    """Make MLflow's HTTP artifact modules ask the active scope first (once per process)."""
    http_repo = _mlflow("mlflow.store.artifact.http_artifact_repo")
    artifacts_repo = _mlflow("mlflow.store.artifact.mlflow_artifacts_repo")
    for module in (http_repo, artifacts_repo):
        original: Callable[[str], Any] = module.get_default_host_creds

        def scoped_host_creds(uri: str, original: Callable[[str], Any] = original) -> Any:
            creds = _SCOPE.get()
            return creds.host_creds(uri) if creds is not None and creds.covers(uri) else original(uri)

        module.get_default_host_creds = scoped_host_creds


def _scoped(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        token = _SCOPE.set(self.driftline_credentials)
        try:
            return method(self, *args, **kwargs)
        finally:
            _SCOPE.reset(token)

    return wrapper


def credentialed_repository(repo: Any, credentials: MlflowCredentials) -> Any:
    """`repo` (an artifact repository) carrying `credentials` when it talks HTTP to their server."""
    if not isinstance(repo, _mlflow("mlflow.store.artifact.http_artifact_repo").HttpArtifactRepository):
        return repo  # local files, S3 ...: no MLflow login involved
    _install_artifact_scope()
    base: Any = type(repo)
    cls = _credentialed_class(base)
    repo.__class__ = cls
    repo.driftline_credentials = credentials
    return repo


@functools.cache
def _credentialed_class(base: type) -> type:
    """A subclass of an HTTP artifact repository class whose calls use the instance's credentials."""
    methods = (
        "list_artifacts",
        "download_artifacts",
        "log_artifact",
        "log_artifacts",
        "delete_artifacts",
        "create_multipart_upload",
        "complete_multipart_upload",
        "abort_multipart_upload",
        "_download_file",
        "_fetch_server_capabilities",
    )
    namespace: dict[str, Any] = {
        name: _scoped(getattr(base, name)) for name in methods if hasattr(base, name)
    }

    def _host_creds(self: Any) -> Any:  # read by the download threads, which have no scope
        return self.driftline_credentials.host_creds(self.artifact_uri)

    namespace["_host_creds"] = property(_host_creds)
    return type(f"Credentialed{base.__name__}", (base,), namespace)


def credentialed_client(tracking_uri: str, credentials: MlflowCredentials) -> Any:
    """An MlflowClient for `tracking_uri` whose every request carries `credentials` (see module doc)."""
    from mlflow.tracking import MlflowClient

    RegistryRestStore = _mlflow("mlflow.store.model_registry.rest_store").RestStore
    RestStore = _mlflow("mlflow.store.tracking.rest_store").RestStore
    ModelRegistryClient = _mlflow("mlflow.tracking._model_registry.client").ModelRegistryClient
    TrackingServiceClient = _mlflow("mlflow.tracking._tracking_service.client").TrackingServiceClient

    def get_host_creds() -> Any:
        return credentials.host_creds(tracking_uri)

    tracking_store = RestStore(get_host_creds)
    registry_store = RegistryRestStore(get_host_creds)

    class Tracking(TrackingServiceClient):  # type: ignore[misc,valid-type]
        @property
        def store(self) -> Any:
            return tracking_store

        def _get_artifact_repo(self, resource_id: str, *, resource: Any = "run") -> Any:
            get_artifact_repository = _mlflow(
                "mlflow.store.artifact.artifact_repository_registry"
            ).get_artifact_repository
            location = (
                self.get_run(resource_id).info.artifact_uri
                if resource == "run"
                else self.get_logged_model(resource_id).artifact_location
            )
            repo = get_artifact_repository(location, tracking_uri=self.tracking_uri)
            return credentialed_repository(repo, credentials)

        # MLflow's own versions build a fresh client from the URI (process credentials): use this one's.
        def list_artifacts(self, run_id: str, path: str | None = None) -> Any:
            return self._get_artifact_repo(run_id).list_artifacts(path)

        def download_artifacts(self, run_id: str, path: str, dst_path: str | None = None) -> Any:
            return self._get_artifact_repo(run_id).download_artifacts(path, dst_path)

    class Registry(ModelRegistryClient):  # type: ignore[misc,valid-type]
        @property
        def store(self) -> Any:
            return registry_store

    client: Any = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    client._tracking_client = Tracking(tracking_uri)
    client._registry_client_lazy = Registry(tracking_uri, tracking_uri)  # MlflowClient's lazy slot
    return client
