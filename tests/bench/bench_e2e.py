#!/usr/bin/python3
"""End-to-end throughput benchmark (a script, not a test).

Simulated Windows forwarders → HTTPS with client certificates, and/or HTTP with Kerberos
authentication and message encryption (a throwaway MIT KDC on loopback) → the real syslog-ng
with the windowsevent() module → file destination with one JSON line per event. Prints events/s
from the first request to the last line on disk and syslog-ng's peak RSS for each run, the
median of the runs, and with both transports the Kerberos/HTTPS ratio.

    /usr/bin/python3 tests/bench/bench_e2e.py [--machines 20] [--events 200000] [--runs 3]
                                              [--transport https|kerberos|both] [--compression yes|no|both]

With compression(yes) (the product's default) the forwarders compress with SLDC as Windows does
(the simulator uses the project's C++ encoder when it is built) and the collector decompresses.
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from wec_harness import (CORPUS, SyslogNg, free_port, json_file_config, make_certs, subscription_block,  # noqa: E402
                         wait_for_lines)

import wef_forwarder as wef  # noqa: E402


def start_collector(workdir, transport, pki, kdc, window, compression):
    port = free_port()
    subscription = subscription_block("bench", ["*.corp.example", "*.wec.test"])
    if transport == "https":
        listener = (f'port({port}) tls(key-file("{pki}/server.key") cert-file("{pki}/server.crt") '
                    f'ca-dir("{pki}/ca.d"))')
    else:
        keytab = Path(kdc.directory) / "service.keytab"
        listener = f'kerberos(keytab("{keytab}") port({port}))'
    source = (f'windowsevent(ip("127.0.0.1") hostname("localhost") {listener} {subscription} '
              f'log-iw-size({window}) compression({compression}))')
    output = workdir / "events.json"
    daemon = SyslogNg(workdir / "syslog-ng", json_file_config(source, output))
    daemon.start(port=port, env=kdc.env if kdc else None)
    return daemon, output, port


def one_run(workdir, transport, pki, kdc, machines, events_total, batch_size, window, compression):
    daemon, output, port = start_collector(workdir, transport, pki, kdc, window, compression)
    try:
        per_machine = events_total // len(machines)
        common = dict(events=str(CORPUS), total_events=per_machine, batch_size=batch_size, deadline=900,
                      retry_interval=1.0, max_retries=10)
        started = time.monotonic()
        if transport == "https":
            results = wef.run_machines(
                f"https://localhost:{port}/wsman/SubscriptionManager/WEC", machines, str(pki / "ca-bundle.crt"),
                cert_pattern=str(pki / "clients" / "{machine}.crt"), key_pattern=str(pki / "clients" / "{machine}.key"),
                **common)
        else:
            results = wef.run_machines(
                f"http://localhost:{port}/wsman/SubscriptionManager/WEC", [m.replace("corp.example", "wec.test")
                                                                          for m in machines],
                client_keytab_pattern=str(Path(kdc.directory) / "clients" / "{SHORT}$.keytab"),
                principal_pattern="{SHORT}$", connect_host="127.0.0.1", **common)
        failed = [r for r in results if not r.ok]
        if failed:
            raise SystemExit(f"forwarder failed: {failed[0].machine}: {failed[0].error}")
        expected = per_machine * len(machines)
        seen = wait_for_lines(output, expected, 300)
        elapsed = time.monotonic() - started
        if seen != expected:
            raise SystemExit(f"only {seen} of {expected} events arrived")
        return expected / elapsed, daemon.peak_rss_kib(), expected, elapsed, daemon.cpu_seconds()
    finally:
        daemon.stop()


def start_kdc(directory, machines):
    from loopback_kdc import LoopbackKdc
    kdc = LoopbackKdc(directory).start()
    kdc.add_principal("HTTP/localhost")
    kdc.keytab(directory / "service.keytab", "HTTP/localhost")
    (directory / "clients").mkdir()
    for machine in machines:
        short = machine.split(".")[0].upper()
        kdc.add_principal(f"{short}$")
        kdc.keytab(directory / "clients" / f"{short}$.keytab", f"{short}$")
    import os
    os.environ["KRB5_CONFIG"] = kdc.env["KRB5_CONFIG"]
    return kdc


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--machines", type=int, default=20)
    parser.add_argument("--events", type=int, default=200000, help="events in all, split over the machines")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=400, help="events per Events message (at most)")
    parser.add_argument("--window", type=int, default=20000, help="log-iw-size() of the source")
    parser.add_argument("--transport", choices=["https", "kerberos", "both"], default="https")
    parser.add_argument("--compression", choices=["yes", "no", "both"], default="no")
    args = parser.parse_args()

    machines = [f"win{n:02d}.corp.example" for n in range(1, args.machines + 1)]
    transports = ["https", "kerberos"] if args.transport == "both" else [args.transport]
    compressions = ["no", "yes"] if args.compression == "both" else [args.compression]
    medians = {}
    with tempfile.TemporaryDirectory(prefix="wec-bench-") as tmp:
        tmp = Path(tmp)
        pki = kdc = None
        if "https" in transports:
            pki = tmp / "pki"
            make_certs(pki, clients=machines)
        if "kerberos" in transports:
            (tmp / "kdc").mkdir()
            kdc = start_kdc(tmp / "kdc", machines)
        try:
            for transport in transports:
                for compression in compressions:
                    label = f"{transport} compression({compression})"
                    rates, peaks = [], []
                    for run in range(1, args.runs + 1):
                        simulator_cpu = time.process_time()
                        rate, rss, count, elapsed, daemon_cpu = one_run(
                            tmp / f"{transport}-{compression}{run}", transport, pki, kdc, machines, args.events,
                            args.batch_size, args.window, compression)
                        simulator_cpu = time.process_time() - simulator_cpu
                        rates.append(rate)
                        peaks.append(rss)
                        print(f"{label} run {run}: {count} events from {len(machines)} machines in {elapsed:.2f} s = "
                              f"{rate:,.0f} events/s, syslog-ng peak RSS {rss / 1024:.1f} MiB, CPU seconds: "
                              f"syslog-ng {daemon_cpu:.1f}, simulator {simulator_cpu:.1f}", flush=True)
                    medians[(transport, compression)] = statistics.median(rates)
                    print(f"{label} median of {args.runs}: {medians[(transport, compression)]:,.0f} events/s, peak RSS "
                          f"{statistics.median(peaks) / 1024:.1f} MiB (median), {max(peaks) / 1024:.1f} MiB (max)",
                          flush=True)
        finally:
            if kdc:
                kdc.stop()
    for compression in compressions:
        if ("kerberos", compression) in medians and ("https", compression) in medians:
            ratio = medians[("kerberos", compression)] / medians[("https", compression)]
            print(f"kerberos / https with compression({compression}): {ratio:.0%}")
    for transport in transports:
        if (transport, "yes") in medians and (transport, "no") in medians:
            ratio = medians[(transport, "yes")] / medians[(transport, "no")]
            print(f"{transport}: compression(yes) / compression(no): {ratio:.0%}")


if __name__ == "__main__":
    main()
