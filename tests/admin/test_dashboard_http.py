"""The dashboard over real HTTP: login, cookie flags, CSRF, roles, rate limit, sessions,
the audit log, search and CSV, masked configuration, and where it is served."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.admin.dashboard import PASSWORD, add_user, browser
from tests.harness import REPO, PostbackReceiver, free_port, running_daemon, wait_until
from xbtcpay.storage.admin_audit import AuditLog
from xbtcpay.storage.admin_users import AdminUserStore
from xbtcpay.web.admin.guard import CSP

# a postback on cancel that gives up after a second of failures
FAILING_HOOK = {"postback": {"max_age": 1, "events": ["paid", "canceled"]}}


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def _actions(d: Any) -> list[tuple[str, str, str]]:
    return [(e.actor, e.action, e.target) for e in await AuditLog(d.runtime.db).recent(100)]


async def test_login_sets_a_strict_session_cookie_and_every_page_renders(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        await add_user(d, "alice", "admin")
        payment = await d.start_payment(order_id="ORDER-77")
        async with browser(d) as b:
            status, _ = await b.get("/admin/")
            assert status == 303  # to the login page
            resp = await b.login("alice")
            assert resp.status == 303 and resp.headers["Location"] == "/admin/"
            cookie = resp.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
            assert "Path=/admin" in cookie and "Secure" not in cookie  # plain http
            for path in (
                "/admin/",
                "/admin/payments",
                f"/admin/payments/{payment['id']}",
                "/admin/postbacks",
                "/admin/customers?customer=c-1",
                "/admin/vouchers",
                "/admin/funds",
                "/admin/config",
                "/admin/audit",
                "/admin/keys",
                "/admin/users",
            ):
                async with b.session.get(d.rpc_url + path) as page:
                    assert page.status == 200, path
                    assert page.headers["Content-Security-Policy"] == CSP
                    assert page.headers["Cache-Control"] == "no-store"
                    assert "<script>" not in await page.text()
        assert ("alice", "login", "alice") in await _actions(d)


async def test_the_cookie_is_secure_behind_a_tls_proxy(tmp_path: Path) -> None:
    overrides = {"rpc": {"trusted_proxies": ["127.0.0.1/32"]}}
    async with running_daemon(tmp_path, overrides) as d:
        await add_user(d, "alice", "admin")
        async with (
            browser(d) as b,
            b.session.post(
                d.rpc_url + "/admin/login",
                data={"name": "alice", "password": PASSWORD},
                headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "127.0.0.1"},
                allow_redirects=False,
            ) as resp,
        ):
            assert resp.status == 303 and "Secure" in resp.headers["Set-Cookie"]


async def test_wrong_passwords_disabled_users_and_unknown_names_are_refused(
    tmp_path: Path,
) -> None:
    async with running_daemon(tmp_path) as d:
        await add_user(d, "alice", "viewer")
        async with browser(d) as b:
            assert (await b.login("alice", "wrong password!")).status == 401
            assert (await b.login("nobody")).status == 401
            assert (await b.get("/admin/"))[0] == 303
        actions = await _actions(d)
        assert ("alice", "login.failed", "alice") in actions
        assert ("nobody", "login.failed", "nobody") in actions


async def test_login_rate_limit_per_user_and_per_address(tmp_path: Path) -> None:
    overrides = {"admin": {"login_max_failures": 3, "login_max_failures_per_address": 5}}
    clock = Clock()
    async with running_daemon(tmp_path, overrides, clock=clock) as d:
        await add_user(d, "alice", "admin")
        await add_user(d, "bob", "admin")
        async with browser(d) as b:
            for _ in range(3):
                assert (await b.login("alice", "wrong password!")).status == 401
            locked = await b.login("alice")  # the right password, too late
            assert locked.status == 429
            assert (await b.get("/admin/"))[0] == 303
            # other names from the same address: the address limit (5) catches them
            assert (await b.login("bob", "wrong password!")).status == 401
            assert (await b.login("carol", "wrong password!")).status == 401
            assert (await b.login("bob")).status == 429
            clock.now += 901  # admin.login_window later
            assert (await b.login("alice")).status == 303
        assert ("alice", "login.locked", "alice") in await _actions(d)


async def test_a_change_needs_the_csrf_token_and_the_dashboards_origin(tmp_path: Path) -> None:
    hook = PostbackReceiver(fail_times=10**6)
    async with hook, running_daemon(tmp_path, FAILING_HOOK) as d:
        await add_user(d, "olga", "operator")
        payment = await d.start_payment(postback_url=hook.url)
        assert "result" in await d.call("cancel_payment", {"id": payment["id"]})
        await wait_until(lambda: _failed(d), timeout=15)
        (failed,) = await d.runtime.postbacks.search(status="failed")
        async with browser(d) as b:
            await b.login("olga")
            status, text, _ = await b.post(f"/admin/postbacks/{failed.id}/redeliver", csrf=False)
            assert status == 403 and "security token" in text
            b_csrf, b.csrf = b.csrf, "forged-token"
            assert (await b.post(f"/admin/postbacks/{failed.id}/redeliver"))[0] == 403
            b.csrf = b_csrf
            foreign = {"Origin": "http://evil.example"}
            status, _, _ = await b.post(f"/admin/postbacks/{failed.id}/redeliver", headers=foreign)
            assert status == 403
            assert (await d.runtime.postbacks.get(failed.id)).status == "failed"  # unchanged
            status, _, location = await b.post(f"/admin/postbacks/{failed.id}/redeliver")
            assert status == 303 and location.endswith("note=queued")
        assert ("olga", "postback.redeliver", str(failed.id)) in await _actions(d)


async def _failed(d: Any) -> bool:
    return bool(await d.runtime.postbacks.search(status="failed"))


async def test_roles(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        await add_user(d, "vic", "viewer")
        await add_user(d, "olga", "operator")
        payment = await d.start_payment()
        async with browser(d) as viewer:
            await viewer.login("vic")
            assert (await viewer.get("/admin/keys"))[0] == 403
            status, text, _ = await viewer.post("/admin/postbacks/1/redeliver")
            assert status == 403 and "operator" in text
            status, _, _ = await viewer.post(f"/admin/payments/{payment['id']}/cancel")
            assert status == 403
            status, _, _ = await viewer.post("/admin/vouchers", {"code": "X1", "grant": "EUR:1"})
            assert status == 403
            assert "Send again" not in (await viewer.get("/admin/postbacks"))[1]
        async with browser(d) as operator:
            await operator.login("olga")
            assert (await operator.get("/admin/keys"))[0] == 403
            status, _, _ = await operator.post("/admin/keys", {"scope": "payments:read"})
            assert status == 403
            status, _, location = await operator.post(f"/admin/payments/{payment['id']}/cancel")
            assert status == 303 and location.endswith("note=canceled")
        assert (await d.runtime.payments.get(payment["id"])).status.value == "canceled"
        assert ("olga", "payment.cancel", payment["id"]) in await _actions(d)


async def test_an_admin_creates_and_revokes_an_api_key(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, {"rpc": {"auth": "both"}}) as d:
        await add_user(d, "alice", "admin")
        async with browser(d) as b:
            await b.login("alice")
            await b.get("/admin/keys")
            status, text, _ = await b.post(
                "/admin/keys", {"name": "shop", "scope": "payments:read", "days": "30"}
            )
            assert status == 200
            key = text.split('id="new-key">')[1].split("<")[0]
            assert key.startswith("xbk_")
        headers = {"Authorization": f"Bearer {key}"}
        async with d.session.post(
            f"{d.rpc_url}/api/v0/rpc/list_payments", json={}, headers=headers
        ) as r:
            assert r.status == 200
        key_id = key.split("_")[1]
        async with browser(d) as b:
            await b.login("alice")
            await b.get("/admin/keys")
            assert key not in (await b.get("/admin/keys"))[1]  # shown once
            status, _, _ = await b.post(f"/admin/keys/{key_id}/revoke")
            assert status == 303
        async with d.session.post(
            f"{d.rpc_url}/api/v0/rpc/list_payments", json={}, headers=headers
        ) as r:
            assert r.status == 401
        actions = await _actions(d)
        assert ("alice", "key.create", key_id) in actions and (
            "alice",
            "key.revoke",
            key_id,
        ) in actions


async def test_sessions_expire_when_idle_and_end_at_logout(tmp_path: Path) -> None:
    clock = Clock()
    async with running_daemon(tmp_path, {"admin": {"session_idle": 600}}, clock=clock) as d:
        await add_user(d, "alice", "viewer")
        async with browser(d) as b:
            await b.login("alice")
            clock.now += 590
            assert (await b.get("/admin/"))[0] == 200  # used: the idle deadline moves on
            clock.now += 590
            assert (await b.get("/admin/"))[0] == 200
            clock.now += 601
            assert (await b.get("/admin/"))[0] == 303
        async with browser(d) as b:
            await b.login("alice")
            cookies = {c.key: c.value for c in b.session.cookie_jar}
            status, _, _ = await b.post("/admin/logout")
            assert status == 303
            async with b.session.get(
                d.rpc_url + "/admin/", cookies=cookies, allow_redirects=False
            ) as resp:
                assert resp.status == 303  # the old cookie is revoked server-side


async def _get(d: Any, path: str) -> tuple[int, str]:
    async with d.session.get(d.rpc_url + path) as resp:
        return resp.status, await resp.text()


def _cli(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xbtcpay", "-c", str(config), "admin", *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        input=stdin,
    )


async def test_cli_users_passwd_and_disable_end_sessions(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        config = tmp_path / "config.yaml"
        made = _cli(config, "create-user", "alice", "--role", "operator", stdin=PASSWORD + "\n")
        assert made.returncode == 0, made.stderr
        weak = _cli(config, "create-user", "bob", "--role", "viewer", stdin="short\n")
        assert weak.returncode == 1 and "12 characters" in weak.stderr
        again = _cli(config, "create-user", "alice", "--role", "viewer", stdin=PASSWORD + "\n")
        assert again.returncode == 1 and "exists" in again.stderr
        async with browser(d) as b:
            assert (await b.login("alice")).status == 303
            new = "another long passphrase"
            assert _cli(config, "passwd", "alice", stdin=new + "\n").returncode == 0
            assert (await b.get("/admin/"))[0] == 303  # its sessions ended
            assert (await b.login("alice")).status == 401
            assert (await b.login("alice", new)).status == 303
            assert _cli(config, "disable", "alice").returncode == 0
            assert (await b.get("/admin/"))[0] == 303
            assert (await b.login("alice", new)).status == 401
            assert _cli(config, "enable", "alice").returncode == 0
            assert (await b.login("alice", new)).status == 303
        listed = _cli(config, "list-users")
        assert "alice" in listed.stdout and "operator" in listed.stdout
        assert PASSWORD not in listed.stdout
        actions = [a for _, a, _ in await _actions(d)]
        for action in ("user.create", "user.passwd", "user.disable", "user.enable"):
            assert action in actions


async def test_search_by_order_id_filters_and_csv(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        await add_user(d, "vic", "viewer")
        wanted = await d.start_payment("2.5", order_id="ORDER-42")
        await d.start_payment("1", order_id="ORDER-43")
        async with browser(d) as b:
            await b.login("vic")
            for term in ("ORDER-42", wanted["id"], wanted["address"].upper()):
                _, text = await b.get(f"/admin/payments?q={term}")
                assert wanted["id"] in text and "ORDER-43" not in text, term
            _, text = await b.get("/admin/payments?status=paid")
            assert "ORDER-42" not in text
            _, text = await b.get("/admin/payments?q=ORDER-42&status=new")
            assert wanted["id"] in text
            status, csv = await b.get("/admin/payments.csv?q=ORDER-42")
            lines = csv.strip().splitlines()
            assert status == 200 and lines[0].startswith("id,status,method,asset,amount")
            assert len(lines) == 2 and "ORDER-42" in lines[1] and ",2.5," in lines[1]


async def test_the_configuration_page_masks_secrets(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        await add_user(d, "vic", "viewer")
        secret = d.config.postback.secret.reveal()
        async with browser(d) as b:
            await b.login("vic")
            _, text = await b.get("/admin/config")
        assert secret not in text and "********" in text


async def test_whitelist_keeps_guarding_the_dashboard_and_keys_mode_does_not_ask_for_a_key(
    tmp_path: Path,
) -> None:
    (tmp_path / "w").mkdir()
    outside = {"rpc": {"ip_whitelist": ["10.9.9.9/32"]}}
    async with running_daemon(tmp_path / "w", outside) as d:
        status, _ = await _get(d, "/admin/login")
        assert status == 403
    async with running_daemon(tmp_path, {"rpc": {"auth": "keys"}}) as d:
        await add_user(d, "alice", "viewer")
        async with browser(d) as b:
            assert (await b.login("alice")).status == 303
            assert (await b.get("/admin/"))[0] == 200


async def test_admin_listen_serves_the_dashboard_on_its_own_port(tmp_path: Path) -> None:
    port = free_port()
    async with running_daemon(tmp_path, {"admin": {"listen": f"127.0.0.1:{port}"}}) as d:
        await add_user(d, "alice", "viewer")
        async with d.session.get(d.rpc_url + "/admin/login") as resp:
            assert resp.status == 404
        async with browser(d, f"http://127.0.0.1:{port}") as b:
            assert (await b.login("alice")).status == 303
            assert (await b.get("/admin/payments"))[0] == 200


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"admin": {"listn": "x"}}, "admin.listn"),
        ({"admin": {"secure_cookie": "yes"}}, "admin.secure_cookie"),
        ({"admin": {"session_idle": 1}}, "admin.session_idle"),
        ({"admin": {"enabled": "no"}}, "admin.enabled"),
    ],
)
def test_a_wrong_admin_section_stops_start_up(
    tmp_path: Path, overrides: dict[str, Any], problem: str
) -> None:
    from tests.harness import base_config, write_config
    from xbtcpay.app.config import parse_config
    from xbtcpay.core.errors import ConfigError

    raw = base_config(tmp_path, overrides)
    with pytest.raises(ConfigError) as refused:
        parse_config(raw, write_config(tmp_path, raw))
    assert len(refused.value.problems) == 1 and problem in refused.value.problems[0]


async def test_a_customers_balances_and_ledger(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        await add_user(d, "vic", "viewer")
        reply = await d.call(
            "balance.adjust",
            {
                "customer": "cust-1",
                "currency": "EUR",
                "amount": "5.00",
                "reason": "welcome gift",
                "idempotency_key": "gift-cust-1",
            },
        )
        assert "result" in reply, reply
        async with browser(d) as b:
            await b.login("vic")
            status, text = await b.get("/admin/customers?customer=cust-1")
            assert status == 200
            assert "5.00" in text and "EUR" in text and "welcome gift" in text
            status, text = await b.get("/admin/customers?customer=nobody")
            assert status == 200 and "5.00" not in text


async def test_a_disabled_user_is_out_even_where_its_sessions_were_not_revoked(
    tmp_path: Path,
) -> None:
    async with running_daemon(tmp_path) as d:
        await add_user(d, "alice", "viewer")
        async with browser(d) as b:
            await b.login("alice")
            assert (await b.get("/admin/"))[0] == 200
            users = AdminUserStore(d.runtime.db)
            assert await users.update("alice", int(d.processor.now()), disabled=True)
            assert (await b.get("/admin/"))[0] == 303


async def test_an_admin_disables_and_enables_a_user_on_the_users_page(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as d:
        await add_user(d, "alice", "admin")
        await add_user(d, "vic", "viewer")
        await add_user(d, "olga", "operator")
        async with browser(d) as vic, browser(d) as alice, browser(d) as olga:
            await vic.login("vic")
            await olga.login("olga")
            assert (await olga.get("/admin/users"))[0] == 403
            assert (await olga.post("/admin/users/vic/disable"))[0] == 403
            await alice.login("alice")
            status, text = await alice.get("/admin/users")
            assert status == 200 and "vic" in text and "olga" in text
            assert (await alice.post("/admin/users/alice/disable"))[0] == 409
            status, _, location = await alice.post("/admin/users/vic/disable")
            assert status == 303 and location.endswith("note=disabled")
            assert (await vic.get("/admin/"))[0] == 303  # its session ended at once
            assert (await vic.login("vic")).status == 401
            assert (await alice.post("/admin/users/vic/enable"))[0] == 303
            assert (await vic.login("vic")).status == 303
        actions = await _actions(d)
        assert ("alice", "user.disable", "vic") in actions
        assert ("alice", "user.enable", "vic") in actions


async def test_the_overview_shows_each_chains_health(tmp_path: Path) -> None:
    from contextlib import AsyncExitStack

    from tests.chain.multichain import start_daemon
    from tests.harness import base_config

    raw = base_config(tmp_path)
    raw.pop("chain")
    raw["chains"] = {
        "l1": {"chain_id": 31337, "rpc_urls": ["http://127.0.0.1:1"], "confirmations": 1},
        "base": {"chain_id": 8453, "rpc_urls": ["http://127.0.0.1:1"], "confirmations": 1},
    }
    raw["assets"]["0xbtc"]["chain"] = "l1"
    async with AsyncExitStack() as stack:
        d = await start_daemon(stack, tmp_path, raw)
        await add_user(d, "vic", "viewer")
        async with browser(d) as b:
            await b.login("vic")
            status, text = await b.get("/admin/")
        assert status == 200
        health = text.split('id="chain-health"')[1].split("</div>")[0]
        assert "l1:" in health and "base:" in health


async def test_a_live_stream_ends_when_its_session_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from xbtcpay.web.admin import views

    monkeypatch.setattr(views, "HEARTBEAT", 0.2)  # the session is re-checked at each keep-alive
    async with running_daemon(tmp_path) as d:
        await add_user(d, "vic", "viewer")
        async with browser(d) as b:
            await b.login("vic")
            await b.get("/admin/")
            async with b.session.get(d.rpc_url + "/admin/events") as stream:
                assert stream.status == 200
                await stream.content.readline()  # the stream is open
                status, _, _ = await b.post("/admin/logout")
                assert status in (200, 303)
                ended = await asyncio.wait_for(stream.content.read(), timeout=10)
                assert b"keep-alive" not in ended.split(b"\n")[-1]
