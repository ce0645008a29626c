"""Links from pages and tickets to the console: the incident's page and a silence form."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from lumen_bridge.domain.matchers import matches_all, parse_matcher
from lumen_bridge.notifiers.links import incident_url, silence_url

LABELS = {"alertname": "LumenStageFailed", "stage": 'pdf "a"\nb', "severity": "ticket"}


def test_no_external_url_no_links() -> None:
    assert incident_url(None, 3) is None
    assert silence_url(None, LABELS) is None
    assert incident_url("https://lumen.example.com/", None) is None


def test_the_incident_page() -> None:
    assert (
        incident_url("https://lumen.example.com/", 3) == "https://lumen.example.com/ui/incidents/3"
    )


@given(
    st.dictionaries(
        st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True),
        st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=20),
        min_size=1,
        max_size=5,
    )
)
def test_the_silence_form_matches_exactly_the_alert(labels: dict[str, str]) -> None:
    url = silence_url("https://lumen.example.com", labels)
    assert url is not None
    parts = urlsplit(url)
    assert parts.path == "/ui/silences"
    [text] = parse_qs(parts.query)["matchers"]
    matchers = [parse_matcher(line) for line in text.split("\n")]
    assert [m.name for m in matchers] == sorted(labels)
    assert matches_all(matchers, labels)
    for name in labels:  # another value of any label is not silenced
        assert not matches_all(matchers, {**labels, name: labels[name] + "x"})
