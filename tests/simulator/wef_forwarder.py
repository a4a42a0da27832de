#!/usr/bin/python3
"""Windows Event Forwarding forwarder simulator (source-initiated; HTTPS + client certificate,
or HTTP + Kerberos with message encryption).

The simulator imitates the WinRM client of a Windows 10 machine that forwards events to a
Windows Event Collector configured with
``Server=https://<collector>:5986/wsman/SubscriptionManager/WEC,Refresh=60,IssuerCA=<thumbprint>``
or, in Kerberos mode, ``Server=http://<collector>:5985/wsman/SubscriptionManager/WEC``.
HTTPS mode is standard library only; Kerberos mode needs python3-gssapi (Debian's
``/usr/bin/python3`` 3.11 has it; it is imported only when Kerberos is used).

Wire behaviour (as in the published Win10 -> Windows WEC capture; openwec protocol notes):

* every request is ``POST <path> HTTP/1.1`` with the headers, in this order,
  ``Connection: Keep-Alive``, ``Content-Type: application/soap+xml;charset=UTF-16``,
  ``User-Agent: Microsoft WinRM Client``, ``Content-Length: N``, ``Host: host:port``;
* bodies are UTF-16LE with a BOM (FF FE), without XML declaration and without whitespace
  between elements; the Enumerate and Heartbeat envelopes are identical, character for
  character, to the envelopes of the published Windows capture (only the ids differ);
* connection A: Enumerate to the SubscriptionManager URL, then End (same OperationID), then
  the connection is closed;
* connection B (one per subscription, keep-alive): Heartbeat, then Events batches, each one
  waiting for an Ack whose ``a:RelatesTo`` equals the request ``a:MessageID``;
* failure (connection error, TLS error, non-200 or no matching Ack): wait ``retry_interval``,
  enumerate again and resume from the bookmark that the collector returns in the Subscribe.

Kerberos mode (``http://`` URL, ``KerberosClient``; see ``wefsim/kerberos.py``): per TCP
connection the first request is an empty-body POST with ``Authorization: Kerberos <raw krb5
GSS token>`` (or ``Negotiate <SPNEGO token>``), the reply must be 200 with
``WWW-Authenticate: Kerberos <AP-REP>`` (mutual authentication), and every later request and
response body is ``multipart/encrypted`` with the GSS wrap token (MS-WSMV 2.2.9.1.1.2.2).
A new TCP connection always gets a new security context.

Events come from files with one ``<Event>`` per line. For each (machine, subscription) stream
the simulator rewrites ``<Computer>`` to the machine FQDN and ``<EventRecordID>`` to a sequence
number that starts at 1, so that the collector's output can be counted. The bookmark sent with
a batch is ``<BookmarkList><Bookmark Channel="<channel of the last event>" RecordId="<last
sequence number>" IsCurrent="true"/></BookmarkList>``.

Start position: the maximum ``RecordId`` of the ``w:Bookmark`` of the Subscribe plus one. A
Subscribe without bookmark, or with the ``.../bookmark/earliest`` URI, starts at sequence 1:
the simulator treats its whole event file as events that already exist in the channel and
that the subscription selects (a real Windows client without bookmark would only send events
newer than the subscription; use the earliest URI if you want to be explicit).

Usable as a module (``Forwarder`` for single requests, ``run_machine``/``run_machines`` for
complete runs) and as a command line tool (``--help``).

This file is the simulator's front door: ``import wef_forwarder as wef`` gives every name of the
package ``wefsim`` next to it, where the code lives by concern:

* ``wefsim/wire.py``: namespaces, actions, URIs; UTF-16 bodies, durations, bookmarks; SLDC
* ``wefsim/soap.py``: the request envelopes and the parsing of the collector's replies
* ``wefsim/transport.py``: HTTPS (client certificate) and HTTP connections, TLS contexts
* ``wefsim/kerberos.py``: the GSSAPI client and the multipart/encrypted bodies
* ``wefsim/forwarder.py``: ``Forwarder``, one machine's requests
* ``wefsim/events.py``: event files prepared for fast batches
* ``wefsim/runs.py``: complete runs (enumerate, heartbeat, events, retries), many machines
* ``wefsim/cli.py``: the command line
* ``wefsim/errors.py``: the exceptions
"""

import logging
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:      # loaded by path: wefsim and sldc live next to this file
    sys.path.insert(0, _HERE)

from wefsim.errors import *      # noqa: E402,F401,F403
from wefsim.wire import *        # noqa: E402,F401,F403
from wefsim.soap import *        # noqa: E402,F401,F403
from wefsim.transport import *   # noqa: E402,F401,F403
from wefsim.kerberos import *    # noqa: E402,F401,F403
from wefsim.forwarder import *   # noqa: E402,F401,F403
from wefsim.events import *      # noqa: E402,F401,F403
from wefsim.runs import *        # noqa: E402,F401,F403
from wefsim.cli import main      # noqa: E402

log = logging.getLogger("wef_forwarder")

__all__ = [
    "NS", "ACTION_ENUMERATE", "ACTION_ENUMERATE_RESPONSE", "ACTION_SUBSCRIBE", "ACTION_EVENTS",
    "ACTION_EVENT", "ACTION_HEARTBEAT", "ACTION_ACK", "ACTION_SUBSCRIPTION_END", "ACTION_END",
    "BOOKMARK_EARLIEST", "STATUS_SOURCE_SHUTTING_DOWN", "STATUS_SOURCE_CANCELLING",
    "STATUS_DELIVERY_FAILURE", "DELIVERY_MODE_EVENTS", "PROFILE_HTTPS_MUTUAL",
    "SimulatorError", "ProtocolError", "DeliveryError", "GiveUp", "InvalidSubscription",
    "new_uuid", "encode_body", "decode_body", "parse_duration", "format_bookmark",
    "build_enumerate", "build_end", "build_heartbeat", "build_events", "build_subscription_end",
    "Subscription", "parse_enumerate_response", "parse_ack", "validate_subscription",
    "make_ssl_context", "cert_thumbprint", "Forwarder", "EventTemplates", "StreamResult",
    "MachineResult", "RunOptions", "run_subscription", "run_machine", "run_machines",
    "machine_names", "wrap_event", "format_bookmark_raw", "main",
    # Kerberos
    "PROFILE_HTTP_KERBEROS", "PROTOCOL_KERBEROS", "PROTOCOL_SPNEGO", "ENCRYPTED_BOUNDARY",
    "KRB5_MECH_OID", "SPNEGO_MECH_OID", "KerberosError", "KerberosClient", "KerberosContext",
    "EncryptedPart", "encrypted_content_type", "build_encrypted_body", "parse_encrypted_body",
    "www_authenticate_values", "offered_schemes", "principal_for_machine",
]


if __name__ == "__main__":
    sys.exit(main())
