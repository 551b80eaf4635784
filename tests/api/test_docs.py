"""The API docs page loads nothing from outside gridmap."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient


def test_docs_use_only_local_assets(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
    assert urls, page.text
    assert not [url for url in urls if url.startswith(("http:", "https:", "//"))], urls
    for url in urls:
        assert client.get(url).status_code == 200, url
