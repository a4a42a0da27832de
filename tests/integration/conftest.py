import pytest

from wec_harness import free_port, make_certs


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    """One PKI for the whole session: server cert for localhost, client certificates per machine."""
    directory = tmp_path_factory.mktemp("pki")
    clients = [f"win{n:02d}.corp.example" for n in range(1, 4)] + ["intruder.other.example"]
    thumbprint = make_certs(directory, clients=clients, other_ca=True, expired=["expired.corp.example"],
                            siblings=["win01.corp.example"], revoked=["revoked.corp.example"],
                            extra=["--expired-crl"])
    return {"dir": directory, "thumbprint": thumbprint, "clients": clients}


@pytest.fixture
def port():
    return free_port()
