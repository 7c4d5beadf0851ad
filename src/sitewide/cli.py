"""``sitewide`` command line: demo, serve, simulate (and more as the engine grows)."""

from __future__ import annotations

import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sitewide.domain.money import MoneyError, format_amount
from sitewide.domain.types import ValidationError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="sitewide: a sitewide promotion engine.")
console = Console() if sys.stdout.isatty() else Console(width=132)


class CliError(Exception):
    """A bad value or an unusable environment: reported as one line on stderr, exit status 2."""


def _at_least(name: str, value: int, low: int) -> None:
    if value < low:
        raise CliError(f"{name} must be at least {low} (got {value})")


def _port(value: int, allow_zero: bool = False) -> None:
    low = 0 if allow_zero else 1
    if not low <= value <= 65_535:
        raise CliError(f"--port must be between {low} and 65535 (got {value})")


def _check_listen(host: str, port: int) -> None:
    """Fail before start-up (and before an operator key is generated and shown) when the address is taken."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise CliError(f"cannot listen on {host}:{port}: {e.strerror or e}; choose another --port") from e


def main(argv: list[str] | None = None) -> None:
    """The console entry point: bad values and environment errors print one line (``sitewide: error: …``)
    and exit non-zero, never a traceback."""
    # typer ≥ 0.20 vendors click: find its UsageError through the exception it raises for a bad value
    usage_error: type[Exception] = next(
        c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError" and issubclass(c, Exception)
    )

    def fail(msg: str, code: int) -> None:
        print(f"sitewide: error: {msg}", file=sys.stderr)
        sys.exit(code)

    try:
        rc = app(args=argv, standalone_mode=False)
    except typer.Abort:
        fail("aborted", 1)
    except usage_error as e:
        text: str = e.format_message()  # type: ignore[attr-defined]
        if type(e).__name__ == "NoArgsIsHelpError":  # bare `sitewide`: the help, as click prints it
            print(text)
            sys.exit(2)
        fail(" ".join(text.split()), 2)
    except (CliError, ValidationError, MoneyError) as e:
        fail(str(e), 2)
    except OSError as e:
        fail(str(e), 1)
    else:
        if isinstance(rc, int) and rc:
            sys.exit(rc)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    """uvicorn in a background thread, stoppable."""

    def __init__(self, app_obj: object, host: str, port: int) -> None:
        import uvicorn

        self.config = uvicorn.Config(app_obj, host=host, port=port, log_level="warning")  # type: ignore[arg-type]
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to listen on (1-65535)")] = 8000,
    data_dir: Annotated[Path, typer.Option(help="where the SQLite file lives")] = Path("var"),
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL (e.g. PostgreSQL)")] = None,
    scorer_path: Annotated[
        Path | None, typer.Option(help="ranker checkpoint to serve (from `sitewide train`)")
    ] = None,
    workers: Annotated[
        int,
        typer.Option(help="worker processes, each with its own engine over the same data dir / database"),
    ] = 1,
    access_log: Annotated[
        bool,
        typer.Option(help="a log line per request (uvicorn's access log; about 0.3 ms of CPU a request)"),
    ] = False,
) -> None:
    """Run the HTTP API (dashboard at /ui/, OpenAPI docs at /docs). uvloop and httptools are used when
    installed (``pip install sitewide[fast]``). No access log unless ``--access-log`` (as gunicorn): at 2,000
    products a ``POST /serve`` costs the server about 1.25 ms of CPU and its log line 0.25–0.5 ms more."""
    import os

    import uvicorn

    from sitewide.settings import Settings
    from sitewide.whatif_jobs import create_app  # the service's app with the operator's what-if jobs injected
    from sitewide.wiring import freeze_heap, small_pages

    small_pages()  # the build's GBs of fresh arrays in 4 KB pages (see small_pages), here and in the workers
    # one intra-op thread per request: the server runs many small scoring batches on its request threads (and
    # workers), where torch's and BLAS's own thread pools only contend for the same cores (set it to override)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    _port(port)
    _at_least("--workers", workers, 1)
    if scorer_path is not None and not scorer_path.is_file():
        raise CliError(f"--scorer-path {scorer_path}: no such file")
    _check_listen(host, port)
    settings = Settings(data_dir=data_dir, database_url=database_url, scorer_path=scorer_path)
    console.print(f"sitewide API on http://{host}:{port}  (docs: /docs, store: {settings.store_url()})")
    fast = {"loop": "auto", "http": "auto"}  # uvloop / httptools when importable, else asyncio / h11
    if workers == 1:
        app = create_app(settings)
        freeze_heap()  # the engine and the app live as long as the process: no collection walks them again
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=access_log, **fast)  # type: ignore[arg-type]
        return
    # Once, here, with no engine: migrate and seed the store and make sure an operator key exists (a bootstrap
    # key is shown once), so that the workers do not race to do it. Then each worker builds its own app and
    # engine from the same settings, passed through the environment (workers start as fresh processes).
    from sitewide.service.app import _announce
    from sitewide.wiring import prepare_service

    prepare_service(settings, _announce)
    # several processes on one store: budget leases and campaign polling (sitewide.domain.budget_lease)
    env = {"DATA_DIR": str(data_dir), "DATABASE_URL": database_url, "SCORER_PATH": scorer_path}
    os.environ["SITEWIDE_SHARED_SERVING"] = "1"
    for k, v in env.items():
        if v is not None:
            os.environ[f"SITEWIDE_{k}"] = str(v)
    # one listening socket per worker (SO_REUSEPORT): the kernel spreads connections over the workers, where
    # uvicorn's shared socket let one worker accept nearly all of them (sitewide.service.workers)
    from sitewide.service.workers import run_workers

    run_workers(
        "sitewide.whatif_jobs:app_from_env", host, port, workers, log_level="info", access_log=access_log, **fast
    )


def campaign_table(rows: list[dict[str, object]], title: str) -> Table:
    t = Table(title=title)
    for col in (
        "campaign",
        "target ROI",
        "impressions",
        "clicks",
        "orders",
        "spend",
        "GMV",
        "ROI",
        "vs target",
        "compensation",
    ):
        t.add_column(col, justify="left" if col == "campaign" else "right")
    for r in rows:
        spend = int(r["spend_micros"])  # type: ignore[call-overload]
        gmv = int(r["gmv_micros"])  # type: ignore[call-overload]
        roi = gmv / spend if spend else None
        target = float(str(r["target_roi"]))
        t.add_row(
            f"{r['name']}\n{r['id']}" if "id" in r else str(r["name"]),
            f"{target:.2f}",
            f"{r['impressions']:,}",
            f"{r['clicks']:,}",
            f"{r['orders']:,}",
            format_amount(spend),
            format_amount(gmv),
            f"{roi:.2f}" if roi is not None else "-",
            ("met" if roi is not None and roi >= target else "missed") if roi is not None else "-",
            format_amount(int(r["compensation_micros"])),  # type: ignore[call-overload]
        )
    return t


@app.command()
def demo(
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="exit after the table instead of serving")
    ] = False,
    port: Annotated[int, typer.Option(help="port (0 = pick a free one)")] = 0,
    seed: Annotated[int, typer.Option(help="random seed of the simulated market")] = 7,
    data_dir: Annotated[
        Path | None, typer.Option(help="keep the demo's SQLite here (default: a temp dir)")
    ] = None,
) -> None:
    """Start the API and run the demo market against it at the calibrated rates: 6 days of history in-process
    against the served engine, the 7th day through the HTTP API, each day settled; then print the campaigns,
    the guarantee's terms and what limits each staged campaign (budget, ROI target, the guarantee paying)."""
    from rich.progress import Progress

    from sitewide import demo as run
    from sitewide.client import SitewideClient
    from sitewide.settings import Settings
    from sitewide.simulator import SimConfig

    _port(port, allow_zero=True)
    if port:
        _check_listen("127.0.0.1", port)
    tmp = None
    if data_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="sitewide-demo-")
        data_dir = Path(tmp.name)
    settings = Settings(data_dir=data_dir, load_catalogue=False)
    config = SimConfig.demo(seed)
    port = port or _free_port()
    api, engine, operator_key = run.build(settings, config)
    server = _Server(api, "127.0.0.1", port)
    server.start()
    url = f"http://127.0.0.1:{port}"
    console.print(f"[bold]sitewide demo[/bold]: API up at {url}\n{run.rates(config)}")
    client = SitewideClient(url, api_key=operator_key, timeout=600.0)  # a day's settlement on a busy machine
    accounts = api.state.accounts
    with Progress(transient=True, console=console) as bar:
        days = config.days * config.ticks_per_day
        task = bar.add_task("history, in-process", total=days)

        def tick(phase: str) -> None:
            bar.update(
                task, advance=1, description="history, in-process" if phase == "history" else "live day, HTTP"
            )

        market = run.run_market(client, engine, accounts, config, on_tick=tick)
    rows = []
    for c in market.world.campaigns:
        sid = market.http.server_id(c.id)
        rep = client.campaign_report(sid)
        rows.append(
            {"name": c.name, "id": sid, "target_roi": str(rep.target_roi), **rep.model_dump()["total"]}
        )
    console.print(
        campaign_table(rows, f"The market's campaigns after {config.days} days (settled through the API)")
    )
    console.print(run.guarantee_terms())
    for r, (c, _) in zip(run.results(market, engine, accounts), market.staged, strict=True):
        console.print(run.explain(r, c.name, settings.currency, format_amount))
        console.print(f"  its page: {url}/ui/campaigns/{r.campaign_id}")
    if no_serve:
        server.stop()
        client.close()
        if tmp is not None:
            tmp.cleanup()
        return
    console.print(f"Dashboard: {url}/ui/  (API docs: {url}/docs). Log in with an API key:")
    for c, _ in market.staged:
        console.print(f"  merchant {c.merchant_id} ({c.name}): {client.issue_key(c.merchant_id)}")
    console.print(f"  operator (all merchants): {operator_key}\nCtrl-C to stop.")
    try:
        while server.thread.is_alive():
            time.sleep(0.5)
    except KeyboardInterrupt:
        server.stop()


# The simulated market's options, shared by `simulate` and `whatif` (the same market, sized the same way).
DaysOpt = Annotated[int, typer.Option(help="simulated days (≥ 1)")]
UsersOpt = Annotated[int, typer.Option(help="simulated shoppers (≥ 1)")]
MerchantsOpt = Annotated[int, typer.Option(help="simulated merchants (≥ 1)")]
RayOpt = Annotated[bool, typer.Option("--ray", help="run each seed's market as one Ray task")]
AddressOpt = Annotated[str | None, typer.Option(help="Ray cluster address (default: a local Ray)")]


def _market_size(days: int, users: int, merchants: int, seeds: int) -> None:
    for name, value in (("--days", days), ("--users", users), ("--merchants", merchants), ("--seeds", seeds)):
        _at_least(name, value, 1)


@app.command()
def simulate(
    days: DaysOpt = 1,
    users: UsersOpt = 2_000,
    merchants: MerchantsOpt = 20,
    seed: Annotated[int, typer.Option(help="random seed of the (first) market")] = 0,
    seeds: Annotated[int, typer.Option(help="run this many markets (seed, seed+1, ...)")] = 1,
    ray: RayOpt = False,
    address: AddressOpt = None,
    out: Annotated[Path | None, typer.Option(help="directory for the metrics Parquet files")] = None,
) -> None:
    """Run the marketplace simulator against the in-process engine and summarise each market."""
    from sitewide.simulator import SimConfig, run_many, run_ray, run_simulation, summary_table
    from sitewide.wiring import world_engine_factory

    _market_size(days, users, merchants, seeds)
    configs = [SimConfig(days=days, users=users, merchants=merchants, seed=seed + i) for i in range(seeds)]
    if ray:
        results = run_ray(configs, world_engine_factory(), address=address)
    elif len(configs) == 1:
        results = [run_simulation(configs[0], world_engine_factory(), progress=True)]
    else:
        results = run_many(configs, world_engine_factory())
    for cfg, result in zip(configs, results, strict=True):
        console.print(summary_table(result))
        if out is not None:
            target = out / f"seed-{cfg.seed}" if len(configs) > 1 else out
            result.save(target)
            console.print(f"metrics written to {target}")


@app.command()
def whatif(
    change: Annotated[
        list[str],
        typer.Argument(help="changed settings, KEY=VALUE: alpha, reserve_cpc_micros, max_ad_share, …"),
    ],
    days: DaysOpt = 1,
    users: UsersOpt = 1_000,
    merchants: MerchantsOpt = 20,
    seeds: Annotated[int, typer.Option(help="markets averaged (seeds 0 … seeds − 1)")] = 1,
    ray: RayOpt = False,
    address: AddressOpt = None,
) -> None:
    """The operator's what-if: the same simulated market under the current policy and with CHANGE side by side."""
    from sitewide.whatif import parse_changes
    from sitewide.whatif_jobs import compare_rows  # what a POST /whatif/jobs job runs, too

    _market_size(days, users, merchants, seeds)
    changes = parse_changes(change)
    rows = compare_rows(
        changes,
        days=days,
        users=users,
        merchants=merchants,
        seeds=seeds,
        ray=ray or address is not None,
        address=address,
    )
    table = Table(title="what-if: " + ", ".join(change))
    for col in ("figure", "current", "changed", "change"):
        table.add_column(col, justify="left" if col == "figure" else "right")
    for r in rows:
        cells = (r.current, r.changed, r.change)
        table.add_row(r.figure, *("n/a" if v is None else f"{v:,.4g}" for v in cells))
    console.print(table)


@app.command()
def train(
    out: Annotated[Path, typer.Option(help="where to write the ranker checkpoint")] = Path("var/ranker.pt"),
    requests: Annotated[
        int, typer.Option(help="simulated requests to log for training, over all worlds")
    ] = 160_000,
    worlds: Annotated[int, typer.Option(help="simulated marketplaces (seeds seed+1 …) to log from")] = 4,
    users: Annotated[int, typer.Option(help="simulated shoppers per marketplace")] = 2_000,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    epochs: Annotated[int, typer.Option(help="training epochs")] = 8,
) -> None:
    """Train the multi-task pCTR/pCVR ranker on logs of calibrated simulated marketplaces, served through the
    engine's own retrieval (progress bars). Serve it with `sitewide serve --scorer-path PATH`."""
    from dataclasses import replace

    from sitewide.training.ranking import SHIPPED_TRAIN_CONFIG, train_from_simulator

    for name, value in (
        ("--requests", requests),
        ("--worlds", worlds),
        ("--users", users),
        ("--epochs", epochs),
    ):
        _at_least(name, value, 1)

    path = train_from_simulator(
        out,
        n_requests=requests,
        seed=seed,
        users=users,
        worlds=worlds,
        config=replace(SHIPPED_TRAIN_CONFIG, epochs=epochs),
    )
    console.print(f"checkpoint written to {path}; serve it with: sitewide serve --scorer-path {path}")


@app.command()
def calibration() -> None:
    """Simulated vs real rates (CTR, CVR, price quantiles, category mix) side by side, with tolerances."""
    from sitewide.simulator import calibration_report

    console.print(calibration_report())


if __name__ == "__main__":  # pragma: no cover
    main()
