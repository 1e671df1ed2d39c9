"""SOAP 1.2 plumbing for the simulated ONVIF camera: parsing, faults, WS-Security."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import logging
import time
from dataclasses import dataclass, field

from lxml import etree
from lxml.builder import ElementMaker

logger = logging.getLogger(__name__)

NS_ENV = "http://www.w3.org/2003/05/soap-envelope"
NS_SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
NS_TDS = "http://www.onvif.org/ver10/device/wsdl"
NS_TRT = "http://www.onvif.org/ver10/media/wsdl"
NS_TT = "http://www.onvif.org/ver10/schema"
NS_TER = "http://www.onvif.org/ver10/error"
NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
NS_WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PASSWORD_DIGEST = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"

NSMAP = {"env": NS_ENV, "tds": NS_TDS, "trt": NS_TRT, "tt": NS_TT, "ter": NS_TER}
ENV = ElementMaker(namespace=NS_ENV, nsmap=NSMAP)
TDS = ElementMaker(namespace=NS_TDS, nsmap=NSMAP)
TRT = ElementMaker(namespace=NS_TRT, nsmap=NSMAP)
TT = ElementMaker(namespace=NS_TT, nsmap=NSMAP)

SOAP_CONTENT_TYPE = "application/soap+xml; charset=utf-8"

# Untrusted input: no DTDs, no entity expansion, no network, no huge trees.
_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)


class SoapFault(Exception):
    """A SOAP 1.2 fault to send back: `code` is env:Sender/env:Receiver, `subcodes` are ter:*."""

    def __init__(self, code: str, subcodes: tuple[str, ...], reason: str, status: int | None = None):
        super().__init__(reason)
        self.code = code
        self.subcodes = subcodes
        self.reason = reason
        self.status = status if status is not None else (400 if code == "Sender" else 500)


def not_authorized(reason: str = "Sender not authorized") -> SoapFault:
    """The fault ONVIF devices send for a missing or wrong UsernameToken."""
    return SoapFault("Sender", ("NotAuthorized",), reason)


def fault_xml(fault: SoapFault) -> bytes:
    """Serialise `fault` as a SOAP 1.2 envelope (subcodes nested as the spec requires)."""
    code = ENV.Code(ENV.Value(f"env:{fault.code}"))
    parent = code
    for sub in fault.subcodes:
        node = ENV.Subcode(ENV.Value(f"ter:{sub}"))
        parent.append(node)
        parent = node
    text = ENV.Text(fault.reason)
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    body = ENV.Body(ENV.Fault(code, ENV.Reason(text)))
    return envelope_xml(body)


def envelope_xml(body: etree._Element) -> bytes:
    """Wrap a ready env:Body element in an env:Envelope and serialise it."""
    env = ENV.Envelope(body)
    # Hoist declarations to the root; keep prefixes used only inside QName text.
    etree.cleanup_namespaces(env, top_nsmap=NSMAP, keep_ns_prefixes=list(NSMAP))
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def parse_envelope(data: bytes) -> tuple[etree._Element | None, etree._Element]:
    """Parse a request; return (Header or None, first Body child) or raise SoapFault."""
    if not data or not data.strip():
        raise SoapFault("Sender", ("WellFormed",), "Empty request body")
    try:
        root = etree.fromstring(data, parser=_PARSER)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise SoapFault("Sender", ("WellFormed",), f"Malformed XML: {exc}") from None
    if root.tag == f"{{{NS_SOAP11}}}Envelope":
        raise SoapFault("VersionMismatch", (), "Only SOAP 1.2 is supported", status=500)
    if root.tag != f"{{{NS_ENV}}}Envelope":
        raise SoapFault("Sender", ("WellFormed",), "Root element is not a SOAP 1.2 Envelope")
    header = root.find(f"{{{NS_ENV}}}Header")
    body = root.find(f"{{{NS_ENV}}}Body")
    if body is None:
        raise SoapFault("Sender", ("WellFormed",), "Envelope has no Body")
    ops = [child for child in body if isinstance(child.tag, str)]
    if len(ops) != 1:
        raise SoapFault("Sender", ("WellFormed",), "Body must hold exactly one operation")
    return header, ops[0]


def _parse_created(text: str) -> dt.datetime:
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    created = dt.datetime.fromisoformat(value)
    if created.tzinfo is None:
        created = created.replace(tzinfo=dt.UTC)
    return created


@dataclass
class UsernameTokenChecker:
    """Verifies WS-Security UsernameToken PasswordDigest headers, with a replay cache."""

    username: str
    password: str = field(repr=False)
    max_skew_s: float = 300.0

    def __post_init__(self) -> None:
        self._seen: dict[bytes, float] = {}

    def check(self, header: etree._Element | None) -> None:
        """Raise SoapFault(NotAuthorized) unless `header` carries a valid, fresh digest token."""
        if header is None:
            raise not_authorized("Missing WS-Security header")
        token = header.find(f"{{{NS_WSSE}}}Security/{{{NS_WSSE}}}UsernameToken")
        if token is None:
            raise not_authorized("Missing UsernameToken")
        user = (token.findtext(f"{{{NS_WSSE}}}Username") or "").strip()
        pw_node = token.find(f"{{{NS_WSSE}}}Password")
        nonce_text = token.findtext(f"{{{NS_WSSE}}}Nonce")
        created_text = token.findtext(f"{{{NS_WSU}}}Created")
        if pw_node is None or nonce_text is None or created_text is None:
            raise not_authorized("UsernameToken must carry Password, Nonce and Created")
        if pw_node.get("Type", PASSWORD_DIGEST) != PASSWORD_DIGEST:
            raise not_authorized("Only PasswordDigest is accepted")
        try:
            nonce = base64.b64decode(nonce_text.strip(), validate=True)
            created = _parse_created(created_text)
        except (binascii.Error, ValueError):
            raise not_authorized("Malformed Nonce or Created") from None
        skew = abs((dt.datetime.now(dt.UTC) - created).total_seconds())
        if skew > self.max_skew_s:
            raise not_authorized("Created timestamp outside the allowed window")
        expected = base64.b64encode(
            hashlib.sha1(nonce + created_text.strip().encode() + self.password.encode()).digest()
        ).decode()
        user_ok = hmac.compare_digest(user.encode(), self.username.encode())
        digest_ok = hmac.compare_digest((pw_node.text or "").strip().encode(), expected.encode())
        if not (user_ok and digest_ok):
            raise not_authorized("Wrong username or password")
        self._remember(nonce + created_text.strip().encode())

    def _remember(self, key: bytes) -> None:
        now = time.monotonic()
        horizon = now - 2 * self.max_skew_s
        if len(self._seen) > 4096:
            self._seen = {k: t for k, t in self._seen.items() if t > horizon}
        if key in self._seen and self._seen[key] > horizon:
            raise not_authorized("Replayed nonce")
        self._seen[key] = now
