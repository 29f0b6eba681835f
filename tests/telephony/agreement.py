"""What the SDK-agreement tests share: pointing a vendor's ``requests``-based SDK at the
recording server, comparing two recorded requests, and comparing XML documents as trees.

The comparison is deliberately narrow: method, raw path, Authorization, content type and
the parameters in their encoding (a form body as a multi-dict, a JSON body as an object,
the query string as pairs). User-Agent and other incidental headers are not compared.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter

from tests.emulators.recorder import Recorded, RecordingServer

T = TypeVar("T")


class LoopbackAdapter(HTTPAdapter):
    """A ``requests`` transport that sends every request to ``base_url`` instead of the
    vendor's host, leaving path, query, headers and body exactly as the SDK prepared them."""

    def __init__(self, vendor_origin: str, base_url: str) -> None:
        super().__init__()
        self._vendor_origin = vendor_origin.rstrip("/")
        self._base_url = base_url.rstrip("/")

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        url = request.url or ""
        if not url.startswith(self._vendor_origin):
            raise AssertionError(f"the SDK called an unexpected host: {url}")
        request.url = self._base_url + url[len(self._vendor_origin) :]
        return super().send(request, *args, **kwargs)


def route_session(session: requests.Session, vendor_origin: str, base_url: str) -> None:
    """Make ``session`` send everything for ``vendor_origin`` to the loopback ``base_url``."""
    session.mount(vendor_origin, LoopbackAdapter(vendor_origin, base_url))


async def sdk_call(server: RecordingServer, call: Callable[[], T]) -> tuple[T, Recorded]:
    """Run a blocking SDK call off the event loop; its result and the one request it sent."""
    server.take()
    result = await asyncio.to_thread(call)
    sent = server.take()
    assert len(sent) == 1, f"the SDK sent {len(sent)} requests"
    return result, sent[0]


def only_request(server: RecordingServer) -> Recorded:
    sent = server.take()
    assert len(sent) == 1, f"the adapter sent {len(sent)} requests"
    return sent[0]


@dataclass(frozen=True, slots=True)
class Shape:
    """The parts of a request that must agree with the vendor's SDK."""

    method: str
    raw_path: str
    authorization: str
    content_type: str
    query: tuple[tuple[str, str], ...]
    params: Any

    @classmethod
    def of(cls, request: Recorded, *, ignore: Iterable[str] = ()) -> Shape:
        """``ignore`` names body (or query) parameters left out of the comparison; each
        test lists them with the reason."""
        skip = set(ignore)
        # twilio-python labels even bodiless GETs as form-encoded; with no body the label
        # describes nothing, so only a request with a body has a content type.
        content_type = request.content_type if request.body else ""
        params: Any
        if content_type == "application/x-www-form-urlencoded":
            params = {name: values for name, values in request.form().items() if name not in skip}
        elif content_type == "application/json":
            document = request.json()
            params = (
                {k: v for k, v in document.items() if k not in skip}
                if isinstance(document, dict)
                else document
            )
        else:
            params = request.body
        return cls(
            method=request.method,
            raw_path=request.raw_path,
            authorization=request.authorization,
            content_type=content_type,
            query=tuple(pair for pair in request.query_pairs() if pair[0] not in skip),
            params=params,
        )


def differences(ours: Shape, theirs: Shape) -> list[str]:
    """The names of the fields where two request shapes disagree, with both values."""
    found = []
    for name in Shape.__slots__:
        mine, vendor = getattr(ours, name), getattr(theirs, name)
        if mine != vendor:
            found.append(f"{name}: ours={mine!r} sdk={vendor!r}")
    return found


# -- XML trees ------------------------------------------------------------------------------

XmlTree = tuple[str, tuple[tuple[str, str], ...], str, tuple[Any, ...]]


def xml_tree(document: str | bytes) -> XmlTree:
    """A document as nested ``(tag, attributes, text, children)``: attribute order and
    whitespace between elements do not count, children order does."""

    def node(element: ET.Element) -> XmlTree:
        return (
            element.tag,
            tuple(sorted(element.attrib.items())),
            (element.text or "").strip(),
            tuple(node(child) for child in element),
        )

    return node(ET.fromstring(document))


def tree_differences(ours: str | bytes, theirs: str | bytes) -> list[str]:
    """Where two XML documents differ, as paths like ``Response/Connect[0]/Stream[0]``."""
    found: list[str] = []

    def walk(a: XmlTree, b: XmlTree, where: str) -> None:
        if a[0] != b[0]:
            found.append(f"{where}: tag {a[0]!r} != {b[0]!r}")
            return
        if a[1] != b[1]:
            found.append(f"{where}: attributes {dict(a[1])} != {dict(b[1])}")
        if a[2] != b[2]:
            found.append(f"{where}: text {a[2]!r} != {b[2]!r}")
        if len(a[3]) != len(b[3]):
            found.append(f"{where}: {len(a[3])} children != {len(b[3])}")
        for index, (x, y) in enumerate(zip(a[3], b[3], strict=False)):
            walk(x, y, f"{where}/{x[0]}[{index}]")

    first, second = xml_tree(ours), xml_tree(theirs)
    walk(first, second, first[0])
    return found
