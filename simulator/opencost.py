"""The organisation's GPU Kubernetes cluster, served as OpenCost's `/allocation` API.

Business purpose: self-hosted inference and training sit in the same cost table as the API
bills, with the cluster's *idle* capacity cost visible. One cluster (`gpu-prod-1`): six A100
nodes (8 GPUs each; `gpu-a100-5` is autoscaled in on weekdays only) and three CPU nodes.
Namespaces belong to teams (labels `team`, `app`, `workload`): `search-llm-serving`
(self-hosted LLM inference, replicas follow the weekday rhythm and growth),
`research-finetune` (training jobs on weekdays, 16 GPUs), `support-rag-embed` (an embedding
server, 1 GPU), `growth-batch-eval` (a nightly 4-GPU batch on weekdays), `platform-gateway`
(CPU-only) and `kube-system` (no team label: nobody's).

Money is exact: uptime is a whole number of tenths of an hour, list prices are whole
nano-dollars per hour divisible by ten, so every cost is a whole number of nano-dollars and is
served as a JSON number of at most 9 decimals (every cost < $1M, so the float text round-trips
exactly). Idle = node capacity cost − the cost allocated to pods on that node, per node and
resource (GPU, CPU, RAM), exactly; served as `__idle__` entries (per cluster, or per node with
`idleByNode=true`).

Truth (`register_truth("opencost", ...)`): one row per day × resource kind (`token_type`
`gpu_hours`, `cpu_core_hours`, `ram_gib_hours`), `sub_account_id`/`model`/`api_key_id`/
`service_tier` null (which namespace idle lands in is the pipeline's stated rule, not a
fact of the world; `Cluster.namespace_truth` has the served cost per namespace); the sum of
every served cost component, idle included (idle is billed capacity).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from simulator.world import DAY_SECONDS, World, register_truth

PROVIDER = "opencost"
ALLOCATION_PATHS = ("/allocation", "/model/allocation", "/allocation/compute")
CLUSTER = "gpu-prod-1"
IDLE = "__idle__"
UNALLOCATED = "__unallocated__"
GIB = 1024**3

# list prices, nano-dollars per unit-hour (divisible by 10: tenths of an hour stay exact)
GPU_HOUR_NANO = 2_930_000_000  # one A100 GPU-hour
CPU_CORE_HOUR_NANO = 31_611_000  # OpenCost's default CPU price
RAM_GIB_HOUR_NANO = 4_237_000  # OpenCost's default RAM price per GiB-hour
RESOURCES = (  # (resource, served cost field, truth token_type, nano per unit-hour)
    ("gpu", "gpuCost", "gpu_hours", GPU_HOUR_NANO),
    ("cpu", "cpuCost", "cpu_core_hours", CPU_CORE_HOUR_NANO),
    ("ram", "ramCost", "ram_gib_hours", RAM_GIB_HOUR_NANO),
)


@dataclass(frozen=True)
class Node:
    """A cluster node and its capacity."""

    name: str
    gpus: int
    cores: int
    ram_gib: int
    instance_type: str


NODES = tuple(
    [Node(f"gpu-a100-{i}", 8, 96, 1152, "p4d.24xlarge") for i in range(6)]
    + [Node(f"cpu-m6i-{i}", 0, 32, 128, "m6i.8xlarge") for i in range(3)]
)
NODE_INDEX = {n.name: i for i, n in enumerate(NODES)}
BURST_NODES = ("gpu-a100-5",)
"""Nodes the cluster autoscaler adds on weekdays only (capacity, so idle, follows the week)."""


@dataclass(frozen=True)
class Workload:
    """A namespace's pods: what each requests and which nodes they run on."""

    namespace: str
    team: str | None
    app: str
    workload: str  # inference | training | batch | service | system
    controller_kind: str
    pods: int
    gpus: int
    cores: int
    ram_gib: int
    nodes: tuple[str, ...]


WORKLOADS = (
    Workload("search-llm-serving", "search", "llm-serving", "inference", "deployment", 8,
             2, 8, 64, ("gpu-a100-0", "gpu-a100-1")),
    Workload("research-finetune", "research", "finetune", "training", "job", 2,
             8, 48, 512, ("gpu-a100-2", "gpu-a100-3")),
    Workload("support-rag-embed", "support", "rag-embedder", "inference", "deployment", 1,
             1, 8, 48, ("gpu-a100-4",)),
    Workload("growth-batch-eval", "growth", "batch-eval", "batch", "job", 1,
             4, 16, 128, ("gpu-a100-4",)),
    Workload("platform-gateway", "platform", "llm-gateway", "service", "deployment", 3,
             0, 4, 8, ("cpu-m6i-0", "cpu-m6i-1", "cpu-m6i-2")),
    Workload("kube-system", None, "coredns", "system", "deployment", 2,
             0, 1, 2, ("cpu-m6i-0", "cpu-m6i-1")),
)  # fmt: skip
NAMESPACES = tuple(w.namespace for w in WORKLOADS)


# ----------------------------------------------------------------------------- the cluster
class Cluster:
    """One world's cluster: a frame of pod-days and idle node-days, integer units.

    Columns: `day`, `node`, `namespace`, `pod`, `workload` (index into WORKLOADS, -1 idle),
    `is_idle`, `has_amount`, `gpu_t`/`cpu_t`/`ram_t` (GPU-, core-, GiB-hours in tenths),
    `minutes`, `gpu_nano`/`cpu_nano`/`ram_nano` (cost, nano-dollars).
    """

    def __init__(self, world: World) -> None:
        self.world = world
        self.lock = threading.RLock()
        rng = np.random.default_rng(np.random.PCG64([world.seed, 0x0C057]))
        rows: list[dict[str, Any]] = []
        days = world.days
        growth = np.exp(0.8 * world._t)
        season = world._season
        train_on = season >= 1.0  # fine-tuning runs hardest on weekdays (a weekly rhythm)
        train_tenths = rng.integers(180, 241, days)  # 18–24 h of a training day
        for d in range(days):
            for wi, w in enumerate(WORKLOADS):
                for p in range(w.pods):
                    tenths = self._uptime(w, p, d, season[d], growth[d], rng, train_on,
                                          train_tenths)  # fmt: skip
                    if tenths <= 0:
                        continue
                    suffix = (
                        f"{world.date_of(d):%m%d}-worker-{p}"
                        if w.controller_kind == "job"
                        else f"{p}"
                    )
                    rows.append(
                        dict(
                            day=d,
                            node=w.nodes[p % len(w.nodes)],
                            namespace=w.namespace,
                            pod=f"{w.app}-{suffix}",
                            workload=wi,
                            is_idle=0,
                            has_amount=1,
                            minutes=tenths * 6,
                            gpu_t=w.gpus * tenths,
                            cpu_t=w.cores * tenths,
                            ram_t=w.ram_gib * tenths,
                        )
                    )
        pods = pd.DataFrame(rows)
        for res, _, _, price in RESOURCES:
            pods[f"{res}_nano"] = pods[f"{res}_t"].astype(np.int64) * (price // 10)
        self.frame = pd.concat([pods, self._idle(pods, season)], ignore_index=True)
        self.frame = self.frame.sort_values(["day", "is_idle", "namespace", "pod", "node"])
        self.frame = self.frame.reset_index(drop=True)

    @staticmethod
    def _uptime(
        w: Workload,
        p: int,
        d: int,
        season: float,
        growth: float,
        rng: np.random.Generator,
        train_on: np.ndarray,
        train_tenths: np.ndarray,
    ) -> int:
        """Tenths of an hour pod `p` of `w` runs on day `d`."""
        jitter = int(rng.integers(0, 30))  # drawn for every pod-day: stable sequences
        if w.workload == "inference" and w.pods > 1:
            replicas = min(w.pods, 2 + 6 * season * growth / 2.2)
            if p < int(replicas):
                return 240
            if p == int(replicas):
                return int(round((replicas - int(replicas)) * 240))
            return 0
        if w.workload == "training":
            # weekends run shorter jobs (evals, checkpoints): a weekly rhythm, never a gap
            return int(train_tenths[d]) if train_on[d] else int(train_tenths[d]) * 6 // 10
        if w.workload == "batch":
            return 10 + jitter if season < 1.0 else 20 + jitter * 2  # 2–8 h weekdays, 1–4 h
        return 240

    @staticmethod
    def _idle(pods: pd.DataFrame, season: np.ndarray) -> pd.DataFrame:
        """Per node-day: capacity − allocated, per resource (GPU nodes and CPU nodes)."""
        used = pods.groupby(["day", "node"])[
            ["gpu_t", "cpu_t", "ram_t", "gpu_nano", "cpu_nano", "ram_nano"]
        ].sum()
        rows = []
        for d in sorted(pods["day"].unique()):
            for n in NODES:
                if n.name in BURST_NODES and season[d] < 1.0 and (d, n.name) not in used.index:
                    continue
                u = used.loc[(d, n.name)] if (d, n.name) in used.index else None
                row = dict(
                    day=int(d),
                    node=n.name,
                    namespace=IDLE,
                    pod=IDLE,
                    workload=-1,
                    is_idle=1,
                    has_amount=1,
                    minutes=1440,
                )
                for res, _, _, price in RESOURCES:
                    cap_t = {"gpu": n.gpus, "cpu": n.cores, "ram": n.ram_gib}[res] * 240
                    u_t = 0 if u is None else int(u[f"{res}_t"])
                    u_nano = 0 if u is None else int(u[f"{res}_nano"])
                    if u_t > cap_t:
                        raise AssertionError(f"{n.name} over capacity on day {d}")
                    row[f"{res}_t"] = cap_t - u_t
                    row[f"{res}_nano"] = cap_t * (price // 10) - u_nano
                rows.append(row)
        return pd.DataFrame(rows)

    # ---------------------------------------------------------------- mutations
    def restate(self, date: dt.date, factor: float) -> None:
        """OpenCost re-prices a past day (e.g. after a pricing fix): every cost × factor."""
        day = (date - self.world.start).days
        if not 0 <= day < self.world.days:
            raise ValueError(f"{date} is outside the world")
        with self.lock:
            mask = (self.frame["day"] == day).to_numpy()
            for res, *_ in RESOURCES:
                col = f"{res}_nano"
                vals = self.frame.loc[mask, col].to_numpy()
                self.frame.loc[mask, col] = np.rint(vals * factor).astype(np.int64)
            self.world.version += 1

    def inject(self, kind: str, date: dt.date) -> None:
        """`missing_field`: one allocation of that day served with null costs (malformed)."""
        if kind != "missing_field":
            raise ValueError(f"unknown opencost injection kind {kind!r}")
        day = (date - self.world.start).days
        if not 0 <= day < self.world.days:
            raise ValueError(f"{date} is outside the world")
        wi = NAMESPACES.index("research-finetune")
        row = dict(
            day=day, node="gpu-a100-5", namespace=NAMESPACES[wi], pod="finetune-orphan-0",
            workload=wi, is_idle=0, has_amount=0, minutes=60, gpu_t=80, cpu_t=480, ram_t=5120,
            gpu_nano=0, cpu_nano=0, ram_nano=0,
        )  # fmt: skip
        with self.lock:
            self.frame = pd.concat([self.frame, pd.DataFrame([row])], ignore_index=True)
            self.world.version += 1

    # ---------------------------------------------------------------- truth
    def truth(self, first: int, last: int) -> pd.DataFrame:
        """Truth rows (docs/contracts.md grain): cluster × resource kind × day, nano-dollars."""
        with self.lock:
            f = self.frame[(self.frame["day"] >= first) & (self.frame["day"] <= last)]
            f = f[f["has_amount"] == 1]
            g = f.groupby("day")[[f"{r}_nano" for r, *_ in RESOURCES]].sum()
        rows = []
        for d, rec in g.iterrows():
            for res, _, token_type, _ in RESOURCES:
                rows.append(
                    dict(
                        provider=PROVIDER,
                        date=self.world.date_of(int(d)),
                        sub_account_id=None,
                        api_key_id=None,
                        model=None,
                        token_type=token_type,
                        service_tier=None,
                        billed_cost_nano=int(rec[f"{res}_nano"]),
                    )
                )
        return pd.DataFrame(
            rows,
            columns=[
                "provider", "date", "sub_account_id", "api_key_id", "model", "token_type",
                "service_tier", "billed_cost_nano",
            ],
        )  # fmt: skip

    def namespace_truth(self, first: int, last: int) -> pd.DataFrame:
        """Served cost per day × namespace (`__idle__` for idle) × resource, nano-dollars."""
        with self.lock:
            f = self.frame[(self.frame["day"] >= first) & (self.frame["day"] <= last)]
            f = f[f["has_amount"] == 1]
            return (
                f.groupby(["day", "namespace"])[[f"{r}_nano" for r, *_ in RESOURCES]]
                .sum()
                .reset_index()
            )


def allocation_rule_rows() -> list[dict]:
    """The demo's allocation rules for the cluster, in `simulator.ownership`'s seed shape:
    each team namespace belongs to its team (application = its `app` label); `kube-system`
    has no rule, so its cost (and its share of idle) stays *unallocated*. To be wired into
    `ownership.allocation_rule_rows` (and seeds/allocation_rules.csv regenerated) once
    allocation matches `kubernetes_namespace` (it is)."""
    from simulator.ownership import _rule

    return [
        _rule(
            f"opencost-namespace-{w.namespace}",
            w.team,
            w.app,
            f"namespace {w.namespace} of cluster {CLUSTER} belongs to {w.team}",
            provider=PROVIDER,
            kubernetes_namespace=w.namespace,
        )
        for w in WORKLOADS
        if w.team
    ]


_CLUSTERS: weakref.WeakKeyDictionary[World, Cluster] = weakref.WeakKeyDictionary()
_CLUSTERS_LOCK = threading.Lock()


def cluster_of(world: World) -> Cluster:
    """The (lazily built, then kept) cluster of `world`."""
    with _CLUSTERS_LOCK:
        cluster = _CLUSTERS.get(world)
        if cluster is None:
            cluster = _CLUSTERS[world] = Cluster(world)
        return cluster


def truth(world: World, first: int, last: int) -> pd.DataFrame:
    """`register_truth` hook: the cluster's billed cost per resource kind and day."""
    return cluster_of(world).truth(first, last)


register_truth(PROVIDER, truth)


# ----------------------------------------------------------------------------- the API
class BadRequest(ValueError):
    """A 400 in OpenCost's error shape."""


_DURATION = re.compile(r"^(\d+)([mhd])$")


def parse_window(text: str, now: dt.datetime) -> tuple[int, int]:
    """OpenCost's `window`: `a,b` (RFC 3339 or unix seconds), `Nd`/`Nh`/`Nm` back from now,
    `today`, `yesterday`, `week`, `month`. Returns unix seconds [start, end)."""
    text = text.strip()
    if "," in text:
        a, b = (part.strip() for part in text.split(",", 1))
        try:
            if a.isdigit() and b.isdigit():
                return int(a), int(b)
            ta = dt.datetime.fromisoformat(a.replace("Z", "+00:00"))
            tb = dt.datetime.fromisoformat(b.replace("Z", "+00:00"))
        except ValueError as exc:
            raise BadRequest(f"invalid window {text!r}") from exc
        return int(ta.timestamp()), int(tb.timestamp())
    midnight = int(dt.datetime(now.year, now.month, now.day, tzinfo=dt.UTC).timestamp())
    if text == "today":
        return midnight, midnight + DAY_SECONDS
    if text == "yesterday":
        return midnight - DAY_SECONDS, midnight
    if text == "week":
        return midnight - now.weekday() * DAY_SECONDS, midnight + DAY_SECONDS
    if text == "month":
        first = int(dt.datetime(now.year, now.month, 1, tzinfo=dt.UTC).timestamp())
        return first, midnight + DAY_SECONDS
    m = _DURATION.match(text)
    if m:
        seconds = int(m.group(1)) * {"m": 60, "h": 3600, "d": DAY_SECONDS}[m.group(2)]
        end = int(now.timestamp())
        return end - seconds, end
    raise BadRequest(f"invalid window {text!r}")


def _duration_seconds(text: str) -> int:
    m = _DURATION.match(text.strip())
    if not m:
        raise BadRequest(f"invalid step {text!r}")
    return int(m.group(1)) * {"m": 60, "h": 3600, "d": DAY_SECONDS}[m.group(2)]


def _bool(params: dict[str, list[str]], name: str, default: bool) -> bool:
    vals = params.get(name)
    if not vals:
        return default
    value = vals[-1].strip().lower()
    if value in ("true", "1", "t"):
        return True
    if value in ("false", "0", "f"):
        return False
    raise BadRequest(f"invalid {name} {vals[-1]!r}")


def _money(nano: int) -> float:
    """A nano-dollar amount as the float whose shortest repr is its exact 9-decimal text."""
    if abs(nano) >= 10**15:
        raise AssertionError("amount too large to serve exactly as a float")
    return nano / 1e9


def _rfc3339(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


AGGREGATE_FIELDS = ("cluster", "node", "namespace", "pod", "controller", "controllerKind")


def _properties(rec: dict[str, Any]) -> dict[str, Any]:
    """One pod-day's (or idle node-day's) OpenCost properties."""
    if rec["is_idle"]:
        return {"cluster": CLUSTER, "node": rec["node"]}
    w = WORKLOADS[int(rec["workload"])]
    labels = {"app": w.app, "workload": w.workload}
    if w.team:
        labels["team"] = w.team
    controller = rec["pod"].rsplit("-", 1)[0] if w.controller_kind == "deployment" else rec["pod"]
    node = NODES[NODE_INDEX[rec["node"]]]
    return {
        "cluster": CLUSTER,
        "node": rec["node"],
        "container": w.app,
        "controller": controller,
        "controllerKind": w.controller_kind,
        "namespace": w.namespace,
        "pod": rec["pod"],
        "providerID": f"aws:///us-east-1a/i-{NODE_INDEX[rec['node']]:017x}",
        "labels": labels,
        "namespaceLabels": {"kubernetes_io_metadata_name": w.namespace},
        "node_type": node.instance_type,
    }


def _key(props: dict[str, Any], aggregate: list[str], is_idle: bool, idle_by_node: bool) -> str:
    if is_idle:
        parts = [props["cluster"]] if "cluster" in aggregate else []
        if idle_by_node:
            parts.append(props["node"])
        return "/".join(parts + [IDLE])
    if not aggregate:  # individual allocations
        return "/".join(
            [props["cluster"], props["node"], props["namespace"], props["pod"], props["container"]]
        )
    parts = []
    for field in aggregate:
        if field.startswith("label:"):
            parts.append(props.get("labels", {}).get(field[6:], UNALLOCATED))
        else:
            parts.append(props.get(field) or UNALLOCATED)
    return "/".join(parts)


def _common(dicts: list[dict[str, Any]]) -> dict[str, Any]:
    """Properties every member shares (OpenCost keeps only the common ones)."""
    out = dict(dicts[0])
    for d in dicts[1:]:
        for k in list(out):
            if isinstance(out[k], dict) and isinstance(d.get(k), dict):
                out[k] = {kk: v for kk, v in out[k].items() if d[k].get(kk) == v}
            elif d.get(k) != out[k]:
                del out[k]
    return out


def _allocation(name: str, members: list[dict], props: dict, start: int, end: int) -> dict:
    """One allocation entry: quantities and costs summed over its members (frame records)."""
    malformed = any(m["has_amount"] == 0 for m in members)
    gpu_t, cpu_t, ram_t = (sum(int(m[c]) for m in members) for c in ("gpu_t", "cpu_t", "ram_t"))
    minutes = (end - start) / 60
    costs = {res: sum(int(m[f"{res}_nano"]) for m in members) for res, *_ in RESOURCES}
    total = sum(costs.values())
    entry = {
        "name": name,
        "properties": props,
        "window": {"start": _rfc3339(start), "end": _rfc3339(end)},
        "start": _rfc3339(start),
        "end": _rfc3339(end),
        "minutes": float(max(m["minutes"] for m in members)),
        "cpuCores": round(cpu_t / 10 / (minutes / 60), 6),
        "cpuCoreRequestAverage": round(cpu_t / 10 / (minutes / 60), 6),
        "cpuCoreHours": cpu_t / 10,
        "cpuCost": _money(costs["cpu"]),
        "cpuCostAdjustment": 0,
        "cpuEfficiency": 0.62,
        "gpuCount": round(gpu_t / 10 / (minutes / 60), 6),
        "gpuHours": gpu_t / 10,
        "gpuCost": _money(costs["gpu"]),
        "gpuCostAdjustment": 0,
        "networkTransferBytes": 0,
        "networkReceiveBytes": 0,
        "networkCost": 0,
        "networkCostAdjustment": 0,
        "loadBalancerCost": 0,
        "loadBalancerCostAdjustment": 0,
        "pvBytes": 0,
        "pvByteHours": 0,
        "pvCost": 0,
        "pvCostAdjustment": 0,
        "ramBytes": round(ram_t / 10 * GIB / (minutes / 60), 3),
        "ramByteHours": ram_t / 10 * GIB,
        "ramCost": _money(costs["ram"]),
        "ramCostAdjustment": 0,
        "ramEfficiency": 0.71,
        "sharedCost": 0,
        "externalCost": 0,
        "totalCost": _money(total),
        "totalEfficiency": 0.64,
    }
    if malformed:  # the orphaned pod's metrics came back without prices
        for k in ("cpuCost", "gpuCost", "ramCost", "totalCost"):
            entry[k] = None
    return entry


def allocation_sets(world: World, params: dict[str, list[str]], now: dt.datetime) -> list[dict]:
    """The `data` list of `GET /allocation`: one set (name → allocation) per step."""

    def one(name: str) -> str | None:
        vals = params.get(name)
        return vals[-1] if vals else None

    window = one("window")
    if not window:
        raise BadRequest("missing window argument")
    start, end = parse_window(window, now)
    if end <= start:
        raise BadRequest(f"window {window!r} ends before it starts")
    if start % DAY_SECONDS or end % DAY_SECONDS:
        raise BadRequest("the simulator serves day-aligned UTC windows only")
    accumulate = _bool(params, "accumulate", False)
    step = end - start
    if one("step"):
        step = _duration_seconds(one("step"))
        if step % DAY_SECONDS:
            raise BadRequest("the simulator serves steps of whole days only")
    if accumulate:
        step = end - start
    include_idle = _bool(params, "idle", True) and _bool(params, "includeIdle", True)
    if _bool(params, "shareIdle", False):
        raise BadRequest("shareIdle is not served by the simulator; tokenledger shares idle")
    idle_by_node = _bool(params, "idleByNode", False)
    aggregate = [a.strip() for a in (one("aggregate") or "").split(",") if a.strip()]
    for field in aggregate:
        if field not in AGGREGATE_FIELDS and not field.startswith("label:"):
            raise BadRequest(f"unknown aggregate {field!r}")

    cluster = cluster_of(world)
    with cluster.lock:
        frame = cluster.frame
    sets = []
    for set_start in range(start, end, step):
        set_end = min(set_start + step, end)
        first = (set_start - world.start_epoch) // DAY_SECONDS
        last = (set_end - world.start_epoch) // DAY_SECONDS - 1
        f = frame[(frame["day"] >= first) & (frame["day"] <= last)]
        if not include_idle:
            f = f[f["is_idle"] == 0]
        groups: dict[str, list[tuple[dict, dict]]] = {}
        for rec in f.to_dict("records"):
            p = _properties(rec)
            key = _key(p, aggregate, bool(rec["is_idle"]), idle_by_node)
            groups.setdefault(key, []).append((rec, p))
        out = {}
        for name in sorted(groups):
            members = [rec for rec, _ in groups[name]]
            common = _common([p for _, p in groups[name]])
            out[name] = _allocation(name, members, common, set_start, set_end)
        sets.append(out)
    return sets


def render_allocation(world: World, params: dict[str, list[str]], now: dt.datetime) -> str:
    """The JSON body of a successful `GET /allocation`."""
    body = json.dumps({"code": 200, "data": allocation_sets(world, params, now)})
    if "NaN" in body or "Infinity" in body:
        raise AssertionError("non-finite number in an allocation body")
    return body


def error_body(status: int, message: str) -> str:
    """OpenCost's error shape."""
    return json.dumps({"code": status, "message": message})


def serve_allocation(handler: Any, params: dict[str, list[str]]) -> None:
    """`GET /allocation` on the simulator's HTTP handler: faults first, then the sets."""
    from simulator.server import ApiError

    state = handler.server.state
    if PROVIDER not in state.world.providers:  # this organisation runs no cluster
        return handler._send(404, error_body(404, "no OpenCost cluster in this world"))
    try:
        n = handler._apply_faults(PROVIDER)
        body = render_allocation(state.world, params, dt.datetime.now(dt.UTC))
    except ApiError as err:
        return handler._send(err.status, error_body(err.status, err.message), err.headers)
    except BadRequest as err:
        return handler._send(400, error_body(400, str(err)))
    except Exception as exc:  # a simulator bug must still answer, not hang the client
        return handler._send(500, error_body(500, f"simulator error: {exc!r}"))
    f = state.faults
    if f.malformed_every and n % f.malformed_every == 0:
        body = body[: max(1, len(body) // 2)]
    handler._send(200, body)


def control(world: World, path: str, body: dict) -> dict:
    """Control-plane writes addressed to `provider: opencost` (`/_sim/restate`, `/_sim/inject`)."""
    date = dt.date.fromisoformat(body["date"])
    if path == "/_sim/restate":
        cluster_of(world).restate(date, float(body.get("factor", 1.25)))
    elif path == "/_sim/inject":
        cluster_of(world).inject(body["kind"], date)
    else:
        raise ValueError(f"unknown opencost control path {path}")
    return {"ok": True}


__all__ = [
    "ALLOCATION_PATHS",
    "CLUSTER",
    "Cluster",
    "allocation_sets",
    "cluster_of",
    "control",
    "serve_allocation",
]
