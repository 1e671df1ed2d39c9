"""Answering RTSP auth challenges: Digest as RFC 2617 defines it (checked by the simulator's verifier), Basic."""

from __future__ import annotations

import base64

from nvr.rtsp_auth_client import Credentials, auth_params, authorization, pick_challenge
from nvr.sim.rtsp_auth import Credentials as SimCredentials
from nvr.sim.rtsp_auth import DigestAuthenticator


def test_the_simulators_verifier_accepts_our_digest_answers() -> None:
    server = DigestAuthenticator(realm="cams")
    known = SimCredentials("admin", "s3cret")
    challenge = server.challenge()
    answer = Credentials("admin", "s3cret", challenge)
    for method in ("DESCRIBE", "SETUP", "PLAY", "GET_PARAMETER"):
        assert server.check(method, answer.header(method, "rtsp://127.0.0.1/cam/main"), known)
    assert not server.check("DESCRIBE", Credentials("admin", "wrong", challenge).header("DESCRIBE", "rtsp://x/"), known)
    assert server.check("DESCRIBE", authorization(challenge, "DESCRIBE", "rtsp://x/", "admin", "s3cret"), known)


def test_digest_with_qop_counts_nonce_use_and_echoes_opaque() -> None:
    challenge = 'Digest realm="r", nonce="abc", qop="auth,auth-int", opaque="xyz", algorithm=MD5'
    answer = Credentials("u", "p", challenge)
    first, second = (auth_params(answer.header("PLAY", "rtsp://h/s")) for _ in range(2))
    assert (first["nc"], second["nc"]) == ("00000001", "00000002")
    assert first["qop"] == "auth" and first["opaque"] == "xyz" and first["response"] != second["response"]


def test_basic_and_the_choice_of_challenge() -> None:
    header = Credentials("ad min", "p:w", 'Basic realm="cam"').header("DESCRIBE", "rtsp://h/")
    assert base64.b64decode(header.split()[1]) == b"ad min:p:w"
    digest = 'Digest realm="r", nonce="n"'
    assert pick_challenge(['Basic realm="r"', digest]) == digest
    assert pick_challenge(['Basic realm="r"']) == 'Basic realm="r"'
    assert pick_challenge(['Digest realm="r", nonce="n", algorithm=SHA-256']) is None
    assert pick_challenge([]) is None
    assert Credentials("u", "p", 'Digest realm="r", nonce="n", stale=TRUE').stale
    assert "p" not in repr(Credentials("u", "p", digest).__repr__().replace("scheme", ""))
