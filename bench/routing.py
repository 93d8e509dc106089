"""Routing benchmark: two router processes on one PostgreSQL under a queue that grows.

What runs, each in its own process, all on one database:

- two routers (routing.runtime with the router on: assignment batches and sweeps);
- two agent simulators, for 500 agents of mixed capacities, departments and skills: an
  agent receives its offers as OfferMade events relayed over LISTEN/NOTIFY, accepts each
  at once and completes it after a random handle time of 0–50 ms (their database work
  runs during the measurement), each call through the routing service as an operator's
  request is on a server (accept_from / complete_from, as the operator page's accept:
  calls made at the same time share a statement and the one pool connection it runs
  on, routing.combining);
- one generator putting 10,000 interactions of mixed channels, departments and skills in
  the queue faster than they are served, each through the routing service.

The log (stderr) has the machine's load average before the run (the machine may be
shared), the baseline's conditions, each worker's counters, and where the CPU went
during the run: each worker's own and, when the server runs on this machine, its
PostgreSQL backends' (told apart by application_name) — what to work on next.

Measured, all from PostgreSQL's own records after the run (never from the router's
bookkeeping): the commit time of every row of the append-only ``routing_audit`` log
(``track_commit_timestamp``; with a server where it is off, the time the row was written).

- assignments/s: offers over the time from the first arrival to the last offer.
- offer latency: from the moment an interaction became routable to the commit of its
  offer. Routable: it was waiting and the agent had the room the offer uses. Which room
  an offer uses is attributed first-in-first-out: an agent's free units are stamped with
  the commit that freed them (or made the agent available), and an offer consumes the
  oldest — so room left unused while interactions wait shows up as latency. Queue time
  spent behind higher-ranked interactions while no room was free is not latency.
- double_offers, over_capacity: routing.audit's SQL over the log.
- the baseline: the bare locking primitive of an assignment, one ``UPDATE … WHERE id =
  (SELECT … FOR UPDATE SKIP LOCKED) RETURNING`` round trip per row over a partial index
  on the waiting rows, on as many connections as the routers use for assignment (one
  each) and with the same synchronous_commit (the server default, on).

Runs its own PostgreSQL (pgserver) unless DATABASE_URL is set. Usage, from the repository
root: ``.venv/bin/python bench/routing.py``. The last line printed is the JSON result.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's directory comes first on sys.path and this module would
# shadow the routing package it measures.
_ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]
sys.path.insert(0, str(_ROOT))

import asyncio  # noqa: E402
import collections  # noqa: E402
import json  # noqa: E402
import multiprocessing as mp  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from urllib.parse import urlsplit, urlunsplit  # noqa: E402

import asyncpg  # noqa: E402

from bench._stats import percentile  # noqa: E402
from crm_connectors.store import CustomerStore  # noqa: E402
from routing.audit import DOUBLE_OFFERS, OVER_CAPACITY  # noqa: E402
from routing.config import RoutingConfig  # noqa: E402
from routing.events import OfferMade  # noqa: E402
from routing.models import AgentProfile, NewInteraction  # noqa: E402
from routing.runtime import RoutingRuntime  # noqa: E402
from routing.settings import DepartmentSettings  # noqa: E402
from server.bus import EventBus  # noqa: E402
from server.config import TimersConfig  # noqa: E402
from server.db import EmbeddedPostgres, create_pool, migrate  # noqa: E402

AGENTS = 500
INTERACTIONS = 10_000
ROUTERS = 2
SIMULATORS = 2
ARRIVALS_PER_S = 6000
# Connections of the generator and of each simulator: enough for arrivals to outpace the
# routers, and for agents' calls to overlap as many operators' requests do on a server.
GENERATOR_CONNECTIONS = 16
SIMULATOR_CONNECTIONS = 16
HANDLE_MAX_S = 0.05
SEED = 20261123
TIMEOUT_S = 600
CHANNEL_MIX = {
    "voice": 30,
    "callback": 10,
    "webchat": 25,
    "telegram": 10,
    "whatsapp": 10,
    "sms": 5,
    "email": 10,
}
LANGUAGES = ("en", "ru", "de")
DEPARTMENTS = {
    "sales": DepartmentSettings(strategy="least_loaded"),
    "support": DepartmentSettings(strategy="longest_idle"),
    "billing": DepartmentSettings(strategy="round_robin"),
    # Calls are exclusive here: an agent on a VIP call takes nothing else.
    "vip": DepartmentSettings(strategy="random", channel_costs={"voice": 100}),
}
# Offers never time out during the run: every agent answers.
TIMERS = TimersConfig(offer_timeout_s=300, offer_sweep_interval_s=1.0, wrapup_s=0)


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return round(usage.ru_utime + usage.ru_stime, 2)


def relay_counts(rt: RoutingRuntime) -> dict[str, object]:
    service = rt.service
    return {
        "notify_sent": rt.relay.notifications_sent,
        "notify_received": rt.relay.notifications_received,
        # Calls made together (routing.combining): statements and the calls in them.
        "together": {
            c.name: (c.statements, c.items)
            for c in (service.enqueues, service.accepts, service.completions)
            if c.items
        },
    }


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the database ---------------------------------------------------------------------


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + name))


def as_worker(dsn: str, role: str) -> str:
    """The DSN a worker connects with: its backends carry its role as application_name."""
    parts = urlsplit(dsn)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=f"{query}application_name={role}"))


async def prepare_server(admin_dsn: str, embedded: EmbeddedPostgres | None) -> tuple[str, bool]:
    """A fresh database; returns its DSN and whether commit timestamps are recorded."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        tracked = await conn.fetchval("SHOW track_commit_timestamp") == "on"
        if not tracked and embedded is not None:
            await conn.execute("ALTER SYSTEM SET track_commit_timestamp = on")
    finally:
        await conn.close()
    if not tracked and embedded is not None:
        embedded.stop()
        admin_dsn = embedded.start()
        tracked = True
    name = f"bench_routing_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    dsn = with_database(admin_dsn, name)
    await migrate(dsn)
    return dsn, tracked


async def setting(dsn: str, name: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval("SELECT current_setting($1)", name)
    finally:
        await conn.close()


async def drop_database(admin_dsn: str, dsn: str) -> None:
    """The bench's database on a server of the user's (DATABASE_URL) goes after the run."""
    name = urlsplit(dsn).path.lstrip("/")
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


# --- the baseline ---------------------------------------------------------------------


async def baseline_setup(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """CREATE TABLE bench_baseline (id bigserial PRIMARY KEY, state text NOT NULL,
                   agent_id bigint);
               CREATE INDEX bench_baseline_waiting ON bench_baseline (id)
                   WHERE state = 'queued'"""
        )
        await conn.execute(
            "INSERT INTO bench_baseline (state) SELECT 'queued' FROM generate_series(1, $1)",
            INTERACTIONS,
        )
        await conn.execute("VACUUM ANALYZE bench_baseline")
    finally:
        await conn.close()


async def _baseline_worker(dsn: str, index: int, start: mp.synchronize.Event) -> int:
    conn = await asyncpg.connect(dsn)
    done = 0
    try:
        await asyncio.to_thread(start.wait)
        while await conn.fetchval(
            """UPDATE bench_baseline SET state = 'offered', agent_id = $1
               WHERE id = (SELECT id FROM bench_baseline WHERE state = 'queued'
                           ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
               RETURNING id""",
            index,
        ):
            done += 1
    finally:
        await conn.close()
    return done


def baseline_process(dsn: str, index: int, start: mp.synchronize.Event, out: mp.Queue) -> None:
    out.put(asyncio.run(_baseline_worker(dsn, index, start)))


def run_baseline(dsn: str) -> float:
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    out = ctx.Queue()
    procs = [
        ctx.Process(target=baseline_process, args=(dsn, i, start, out)) for i in range(ROUTERS)
    ]
    for p in procs:
        p.start()
    time.sleep(1.0)
    began = time.perf_counter()
    start.set()
    total = sum(out.get(timeout=TIMEOUT_S) for _ in procs)
    elapsed = time.perf_counter() - began
    for p in procs:
        p.join()
    assert total == INTERACTIONS, total
    return total / elapsed


# --- people and departments -----------------------------------------------------------


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Releasing a connection to the pool without asyncpg's reset (a four-statement round
    trip per release): nothing here leaves session state behind — no LISTEN, no session
    settings or advisory locks, no open cursors."""


async def worker_pool(dsn: str, size: int) -> asyncpg.Pool:
    return await asyncpg.create_pool(dsn, min_size=size, max_size=size, reset=_keep_session)


def runtime(
    dsn: str, pool: asyncpg.Pool, bus: EventBus, *, router: bool, receive
) -> RoutingRuntime:
    return RoutingRuntime(
        dsn=dsn,
        pool=pool,
        bus=bus,
        config=RoutingConfig(router=router),
        timers=TIMERS,
        clock=lambda: datetime.now(UTC),
        receive=receive,
    )


async def populate(dsn: str) -> dict[str, object]:
    """Departments, agents and customers; returns what the generator draws from."""
    rng = random.Random(SEED)
    pool = await create_pool(dsn, 1, 4)
    bus = EventBus()
    rt = runtime(dsn, pool, bus, router=False, receive=())
    try:
        departments: dict[str, int] = {}
        async with pool.acquire() as conn:
            for name, settings in DEPARTMENTS.items():
                view = await rt.admin.create_department(conn, name, settings)
                departments[name] = view.department.id
            ids = list(departments.values())
            for n in range(AGENTS):
                user_id = await conn.fetchval(
                    """INSERT INTO users (username, role, password_hash)
                       VALUES ($1, 'operator', 'x') RETURNING id""",
                    f"agent{n:03d}",
                )
                await conn.execute(
                    """INSERT INTO agents (user_id, sip_endpoint, sip_secret)
                       VALUES ($1, $2, 'benchsecret')""",
                    user_id,
                    f"bench{n:03d}",
                )
                kind = rng.random()
                if kind < 0.15:
                    profile = AgentProfile(capacity=100, channel_costs={"webchat": 50})
                elif kind < 0.30:
                    profile = AgentProfile(capacity=140)
                else:
                    profile = AgentProfile(capacity=100)
                # Every department has agents fluent in every language (n % 12 covers the
                # pairs), the rest is random.
                member = {ids[n % len(ids)], *rng.sample(ids, rng.randint(0, 2))}
                skills = {LANGUAGES[(n // len(ids)) % len(LANGUAGES)]: 5}
                for language in LANGUAGES:
                    if rng.random() < 0.4:
                        skills.setdefault(language, rng.randint(1, 5))
                await rt.admin.set_agent_profile(
                    conn,
                    user_id,
                    AgentProfile(
                        capacity=profile.capacity,
                        channel_costs=profile.channel_costs,
                        wrapup_s=0,
                        departments=frozenset(member),
                        skills=skills,
                    ),
                )
                await rt.service.set_agent_status(conn, user_id, "available")
            store = CustomerStore(lambda: datetime.now(UTC))
            customers = [
                (await store.resolve_customer(conn, "webchat", f"bench-visitor-{n}")).id
                for n in range(2000)
            ]
    finally:
        await pool.close()
    return {"departments": ids, "customers": customers}


def interaction_mix(departments: list[int], customers: list[int]) -> list[NewInteraction]:
    rng = random.Random(SEED + 1)
    channels = list(CHANNEL_MIX)
    weights = list(CHANNEL_MIX.values())
    mix = []
    for _ in range(INTERACTIONS):
        skills = {}
        if rng.random() < 0.3:
            skills[rng.choice(LANGUAGES)] = rng.randint(1, 3)
        mix.append(
            NewInteraction(
                channel=rng.choices(channels, weights)[0],
                customer_id=rng.choice(customers),
                department_id=rng.choice(departments),
                skills=skills,
                priority=rng.choice((0, 0, 0, 1, 2)),
            )
        )
    return mix


# --- the processes of the run ---------------------------------------------------------


async def _wait(event: mp.synchronize.Event) -> None:
    await asyncio.to_thread(event.wait)


async def _router(dsn: str, ready: mp.synchronize.Event, stop: mp.synchronize.Event, out) -> None:
    pool = await worker_pool(dsn, 2)
    bus = EventBus()
    # Woken by every notification; a process that only routes decodes no event.
    rt = runtime(dsn, pool, bus, router=True, receive=())
    await rt.start()
    ready.set()
    began = cpu_s()
    await _wait(stop)
    assert rt.router is not None
    out.put(
        {
            "router": {
                "batches": rt.router.batches,
                "offers": rt.router.offers,
                "skipped": rt.router.skipped,
            },
            "cpu_s": round(cpu_s() - began, 2),
            **relay_counts(rt),
        }
    )
    await rt.close()
    await bus.close()
    await pool.close()


def router_process(dsn, ready, stop, out) -> None:
    asyncio.run(_router(dsn, ready, stop, out))


async def _simulator(
    dsn: str, index: int, ready: mp.synchronize.Event, stop: mp.synchronize.Event, out
) -> None:
    """The agents whose id is ``index`` modulo SIMULATORS: accept, talk, complete."""
    pool = await worker_pool(dsn, SIMULATOR_CONNECTIONS)
    bus = EventBus()
    rt = runtime(dsn, pool, bus, router=False, receive=(OfferMade,))
    rng = random.Random(SEED + 10 + index)
    tasks: set[asyncio.Task[None]] = set()
    failures = collections.Counter()

    async def serve(offer: OfferMade) -> None:
        try:
            await rt.service.accept_from(pool, offer.offer_id, offer.agent_id)
            await asyncio.sleep(rng.uniform(0, HANDLE_MAX_S))
            await rt.service.complete_from(pool, offer.interaction_id, offer.agent_id)
        except Exception as exc:  # counted and reported: the run must not hide them
            failures[type(exc).__name__] += 1

    def on_offer(offer: OfferMade) -> None:
        if offer.agent_id % SIMULATORS == index:
            task = asyncio.get_running_loop().create_task(serve(offer))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    bus.subscribe(OfferMade, on_offer)
    await rt.start()
    ready.set()
    began = cpu_s()
    await _wait(stop)
    await asyncio.gather(*tasks)
    out.put(
        {
            "simulator": index,
            "failures": dict(failures),
            "cpu_s": round(cpu_s() - began, 2),
            **relay_counts(rt),
        }
    )
    await rt.close()
    await bus.close()
    await pool.close()


def simulator_process(dsn, index, ready, stop, out) -> None:
    asyncio.run(_simulator(dsn, index, ready, stop, out))


async def _generator(
    dsn: str, start: mp.synchronize.Event, stop: mp.synchronize.Event, plan: dict, out
) -> None:
    """Enqueues the mix at ARRIVALS_PER_S (or as fast as it can, if slower); keeps its
    connections until the run is over, so their backends' CPU time can be read."""
    pool = await worker_pool(dsn, GENERATOR_CONNECTIONS)
    bus = EventBus()
    rt = runtime(dsn, pool, bus, router=False, receive=())
    await rt.start()
    mix = interaction_mix(plan["departments"], plan["customers"])

    async def one(new: NewInteraction) -> None:
        async with pool.acquire() as conn:
            await rt.service.enqueue(conn, new)

    await _wait(start)
    cpu_began = cpu_s()
    began = time.perf_counter()
    tick = 0.005
    sent = 0
    while sent < len(mix):
        due = min(len(mix), int((time.perf_counter() - began) * ARRIVALS_PER_S) + 1)
        if due > sent:
            await asyncio.gather(*(one(n) for n in mix[sent:due]))
            sent = due
        else:
            await asyncio.sleep(tick)
    elapsed = time.perf_counter() - began
    out.put(
        {"arrival_s": round(elapsed, 2), "cpu_s": round(cpu_s() - cpu_began, 2), **relay_counts(rt)}
    )
    await _wait(stop)
    await rt.close()
    await bus.close()
    await pool.close()


def generator_process(dsn, start, stop, plan, out) -> None:
    asyncio.run(_generator(dsn, start, stop, plan, out))


async def _finished(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            done = await conn.fetchval(
                "SELECT count(*) FROM interactions WHERE state = 'completed'"
            )
            if done >= INTERACTIONS:
                return
            await asyncio.sleep(0.5)
        raise TimeoutError(f"only {done} of {INTERACTIONS} interactions completed")
    finally:
        await conn.close()


async def backends_cpu_s(dsn: str) -> dict[str, float] | None:
    """CPU time used so far by the other connections' backends of the database, by their
    application_name, where the server runs on this machine (Linux); None where it
    cannot be read."""
    conn = await asyncpg.connect(dsn)
    try:
        backends = await conn.fetch(
            """SELECT pid, application_name FROM pg_stat_activity
               WHERE datname = current_database() AND pid <> pg_backend_pid()"""
        )
    finally:
        await conn.close()
    ticks: collections.Counter[str] = collections.Counter()
    try:
        for row in backends:
            stat = Path(f"/proc/{row['pid']}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            ticks[row["application_name"] or "?"] += int(fields[11]) + int(fields[12])
    except OSError:
        return None
    return {role: n / os.sysconf("SC_CLK_TCK") for role, n in ticks.items()}


def log_cpu(
    reports: list[dict], before: dict[str, float] | None, after: dict[str, float] | None
) -> None:
    """Where the CPU went during the run, per worker: its own, and its backends'."""
    workers = {}
    for r in reports:
        if "router" in r:
            continue
        role = "gen" if "arrival_s" in r else f"sim{r['simulator']}"
        workers[role] = r["cpu_s"]
    routers = [r["cpu_s"] for r in reports if "router" in r]
    workers.update({f"router{n}": cpu for n, cpu in enumerate(routers)})
    backends = None
    if before is not None and after is not None:
        backends = {role: round(after[role] - before.get(role, 0.0), 2) for role in after}
    python = round(sum(workers.values()), 2)
    postgres = round(sum(backends.values()), 2) if backends else None
    log(
        f"CPU during the run, s — workers {workers} (sum {python}); "
        f"their PostgreSQL backends {backends} (sum {postgres}); "
        f"per interaction {(python + (postgres or 0)) / INTERACTIONS * 1e6:.0f} µs"
    )


def run_queue(dsn: str, plan: dict) -> list[dict]:
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    start = ctx.Event()
    out = ctx.Queue()
    readies = [ctx.Event() for _ in range(ROUTERS + SIMULATORS)]
    procs = [
        ctx.Process(
            target=router_process, args=(as_worker(dsn, f"router{i}"), readies[i], stop, out)
        )
        for i in range(ROUTERS)
    ]
    procs += [
        ctx.Process(
            target=simulator_process,
            args=(as_worker(dsn, f"sim{i}"), i, readies[ROUTERS + i], stop, out),
        )
        for i in range(SIMULATORS)
    ]
    procs.append(
        ctx.Process(target=generator_process, args=(as_worker(dsn, "gen"), start, stop, plan, out))
    )
    for p in procs:
        p.start()
    for ready in readies:
        if not ready.wait(60):
            raise RuntimeError("a worker did not start")
    cpu_before = asyncio.run(backends_cpu_s(dsn))
    start.set()
    asyncio.run(_finished(dsn))
    cpu_after = asyncio.run(backends_cpu_s(dsn))
    stop.set()
    reports = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(60)
    log_cpu(reports, cpu_before, cpu_after)
    return reports


# --- the measurement ------------------------------------------------------------------


async def read_log(dsn: str, tracked: bool) -> list[asyncpg.Record]:
    when = "pg_xact_commit_timestamp(xmin)" if tracked else "at"
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(
            f"""SELECT id, kind, interaction_id, agent_id, amount, status, mode,
                       {when} AS committed
                FROM routing_audit ORDER BY id"""
        )
    finally:
        await conn.close()


async def run_audit(dsn: str) -> tuple[int, int]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(DOUBLE_OFFERS), await conn.fetchval(OVER_CAPACITY)
    finally:
        await conn.close()


class _Room:
    """An agent's free units, each stamped with the commit that freed it."""

    def __init__(self) -> None:
        self.capacity = 0
        self.held = 0
        self.available = False
        self.units: collections.deque[list] = collections.deque()  # [count, since]

    def free(self) -> int:
        return sum(u[0] for u in self.units)

    def grant(self, count: int, since: datetime) -> None:
        if count > 0:
            self.units.append([count, since])

    def reset(self, since: datetime) -> None:
        self.units.clear()
        if self.available:
            self.grant(self.capacity - self.held, since)

    def consume(self, count: int) -> datetime | None:
        """Take the oldest ``count`` units; the stamp of the last one taken."""
        since = None
        while count > 0 and self.units:
            unit = self.units[0]
            take = min(count, unit[0])
            unit[0] -= take
            count -= take
            since = unit[1]
            if unit[0] == 0:
                self.units.popleft()
        return since


def offer_latencies(rows: list[asyncpg.Record]) -> tuple[list[float], datetime, datetime]:
    """Latency of every offer in ms; and the first arrival and the last offer."""
    rooms: dict[int, _Room] = collections.defaultdict(_Room)
    waiting_since: dict[int, datetime] = {}
    latencies: list[float] = []
    first_arrival = last_offer = None
    for row in rows:
        kind, at = row["kind"], row["committed"]
        if kind == "waiting":
            waiting_since[row["interaction_id"]] = at
            first_arrival = first_arrival or at
            continue
        room = rooms[row["agent_id"]] if row["agent_id"] is not None else None
        if kind == "capacity":
            room.capacity = row["amount"]
            room.reset(at)
        elif kind == "status":
            room.available = row["status"] == "available"
            room.reset(at)
        elif kind == "offered":
            room.held += row["amount"]
            room_since = room.consume(row["amount"]) or at
            routable = max(waiting_since[row["interaction_id"]], room_since)
            latencies.append((at - routable).total_seconds() * 1000)
            last_offer = at
        elif kind in ("declined", "timed_out", "cancelled", "released"):
            room.held -= row["amount"]
            if room.available:
                room.grant(row["amount"], at)
    return latencies, first_arrival, last_offer


async def _setup(admin_dsn: str, embedded: EmbeddedPostgres | None) -> tuple[str, bool, dict]:
    dsn, tracked = await prepare_server(admin_dsn, embedded)
    await baseline_setup(dsn)
    plan = await populate(dsn)
    return dsn, tracked, plan


def main() -> None:
    embedded = None
    admin_dsn = os.environ.get("DATABASE_URL", "")
    workdir = tempfile.TemporaryDirectory(prefix="bench-routing-")
    if not admin_dsn:
        embedded = EmbeddedPostgres(Path(workdir.name) / "postgres")
        admin_dsn = embedded.start()
    dsn = ""
    try:
        began = time.perf_counter()
        dsn, tracked, plan = asyncio.run(_setup(admin_dsn, embedded))
        log(f"setup {time.perf_counter() - began:.1f}s; commit timestamps: {tracked}")
        # The machine may be shared: its load when the measurement starts.
        log(f"load average before the run: {os.getloadavg()}")
        baseline = run_baseline(dsn)
        log(
            f"baseline {baseline:.0f}/s on {ROUTERS} connections (one per router); "
            f"synchronous_commit {asyncio.run(setting(dsn, 'synchronous_commit'))} for both"
        )
        reports = run_queue(dsn, plan)
        log(f"workers: {reports}")
        rows = asyncio.run(read_log(dsn, tracked))
        double, over = asyncio.run(run_audit(dsn))
    finally:
        if embedded is not None:
            embedded.stop()
        elif dsn:
            asyncio.run(drop_database(admin_dsn, dsn))
        workdir.cleanup()
    latencies, first, last = offer_latencies(rows)
    span = (last - first).total_seconds()
    rate = len(latencies) / span
    log(
        f"{len(latencies)} offers in {span:.2f}s; latency mean "
        f"{statistics.fmean(latencies):.2f} ms, max {max(latencies):.1f} ms"
    )
    print(
        json.dumps(
            {
                "assignments": len(latencies),
                "assignments_per_s": round(rate, 1),
                "offer_latency_p50_ms": percentile(latencies, 50),
                "offer_latency_p99_ms": percentile(latencies, 99),
                "baseline_per_s": round(baseline, 1),
                "ratio": round(rate / baseline, 3),
                "double_offers": double,
                "over_capacity": over,
            }
        )
    )


if __name__ == "__main__":
    main()
