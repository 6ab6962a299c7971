"""Helpers shared by the tls and ws tests: certificates made with the openssl
command line, and a checked bulk transfer through an echo path.

`Certs(dir)` makes two CAs and, signed by the first unless said otherwise:
server (localhost, 127.0.0.1), expired (valid 2020 only), wrongname
(other.example only), otherca (localhost, signed by the second CA), client,
and client_otherca. Each is a (cert, key) pair of paths.
"""
import asyncio
import hashlib
import os
import subprocess
import time

import pytest

CA_CNF = """
[ ca ]
default_ca = CA_default
[ CA_default ]
dir = {dir}
database = {dir}/index.txt
new_certs_dir = {dir}/newcerts
serial = {dir}/serial
default_md = sha256
policy = policy_any
copy_extensions = none
unique_subject = no
[ policy_any ]
commonName = supplied
"""


def openssl(*args, cwd=None):
    r = subprocess.run(["openssl"] + list(args), capture_output=True, cwd=cwd, timeout=30)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {r.stderr.decode(errors='replace')}")
    return r.stdout


class Certs:
    def __init__(self, d):
        self.d = str(d)
        os.makedirs(self.d, exist_ok=True)
        self.ca = self._ca("ca", "portway test CA")
        self.ca2 = self._ca("ca2", "another test CA")
        self.server = self._issue("server", "ca", "localhost", "DNS:localhost,IP:127.0.0.1")
        self.expired = self._issue("expired", "ca", "localhost", "DNS:localhost,IP:127.0.0.1",
                                   start="20200101000000Z", end="20210101000000Z")
        self.wrongname = self._issue("wrongname", "ca", "other.example", "DNS:other.example")
        self.otherca = self._issue("otherca", "ca2", "localhost", "DNS:localhost,IP:127.0.0.1")
        self.client = self._issue("client", "ca", "test client", None)
        self.client_otherca = self._issue("client2", "ca2", "stranger", None)

    def p(self, name):
        return os.path.join(self.d, name)

    def _ca(self, name, cn):
        cadir = self.p(name + "-db")
        os.makedirs(os.path.join(cadir, "newcerts"), exist_ok=True)
        open(os.path.join(cadir, "index.txt"), "w").close()
        with open(os.path.join(cadir, "serial"), "w") as f:
            f.write("1000\n")
        with open(os.path.join(cadir, "ca.cnf"), "w") as f:
            f.write(CA_CNF.format(dir=cadir))
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", self.p(name + ".key"), "-out", self.p(name + ".pem"), "-days", "30",
                "-subj", "/CN=" + cn, "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return (self.p(name + ".pem"), self.p(name + ".key"))

    def _issue(self, name, ca, cn, san, start=None, end=None):
        key, csr, cert, ext = (self.p(name + s) for s in (".key", ".csr", ".pem", ".ext"))
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", key, "-out", csr, "-subj", "/CN=" + cn)
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n")
            if san:
                f.write(f"subjectAltName={san}\nextendedKeyUsage=serverAuth\n")
            else:
                f.write("extendedKeyUsage=clientAuth\n")
        cadir = self.p(ca + "-db")
        dates = ["-startdate", start, "-enddate", end] if start else ["-days", "30"]
        openssl("ca", "-batch", "-notext", "-config", os.path.join(cadir, "ca.cnf"),
                "-cert", self.p(ca + ".pem"), "-keyfile", self.p(ca + ".key"),
                "-in", csr, "-out", cert, "-extfile", ext, *dates)
        return (cert, key)


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    return Certs(tmp_path_factory.mktemp("certs"))


def test_certs_are_what_they_claim(certs):
    """The generated files are what the other tests rely on."""
    out = openssl("verify", "-CAfile", certs.ca[0], certs.server[0]).decode()
    assert "OK" in out
    with pytest.raises(RuntimeError, match="expired"):
        openssl("verify", "-CAfile", certs.ca[0], certs.expired[0])
    with pytest.raises(RuntimeError):
        openssl("verify", "-CAfile", certs.ca[0], certs.otherca[0])
    text = openssl("x509", "-in", certs.wrongname[0], "-noout", "-ext", "subjectAltName").decode()
    assert "other.example" in text and "127.0.0.1" not in text


def echo_transfer(port, size, host="127.0.0.1", ssl_ctx=None, server_hostname="localhost", timeout=60,
                  half_close=True):
    """Send size random bytes to an echo path at port, read them back and
    compare SHA-256 digests. Plain TCP half-closes after the last byte and
    expects the EOF to come back (unless half_close is False: then it closes
    once everything is back, as TLS does, since asyncio cannot half-close
    TLS). Returns bytes per second."""
    half_close = half_close and ssl_ctx is None
    data = os.urandom(min(size, 1 << 20))
    want = hashlib.sha256()
    got = hashlib.sha256()

    async def run():
        r, w = await asyncio.wait_for(asyncio.open_connection(
            host, port, ssl=ssl_ctx, server_hostname=server_hostname if ssl_ctx else None), 10)

        async def send():
            sent = 0
            while sent < size:
                chunk = data[: min(len(data), size - sent)]
                w.write(chunk)
                want.update(chunk)
                sent += len(chunk)
                await w.drain()
            if half_close:
                w.write_eof()

        async def recv():
            n = 0
            while n < size:
                d = await r.read(1 << 20)
                if not d:
                    break
                got.update(d)
                n += len(d)
            if half_close and n == size:
                assert await r.read(1) == b"", "bytes after the echo"
            return n

        t0 = time.time()
        _, n = await asyncio.wait_for(asyncio.gather(send(), recv()), timeout)
        elapsed = time.time() - t0
        w.close()
        return n, elapsed

    n, elapsed = asyncio.run(run())
    assert n == size, f"echoed {n} of {size} bytes"
    assert got.hexdigest() == want.hexdigest(), "echoed bytes differ"
    return size / max(elapsed, 1e-6)
