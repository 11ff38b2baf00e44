"""The README's demo command: migrate, seed_demo, serve; the printed logins work."""

import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Run the embedded default exactly as scripts/demo.sh does, on a small seed."""
    folder = tmp_path_factory.mktemp("demo")
    env = {
        "PATH": os.environ["PATH"],
        "DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"sqlite:///{folder / 'demo.sqlite3'}",
        "MEDIA_ROOT": str(folder / "media"),
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    seeded = subprocess.run(
        [*manage, "seed_demo", "--tickets", "60"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    again = subprocess.run(
        [*manage, "seed_demo", "--tickets", "60"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    port = _free_port()
    server = subprocess.Popen(
        [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{base}/login/", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline:
                server.kill()
                pytest.fail("demo server did not start")
            time.sleep(0.3)
    yield {"base": base, "seed_output": seeded.stdout, "again_output": again.stdout, "env": env}
    server.terminate()
    server.wait(timeout=10)


def _login(base: str, username: str, password: str) -> urllib.request.OpenerDirector:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": token}
    ).encode()
    opener.open(urllib.request.Request(f"{base}/login/", data=data, headers={"Referer": base}))
    return opener


def test_seed_prints_the_logins(demo):
    output = demo["seed_output"]
    assert "password for all: tandem-demo" in output
    assert "admin" in output
    assert "alice" in output
    assert "sam" in output


def test_seed_is_idempotent(demo):
    assert "Tickets already exist" in demo["again_output"]
    counts = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-v0",
            "-c",
            "from inbox.models import Ticket; from accounts.models import Account; "
            "from helpdesk.models import User; from automations.models import Rule; "
            "print(Ticket.objects.count(), Account.objects.count(), User.objects.count(), "
            "Rule.objects.count())",
        ],
        cwd=ROOT,
        env=demo["env"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert counts == ["60", "100", "16", "4"]  # tickets, accounts, people, default rules


def test_printed_admin_login_reaches_admin_and_landing_page(demo):
    opener = _login(demo["base"], "admin", "tandem-demo")
    admin_page = opener.open(f"{demo['base']}/admin/").read().decode()
    assert "Site administration" in admin_page
    assert "Business hours" in admin_page
    landing = opener.open(f"{demo['base']}/")
    assert landing.geturl().endswith("/inbox/")
    assert "Inbox" in landing.read().decode()


def test_printed_agent_login_sees_tickets(demo):
    opener = _login(demo["base"], "alice", "tandem-demo")
    body = opener.open(f"{demo['base']}/inbox/").read().decode()
    assert "alice" in body.lower()
    assert re.search(r'href="/tickets/\d+/"', body), "the agent sees team tickets"


def test_agent_opens_a_ticket_page_on_the_embedded_database(demo):
    """The ticket page's PostgreSQL-only shortcuts (tag names as an array) fall back here."""
    opener = _login(demo["base"], "alice", "tandem-demo")
    inbox = opener.open(f"{demo['base']}/inbox/").read().decode()
    path = re.search(r'href="(/tickets/\d+/)"', inbox).group(1)
    response = opener.open(f"{demo['base']}{path}")
    assert response.status == 200
    page = response.read().decode()
    assert 'id="timeline"' in page
