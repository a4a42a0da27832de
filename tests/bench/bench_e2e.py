#!/usr/bin/python3
"""End-to-end throughput benchmark (a script, not a test).

Simulated Windows forwarders → HTTPS with client certificates → the real syslog-ng with the
windowsevent() module → file destination with one JSON line per event. Prints events/s from the
first request to the last line on disk, and syslog-ng's peak RSS, for each run and the median.

    /usr/bin/python3 tests/bench/bench_e2e.py [--machines 20] [--events 200000] [--runs 3]
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from wec_harness import (CORPUS, SyslogNg, free_port, json_file_config, make_certs, subscription_block,  # noqa: E402
                         wait_for_lines, windowsevent_source)

import wef_forwarder as wef  # noqa: E402


def one_run(workdir, pki, machines, events_total, batch_size, window):
    port = free_port()
    output = workdir / "events.json"
    source = windowsevent_source(port, pki, [subscription_block("bench", ["*.corp.example"])],
                                 extra=f"log-iw-size({window})")
    daemon = SyslogNg(workdir / "syslog-ng", json_file_config(source, output))
    daemon.start(port=port)
    try:
        per_machine = events_total // len(machines)
        started = time.monotonic()
        results = wef.run_machines(
            f"https://localhost:{port}/wsman/SubscriptionManager/WEC", machines, str(pki / "ca-bundle.crt"),
            cert_pattern=str(pki / "clients" / "{machine}.crt"), key_pattern=str(pki / "clients" / "{machine}.key"),
            events=str(CORPUS), total_events=per_machine, batch_size=batch_size, deadline=900,
            retry_interval=1.0, max_retries=10)
        failed = [r for r in results if not r.ok]
        if failed:
            raise SystemExit(f"forwarder failed: {failed[0].machine}: {failed[0].error}")
        expected = per_machine * len(machines)
        seen = wait_for_lines(output, expected, 300)
        elapsed = time.monotonic() - started
        if seen != expected:
            raise SystemExit(f"only {seen} of {expected} events arrived")
        rss = daemon.peak_rss_kib()
        daemon_cpu = daemon.cpu_seconds()
    finally:
        daemon.stop()
    return expected / elapsed, rss, expected, elapsed, daemon_cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--machines", type=int, default=20)
    parser.add_argument("--events", type=int, default=200000, help="events in all, split over the machines")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=400, help="events per Events message (at most)")
    parser.add_argument("--window", type=int, default=20000, help="log-iw-size() of the source")
    args = parser.parse_args()

    machines = [f"win{n:02d}.corp.example" for n in range(1, args.machines + 1)]
    with tempfile.TemporaryDirectory(prefix="wec-bench-") as tmp:
        tmp = Path(tmp)
        pki = tmp / "pki"
        make_certs(pki, clients=machines)
        rates, peaks = [], []
        for run in range(1, args.runs + 1):
            simulator_cpu = time.process_time()
            rate, rss, count, elapsed, daemon_cpu = one_run(tmp / f"run{run}", pki, machines, args.events, args.batch_size,
                                                args.window)
            simulator_cpu = time.process_time() - simulator_cpu
            rates.append(rate)
            peaks.append(rss)
            print(f"run {run}: {count} events from {len(machines)} machines in {elapsed:.2f} s = "
                  f"{rate:,.0f} events/s, syslog-ng peak RSS {rss / 1024:.1f} MiB, CPU seconds: syslog-ng "
                  f"{daemon_cpu:.1f}, simulator {simulator_cpu:.1f}", flush=True)
        print(f"median of {args.runs}: {statistics.median(rates):,.0f} events/s, "
              f"peak RSS {statistics.median(peaks) / 1024:.1f} MiB (median), {max(peaks) / 1024:.1f} MiB (max)")


if __name__ == "__main__":
    main()
