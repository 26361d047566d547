"""The web side without a browser (Django's test client): the home page, the
demo page behind the login, Django's login and logout pages, /assets/micro.js
and the session JSON micro.js reads (CONTRACT 6: browser sessions).

The browser itself is in tests/test_demo_in_browser.py."""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from tests.support import factories
from tests.support.rpc import assert_envelope

PASSWORD = "web-test-password-42"
URL = re.compile(r"https?://", re.IGNORECASE)


class Elements(HTMLParser):
    """The attributes of every element, and the <option>s of each <select> by id."""

    def __init__(self, html):
        super().__init__()
        self.elements, self.options, self._select, self._option = [], {}, None, None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.elements.append((tag, attrs))
        if tag == "select":
            self._select = attrs.get("id")
            self.options[self._select] = []
        elif tag == "option" and self._select is not None:
            self._option = {"value": attrs.get("value"), "selected": "selected" in attrs, "label": ""}
            self.options[self._select].append(self._option)

    def handle_data(self, data):
        if self._option is not None:
            self._option["label"] += data

    def handle_endtag(self, tag):
        if tag == "option":
            self._option = None
        elif tag == "select":
            self._select = None

    def by_id(self, element_id):
        return [attrs for _, attrs in self.elements if attrs.get("id") == element_id]


def csrf_of(html):
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


@pytest.fixture
def member(django_user_model):
    """A user in namespaces micro and third (not in other, which exists)."""
    user = django_user_model.objects.create_user("wendy", password=PASSWORD)
    factories.ns("micro").members.add(user)
    factories.ns("third").members.add(user)
    factories.ns("other")
    return user


def assert_never_cached(response):
    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"no-cache", "no-store", "must-revalidate", "max-age=0"} <= cache_control, response["Cache-Control"]


# ---------------------------------------------------------------- home and demo pages


def test_home_page_links_to_the_demo(client, db):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert any(tag == "a" and attrs.get("href") == "/demo/" for tag, attrs in Elements(html).elements), html
    assert "/assets/micro.js" in html
    assert "Micro.requireLogin" in html and "Micro.post" in html


def test_readme_links_to_the_demo_page():
    readme = (Path(settings.BASE_DIR) / "README.md").read_text(encoding="utf-8")
    assert re.search(r"\]\(https?://[^)\s]+/demo/\)", readme), "README.md has no link to /demo/"


def test_demo_sends_anonymous_users_to_the_login_page_with_next(client, db):
    response = client.get("/demo/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/demo/"


def test_demo_page_lists_only_the_users_namespaces(client, member):
    client.force_login(member)
    response = client.get("/demo/")
    assert response.status_code == 200
    page = Elements(response.content.decode())
    assert page.options["namespace"] == [
        {"value": "micro", "selected": True, "label": "micro"},
        {"value": "third", "selected": False, "label": "third"},
    ]


def test_demo_page_of_a_superuser_lists_every_namespace(client, member, django_user_model):
    admin = django_user_model.objects.create_superuser("root", password=PASSWORD)
    client.force_login(admin)
    page = Elements(client.get("/demo/").content.decode())
    assert [o["value"] for o in page.options["namespace"]] == ["micro", "other", "third"]


def test_demo_page_of_a_user_without_namespaces_says_so(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("nobody", password=PASSWORD))
    response = client.get("/demo/")
    assert response.status_code == 200
    html = response.content.decode()
    assert Elements(html).options["namespace"] == []
    assert "You are not a member of any namespace" in html


def test_demo_page_has_the_elements_its_script_uses(client, member):
    client.force_login(member)
    html = client.get("/demo/").content.decode()
    page = Elements(html)
    ids = [
        "namespace", "group-id", "list-conversations", "new-topic", "create-conversation", "conversations",
        "conversation", "conversation-topic", "rename-topic", "rename", "delete-conversation", "load-older",
        "messages", "author", "text", "send", "chat-users", "open-chat", "chat", "chat-title", "chat-load-older",
        "chat-messages", "chat-author", "chat-text", "chat-send",
    ]  # fmt: skip
    script = html.split("<script>", 1)[1]
    for element_id in ids:
        assert len(page.by_id(element_id)) == 1, element_id
        # $("messages"), or the id handed to a function that does (showPage("messages", ...))
        assert f'"{element_id}"' in script, f"the script does not use #{element_id}"
    # Each call's error box (right under its control: tests/test_demo_in_browser.py),
    # hidden until a call fails, and named in the script's calls.
    error_ids = [
        "list-error", "create-error", "edit-error", "older-error", "send-error",
        "chat-error", "chat-older-error", "chat-send-error",
    ]  # fmt: skip
    alerts = [attrs for _, attrs in page.elements if attrs.get("role") == "alert"]
    assert [attrs["id"] for attrs in alerts] == error_ids
    for attrs in alerts:
        assert "hidden" in attrs and attrs["class"] == "error inline", attrs
        assert f'"{attrs["id"]}"' in html.split("<script>", 1)[1], f"no call shows its error in #{attrs['id']}"
    scripts = [attrs["src"] for tag, attrs in page.elements if tag == "script" and "src" in attrs]
    assert scripts == ["/assets/micro.js"]


def test_demo_page_and_micro_js_load_nothing_from_another_host(client, member):
    """No CDN: the rendered demo page names no http(s) URL at all, every
    src/href is a path on this site (or an inline data: URL), and micro.js's code (its comments aside)
    names no URL either: it calls the origin it was loaded from."""
    client.force_login(member)
    html = client.get("/demo/").content.decode()
    assert not URL.search(html), URL.search(html)
    for tag, attrs in Elements(html).elements:
        for name in ("src", "href", "action"):
            if attrs.get(name) is not None:
                value = attrs[name]
                on_this_site = value.startswith("/") and not value.startswith("//")
                assert on_this_site or value.startswith("data:"), (tag, name, value)
    assert "@import" not in html and "url(" not in html

    js = b"".join(client.get("/assets/micro.js").streaming_content).decode()
    code = re.sub(r"/\*.*?\*/", "", js, flags=re.DOTALL)
    code = re.sub(r"^\s*//.*$", "", code, flags=re.MULTILINE)
    assert not URL.search(code), URL.search(code)
    assert "import(" not in code and "importScripts" not in code


# ---------------------------------------------------------------- the favicon

FAVICON_HREF = "/static/web/favicon.svg"


def icon_links(html):
    return [attrs for tag, attrs in Elements(html).elements if tag == "link" and attrs.get("rel") == "icon"]


def test_favicon_ico_is_the_icon_with_a_long_cache(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert cache_control == {"public", "max-age=604800"}, response["Cache-Control"]
    icon = b"".join(response.streaming_content)
    assert icon.startswith(b"<svg ") and icon.rstrip().endswith(b"</svg>")
    # The same file as the static one the pages link.
    linked = client.get(FAVICON_HREF)
    assert linked.status_code == 200
    assert linked["Content-Type"].startswith("image/svg+xml")
    assert b"".join(linked.streaming_content) == icon
    assert client.head("/favicon.ico").status_code == 200
    assert client.post("/favicon.ico").status_code == 405


def test_the_services_pages_link_the_icon(client, member):
    for url in ("/", "/accounts/login/"):
        assert icon_links(client.get(url).content.decode()) == [
            {"rel": "icon", "href": FAVICON_HREF, "type": "image/svg+xml"}
        ]
    client.force_login(member)
    assert icon_links(client.get("/demo/").content.decode())[0]["href"] == FAVICON_HREF


def test_admin_pages_link_the_icon_and_keep_the_default_header(client, django_user_model):
    html = client.get("/admin/login/").content.decode()
    assert icon_links(html) == [{"rel": "icon", "href": FAVICON_HREF, "type": "image/svg+xml"}]
    assert '<a href="/admin/">Django administration</a>' in html
    client.force_login(django_user_model.objects.create_superuser("root", password=PASSWORD))
    for url in ("/admin/", "/admin/streams/message/", "/admin/tenants/namespace/add/"):
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert [link["href"] for link in icon_links(html)] == [FAVICON_HREF], url
        assert "Django administration" in html, url


# ---------------------------------------------------------------- login and logout


def test_login_page_renders_in_the_services_layout(client, db):
    response = client.get("/accounts/login/?next=/demo/")
    assert response.status_code == 200
    html = response.content.decode()
    page = Elements(html)
    assert page.by_id("id_username") and page.by_id("id_password")
    assert page.by_id("id_password")[0]["type"] == "password"
    assert "Log in · Conversation service" in html
    assert 'name="next" value="/demo/"' in html
    form = [attrs for tag, attrs in page.elements if tag == "form" and attrs.get("action") == "/accounts/login/"]
    assert form and form[0]["method"] == "post"


def test_logging_in_with_the_form_goes_to_next(member):
    client = Client(enforce_csrf_checks=True)
    html = client.get("/accounts/login/?next=/demo/").content.decode()
    response = client.post(
        "/accounts/login/",
        {"username": "wendy", "password": PASSWORD, "next": "/demo/", "csrfmiddlewaretoken": csrf_of(html)},
    )
    assert response.status_code == 302
    assert response["Location"] == "/demo/"
    assert client.get("/demo/").status_code == 200
    assert client.get("/accounts/session/").json()["username"] == "wendy"


def test_logging_in_without_next_goes_to_the_demo(client, member):
    response = client.post("/accounts/login/", {"username": "wendy", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/demo/"


def test_login_with_a_wrong_password_shows_the_form_again(client, member):
    response = client.post("/accounts/login/", {"username": "wendy", "password": "wrong", "next": "/demo/"})
    assert response.status_code == 200
    assert "didn&#x27;t match" in response.content.decode() or "didn't match" in response.content.decode()
    assert client.get("/accounts/session/").json()["authenticated"] is False


def test_login_does_not_follow_next_to_another_host(client, member):
    response = client.post(
        "/accounts/login/", {"username": "wendy", "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/demo/"


def test_logout_by_post(member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    html = client.get("/demo/").content.decode()
    # The header's log-out button is a POST form.
    logout_form = re.search(r'<form method="post" action="/accounts/logout/">', html)
    assert logout_form, html
    response = client.post("/accounts/logout/", {"csrfmiddlewaretoken": csrf_of(html)})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/accounts/session/").json()["authenticated"] is False
    assert client.get("/demo/")["Location"] == "/accounts/login/?next=/demo/"


def test_logout_by_get_is_refused(client, member):
    client.force_login(member)
    assert client.get("/accounts/logout/").status_code == 405
    assert client.get("/accounts/session/").json()["authenticated"] is True


# ---------------------------------------------------------------- micro.js


def test_micro_js_is_served_as_javascript(client, db):
    response = client.get("/assets/micro.js")
    assert response.status_code == 200
    assert response["Content-Type"].split(";")[0] == "text/javascript"
    js = b"".join(response.streaming_content).decode()
    assert re.search(r"global\.Micro\s*=\s*\{[^}]*\bpost:\s*post\b", js), "Micro.post is not defined"
    assert re.search(r"global\.Micro\s*=\s*\{[^}]*\brequireLogin:\s*requireLogin\b", js), "no Micro.requireLogin"
    assert re.search(r"function post\(path, namespace, body, onSuccess, onError\)", js)
    assert re.search(r"function requireLogin\(callback\)", js)
    assert "X-CSRFToken" in js and "Micro-Namespace" in js


def test_micro_js_is_get_only(client, db):
    assert client.post("/assets/micro.js").status_code == 405


# ---------------------------------------------------------------- /accounts/session/


def test_session_of_an_anonymous_visitor(client, db):
    response = client.get("/accounts/session/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"authenticated", "username", "namespaces", "csrf_token"}
    assert body["authenticated"] is False
    assert body["username"] is None
    assert body["namespaces"] == []
    assert isinstance(body["csrf_token"], str) and len(body["csrf_token"]) >= 32
    assert response.cookies[settings.CSRF_COOKIE_NAME].value
    assert_never_cached(response)


def test_session_of_a_member_lists_only_their_namespaces(client, member):
    client.force_login(member)
    response = client.get("/accounts/session/")
    assert response.status_code == 200
    body = response.json()
    assert body["authenticated"] is True
    assert body["username"] == "wendy"
    assert body["namespaces"] == ["micro", "third"]
    assert body["csrf_token"]
    assert response.cookies[settings.CSRF_COOKIE_NAME].value
    assert_never_cached(response)


def test_session_of_a_superuser_lists_every_namespace(client, member, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password=PASSWORD))
    body = client.get("/accounts/session/").json()
    assert body["namespaces"] == ["micro", "other", "third"]


def test_session_is_get_only(client, db):
    assert client.post("/accounts/session/").status_code == 405


def test_the_sessions_csrf_token_is_what_a_browser_call_needs(member):
    """What micro.js does: read the token from /accounts/session/, send it as
    X-CSRFToken with the cookie it set. Without it the call is refused."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    token = client.get("/accounts/session/").json()["csrf_token"]
    body = {"group_id": "g-web", "topic": "from a session"}
    ok = client.post(
        "/protobuf/Streams/CreateConversation",
        body,
        content_type="application/json",
        headers={"X-CSRFToken": token, "Micro-Namespace": "micro"},
    )
    assert ok.status_code == 200, ok.content
    assert ok.json()["conversation"]["topic"] == "from a session"

    refused = client.post(
        "/protobuf/Streams/CreateConversation",
        body,
        content_type="application/json",
        headers={"Micro-Namespace": "micro"},
    )
    assert refused.status_code == 403
    assert_envelope(refused, 403, "FORBIDDEN")

    other = client.post(
        "/protobuf/Streams/CreateConversation",
        body,
        content_type="application/json",
        headers={"X-CSRFToken": token, "Micro-Namespace": "other"},
    )
    assert_envelope(other, 403, "FORBIDDEN", "You are not a member of namespace 'other'")


# ---------------------------------------------------------------- membership in admin


def test_namespace_membership_is_managed_in_admin(client, member, django_user_model):
    admin = django_user_model.objects.create_superuser("root", password=PASSWORD)
    other = factories.ns("other")
    client.force_login(admin)
    url = f"/admin/tenants/namespace/{other.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="members"' in page.content.decode()

    response = client.post(url, {"name": "other", "members": [member.pk]})
    assert response.status_code == 302, response.content[:2000]
    assert list(other.members.all()) == [member]

    client.force_login(member)
    assert client.get("/accounts/session/").json()["namespaces"] == ["micro", "other", "third"]
    page = Elements(client.get("/demo/").content.decode())
    assert [o["value"] for o in page.options["namespace"]] == ["micro", "other", "third"]
