"""Provides a stateful fake of Azure Resource Manager (resource groups, network, compute) served over HTTP on loopback.

No Azure endpoint is reachable from the test machines and no emulator of ARM compute exists, so the provider's
tests drive the real azure-mgmt-compute/network/resource SDKs against this double. It keeps resources by id
(routes match case-insensitively, as ARM's do), answers PUT and DELETE in either long-running-operation style
(`lro="sync"`: 200/201 with provisioningState Succeeded at once; `lro="async"`: 201/202 with an
`Azure-AsyncOperation` header polled through InProgress to Succeeded or Failed), lists virtual machines (with
`statusOnly`), resource SKUs, usages and Resource Graph's SpotResources, and serves injected faults. Every request
is recorded with its JSON body so tests assert on what the SDK really sent.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["FakeARM", "FakePrices", "Fault", "Recorded", "SUBSCRIPTION", "price", "sku", "usage"]

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any


@dataclass
class Fault:
    method: str
    kind: str               # resource type, lower case: virtualmachines, networkinterfaces, skus, usages, ...
    status: int
    code: str
    message: str
    times: int
    lro: bool               # accept the request, then end its operation Failed with `code`
    stuck: bool = False     # accept the request; its operation stays InProgress until the resource is deleted


@dataclass
class Operation:
    resource_id: str
    method: str
    polls_left: int
    fail: tuple[str, str] | None = None
    status: str = "InProgress"
    stuck: bool = False


def sku(name: str, cpu: int, ram_gb: float, *, resource_disk_mb: int = 0, gpus: int = 0, arch: str = "x64",
        generations: str = "V1,V2", restricted: bool = False, location: str = "westeurope") -> dict:
    """A resource SKU as `GET .../providers/Microsoft.Compute/skus` lists it."""
    caps = [{"name": "vCPUs", "value": str(cpu)}, {"name": "MemoryGB", "value": str(ram_gb)},
            {"name": "MaxResourceVolumeMB", "value": str(resource_disk_mb)}, {"name": "CpuArchitectureType", "value": arch},
            {"name": "PremiumIO", "value": "True"}, {"name": "HyperVGenerations", "value": generations}]
    if gpus:
        caps.append({"name": "GPUs", "value": str(gpus)})
    restrictions = [{"type": "Location", "values": [location], "reasonCode": "NotAvailableForSubscription",
                     "restrictionInfo": {"locations": [location]}}] if restricted else []
    family = name.split("_")[1] if "_" in name else name
    return {"resourceType": "virtualMachines", "name": name, "tier": "Standard", "size": family, "family": family,
            "locations": [location], "capabilities": caps, "restrictions": restrictions}


class FakeARM:
    """The ARM double; `url` is its base URL (give it to the clients as `base_url`)."""

    def __init__(self, *, lro: str = "sync", polls: int = 2):
        self.lro = lro
        self.polls = polls
        self.resources: dict[str, dict] = {}
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.operations: dict[str, Operation] = {}
        self.skus: list[dict] = []
        self.usages: dict[str, list[dict]] = {}
        self.spot_eviction: list[dict] = []
        self.spot_quota: dict[str, int] = {}     # region -> lowPriorityCores limit, enforced on VM creation
        self._ids = itertools.count(1)
        self._ips = itertools.count(10)
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> "FakeARM":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, headers, body = fake.handle(self.command, self.path, raw)
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_DELETE = do_POST = do_PATCH = do_HEAD = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- what tests set and read -----------------------------------------------------------------------------

    def fault(self, method: str, kind: str, *, status: int = 400, code: str = "BadRequest", message: str = "",
              times: int = 1, lro: bool = False, stuck: bool = False) -> None:
        """The next `times` `method` requests on resources of `kind` fail with `status` and `code` (or, with `lro`,
        are accepted and their long-running operation ends Failed with `code`; with `stuck`, are accepted and
        their operation never ends while the resource exists)."""
        with self._lock:
            self.faults.append(Fault(method.upper(), kind.lower(), status, code, message or f"{code} (fake)", times,
                                     lro, stuck))

    def received(self, method: str, kind: str) -> list[Recorded]:
        """Requests received for resources of `kind` (lower case) with `method`."""
        return [r for r in self.requests if r.method == method.upper() and _kind(_segments(r.path)) == kind.lower()]

    def names(self, kind: str) -> list[str]:
        """Names of the stored resources of `kind` (lower case)."""
        with self._lock:
            return sorted(r["name"] for rid, r in self.resources.items() if _kind(rid.strip("/").split("/")) == kind)

    def evict(self, vm: str) -> None:
        """Azure took the Spot VM `vm` back: it stays, deallocated."""
        with self._lock:
            for r in self.resources.values():
                if r["type"] == "Microsoft.Compute/virtualMachines" and r["name"].lower() == vm.lower():
                    r["_power"] = "PowerState/deallocated"

    # -- request handling ------------------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, raw: bytes) -> tuple[int, dict[str, str], Any]:
        parts = urlsplit(raw_path)
        path, query = parts.path, parse_qs(parts.query)
        body = json.loads(raw) if raw else None
        with self._lock:
            self.requests.append(Recorded(method, path, query, body))
            segs = _segments(path)
            if segs and segs[0] == "operations":
                return self._operation(segs[1])
            kind = _kind(segs)
            for f in self.faults:
                if f.times > 0 and f.method == method and f.kind == kind:
                    f.times -= 1
                    if f.lro or f.stuck:
                        return self._start(method, path, body, fail=(f.code, f.message), stuck=f.stuck)
                    return f.status, {}, {"error": {"code": f.code, "message": f.message}}
            if segs[:1] == ["providers"] and "microsoft.resourcegraph" in segs and method == "POST":
                return 200, {}, self._graph(body or {})
            if len(segs) < 2 or segs[0] != "subscriptions":
                return 404, {}, {"error": {"code": "NotFound", "message": path}}
            if len(segs) >= 4 and segs[2] == "providers" and segs[3] == "microsoft.compute":
                return self._subscription_compute(segs[4:], query)
            if len(segs) == 5 and segs[2] == "providers" and method == "GET":     # list_all of another type
                rtype = f"{segs[3]}/{segs[4]}"
                return 200, {}, {"value": [self._public(r) for r in self.resources.values()
                                           if r["type"].lower() == rtype]}
            if len(segs) == 9 and segs[8] == "instanceview" and method == "GET":
                vm = self.resources.get("/" + "/".join(segs[:8]))
                if vm is None:
                    return 404, {}, {"error": {"code": "ResourceNotFound", "message": path}}
                return 200, {}, self._instance_view(vm)
            if method == "PUT":
                refused = self._refuse_vm(segs, body) if kind == "virtualmachines" and len(segs) == 8 else None
                return refused or self._start(method, path, body)
            if method == "GET":
                return self._get(path)
            if method == "HEAD":
                return (204 if _key(path) in self.resources else 404), {}, None
            if method == "DELETE":
                return self._start(method, path, body)
            return 405, {}, {"error": {"code": "MethodNotAllowed", "message": method}}

    def _sku(self, name: str, region: str) -> dict | None:
        return next((s for s in self.skus if s["name"].lower() == name.lower()
                     and region.lower() in [x.lower() for x in s["locations"]]), None)

    @staticmethod
    def _cores(s: dict | None) -> int:
        caps = {c["name"]: c["value"] for c in (s or {}).get("capabilities", [])}
        return int(caps.get("vCPUs", 0))

    def _spot_cores_used(self, region: str) -> int:
        return sum(self._cores(self._sku(r["properties"]["hardwareProfile"]["vmSize"], region))
                   for r in self.resources.values()
                   if r["type"] == "Microsoft.Compute/virtualMachines" and r.get("location", "").lower() == region.lower()
                   and r["properties"].get("priority") == "Spot")

    def _refuse_vm(self, segs: list[str], body: Any):
        """What ARM answers to a new VM it cannot make: an unknown size (400 InvalidParameter on vmSize), a size
        restricted here (409 SkuNotAvailable), Spot cores past the quota (409 OperationNotAllowed)."""
        if "/" + "/".join(segs) in self.resources or not self.skus or not isinstance(body, dict):
            return None
        size = body.get("properties", {}).get("hardwareProfile", {}).get("vmSize", "")
        region = body.get("location", "")
        s = self._sku(size, region)
        if s is None:
            return 400, {}, {"error": {"code": "InvalidParameter", "target": "hardwareProfile.vmSize",
                                       "message": f"The value {size} provided for the VM size is not valid."}}
        if s.get("restrictions"):
            return 409, {}, {"error": {"code": "SkuNotAvailable", "message": f"{size} is not available in {region}."}}
        limit = self.spot_quota.get(region.lower())
        if body["properties"].get("priority") == "Spot" and limit is not None:
            if self._spot_cores_used(region) + self._cores(s) > limit:
                return 409, {}, {"error": {"code": "OperationNotAllowed", "message":
                                           "Operation could not be completed as it results in exceeding approved "
                                           f"LowPriorityCores quota. Limit: {limit}."}}
        return None

    def _group_missing(self, path: str) -> bool:
        segs = _segments(path)
        return len(segs) > 4 and "/" + "/".join(segs[:4]) not in self.resources

    def _start(self, method: str, path: str, body: Any, fail: tuple[str, str] | None = None, stuck: bool = False):
        key, segs = _key(path), _segments(path)
        if self._group_missing(path):
            return 404, {}, {"error": {"code": "ResourceGroupNotFound", "message": segs[3]}}
        if method == "DELETE":
            if key not in self.resources and len(segs) == 4:
                return 404, {}, {"error": {"code": "ResourceGroupNotFound", "message": segs[3]}}
            if key not in self.resources:
                return 204, {}, None
            if self.lro == "async" or fail:
                op = self._new_op(key, "DELETE", fail)
                return 202, self._op_headers(op), None
            self._delete(key)
            return 200, {}, None
        existed = key in self.resources
        res = self._store(path, body or {})
        if self.lro == "async" or fail:
            res["properties"]["provisioningState"] = "Creating" if not existed else "Updating"
            op = self._new_op(key, "PUT", None if stuck else fail, stuck)
            return 201, self._op_headers(op), self._public(res)
        return (200 if existed else 201), {}, self._public(res)

    def _new_op(self, key: str, method: str, fail, stuck: bool = False) -> str:
        op = f"op{next(self._ids)}"
        self.operations[op] = Operation(key, method, self.polls, fail, stuck=stuck)
        return op

    def _op_headers(self, op: str) -> dict[str, str]:
        url = f"{self.url}/operations/{op}?api-version=2024-01-01"
        return {"Azure-AsyncOperation": url, "Location": url, "Retry-After": "0"}

    def _operation(self, op_id: str):
        op = self.operations.get(op_id)
        if op is None:
            return 404, {}, {"error": {"code": "NotFound", "message": op_id}}
        if op.stuck and op.status == "InProgress":
            if op.resource_id in self.resources:
                return 200, {}, {"status": "InProgress"}
            op.status, op.fail = "Failed", ("Canceled", "the resource was deleted")
        if op.status == "InProgress":
            if op.polls_left > 0:
                op.polls_left -= 1
                return 200, {}, {"status": "InProgress"}
            res = self.resources.get(op.resource_id)
            if op.fail:
                op.status = "Failed"
                if res is not None and op.method == "PUT":
                    res["properties"]["provisioningState"] = "Failed"
            else:
                op.status = "Succeeded"
                if op.method == "DELETE":
                    self._delete(op.resource_id)
                elif res is not None:
                    res["properties"]["provisioningState"] = "Succeeded"
        if op.status == "Failed":
            assert op.fail
            return 200, {}, {"status": "Failed", "error": {"code": op.fail[0], "message": op.fail[1]}}
        return 200, {}, {"status": "Succeeded"}

    def _store(self, path: str, body: dict) -> dict:
        segs = [s for s in path.strip("/").split("/")]
        key = _key(path)
        res = json.loads(json.dumps(body))
        res.setdefault("properties", {})
        res["id"] = path
        res["name"] = segs[-1]
        if len(segs) == 4:
            res["type"] = "Microsoft.Resources/resourceGroups"
        else:
            res["type"] = f"{segs[5]}/{segs[6]}"
        kind = _kind(_segments(path))
        props = res["properties"]
        props["provisioningState"] = "Succeeded"
        if kind == "publicipaddresses":
            props.setdefault("ipAddress", f"203.0.113.{next(self._ips)}")     # TEST-NET-3: documentation only
        elif kind == "virtualnetworks":
            for sub in props.get("subnets", []):
                sub["id"] = f"{path}/subnets/{sub['name']}"
        elif kind == "virtualmachines":
            props.setdefault("vmId", f"vm-{next(self._ids):04d}")
            res["_power"] = "PowerState/running"
        self.resources[key] = res
        return res

    def _delete(self, key: str) -> None:
        self.resources.pop(key, None)
        if len(key.strip("/").split("/")) == 4:       # a resource group takes its resources with it
            for k in [k for k in self.resources if k.startswith(key + "/")]:
                del self.resources[k]

    def _get(self, path: str):
        res = self.resources.get(_key(path))
        if res is None:
            code = "ResourceGroupNotFound" if len(_segments(path)) == 4 or self._group_missing(path) else "ResourceNotFound"
            return 404, {}, {"error": {"code": code, "message": path}}
        return 200, {}, self._public(res)

    @staticmethod
    def _public(res: dict) -> dict:
        return {k: v for k, v in res.items() if not k.startswith("_")}

    def _instance_view(self, vm: dict) -> dict:
        state = vm["properties"]["provisioningState"].lower()
        statuses = [{"code": f"ProvisioningState/{state}"}]
        if state == "succeeded":
            statuses.append({"code": vm["_power"]})
        return {"statuses": statuses}

    def _subscription_compute(self, rest: list[str], query: dict[str, list[str]]):
        if rest == ["virtualmachines"]:
            vms = []
            for res in self.resources.values():
                if res["type"] == "Microsoft.Compute/virtualMachines":
                    out = self._public(res)
                    if query.get("statusOnly", query.get("statusonly", [""]))[0].lower() == "true":
                        out = {**out, "properties": {**out["properties"], "instanceView": self._instance_view(res)}}
                    vms.append(out)
            return 200, {}, {"value": vms}
        if rest == ["skus"]:
            flt = query.get("$filter", [""])[0]
            loc = flt.split("'")[1].lower() if "'" in flt else ""
            return 200, {}, {"value": [s for s in self.skus if not loc or loc in [x.lower() for x in s["locations"]]]}
        if len(rest) == 3 and rest[0] == "locations" and rest[2] == "usages":
            rows = list(self.usages.get(rest[1], []))
            if rest[1] in self.spot_quota:
                rows.append(usage("lowPriorityCores", self.spot_quota[rest[1]], self._spot_cores_used(rest[1])))
            return 200, {}, {"value": rows}
        return 404, {}, {"error": {"code": "NotFound", "message": "/".join(rest)}}

    def _graph(self, body: dict) -> dict:
        query = body.get("query", "").lower()
        rows = [r for r in self.spot_eviction if f"'{r['location'].lower()}'" in query]
        data = [{"skuName": r["skuName"], "evictionRate": r["evictionRate"]} for r in rows]
        return {"totalRecords": len(data), "count": len(data), "data": data, "resultTruncated": "false"}


def usage(name: str, limit: int, current: int) -> dict:
    """A usage row as `GET .../locations/{region}/usages` lists it."""
    return {"name": {"value": name, "localizedValue": name}, "limit": limit, "currentValue": current, "unit": "Count"}


def _segments(path: str) -> list[str]:
    return [s for s in urlsplit(path).path.lower().strip("/").split("/") if s]


def _key(path: str) -> str:
    return "/" + "/".join(_segments(path))


def _kind(segs: list[str]) -> str:
    """The resource type a path names: `virtualmachines` for a VM (or the VM list), `resourcegroups`, ..."""
    if not segs:
        return ""
    if segs[0] == "providers" and "microsoft.resourcegraph" in segs:
        return "resourcegraph"
    if len(segs) == 4 and segs[2] == "resourcegroups":
        return "resourcegroups"
    if len(segs) >= 5 and segs[2] == "providers":          # subscription level: list, skus, usages
        return "usages" if segs[-1] == "usages" else segs[4]
    if len(segs) >= 8 and segs[4] == "providers":
        return segs[6]
    return ""



class FakePrices:
    """A double of the public Retail Prices API: serves `items` in pages of `page` linked by NextPageLink,
    records each query string."""

    def __init__(self, items: list[dict], *, page: int = 2):
        self.items, self.page = items, page
        self.queries: list[dict[str, list[str]]] = []
        self.fail = 0           # the next `fail` requests answer 503
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> "FakePrices":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                query = parse_qs(urlsplit(self.path).query)
                fake.queries.append(query)
                if fake.fail > 0:
                    fake.fail -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                skip = int(query.get("$skip", ["0"])[0])
                chunk = fake.items[skip:skip + fake.page]
                more = skip + fake.page < len(fake.items)
                nxt = f"{fake.url}/api/retail/prices?$skip={skip + fake.page}" if more else None
                data = json.dumps({"BillingCurrency": "EUR", "Items": chunk, "NextPageLink": nxt,
                                   "Count": len(chunk)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server
        return f"http://127.0.0.1:{self._server.server_address[1]}"


def price(sku: str, amount: float, *, spot: bool = False, windows: bool = False, low_priority: bool = False,
          region: str = "westeurope") -> dict:
    """One Retail Prices API item (a meter) as the API lists it."""
    short = sku.removeprefix("Standard_").replace("_", " ")
    suffix = " Spot" if spot else (" Low Priority" if low_priority else "")
    family = short.split()[0]
    return {"currencyCode": "EUR", "retailPrice": amount, "unitPrice": amount, "armRegionName": region,
            "location": "EU West", "meterName": short + suffix, "productName":
            f"Virtual Machines {family} Series" + (" Windows" if windows else ""), "skuName": short + suffix,
            "serviceName": "Virtual Machines", "armSkuName": sku, "type": "Consumption", "unitOfMeasure": "1 Hour",
            "isPrimaryMeterRegion": True}
