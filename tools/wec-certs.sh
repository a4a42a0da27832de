#!/bin/bash
# wec-certs.sh - make a small PKI for a Windows Event Collector with HTTPS client certificates.
#
#   tools/wec-certs.sh DIR --server-name NAME [options]
#
# Creates in DIR (existing files are kept, so the script can be re-run to add clients;
# --force starts from scratch):
#   root-ca.crt/.key         self-signed root CA
#   client-ca.crt/.key       intermediate CA (issued by the root) that issues client certificates
#   server.crt/.key          collector certificate (root-issued, CN=NAME, SAN DNS:NAME [+ IP],
#                            EKU serverAuth)
#   clients/C.crt/.key/.p12  one per --client C (client-ca-issued, CN=C, SAN DNS:C, EKU
#                            clientAuth); the .p12 holds key, certificate and chain for import
#                            into Windows LocalMachine\My
#   ca.d/                    root-ca.crt + client-ca.crt with `openssl rehash` links (the
#                            collector's trust directory: Windows sends only the leaf)
#   ca-bundle.crt            the root, for forwarders to verify the collector
#   issuer-thumbprint.txt    SHA-1 of client-ca.crt DER, upper-case hex (GPO IssuerCA=)
#   subscription-manager.txt the GPO "SubscriptionManagers" value
# With --other-ca: other-ca.crt/.key (an unrelated self-signed CA) and, per client,
#   clients/C-foreign.crt/.key/.p12 issued by it (same CN/SAN) for "unknown CA" tests.
# With --expired-client C: clients/C-expired.crt/.key/.p12, issued by client-ca, CN=C,
#   valid 2020-01-01 .. 2020-01-02 (made with `openssl ca -startdate/-enddate`).
# With --sibling-client C: sibling-ca.crt/.key, a second issuing CA under the same root (not
#   in ca.d/), and clients/C-sibling.crt/.key/.p12 issued by it with CN=C, plus
#   clients/C-sibling-chain.crt (the certificate followed by sibling-ca.crt, as a client that
#   sends its issuing CA along presents it).
# Revocation (--crl, --revoke C, --revoked-client C): the CAs keep a database in ca-db/, and
#   crl/root-ca.crl.pem and crl/client-ca.crl.pem are (re)written on every such run, valid
#   --crl-days days; crl.d/ holds both with `openssl rehash` links (the collector's crl-dir()).
#   Files are replaced by rename, so a running collector never reads half a file.
#   --revoke C puts the existing clients/C.crt on client-ca's CRL; --revoked-client C makes
#   clients/C-revoked.crt/.key/.p12 (client-ca, CN=C) and revokes it. --expired-crl also writes
#   crl/client-ca-expired.crl.pem, the same list with nextUpdate 2020-01-02.
#
# The IssuerCA thumbprint and the SubscriptionManagers string are printed at the end.
# Requires openssl (1.1.1 or 3.x). Certificates carry no CRL distribution point: a Windows
# forwarder may need revocation checking relaxed for the server certificate in a lab.

set -euo pipefail

prog=${0##*/}

usage() {
    cat <<EOF
usage: $prog DIR --server-name NAME [--server-ip IP]... [--client NAME]... [--days N]
       [--key-type rsa|ec] [--p12-password PW] [--other-ca] [--expired-client NAME]...
       [--sibling-client NAME]... [--crl] [--revoke NAME]... [--revoked-client NAME]...
       [--crl-days N] [--expired-crl] [--port N] [--refresh S] [--force] [--quiet]

  DIR                 output directory (created)
  --server-name NAME  collector FQDN: server CN and DNS SAN, used in the GPO string
  --server-ip IP      add an IP SAN to the server certificate (repeatable)
  --client NAME       make clients/NAME.{crt,key,p12} (repeatable; NAME = forwarder FQDN)
  --days N            validity of new certificates (default 825; CAs get 10 years)
  --key-type T        rsa (RSA 2048, default) or ec (P-256, faster)
  --p12-password PW   password of the .p12 files (default: empty)
  --other-ca          also make an unrelated CA and clients/NAME-foreign.* for each client
  --expired-client N  make clients/N-expired.* (CN=N, expired in 2020) (repeatable)
  --sibling-client N  make sibling-ca (another issuing CA under the root, not in ca.d) and
                      clients/N-sibling.* and N-sibling-chain.crt issued by it (repeatable)
  --crl               write the CRLs crl/root-ca.crl.pem, crl/client-ca.crl.pem and crl.d/
  --revoke N          revoke the existing clients/N.crt (repeatable; implies --crl)
  --revoked-client N  make clients/N-revoked.* (CN=N) and revoke it (repeatable; implies --crl)
  --crl-days N        nextUpdate of the CRLs, in days (default 30)
  --expired-crl       also write crl/client-ca-expired.crl.pem (nextUpdate in 2020)
  --port N            port in the GPO string (default 5986)
  --refresh S         Refresh in the GPO string (default 60)
  --force             delete DIR's previous PKI files first
  --quiet             print only the thumbprint and the GPO string
EOF
}

die() { echo "$prog: $*" >&2; exit 2; }

dir=""
server_name=""
server_ips=()
clients=()
expired=()
days=825
ca_days=3650
key_type=rsa
p12_password=""
other_ca=0
siblings=()
revoke=()
revoked=()
want_crl=0
crl_days=30
expired_crl=0
port=5986
refresh=60
force=0
quiet=0

while [ $# -gt 0 ]; do
    case "$1" in
        --server-name) server_name=${2:?--server-name needs a value}; shift 2 ;;
        --server-ip) server_ips+=("${2:?--server-ip needs a value}"); shift 2 ;;
        --client) clients+=("${2:?--client needs a value}"); shift 2 ;;
        --days) days=${2:?--days needs a value}; shift 2 ;;
        --key-type) key_type=${2:?--key-type needs a value}; shift 2 ;;
        --p12-password) p12_password=${2?--p12-password needs a value}; shift 2 ;;
        --other-ca) other_ca=1; shift ;;
        --expired-client) expired+=("${2:?--expired-client needs a value}"); shift 2 ;;
        --sibling-client) siblings+=("${2:?--sibling-client needs a value}"); shift 2 ;;
        --crl) want_crl=1; shift ;;
        --revoke) revoke+=("${2:?--revoke needs a value}"); want_crl=1; shift 2 ;;
        --revoked-client) revoked+=("${2:?--revoked-client needs a value}"); want_crl=1; shift 2 ;;
        --crl-days) crl_days=${2:?--crl-days needs a value}; shift 2 ;;
        --expired-crl) expired_crl=1; want_crl=1; shift ;;
        --port) port=${2:?--port needs a value}; shift 2 ;;
        --refresh) refresh=${2:?--refresh needs a value}; shift 2 ;;
        --force) force=1; shift ;;
        --quiet|-q) quiet=1; shift ;;
        -h|--help) usage; exit 0 ;;
        --*) usage >&2; die "unknown option $1" ;;
        *) [ -z "$dir" ] || die "more than one DIR given"; dir=$1; shift ;;
    esac
done

[ -n "$dir" ] || { usage >&2; die "DIR is missing"; }
[ -n "$server_name" ] || { usage >&2; die "--server-name is missing"; }
case "$key_type" in rsa|ec) ;; *) die "--key-type must be rsa or ec" ;; esac
[[ "$days" =~ ^[0-9]+$ ]] || die "--days must be a number"
[[ "$crl_days" =~ ^[1-9][0-9]*$ ]] || die "--crl-days must be a positive number"
name_re='^[A-Za-z0-9*]([A-Za-z0-9._*-]*[A-Za-z0-9])?$'
for n in "$server_name" "${clients[@]}" "${expired[@]}" "${siblings[@]}" "${revoke[@]}" "${revoked[@]}"; do
    [[ "$n" =~ $name_re ]] || die "invalid name '$n'"
done
command -v openssl >/dev/null || die "openssl not found"

say() { [ "$quiet" = 1 ] || echo "$@"; }

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if [ "$force" = 1 ]; then
    rm -rf "$dir/clients" "$dir/ca.d" "$dir"/root-ca.* "$dir"/client-ca.* "$dir"/server.* \
        "$dir"/other-ca.* "$dir"/sibling-ca.* "$dir/ca-bundle.crt" "$dir/issuer-thumbprint.txt" \
        "$dir/subscription-manager.txt" "$dir/ca-db" "$dir/crl" "$dir/crl.d"
fi
mkdir -p "$dir/clients"
umask 077
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

genkey() { # genkey OUT
    if [ "$key_type" = ec ]; then
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
    else
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null
    fi
    chmod 600 "$1"
}

serial() { echo "0x$(openssl rand -hex 15)"; }

leaf_ku() {
    if [ "$key_type" = ec ]; then echo "critical,digitalSignature"
    else echo "critical,digitalSignature,keyEncipherment"; fi
}

make_root() { # make_root BASE CN
    genkey "$1.key"
    openssl req -new -x509 -sha256 -key "$1.key" -subj "/CN=$2" -days "$ca_days" \
        -set_serial "$(serial)" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
        -addext "subjectKeyIdentifier=hash" -out "$1.crt"
    chmod 644 "$1.crt"
}

issue() { # issue KEY CRT CA_BASE CN DAYS EXTENSIONS...
    local key=$1 crt=$2 ca=$3 cn=$4 d=$5; shift 5
    printf '%s\n' "[v3]" "$@" "subjectKeyIdentifier=hash" \
        "authorityKeyIdentifier=keyid:always" > "$tmp/ext.cnf"
    openssl req -new -sha256 -key "$key" -subj "/CN=$cn" -out "$tmp/req.csr"
    openssl x509 -req -sha256 -in "$tmp/req.csr" -CA "$ca.crt" -CAkey "$ca.key" \
        -set_serial "$(serial)" -days "$d" -extfile "$tmp/ext.cnf" -extensions v3 \
        -out "$crt" 2>/dev/null
    chmod 644 "$crt"
}

client_ext() { # client_ext NAME
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=$(leaf_ku)"
    echo "extendedKeyUsage=clientAuth"
    echo "subjectAltName=DNS:$1"
}

make_p12() { # make_p12 BASE NAME CHAINFILE
    # PBE-SHA1-3DES + SHA-1 MAC: importable by every Windows 10/Server 2016+ (the OpenSSL 3
    # AES defaults need Windows 10 1709 or later).
    openssl pkcs12 -export -in "$1.crt" -inkey "$1.key" -certfile "$3" -name "$2" \
        -certpbe PBE-SHA1-3DES -keypbe PBE-SHA1-3DES -macalg sha1 \
        -passout "pass:$p12_password" -out "$1.p12"
    chmod 600 "$1.p12"
}

# --- CAs --------------------------------------------------------------------------------------
if [ ! -s "$dir/root-ca.key" ] || [ ! -s "$dir/root-ca.crt" ]; then
    make_root "$dir/root-ca" "WEC Root CA"
    say "created root-ca.crt"
fi
if [ ! -s "$dir/client-ca.key" ] || [ ! -s "$dir/client-ca.crt" ]; then
    genkey "$dir/client-ca.key"
    issue "$dir/client-ca.key" "$dir/client-ca.crt" "$dir/root-ca" "WEC Client Issuing CA" \
        "$ca_days" "basicConstraints=critical,CA:TRUE,pathlen:0" \
        "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
    say "created client-ca.crt"
fi
cat "$dir/client-ca.crt" "$dir/root-ca.crt" > "$tmp/client-chain.pem"

# --- server -------------------------------------------------------------------------------------
if [ ! -s "$dir/server.key" ] || [ ! -s "$dir/server.crt" ]; then
    san="DNS:$server_name"
    for ip in "${server_ips[@]}"; do san="$san,IP:$ip"; done
    genkey "$dir/server.key"
    issue "$dir/server.key" "$dir/server.crt" "$dir/root-ca" "$server_name" "$days" \
        "basicConstraints=critical,CA:FALSE" "keyUsage=$(leaf_ku)" \
        "extendedKeyUsage=serverAuth" "subjectAltName=$san"
    say "created server.crt (CN=$server_name, SAN $san)"
else
    say "kept existing server.crt"
fi

# --- clients ------------------------------------------------------------------------------------
for c in "${clients[@]}"; do
    base="$dir/clients/$c"
    if [ -s "$base.crt" ] && [ -s "$base.key" ]; then
        say "kept existing clients/$c.crt"
        continue
    fi
    genkey "$base.key"
    mapfile -t ext < <(client_ext "$c")
    issue "$base.key" "$base.crt" "$dir/client-ca" "$c" "$days" "${ext[@]}"
    make_p12 "$base" "$c" "$tmp/client-chain.pem"
    say "created clients/$c.crt/.key/.p12"
done

# --- expired clients (openssl ca with explicit start and end dates) -------------------------------
if [ "${#expired[@]}" -gt 0 ]; then
    mkdir -p "$tmp/ca/new"
    : > "$tmp/ca/index.txt"
    cat > "$tmp/ca/ca.cnf" <<EOF
[ca]
default_ca = tmpca
[tmpca]
dir = $tmp/ca
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[anything]
commonName = supplied
[client]
basicConstraints = critical,CA:FALSE
keyUsage = $(leaf_ku)
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
    for c in "${expired[@]}"; do
        base="$dir/clients/$c-expired"
        if [ -s "$base.crt" ] && [ -s "$base.key" ]; then
            say "kept existing clients/$c-expired.crt"
            continue
        fi
        openssl rand -hex 15 | sed 's/^/10/' > "$tmp/ca/serial"
        genkey "$base.key"
        openssl req -new -sha256 -key "$base.key" -subj "/CN=$c" -out "$tmp/req.csr"
        cat "$tmp/ca/ca.cnf" > "$tmp/ca/ca-$c.cnf"
        printf 'subjectAltName = DNS:%s\n' "$c" >> "$tmp/ca/ca-$c.cnf"
        openssl ca -batch -config "$tmp/ca/ca-$c.cnf" -cert "$dir/client-ca.crt" \
            -keyfile "$dir/client-ca.key" -in "$tmp/req.csr" -out "$base.crt" -notext \
            -startdate 20200101000000Z -enddate 20200102000000Z -extensions client \
            >/dev/null 2>"$tmp/ca.err" || { cat "$tmp/ca.err" >&2; die "openssl ca failed"; }
        chmod 644 "$base.crt"
        make_p12 "$base" "$c" "$tmp/client-chain.pem"
        say "created clients/$c-expired.crt/.key/.p12 (expired 2020-01-02)"
    done
fi

# --- foreign CA ---------------------------------------------------------------------------------
if [ "$other_ca" = 1 ]; then
    if [ ! -s "$dir/other-ca.key" ] || [ ! -s "$dir/other-ca.crt" ]; then
        make_root "$dir/other-ca" "Unrelated Test CA"
        say "created other-ca.crt"
    fi
    for c in "${clients[@]}"; do
        base="$dir/clients/$c-foreign"
        [ -s "$base.crt" ] && [ -s "$base.key" ] && continue
        genkey "$base.key"
        mapfile -t ext < <(client_ext "$c")
        issue "$base.key" "$base.crt" "$dir/other-ca" "$c" "$days" "${ext[@]}"
        make_p12 "$base" "$c" "$dir/other-ca.crt"
        say "created clients/$c-foreign.crt/.key/.p12 (issued by other-ca)"
    done
fi

# --- sibling issuing CA (same root, not in ca.d) ---------------------------------------------------
if [ "${#siblings[@]}" -gt 0 ]; then
    if [ ! -s "$dir/sibling-ca.key" ] || [ ! -s "$dir/sibling-ca.crt" ]; then
        genkey "$dir/sibling-ca.key"
        issue "$dir/sibling-ca.key" "$dir/sibling-ca.crt" "$dir/root-ca" "WEC Sibling Issuing CA" \
            "$ca_days" "basicConstraints=critical,CA:TRUE,pathlen:0" \
            "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
        say "created sibling-ca.crt"
    fi
    cat "$dir/sibling-ca.crt" "$dir/root-ca.crt" > "$tmp/sibling-chain.pem"
    for c in "${siblings[@]}"; do
        base="$dir/clients/$c-sibling"
        if [ ! -s "$base.crt" ] || [ ! -s "$base.key" ]; then
            genkey "$base.key"
            mapfile -t ext < <(client_ext "$c")
            issue "$base.key" "$base.crt" "$dir/sibling-ca" "$c" "$days" "${ext[@]}"
            make_p12 "$base" "$c" "$tmp/sibling-chain.pem"
            say "created clients/$c-sibling.crt/.key/.p12 (issued by sibling-ca)"
        fi
        cat "$base.crt" "$dir/sibling-ca.crt" > "$base-chain.crt"
        chmod 644 "$base-chain.crt"
    done
fi

# --- revocation: a database per CA (openssl ca), CRLs replaced by rename ---------------------------
ca_db_config() { # ca_db_config BASE: prints the path of an `openssl ca` config for CA BASE
    local db="$dir/ca-db/$1"
    mkdir -p "$db"
    [ -e "$db/index.txt" ] || : > "$db/index.txt"
    [ -s "$db/crlnumber" ] || echo 1000 > "$db/crlnumber"
    cat > "$tmp/$1-db.cnf" <<EOF
[ca]
default_ca = db
[db]
database = $db/index.txt
crlnumber = $db/crlnumber
certificate = $dir/$1.crt
private_key = $dir/$1.key
default_md = sha256
default_crl_days = $crl_days
unique_subject = no
[crl_ext]
authorityKeyIdentifier = keyid:always
EOF
    echo "$tmp/$1-db.cnf"
}

revoke_cert() { # revoke_cert CRT (issued by client-ca)
    local cnf
    cnf=$(ca_db_config client-ca)
    if openssl ca -config "$cnf" -revoke "$1" -crl_reason keyCompromise >"$tmp/ca.out" 2>&1; then
        return 0
    fi
    grep -q "already revoked" "$tmp/ca.out" || { cat "$tmp/ca.out" >&2; die "openssl ca -revoke $1 failed"; }
}

replace_file() { # replace_file SRC DEST: by rename within DEST's directory, never half written
    local staged
    staged="$(dirname "$2")/.$(basename "$2").new"
    cp "$1" "$staged"
    chmod 644 "$staged"
    mv -f "$staged" "$2"
}

if [ "$want_crl" = 1 ]; then
    for c in "${revoked[@]}"; do
        base="$dir/clients/$c-revoked"
        if [ ! -s "$base.crt" ] || [ ! -s "$base.key" ]; then
            genkey "$base.key"
            mapfile -t ext < <(client_ext "$c")
            issue "$base.key" "$base.crt" "$dir/client-ca" "$c" "$days" "${ext[@]}"
            make_p12 "$base" "$c" "$tmp/client-chain.pem"
            say "created clients/$c-revoked.crt/.key/.p12"
        fi
        revoke_cert "$base.crt"
    done
    for c in "${revoke[@]}"; do
        [ -s "$dir/clients/$c.crt" ] || die "--revoke $c: clients/$c.crt does not exist"
        revoke_cert "$dir/clients/$c.crt"
        say "revoked clients/$c.crt"
    done
    mkdir -p "$dir/crl" "$dir/crl.d"
    for ca in root-ca client-ca; do
        openssl ca -config "$(ca_db_config $ca)" -gencrl -crlexts crl_ext -out "$tmp/$ca.crl.pem" \
            >"$tmp/ca.out" 2>&1 || { cat "$tmp/ca.out" >&2; die "openssl ca -gencrl for $ca failed"; }
        replace_file "$tmp/$ca.crl.pem" "$dir/crl/$ca.crl.pem"
        replace_file "$tmp/$ca.crl.pem" "$dir/crl.d/$ca.crl.pem"
    done
    if [ "$expired_crl" = 1 ]; then
        openssl ca -config "$(ca_db_config client-ca)" -gencrl -crlexts crl_ext \
            -crl_lastupdate 20200101000000Z -crl_nextupdate 20200102000000Z \
            -out "$tmp/client-ca-expired.crl.pem" >"$tmp/ca.out" 2>&1 \
            || { cat "$tmp/ca.out" >&2; die "openssl ca -gencrl (expired) failed"; }
        replace_file "$tmp/client-ca-expired.crl.pem" "$dir/crl/client-ca-expired.crl.pem"
    fi
    openssl rehash "$dir/crl.d" 2>/dev/null || true
    chmod 755 "$dir/crl" "$dir/crl.d"
    say "wrote crl/root-ca.crl.pem, crl/client-ca.crl.pem and crl.d/ (next update in $crl_days days)"
fi

# --- trust material -----------------------------------------------------------------------------
rm -rf "$dir/ca.d"
mkdir -p "$dir/ca.d"
cp "$dir/root-ca.crt" "$dir/client-ca.crt" "$dir/ca.d/"
if ! openssl rehash "$dir/ca.d" 2>/dev/null; then
    command -v c_rehash >/dev/null || die "neither 'openssl rehash' nor c_rehash available"
    c_rehash "$dir/ca.d" >/dev/null
fi
chmod 755 "$dir/ca.d" "$dir/clients"
chmod 644 "$dir/ca.d"/*.crt
cp "$dir/root-ca.crt" "$dir/ca-bundle.crt"
chmod 644 "$dir/ca-bundle.crt"

# sanity: the chains verify
openssl verify -CAfile "$dir/root-ca.crt" "$dir/server.crt" >/dev/null \
    || die "server.crt does not verify"
for c in "${clients[@]}"; do
    openssl verify -CApath "$dir/ca.d" "$dir/clients/$c.crt" >/dev/null \
        || die "clients/$c.crt does not verify"
done

thumb=$(openssl x509 -in "$dir/client-ca.crt" -outform DER | openssl dgst -sha1 -r \
    | cut -d' ' -f1 | tr 'a-f' 'A-F')
gpo="Server=https://$server_name:$port/wsman/SubscriptionManager/WEC"
gpo="$gpo,Refresh=$refresh,IssuerCA=$thumb"
echo "$thumb" > "$dir/issuer-thumbprint.txt"
echo "$gpo" > "$dir/subscription-manager.txt"
chmod 644 "$dir/issuer-thumbprint.txt" "$dir/subscription-manager.txt"

echo "IssuerCA thumbprint: $thumb"
echo "SubscriptionManagers: $gpo"
