"""The widget in a real headless Chromium (Debian's `chromium`, driven by Playwright), on the demo page.

Set WRITE_SCREENSHOTS=1 to refresh docs/widget-desktop.png and docs/widget-mobile.png.
"""

from __future__ import annotations

import os
import re
import shutil

import pytest
from playwright import sync_api as playwright_api

from bot.settings import PROJECT_ROOT
from bot.webchat import signed_token
from tests.stack_fixture import WEB_JWT_SECRET

pytestmark = pytest.mark.integration
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("chromium is not installed (apt-get install chromium; .ci/run does it)")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield launched
        launched.close()


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    yield opened
    context.close()


def open_signed_in(page, stack, email_address: str) -> None:
    """The demo page as a careers site serves it to a logged-in candidate: with a JWT the site signed for them
    (the test stack is not local use, so its demo page signs nobody in itself)."""
    def with_token(route) -> None:
        served = route.fetch()
        token = signed_token(email_address, WEB_JWT_SECRET)
        body = served.text().replace('window.CandidateAssistantToken = "" || null',
                                     f'window.CandidateAssistantToken = "{token}" || null')
        assert token in body, "the demo page no longer has the careers site's token line"
        route.fulfill(response=served, body=body)

    page.route(re.compile(r".*/webhooks/web/demo$"), with_token)
    page.goto(f"{stack.stack.rasa_url}/webhooks/web/demo")


def widget(page):
    return page.locator("#candidate-assistant")


def open_chat(page):
    launcher = widget(page).locator("button.launcher")
    if launcher.get_attribute("aria-expanded") != "true":
        launcher.click()
    return widget(page).locator("section.panel")


def send(page, text: str) -> None:
    box = widget(page).locator("textarea")
    box.fill(text)
    box.press("Enter")


def bot_says(page, fragment: str, timeout: float = 30_000):
    widget(page).locator(".msg.bot", has_text=fragment).last.wait_for(timeout=timeout)


# Each test signs in as its own demo candidate: a signed-in candidate's conversation follows them.
def test_a_signed_in_candidate_asks_for_their_status_and_sees_it_again_after_a_reload(stack, page):
    open_signed_in(page, stack, "diego.santos@example.com")
    panel = open_chat(page)
    assert panel.is_visible()
    send(page, "where's my application?")
    bot_says(page, "Technical Interview stage")
    page.reload()
    open_chat(page)  # remembered as open; the history comes back from the server
    bot_says(page, "Technical Interview stage", timeout=15_000)
    assert widget(page).locator(".msg.user", has_text="where's my application?").count() == 1


def test_quick_replies_are_buttons_and_pressing_one_sends_its_title(stack, page):
    open_signed_in(page, stack, "lena.fischer@example.de")
    open_chat(page)
    send(page, "hello")
    replies = widget(page).locator(".replies button")
    replies.first.wait_for(timeout=30_000)
    assert replies.all_inner_texts() == ["Where's my application?", "Talk to a recruiter"]
    replies.first.click()
    assert widget(page).locator(".msg.user", has_text="Where's my application?").count() >= 1
    bot_says(page, "Technical Interview stage")


def test_an_anonymous_visitor_is_answered_but_told_nothing_private(stack, page):
    page.goto(f"{stack.stack.rasa_url}/webhooks/web/demo")
    open_chat(page)
    send(page, "where's my application?")
    bot_says(page, "once I know it's you")
    assert "Technical Interview" not in widget(page).locator(".log").inner_text()


def test_an_anonymous_visitor_verifies_with_a_code_sent_to_their_email(stack, page):
    page.goto(f"{stack.stack.rasa_url}/webhooks/web/demo")
    open_chat(page)
    send(page, "where's my application?")
    widget(page).locator(".replies button", has_text="Verify with my email").click()
    bot_says(page, "What's the email address on your application?")
    send(page, "lena.fischer@example.de")
    bot_says(page, "I've just sent a 6-digit code")
    [code] = stack.codes_sent("lena.fischer@example.de", at_least=1)
    send(page, code)
    bot_says(page, "Thanks, that's you verified.")
    bot_says(page, "Technical Interview stage")


def test_the_widget_works_with_the_keyboard_alone(stack, page):
    page.goto(f"{stack.stack.rasa_url}/webhooks/web/demo")
    launcher = widget(page).locator("button.launcher")
    launcher.focus()
    page.keyboard.press("Enter")
    textarea = widget(page).locator("textarea")
    assert textarea.evaluate("node => node.getRootNode().activeElement === node")  # focus moved into the chat
    page.keyboard.type("hi there")
    page.keyboard.press("Enter")
    first_reply = widget(page).locator(".replies button").first
    first_reply.wait_for(timeout=30_000)
    first_reply.focus()
    page.keyboard.press("Enter")
    bot_says(page, "once I know it's you")
    page.keyboard.press("Escape")
    assert not widget(page).locator("section.panel").is_visible()
    assert launcher.evaluate("node => node.getRootNode().activeElement === node")


def test_the_log_is_announced_and_the_controls_are_labelled(stack, page):
    page.goto(f"{stack.stack.rasa_url}/webhooks/web/demo")
    open_chat(page)
    log = widget(page).locator(".log")
    assert log.get_attribute("role") == "log" and log.get_attribute("aria-live") == "polite"
    assert widget(page).locator("section.panel").get_attribute("role") == "dialog"
    assert widget(page).locator("label[for=ca-input]").inner_text() == "Your message"
    assert widget(page).locator("button.close").get_attribute("aria-label") == "Close chat"


def test_the_widget_fits_a_320_pixel_phone(stack, browser):
    context = browser.new_context(viewport={"width": 320, "height": 640}, device_scale_factor=2, is_mobile=True)
    phone = context.new_page()
    phone.goto(f"{stack.stack.rasa_url}/webhooks/web/demo")
    open_chat(phone)
    send(phone, "what benefits do you offer?")
    phone.wait_for_timeout(500)
    box = widget(phone).locator("section.panel").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 320
    scroll_width = phone.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 320
    context.close()


def test_screenshots_for_the_readme(stack, browser):
    if os.environ.get("WRITE_SCREENSHOTS") != "1":
        pytest.skip("set WRITE_SCREENSHOTS=1 to refresh docs/widget-*.png")
    docs = PROJECT_ROOT / "docs"
    docs.mkdir(exist_ok=True)
    for name, viewport, address, stage in (
            ("desktop", {"width": 1280, "height": 800}, "aisha.bello@example.co.uk", "Offer stage"),
            ("mobile", {"width": 360, "height": 740}, "omar.haddad@example.com", "You have 2 applications")):
        context = browser.new_context(viewport=viewport, device_scale_factor=1)
        shot = context.new_page()
        open_signed_in(shot, stack, address)
        open_chat(shot)
        send(shot, "hi")
        widget(shot).locator(".replies button").first.wait_for(timeout=30_000)
        widget(shot).locator(".replies button").first.click()
        bot_says(shot, stage)
        shot.wait_for_timeout(300)
        shot.screenshot(path=str(docs / f"widget-{name}.png"))
        context.close()
