"""A test-only certificate authority and server certificate, for TLS on the virtual network.

TEST USE ONLY. The private key below is public (it is in this file): it
protects nothing. It exists so that tests can run asyncio's TLS layer
(``ssl=``, ``start_tls``) over the virtual network without generating
certificates at test time, which the standard library cannot do. The CA
("asynctestkit test CA (not for production)") signed one certificate, valid
until 2125, for ``localhost``, ``127.0.0.1``, ``::1``, the host names
``server``, ``db``, ``api``, ``cache``, ``leader``, ``follower``,
``primary``, ``replica``, ``example.com`` (and ``*.example.com``) and
``test.internal`` (and ``*.test.internal``); the CA's key was thrown away. Made with OpenSSL 3 (EC P-256):

    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500 ...
    openssl x509 -req ... -extfile (subjectAltName, serverAuth/clientAuth, SKI/AKI)

Use `VirtualNetwork.tls_contexts` rather than these strings.
"""

from __future__ import annotations

import os
import ssl
import tempfile

__all__ = ("CA_PEM", "CERT_PEM", "KEY_PEM", "tls_contexts")

CA_PEM = """\
-----BEGIN CERTIFICATE-----
MIIBzzCCAXWgAwIBAgIUBsKszQXptXJcidb280dLh3j96wYwCgYIKoZIzj0EAwIw
NDEyMDAGA1UEAwwpYXN5bmN0ZXN0a2l0IHRlc3QgQ0EgKG5vdCBmb3IgcHJvZHVj
dGlvbikwIBcNMjYxMjA2MDE1NzA1WhgPMjEyNjExMTIwMTU3MDVaMDQxMjAwBgNV
BAMMKWFzeW5jdGVzdGtpdCB0ZXN0IENBIChub3QgZm9yIHByb2R1Y3Rpb24pMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAETPksoGy1d5F2fI89i+0EUiqiTGhiiHPr
/whMrzph6AOkQ3khP9w2zPeWjUUDUs4YBQiZX9rFaszAB6A+EBP0iaNjMGEwHQYD
VR0OBBYEFPkb5kwuRTAUrYBCJZmmxQjc1pTdMB8GA1UdIwQYMBaAFPkb5kwuRTAU
rYBCJZmmxQjc1pTdMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgEGMAoG
CCqGSM49BAMCA0gAMEUCIHyqMczUgIPNVIRQSlMPx3WIv3Bnu5A/v8TT75FbmrAD
AiEA6c935QhpWFceQ6PjBg2HSKPZIBQ3NZMD3hmJhuEN98I=
-----END CERTIFICATE-----
"""

CERT_PEM = """\
-----BEGIN CERTIFICATE-----
MIICeDCCAh6gAwIBAgIUYtdi1KLO5KJZq9hTizUxF9UFbt8wCgYIKoZIzj0EAwIw
NDEyMDAGA1UEAwwpYXN5bmN0ZXN0a2l0IHRlc3QgQ0EgKG5vdCBmb3IgcHJvZHVj
dGlvbikwIBcNMjYxMjA2MDE1NzQ4WhgPMjEyNjExMTIwMTU3NDhaMBQxEjAQBgNV
BAMMCWxvY2FsaG9zdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABHFk6dqBPvn5
icyqVVWF0MkW53ab/A0JU45LutoacbEC+oOr4B9oYe8P5zeFkZ8dC7B4ZOHeWbUF
FM6jDOrF+KOjggEqMIIBJjCBpgYDVR0RBIGeMIGbgglsb2NhbGhvc3SHBH8AAAGH
EAAAAAAAAAAAAAAAAAAAAAGCBnNlcnZlcoICZGKCA2FwaYIFY2FjaGWCBmxlYWRl
coIIZm9sbG93ZXKCB3ByaW1hcnmCB3JlcGxpY2GCC2V4YW1wbGUuY29tgg0qLmV4
YW1wbGUuY29tgg10ZXN0LmludGVybmFsgg8qLnRlc3QuaW50ZXJuYWwwDAYDVR0T
AQH/BAIwADAOBgNVHQ8BAf8EBAMCB4AwHQYDVR0lBBYwFAYIKwYBBQUHAwEGCCsG
AQUFBwMCMB0GA1UdDgQWBBQaRsHJS5Yq1sfBC0OlLG2Oh510LjAfBgNVHSMEGDAW
gBT5G+ZMLkUwFK2AQiWZpsUI3NaU3TAKBggqhkjOPQQDAgNIADBFAiBju+nX0Rzm
XQ8+9nnkhEt9r2joThQ9He8wIfDvwzjTkQIhAPq9zNs8NNOoQ1oQTrUJXQCwZ0aR
hZymOMY9eVub7fm4
-----END CERTIFICATE-----
"""

# TEST USE ONLY: a published key.
KEY_PEM = """\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQguSbAmzR37g9795y+
uKdneQUtJjVh3PAGTRVhJDKGLeWhRANCAARxZOnagT75+YnMqlVVhdDJFud2m/wN
CVOOS7raGnGxAvqDq+AfaGHvD+c3hZGfHQuweGTh3lm1BRTOowzqxfij
-----END PRIVATE KEY-----
"""


def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """Return (server context, client context) built on the test-only certificate above.

    The client trusts only the test CA and checks host names as usual.
    """
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # load_cert_chain() reads files only: write the pair to a private
    # temporary file, load it, delete it.
    fd, path = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(fd, "w") as file:
            file.write(CERT_PEM + KEY_PEM)
        server.load_cert_chain(path)
    finally:
        os.unlink(path)
    client = ssl.create_default_context(cadata=CA_PEM)
    return server, client
