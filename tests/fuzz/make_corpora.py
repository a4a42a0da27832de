#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets into a scratch directory (nothing in the repo
changes). Used by tools/fuzz.sh:

    make_corpora.py OUT_DIR        -> OUT_DIR/{soap,event_xml,sldc,encrypted_mime}/...

Sources: tests/fuzz/seeds/soap/*.xml (SOAP envelopes), tests/data/events-permissive.xml (one
event per line; a deterministic sample), the synthetic rendered-text events,
tests/data/sldc-python-vector.bin and bodies compressed with tests/simulator/sldc.py, and
hand-built multipart/encrypted bodies (fake token bytes: the framing parser does not decrypt).
"""
import hashlib
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
sys.path.insert(0, str(REPO / "tests" / "simulator"))
import sldc  # noqa: E402  (the repo's own encoder)

EVENT_SAMPLE_EVERY = 25       # events-permissive.xml has ~6000 lines: ~240 seeds
MAX_EVENT_SEED_BYTES = 16384  # keeps libFuzzer's default -max_len moderate


def write(directory, data):
    directory.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)


def utf16le_bom(text):
    return b"\xff\xfe" + text.encode("utf-16-le")


def event_lines():
    lines = (DATA / "events-permissive.xml").read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip()]


def soap(out):
    envelopes = sorted((REPO / "tests" / "fuzz" / "seeds" / "soap").glob("*.xml"))
    for path in envelopes:
        text = path.read_text(encoding="utf-8")
        write(out, text)                                   # UTF-8 without BOM
        write(out, utf16le_bom(text))                      # what Windows sends
    first = envelopes[0].read_text(encoding="utf-8")
    write(out, b"\xef\xbb\xbf" + first.encode("utf-8"))  # UTF-8 with BOM
    write(out, first.encode("utf-16-le"))                 # UTF-16LE without BOM
    write(out, b"\xfe\xff" + first.encode("utf-16-be"))   # UTF-16BE with BOM


def event_xml(out):
    lines = event_lines()
    for i, line in enumerate(lines):
        if i % EVENT_SAMPLE_EVERY == 0 and len(line.encode("utf-8")) <= MAX_EVENT_SEED_BYTES:
            write(out, line)
    for name in ("synthetic-renderedtext-en-US.xml", "synthetic-renderedtext-ja-JP.xml"):
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            if line.strip() and len(line.encode("utf-8")) <= MAX_EVENT_SEED_BYTES:
                write(out, line)


def sldc_corpus(out):
    write(out, (DATA / "sldc-python-vector.bin").read_bytes())
    lines = event_lines()
    plain = [
        b"",
        b"A",
        b"\xff" * 40,                                       # scheme 2 with escaped 0xFF
        bytes(range(256)),                                  # incompressible: scheme 2
        b"abcabcabcabcabcabcabcabcabcabcabcabc" * 8,        # long copies
        utf16le_bom(lines[0]),
        utf16le_bom(lines[1] + lines[2]),
    ]
    for path in sorted((REPO / "tests" / "fuzz" / "seeds" / "soap").glob("*.xml"))[:3]:
        plain.append(utf16le_bom(path.read_text(encoding="utf-8")))
    for data in plain:
        write(out, sldc.compress(data))
    two = sldc.compress(b"first record ") + sldc.compress(b"second record")
    write(out, two)                                         # two records back to back


CT_KERBEROS = ('multipart/encrypted;protocol="application/HTTP-Kerberos-session-encrypted";'
               'boundary="Encrypted Boundary"')
CT_SPNEGO = 'multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"'
CT_PLAIN = "Multipart/Encrypted; boundary=Encrypted Boundary; protocol=application/HTTP-Kerberos-session-encrypted"


def mime_body(protocol, header, cipher, length, indent="\t", crlf_before_close=False,
              boundary="Encrypted Boundary"):
    b = boundary.encode()
    ind = indent.encode()
    body = b"--" + b + b"\r\n"
    body += ind + b"Content-Type: " + protocol.encode() + b"\r\n"
    body += ind + b"OriginalContent: type=application/soap+xml;charset=UTF-16;Length=%d\r\n" % length
    body += b"--" + b + b"\r\n"
    body += ind + b"Content-Type: application/octet-stream\r\n"
    body += len(header).to_bytes(4, "little") + header + cipher
    if crlf_before_close:
        body += b"\r\n"
    body += b"--" + b + b"--\r\n"
    return body


def encrypted_mime(out):
    krb = "application/HTTP-Kerberos-session-encrypted"
    spnego = "application/HTTP-SPNEGO-session-encrypted"
    aes_header = bytes.fromhex("050406ff0000001c") + bytes(range(52))   # 60 bytes, like AES
    rc4_header = bytes.fromhex("0201") + bytes(range(43))
    cipher = bytes((i * 37) & 0xFF for i in range(96)) + b"\r\n--Encrypted Boundary\r\n"
    cases = [
        (CT_KERBEROS, mime_body(krb, aes_header, cipher, len(cipher))),
        (CT_KERBEROS, mime_body(krb, aes_header, cipher, len(cipher), indent="")),
        (CT_SPNEGO, mime_body(spnego, rc4_header, cipher[:40], 40)),
        (CT_SPNEGO, mime_body(spnego, rc4_header, cipher[:40], 40, indent="", crlf_before_close=True)),
        (CT_PLAIN, b"\r\n" + mime_body(krb, aes_header, b"", 0)),
        ('multipart/encrypted;protocol="application/HTTP-Kerberos-session-encrypted";boundary="B\\"q"',
         mime_body(krb, b"\x01", b"x", 1, boundary='B"q')),
    ]
    for content_type, body in cases:
        write(out, content_type.encode() + b"\n" + body)
    write(out, mime_body(krb, aes_header, cipher, len(cipher)))  # starts with "--": all body, default Content-Type


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = Path(argv[1])
    soap(root / "soap")
    event_xml(root / "event_xml")
    sldc_corpus(root / "sldc")
    encrypted_mime(root / "encrypted_mime")
    for d in sorted(root.iterdir()):
        print(f"{d.name}: {sum(1 for _ in d.iterdir())} seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
