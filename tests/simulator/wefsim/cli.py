"""The command line of the simulator (``tools/wef-forwarder``, or
``tests/simulator/wef_forwarder.py``): options to run_machines(), one JSON line of counters per
machine."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import Sequence

from .events import load_events
from .kerberos import KerberosError, import_gssapi
from .runs import run_machines
from .wire import DEFAULT_BATCH_SIZE

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wef_forwarder.py",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Simulate Windows 10 event forwarders (source-initiated WEF, HTTPS with "
                    "client certificates or HTTP with Kerberos) against a Windows Event "
                    "Collector.",
        epilog="""\
Each machine enumerates its subscriptions (connection A), then per subscription opens a
keep-alive connection to NotifyTo and sends a Heartbeat and Events batches, resuming from the
collector's bookmark after failures. <Computer> is rewritten to the machine name and
<EventRecordID> to 1, 2, 3... per (machine, subscription). Without bookmark (or with the
bookmark/earliest URI) a stream starts at record 1. One JSON line per machine is printed.

example:
  %(prog)s --url https://wec.corp.example:5986/wsman/SubscriptionManager/WEC \\
      --ca certs/ca-bundle.crt --cert-pattern 'certs/clients/{machine}.crt' \\
      --key-pattern 'certs/clients/{machine}.key' --machines 4 --connect-host 127.0.0.1

Kerberos (HTTP, port 5985; needs python3-gssapi, i.e. /usr/bin/python3): the machine
account of machine win01.wec.test is WIN01$ (--principal-pattern), its keytab comes from
--client-keytab with {machine} {n} {short} {SHORT} {principal} replaced:
  KRB5_CONFIG=/tmp/kdc/krb5.conf %(prog)s --kerberos \\
      --url http://localhost:5985/wsman/SubscriptionManager/WEC \\
      --client-keytab '/tmp/kdc/clients/{principal}.keytab' --principal-pattern 'WIN{n:02d}$' \\
      --machines 2 --machine-pattern 'win{n:02d}.wec.test'

exit status: 0 all events acked, 1 a machine failed or gave up, 2 usage error.""")
    p.add_argument("--url", required=True,
                   help="SubscriptionManager URL, e.g. "
                        "https://wec:5986/wsman/SubscriptionManager/WEC")
    p.add_argument("--ca", help="CA file (PEM) or hashed directory to verify the collector")
    p.add_argument("--cert", help="client certificate (PEM) shared by all machines")
    p.add_argument("--key", help="client key (PEM) for --cert (default: in the cert file)")
    p.add_argument("--cert-pattern", help="per-machine certificate, {machine} and {n} replaced")
    p.add_argument("--key-pattern", help="per-machine key, {machine} and {n} replaced")
    p.add_argument("--key-password", help="password of the key files")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--machines", type=int, default=1, metavar="N",
                   help="number of simulated machines (default 1)")
    g.add_argument("--machine", action="append", metavar="FQDN",
                   help="explicit machine name (repeatable) instead of --machines")
    p.add_argument("--machine-pattern", default="win{n:02d}.corp.example",
                   help="name pattern, n = 1..N (default %(default)s)")
    p.add_argument("--events", action="append", metavar="FILE",
                   help="event file, one <Event> per line (repeatable; default "
                        "tests/data/events-permissive.xml)")
    p.add_argument("--total-events", type=int, metavar="N",
                   help="events per stream (the lines are cycled; default one pass)")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                   help="max events per Events message (default %(default)s; also limited by "
                        "MaxEnvelopeSize and MaxElements)")
    p.add_argument("--max-envelope-size", type=int,
                   help="override the subscription's Delivery MaxEnvelopeSize (bytes)")
    p.add_argument("--subscription", action="append", metavar="NAME",
                   help="only deliver to this SubscriptionName (repeatable)")
    p.add_argument("--connect-host", help="connect to this address instead of the URL host "
                                          "(SNI and certificate check still use the URL host)")
    p.add_argument("--connect-port", type=int, help="connect to this port instead")
    p.add_argument("--source-address", help="connect from this local address (e.g. 127.0.0.7, "
                                            "to tell machines apart behind a balancer)")
    p.add_argument("--no-verify-hostname", action="store_true",
                   help="do not check the server name (the chain is still verified)")
    p.add_argument("--tls-version", choices=("1.2", "1.3"), help="pin the TLS version")
    p.add_argument("--timeout", type=float, default=60.0, help="socket timeout (s)")
    p.add_argument("--retry-interval", type=float,
                   help="seconds between retries (default: ConnectionRetry, 60)")
    p.add_argument("--max-retries", type=int,
                   help="consecutive failures tolerated (default: ConnectionRetry Total, 5)")
    p.add_argument("--deadline", type=float, default=3600.0,
                   help="give up after this many seconds per machine (default %(default)s)")
    p.add_argument("--subscription-end", action="store_true",
                   help="after the last batch send SubscriptionEnd and End")
    p.add_argument("--subscription-end-status", default="SourceShuttingDown",
                   choices=("SourceShuttingDown", "SourceCancelling", "DeliveryFailure"))
    p.add_argument("--subscription-end-fault", action="store_true",
                   help="add the WSManFault 1717 to the SubscriptionEnd")
    p.add_argument("--no-heartbeat", action="store_true",
                   help="do not send the Heartbeat that opens each delivery connection")
    p.add_argument("--lenient", action="store_true",
                   help="accept Subscribes Windows would refuse (wrong mode/policy, SLDC)")
    p.add_argument("--issuer-ca", metavar="PEM",
                   help="the clients' issuing CA: require its thumbprint in the Policy")
    p.add_argument("--compress", choices=("auto", "always", "never"), default="auto",
                   help="SLDC-compress delivery bodies: auto = when the subscription asks for it "
                        "(as Windows), always (even when it does not: tests the fallback), never")
    k = p.add_argument_group("Kerberos mode (http:// URL, port 5985)")
    k.add_argument("--kerberos", action="store_true",
                   help="authenticate with Kerberos and encrypt the bodies (implied by an "
                        "http:// URL)")
    k.add_argument("--client-keytab", metavar="PATTERN",
                   help="client keytab; {machine} {n} {short} {SHORT} {principal} replaced "
                        "(default: the process' default credentials)")
    k.add_argument("--principal-pattern", metavar="PATTERN",
                   help="machine account per machine, e.g. 'WIN{n:02d}$' (default '{SHORT}$': "
                        "win01.wec.test -> WIN01$)")
    k.add_argument("--principal", help="one principal for all machines instead")
    k.add_argument("--realm", help="realm appended to the principals (default: krb5's "
                                   "default_realm)")
    k.add_argument("--scheme", choices=("Kerberos", "Negotiate"), default="Kerberos",
                   help="Authorization scheme: Kerberos = raw krb5 mechanism as WEF forwarders "
                        "(default), Negotiate = SPNEGO")
    k.add_argument("--tabs", action="store_true",
                   help="indent the encrypted bodies' part headers with tabs (the spec's form; "
                        "Windows sends none)")
    k.add_argument("--spn", help="target service, e.g. HOST/wec.wec.test (default "
                                 "HTTP/<URL host>)")
    k.add_argument("--krb5-config", metavar="FILE", help="use this krb5.conf (KRB5_CONFIG)")
    p.add_argument("-q", "--quiet", action="store_true", help="no totals on stderr")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=(logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)],
                        format="%(asctime)s %(threadName)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    kerberos = args.kerberos or args.url.strip().lower().startswith("http:")
    if kerberos and not args.url.strip().lower().startswith("http:"):
        print("wef_forwarder.py: Kerberos mode needs an http:// URL (port 5985)",
              file=sys.stderr)
        return 2
    if not kerberos and not args.cert and not args.cert_pattern:
        print("wef_forwarder.py: --cert or --cert-pattern is required", file=sys.stderr)
        return 2
    if kerberos:
        try:
            import_gssapi()
        except KerberosError as exc:
            print("wef_forwarder.py: %s" % exc, file=sys.stderr)
            return 2
    status_uri = "http://schemas.xmlsoap.org/ws/2004/08/eventing/" + args.subscription_end_status
    options = dict(
        batch_size=args.batch_size, total_events=args.total_events,
        retry_interval=args.retry_interval, max_retries=args.max_retries,
        deadline=args.deadline, timeout=args.timeout, connect_host=args.connect_host,
        connect_port=args.connect_port, source_address=args.source_address, verify_hostname=not args.no_verify_hostname,
        tls_version=args.tls_version, key_password=args.key_password,
        max_envelope_size=args.max_envelope_size, send_heartbeat=not args.no_heartbeat,
        subscription_end=args.subscription_end, subscription_end_status=status_uri,
        subscription_end_fault=args.subscription_end_fault, strict=not args.lenient,
        issuer_ca=args.issuer_ca, subscriptions=args.subscription, compress=args.compress)
    krb_args = {}
    if kerberos:
        options.update(scheme=args.scheme, tabs=args.tabs, spn=args.spn,
                       krb5_config=args.krb5_config)
        if args.principal:
            options["principal"] = args.principal
        krb_args = dict(principal_pattern=args.principal_pattern, realm=args.realm)
        if args.client_keytab and "{" in args.client_keytab:
            krb_args["client_keytab_pattern"] = args.client_keytab
        elif args.client_keytab:
            options["client_keytab"] = args.client_keytab
    try:
        templates = load_events(args.events)
    except (OSError, ValueError) as exc:
        print("wef_forwarder.py: %s" % exc, file=sys.stderr)
        return 2
    t0 = time.monotonic()
    cpu0 = time.process_time()
    results = run_machines(args.url, args.machine or args.machines, args.ca, cert=args.cert,
                           key=args.key, cert_pattern=args.cert_pattern,
                           key_pattern=args.key_pattern, events=templates,
                           machine_pattern=args.machine_pattern, **krb_args, **options)
    wall = time.monotonic() - t0
    cpu = time.process_time() - cpu0
    for r in results:
        print(json.dumps(r.summary(), sort_keys=False), flush=True)
    total = sum(r.events_acked for r in results)
    if not args.quiet:
        print("total: %d machines, %d events acked in %.2fs (%.0f events/s, %.2fs CPU); %s"
              % (len(results), total, wall, total / wall if wall > 0 else 0.0, cpu,
                 "all ok" if all(r.ok for r in results) else "FAILURES"), file=sys.stderr)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
