"""Signature checks take anything a stranger can send and answer True or False, never raise."""

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from app.pagerduty.webhooks import signature_is_valid
from app.signatures import signed_by_slack

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_700_000_000


@given(body=st.binary(max_size=200), timestamp=st.text(max_size=40), signature=st.text())
def test_any_slack_headers_and_body_are_either_signed_or_not_never_an_error(
    body: bytes, timestamp: str, signature: str
) -> None:
    assert signed_by_slack(SECRET, body, timestamp, signature, now=NOW) in (True, False)


@given(body=st.binary(max_size=200))
def test_a_fresh_correct_slack_signature_of_any_bytes_is_accepted(body: bytes) -> None:
    base = f"v0:{NOW}:".encode() + body
    signature = "v0=" + hmac.new(SECRET.encode(), base, hashlib.sha256).hexdigest()
    assert signed_by_slack(SECRET, body, str(NOW), signature, now=NOW + 299)
    assert not signed_by_slack(SECRET, body, str(NOW), signature, now=NOW + 301)


@given(body=st.binary(max_size=200), header=st.text())
def test_any_pagerduty_signature_header_is_either_a_match_or_not_never_an_error(
    body: bytes, header: str
) -> None:
    assert signature_is_valid(body, header, [SECRET]) in (True, False)
