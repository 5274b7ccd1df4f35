"""The documentation stays true: the generated reference matches the API's OpenAPI document,
every error code, status, reason and event is explained, the specification states the limits
the code enforces, and every webhook-verification example accepts what a Standard Webhooks
signer produces and rejects a tampered body."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from shared import statuses
from shared.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
EXAMPLES = DOCS / "examples"


def openapi() -> dict[str, object]:
    sys.path.insert(0, str(DOCS))
    try:
        import gen_reference
    finally:
        sys.path.remove(str(DOCS))
    return gen_reference.fetch_openapi(None)


def test_generated_endpoint_reference_is_current() -> None:
    done = subprocess.run([sys.executable, str(DOCS / "gen_reference.py"), "--check"],
                          capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr


def test_every_error_code_has_cause_and_fix() -> None:
    reference = (DOCS / "api-reference.md").read_text()
    codes = openapi()["components"]["schemas"]["ErrorCode"]["enum"]  # type: ignore[index]
    table = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([A-Z_]+)` \|.*$", reference,
                                                          re.MULTILINE)}
    for code in codes:
        assert code in table, f"error code {code} is not documented"
        cells = [c.strip() for c in table[code].strip("|").split("|")]
        assert len(cells) == 4 and all(cells), f"{code}: needs HTTP status, cause and fix"


def test_every_status_reason_and_event_is_documented() -> None:
    reference = (DOCS / "api-reference.md").read_text()
    for name in [*statuses.RANK, *statuses.FAILURE_REASONS, *statuses.EVENT_TYPES]:
        assert f"| `{name}` |" in reference, f"{name} is not documented"


def test_specification_states_the_enforced_limits() -> None:
    spec = (DOCS / "specification.md").read_text()
    defaults = Settings.model_fields
    for field in ("max_tokens_per_request", "max_title_ios", "max_title_android", "max_content",
                  "max_image_url", "max_sound", "max_collapse_key_bytes", "max_external_id",
                  "max_payload_bytes", "max_body_bytes"):
        row = next((line for line in spec.splitlines()
                    if f"PUSHFLOW_{field.upper()}" in line and line.startswith("|")), None)
        assert row is not None, f"{field} missing from the limits table"
        value = defaults[field].default
        assert str(value) in row.replace(",", ""), f"{field}: default {value} not stated"


def test_readme_has_exactly_two_setup_commands() -> None:
    readme = (REPO / "README.md").read_text()
    setup = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    commands = [line.split("#")[0].strip() for line in setup.splitlines()
                if line.startswith("    ") and line.strip()]
    assert commands == ["make up", "make test"]
    assert "5555" in readme and "/panel" in readme and "curl" in readme


def signed_request(body: bytes) -> tuple[str, dict[str, str]]:
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    msg_id, now = "msg_2x1", str(int(time.time()))
    from datetime import UTC, datetime

    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(int(now), UTC),
                                     body.decode())
    # A rotation: the receiver's secret signs second.
    other = Webhook("whsec_" + base64.b64encode(b"o" * 32).decode()).sign(
        msg_id, datetime.fromtimestamp(int(now), UTC), body.decode())
    return secret, {"webhook-id": msg_id, "webhook-timestamp": now,
                    "webhook-signature": f"{other} {signature}"}


BODY = json.dumps({"type": "push.sent", "data": {"messageId": "m1", "status": "sent"}}).encode()


def test_python_verification_example_agrees_with_the_library() -> None:
    sys.path.insert(0, str(EXAMPLES / "python"))
    try:
        import verify_webhook
    finally:
        sys.path.remove(str(EXAMPLES / "python"))
    secret, headers = signed_request(BODY)
    verify_webhook.verify_by_hand(secret, headers, BODY)
    assert verify_webhook.verify(secret, headers, BODY) == json.loads(BODY)
    with pytest.raises(verify_webhook.InvalidWebhook):
        verify_webhook.verify_by_hand(secret, headers, BODY.replace(b"sent", b"fail"))


def test_shell_verification_example_agrees_with_the_library(tmp_path: Path) -> None:
    secret, headers = signed_request(BODY)
    script = EXAMPLES / "curl" / "verify_webhook.sh"
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_bytes(BODY)
    bad.write_bytes(BODY.replace(b"sent", b"fail"))
    args = [secret, headers["webhook-id"], headers["webhook-timestamp"],
            headers["webhook-signature"]]
    ok = subprocess.run(["bash", str(script), *args, str(good)], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.strip() == "valid", ok.stderr
    no = subprocess.run(["bash", str(script), *args, str(bad)], capture_output=True, text=True)
    assert no.returncode == 1


@pytest.mark.skipif(shutil.which("java") is None, reason="no JDK on this machine")
def test_java_verification_example_agrees_with_the_library() -> None:
    secret, headers = signed_request(BODY)
    args = [secret, headers["webhook-id"], headers["webhook-timestamp"],
            headers["webhook-signature"]]
    source = str(EXAMPLES / "java" / "VerifyWebhook.java")
    ok = subprocess.run(["java", source, *args, BODY.decode()], capture_output=True, text=True,
                        timeout=60)
    assert ok.returncode == 0 and ok.stdout.strip() == "valid", ok.stderr
    no = subprocess.run(["java", source, *args, BODY.decode().replace("sent", "fail")],
                        capture_output=True, text=True, timeout=60)
    assert no.returncode != 0


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
URL = re.compile(r"\w+://\S+")
# A path in the repository: starts with one of its top-level directories (so API paths such as
# /v2.1/push, media types and Redis keys are not taken for files).
TOP_LEVEL = "|".join(re.escape(p.name) for p in REPO.iterdir()
                     if p.is_dir() and p.name not in {".git", ".venv", ".pushflow"})
CITED = re.compile(rf"(?<![\w./-])((?:{TOP_LEVEL})/[\w./-]*[\w/])")
# Written at run time or by the reader, not kept in the repository.
NOT_IN_REPO = ("deploy/pushflow.env",)
PAGES = sorted(DOCS.glob("*.md"))


def test_readme_links_every_page_and_the_openapi_document() -> None:
    readme = (REPO / "README.md").read_text()
    linked = {target.split("#")[0] for target in LINK.findall(readme)}
    for page in PAGES:
        assert f"docs/{page.name}" in linked, f"README does not link docs/{page.name}"
    assert "docs/examples/" in linked
    assert "/openapi.json" in readme and "/docs" in readme
    assert "MessageFlow v2.1 compatible" in readme


@pytest.mark.parametrize("page", [REPO / "README.md", *PAGES], ids=lambda p: p.name)
def test_every_link_and_cited_file_exists(page: Path) -> None:
    text = page.read_text()
    for target in LINK.findall(text):
        if URL.match(target) or target.startswith("#"):
            continue
        assert (page.parent / target.split("#")[0]).exists(), f"{page.name}: broken {target}"
    # Sections about features still to come name where their code will live.
    written = re.sub(r"^## [^\n]*coming.*?(?=^## |\Z)", "", text, flags=re.M | re.S | re.I)
    for cited in CITED.findall(URL.sub("", written)):
        path = cited.split("::")[0].rstrip(".")
        if path.startswith(NOT_IN_REPO):
            continue
        assert (REPO / path).exists(), f"{page.name} cites {path}, which does not exist"


# Words of the project's own bookkeeping, which mean nothing to a reader of the docs (a
# requests "session" is fine; "this session" is not).
JARGON = re.compile(r"\b(issues?|helpers?|worktrees?|arrives with|(?:this|the|same|later|earlier"
                    r"|first|next|previous) session)\b", re.IGNORECASE)


@pytest.mark.parametrize("page", [REPO / "README.md", *PAGES], ids=lambda p: p.name)
def test_no_internal_jargon(page: Path) -> None:
    found = [m.group(0) for m in JARGON.finditer(page.read_text())]
    assert not found, f"{page.name}: internal wording {found}"


@pytest.mark.parametrize("migration", sorted((REPO / "shared/db/migrations").glob("*.sql")),
                         ids=lambda p: p.name)
def test_migration_comments_cite_existing_files(migration: Path) -> None:
    for cited in CITED.findall(URL.sub("", migration.read_text())):
        assert (REPO / cited.rstrip(".")).exists(), f"{migration.name} cites {cited}"


def test_every_parameter_is_described_and_every_answer_has_a_schema() -> None:
    doc = openapi()
    for path, operations in doc["paths"].items():  # type: ignore[union-attr]
        for method, op in operations.items():
            where = f"{method.upper()} {path}"
            for param in op.get("parameters", []):
                assert param.get("description"), f"{where}: {param['name']} has no description"
            ok = [r for code, r in op["responses"].items() if code.startswith("2")]
            schema = ok[0]["content"]["application/json"]["schema"]
            assert "allOf" in schema, f"{where}: the answer's data items are not declared"
            for code, answer in op["responses"].items():
                assert "X-Request-Id" in answer.get("headers", {}), f"{where} {code}"
    push = doc["paths"]["/v2.1/push"]["post"]  # type: ignore[index]
    assert "Idempotent-Replayed" in push["responses"]["202"]["headers"]


def test_the_token_invalidated_payload_is_documented_as_recorded() -> None:
    """Every field the DLR statement writes into a token.invalidated event is in the example."""
    record = (REPO / "domain" / "dispatches" / "record.py").read_text()
    block = record.split("token_events AS", 1)[1].split("FROM dead", 1)[0]
    data = block.split("'data', jsonb_build_object(", 1)[1]
    fields = re.findall(r"'(\w+)', (?!\{)", data)  # not the time zone of to_char
    assert "invalidatedAt" in fields, fields
    reference = (DOCS / "api-reference.md").read_text()
    example = reference.split('{"type": "token.invalidated"', 1)[1].split("```", 1)[0]
    for field in fields:
        assert f'"{field}"' in example, f"token.invalidated: {field} is not in the example"
