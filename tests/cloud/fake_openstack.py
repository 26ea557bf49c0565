"""Provides a stateful fake of OpenStack Keystone v3, Nova, Glance and Neutron served over HTTP on loopback.

No OpenStack can run on a test machine, so the `openstack` provider is tested with the real openstacksdk and
keystoneauth1 talking HTTP to this double. It answers only what the provider asks (version discovery, tokens,
flavors, servers, limits, images and networks by name) with the shapes of the real APIs, keeps servers per
region, moves a new server from BUILD to ACTIVE after a number of polls, and serves faults on demand:

    fake.faults.auth = True                   every token request is refused (401)
    fake.faults.quota = True                  POST /servers is refused with 403 "Quota exceeded"
                                              (as it is when the region's max_cores would be passed)
    fake.faults.no_valid_host = True          new servers go to ERROR with fault "No valid host was found"
    fake.faults.build_error = "message"       new servers go to ERROR with that fault message
    fake.faults.build_forever = True          new servers stay in BUILD
    fake.faults.lost_create = True            POST /servers creates the server, then answers 500
    fake.faults.flaky_gets = 2                the next 2 GETs of one server answer 503

Every request is recorded in `fake.requests` (method, path, query, JSON body) for assertions.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from keystoneauth1 import fixture as ks_fixture

__all__ = ["FakeOpenStack", "Faults", "OVH_FLAVORS"]

PROJECT_ID = "5f2c1e5c0ab84d2a9c0b6e2e1c9a7f01"

# (id, name, vcpus, ram MB, disk GB): OVH sizes RAM in thousands of MB
OVH_FLAVORS: list[tuple[str, str, int, int, int]] = [
    ("f-b2-7", "b2-7", 2, 7000, 50),
    ("f-b2-15", "b2-15", 4, 15000, 100),
    ("f-c2-30", "c2-30", 16, 30000, 200),
    ("f-i1-45", "i1-45", 8, 45000, 50),
    ("f-t1-45", "t1-45", 8, 45000, 400),
    ("f-l4-90", "l4-90", 22, 90000, 400),
    ("f-bm-s1", "bm-s1", 8, 32000, 2000),
    ("f-win-b2-7", "win-b2-7", 2, 7000, 50),
    ("f-b2-7-flex", "b2-7-flex", 2, 7000, 50),
    ("f-m1-small", "m1.small", 1, 2048, 20),
]


@dataclass
class Faults:
    auth: bool = False
    quota: bool = False
    no_valid_host: bool = False
    build_forever: bool = False
    lost_create: bool = False
    flaky_gets: int = 0
    build_error: str = ""


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any


@dataclass
class FakeOpenStack:
    """The fake cloud: start() serves it on 127.0.0.1 in a thread, stop() shuts it down."""
    regions: tuple[str, ...] = ("GRA11", "BHS5")
    build_polls: int = 2                        # GETs of a new server answered BUILD before ACTIVE
    delete_polls: int = 0                       # GETs/lists a deleted server still shows (task_state deleting)
    max_cores: dict[str, int] = field(default_factory=lambda: {"GRA11": 20, "BHS5": -1})
    faults: Faults = field(default_factory=Faults)
    servers: dict[str, dict[str, dict]] = field(default_factory=dict)   # region -> id -> server
    deleted: list[str] = field(default_factory=list)                    # names of deleted servers
    requests: list[Request] = field(default_factory=list)
    images: tuple[str, ...] = ("Ubuntu 22.04", "Baremetal - Ubuntu 22.04")
    old_images: tuple[str, ...] = ()            # deactivated images listed first under these names
    networks: tuple[str, ...] = ("Ext-Net",)
    keypairs: tuple[str, ...] = ("scitq",)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        for region in self.regions:
            self.servers.setdefault(region, {})

    # ---- life
    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def auth_url(self) -> str:
        return f"{self.url}/identity/v3"

    def start(self) -> "FakeOpenStack":
        fake = self

        class Handler(_Handler):
            cloud = fake

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, name="fake-openstack", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def env(self, **extra: str) -> dict[str, str]:
        """The OS_* variables of an OpenStack RC file pointing at this fake."""
        env = {"OS_AUTH_URL": self.auth_url, "OS_USERNAME": "user-scitq", "OS_PASSWORD": "secret",
               "OS_PROJECT_ID": PROJECT_ID, "OS_PROJECT_NAME": "scitq-project", "OS_USER_DOMAIN_NAME": "Default",
               "OS_PROJECT_DOMAIN_NAME": "Default", "OS_IDENTITY_API_VERSION": "3",
               "OS_REGION_NAME": self.regions[0], "OS_INTERFACE": "public"}
        env.update(extra)
        return env

    # ---- inspection
    def live(self, region: str | None = None) -> list[dict]:
        """Servers that exist (any status), in one region or all."""
        with self._lock:
            regions = [region] if region else list(self.servers)
            return [dict(s) for r in regions for s in self.servers.get(r, {}).values()]

    def calls(self, method: str, pattern: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    def add_server(self, region: str, name: str, status: str = "ACTIVE", flavor: str = "b2-7") -> dict:
        """A server made outside the provider (another tool's, or one left by a crash)."""
        with self._lock:
            return self._new_server(region, {"name": name, "flavorRef": f"f-{flavor}", "metadata": {}}, status)

    # ---- state changes (under the lock)
    def _new_server(self, region: str, body: dict, status: str = "BUILD") -> dict:
        sid = str(uuid.uuid4())
        flavor = next((f for f in OVH_FLAVORS if f[0] == body.get("flavorRef")), OVH_FLAVORS[0])
        server = {
            "id": sid, "name": body["name"], "status": status, "tenant_id": PROJECT_ID,
            "user_id": "9c119f4beaaa438792ce89387362b3ad", "metadata": body.get("metadata") or {},
            "key_name": body.get("key_name"), "image": {"id": body.get("imageRef", "")},
            "flavor": {"original_name": flavor[1], "vcpus": flavor[2], "ram": flavor[3], "disk": flavor[4],
                       "ephemeral": 0, "swap": 0, "extra_specs": {}},
            "addresses": {}, "accessIPv4": "", "accessIPv6": "", "links": [],
            "created": "2026-01-01T00:00:00Z", "updated": "2026-01-01T00:00:00Z",
            "OS-EXT-STS:vm_state": "building", "OS-EXT-STS:task_state": None, "OS-EXT-STS:power_state": 0,
            "OS-EXT-AZ:availability_zone": "nova", "OS-DCF:diskConfig": "MANUAL", "progress": 0,
            "security_groups": [{"name": "default"}], "os-extended-volumes:volumes_attached": [],
            "config_drive": "", "user_data": body.get("user_data"),
            "_polls": 0, "_region": region,
        }
        if status == "ACTIVE":
            self._activate(server)
        self.servers[region][sid] = server
        return server

    def _activate(self, server: dict) -> None:
        n = sum(len(s) for s in self.servers.values()) + 10
        server.update(status="ACTIVE", addresses={"Ext-Net": [
            {"addr": f"2001:db8::{n}", "version": 6, "OS-EXT-IPS:type": "fixed"},
            {"addr": f"203.0.113.{n % 250}", "version": 4, "OS-EXT-IPS:type": "fixed"}]})
        server["OS-EXT-STS:vm_state"] = "active"
        server["OS-EXT-STS:power_state"] = 1

    def _advance(self, server: dict) -> None:
        if server.get("_deleting") is not None:
            server["_deleting"] -= 1
            if server["_deleting"] < 0:
                del self.servers[server["_region"]][server["id"]]
            return
        if server["status"] != "BUILD":
            return
        server["_polls"] += 1
        if self.faults.no_valid_host or self.faults.build_error:
            message = self.faults.build_error or "No valid host was found. There are not enough hosts available."
            server.update(status="ERROR", fault={"code": 500, "created": "2026-01-01T00:00:01Z", "message": message})
            server["OS-EXT-STS:vm_state"] = "error"
        elif not self.faults.build_forever and server["_polls"] > self.build_polls:
            self._activate(server)


def _public(server: dict) -> dict:
    return {k: v for k, v in server.items() if not k.startswith("_")}


class _Handler(BaseHTTPRequestHandler):
    cloud: FakeOpenStack
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:   # quiet
        pass

    # ---- plumbing
    def _send(self, code: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(code)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, code: int, kind: str, message: str) -> None:
        self._send(code, {kind: {"code": code, "message": message}})

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        query = parse_qs(parts.query)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        cloud = self.cloud
        with cloud._lock:
            cloud.requests.append(Request(method, path, query, body))
        m = re.match(r"^/(identity|compute|image|network)(?:/([A-Z0-9]+))?(/.*)?$", path)
        if not m:
            return self._error(404, "itemNotFound", f"no route {path}")
        service, region, rest = m.group(1), m.group(2), m.group(3) or "/"
        if service == "identity":
            return self._identity(method, rest, body)
        if region not in cloud.servers:
            return self._error(404, "itemNotFound", f"no region {region}")
        return getattr(self, f"_{service}")(method, region, rest, query, body)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PUT(self) -> None:
        self._handle("PUT")

    # ---- Keystone
    def _identity(self, method: str, rest: str, body: Any) -> None:
        base = f"{self.cloud.url}/identity"
        v3 = {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
              "links": [{"rel": "self", "href": f"{base}/v3/"}],
              "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]}
        if method == "GET" and rest == "/":
            return self._send(300, {"versions": {"values": [v3]}})
        if method == "GET" and rest == "/v3":
            return self._send(200, {"version": v3})
        if method == "POST" and rest == "/v3/auth/tokens":
            if self.cloud.faults.auth:
                return self._send(401, {"error": {"code": 401, "title": "Unauthorized",
                                                  "message": "The request you have made requires authentication."}})
            token = ks_fixture.V3Token(user_name="user-scitq", project_id=PROJECT_ID, project_name="scitq-project",
                                       project_domain_name="Default", user_domain_name="Default")
            for kind, name in (("compute", "nova"), ("image", "glance"), ("network", "neutron")):
                service = token.add_service(kind, name=name)
                for region in self.cloud.regions:
                    suffix = "/v2.1" if kind == "compute" else ""
                    service.add_standard_endpoints(public=f"{self.cloud.url}/{kind}/{region}{suffix}",
                                                   region=region)
            return self._send(201, token, {"X-Subject-Token": uuid.uuid4().hex})
        return self._error(404, "error", f"no identity route {rest}")

    # ---- Nova
    def _compute(self, method: str, region: str, rest: str, query: dict, body: Any) -> None:
        cloud = self.cloud
        base = f"{cloud.url}/compute/{region}"
        v21 = {"id": "v2.1", "status": "CURRENT", "version": "2.96", "min_version": "2.1",
               "updated": "2013-07-23T11:33:21Z", "links": [{"rel": "self", "href": f"{base}/v2.1/"}]}
        if method == "GET" and rest == "/":
            return self._send(300, {"versions": [v21]})
        if not rest.startswith("/v2.1"):
            return self._error(404, "itemNotFound", f"no compute route {rest}")
        rest = rest[len("/v2.1"):] or "/"
        if method == "GET" and rest == "/":
            return self._send(200, {"version": v21})
        if method == "GET" and rest in ("/flavors/detail", "/flavors"):
            return self._send(200, {"flavors": [self._flavor(f) for f in OVH_FLAVORS]})
        if method == "GET" and (m := re.match(r"^/flavors/([^/]+)$", rest)):
            for f in OVH_FLAVORS:
                if m.group(1) == f[0]:
                    return self._send(200, {"flavor": self._flavor(f)})
            return self._error(404, "itemNotFound", f"Flavor {m.group(1)} could not be found.")
        if method == "GET" and rest == "/limits":
            with cloud._lock:
                used = sum(s["flavor"]["vcpus"] for s in cloud.servers[region].values())
            limit = cloud.max_cores.get(region, -1)
            return self._send(200, {"limits": {"rate": [], "absolute": {
                "maxTotalCores": limit, "totalCoresUsed": used, "maxTotalInstances": 50,
                "totalInstancesUsed": len(cloud.servers[region]), "maxTotalRAMSize": 512000,
                "totalRAMUsed": 0, "maxServerMeta": 128, "maxImageMeta": 128,
                "maxPersonality": 5, "maxPersonalitySize": 10240, "maxTotalKeypairs": 100,
                "maxServerGroups": 10, "maxServerGroupMembers": 10, "totalServerGroupsUsed": 0}}})
        if method == "POST" and rest == "/servers":
            return self._create(region, (body or {}).get("server") or {})
        if method == "GET" and rest in ("/servers/detail", "/servers"):
            pattern = (query.get("name") or [""])[0]
            with cloud._lock:
                for s in list(cloud.servers[region].values()):
                    cloud._advance(s)
                found = [_public(s) for s in cloud.servers[region].values() if re.search(pattern, s["name"])]
            return self._send(200, {"servers": found})
        if (m := re.match(r"^/servers/([^/]+)$", rest)):
            sid = m.group(1)
            with cloud._lock:
                server = cloud.servers[region].get(sid)
                if server is None:
                    return self._error(404, "itemNotFound", f"Instance {sid} could not be found.")
                if method == "GET" and cloud.faults.flaky_gets > 0:
                    cloud.faults.flaky_gets -= 1
                    return self._error(503, "computeFault", "Service Unavailable")
                if method == "DELETE":
                    if server.get("_deleting") is None:
                        cloud.deleted.append(server["name"])
                        server["_deleting"] = cloud.delete_polls
                        server["OS-EXT-STS:task_state"] = "deleting"
                        if cloud.delete_polls <= 0:
                            del cloud.servers[region][sid]
                    return self._send(204)
                cloud._advance(server)
                if sid not in cloud.servers[region]:
                    return self._error(404, "itemNotFound", f"Instance {sid} could not be found.")
                return self._send(200, {"server": _public(server)})
        return self._error(404, "itemNotFound", f"no compute route {method} {rest}")

    def _flavor(self, f: tuple[str, str, int, int, int]) -> dict:
        fid, name, vcpus, ram, disk = f
        return {"id": fid, "name": name, "vcpus": vcpus, "ram": ram, "disk": disk, "swap": "",
                "OS-FLV-EXT-DATA:ephemeral": 0, "OS-FLV-DISABLED:disabled": False,
                "os-flavor-access:is_public": True, "rxtx_factor": 1.0, "description": None, "extra_specs": {},
                "links": [{"rel": "self", "href": f"{self.cloud.url}/compute/flavors/{fid}"}]}

    def _create(self, region: str, body: dict) -> None:
        cloud = self.cloud
        if cloud.faults.quota:
            return self._error(403, "forbidden", "Quota exceeded for cores: Requested 8, but already used 16 of "
                                                 "20 cores")
        flavor = next((f for f in OVH_FLAVORS if body.get("flavorRef") == f[0]), None)
        if flavor is None:
            return self._error(400, "badRequest", f"Flavor {body.get('flavorRef')} could not be found.")
        with cloud._lock:
            used = sum(s["flavor"]["vcpus"] for s in cloud.servers[region].values())
        limit = cloud.max_cores.get(region, -1)
        if limit >= 0 and used + flavor[2] > limit:
            return self._error(403, "forbidden", f"Quota exceeded for cores: Requested {flavor[2]}, but already "
                                                 f"used {used} of {limit} cores")
        if body.get("key_name") and body["key_name"] not in cloud.keypairs:
            return self._error(400, "badRequest", "Invalid key_name provided.")
        with cloud._lock:
            server = cloud._new_server(region, body)
        if cloud.faults.lost_create:
            return self._error(500, "computeFault", "Unexpected API Error.")
        return self._send(202, {"server": {
            "id": server["id"], "links": [], "OS-DCF:diskConfig": "MANUAL", "adminPass": "x",
            "security_groups": [{"name": "default"}]}})

    # ---- Glance
    def _image(self, method: str, region: str, rest: str, query: dict, body: Any) -> None:
        base = f"{self.cloud.url}/image/{region}"
        if method == "GET" and rest == "/":
            return self._send(300, {"versions": [{"id": "v2.16", "status": "CURRENT",
                                                  "links": [{"rel": "self", "href": f"{base}/v2/"}]}]})
        if method == "GET" and rest == "/v2/images":
            name = (query.get("name") or [None])[0]
            listed = [(f"old-{i}", n, "deactivated") for i, n in enumerate(self.cloud.old_images)]
            listed += [(f"img-{i}", n, "active") for i, n in enumerate(self.cloud.images)]
            images = [{"id": iid, "name": n, "status": status, "visibility": "public",
                       "disk_format": "raw", "container_format": "bare", "tags": [],
                       "self": f"/v2/images/{iid}", "file": f"/v2/images/{iid}/file",
                       "schema": "/v2/schemas/image"}
                      for iid, n, status in listed if name is None or n == name]
            return self._send(200, {"images": images, "first": "/v2/images", "schema": "/v2/schemas/images"})
        return self._error(404, "itemNotFound", f"no image route {rest}")

    # ---- Neutron
    def _network(self, method: str, region: str, rest: str, query: dict, body: Any) -> None:
        base = f"{self.cloud.url}/network/{region}"
        if method == "GET" and rest == "/":
            return self._send(200, {"versions": [{"id": "v2.0", "status": "CURRENT",
                                                  "links": [{"rel": "self", "href": f"{base}/v2.0/"}]}]})
        if method == "GET" and rest == "/v2.0/networks":
            name = (query.get("name") or [None])[0]
            nets = [{"id": f"net-{i}", "name": n, "status": "ACTIVE", "admin_state_up": True, "shared": True,
                     "router:external": True, "subnets": [], "tenant_id": PROJECT_ID, "project_id": PROJECT_ID}
                    for i, n in enumerate(self.cloud.networks) if name is None or n == name]
            return self._send(200, {"networks": nets})
        return self._error(404, "itemNotFound", f"no network route {rest}")
