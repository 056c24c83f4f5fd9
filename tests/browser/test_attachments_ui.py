"""Files in the web client (issue 14): pasting and dropping a picture, its preview for both
people, the lightbox, a PDF sent with the picker and downloaded, upload errors in plain words,
and avatars set, shown live and removed."""

from __future__ import annotations

import base64
import functools
import io
import resource
import subprocess

import pytest
from conftest import Pages, Server, unique
from pageutil import open_room, wait_until
from PIL import Image
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

# Build a File from base64 bytes in the page, then hand it over the way the browser does.
MAKE_FILE = """([b64, name, type]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], name, { type }));
  return data;
}"""
PASTE = f"""(args) => {{
  const data = ({MAKE_FILE})(args);
  const input = document.getElementById('composer-input');
  input.focus();
  const init = {{ clipboardData: data, bubbles: true, cancelable: true }};
  input.dispatchEvent(new ClipboardEvent('paste', init));
}}"""
DROP = f"""(args) => {{
  const data = ({MAKE_FILE})(args);
  const target = document.getElementById('scroller');
  for (const type of ['dragenter', 'dragover', 'drop']) {{
    const init = {{ dataTransfer: data, bubbles: true, cancelable: true }};
    target.dispatchEvent(new DragEvent(type, init));
  }}
}}"""
# A small but real PDF: what the server's sniffing recognises by its first bytes.
PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)


def png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    """A real PNG picture of one colour."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def b64(data: bytes) -> str:
    """Bytes as base64 text, to pass into the page."""
    return base64.b64encode(data).decode()


def natural_width(locator) -> int:
    """The width of the picture an <img> loaded (0 until it has)."""
    return locator.evaluate("img => img.complete ? img.naturalWidth : 0")


def test_pasted_and_dropped_pictures_show_for_both_people_and_open_in_the_lightbox(
    shared_server, shared_pages
):
    server = shared_server
    _, ann_token = server.user("Ann")
    bob, bob_token = server.user("Bob")
    room = server.room(ann_token, unique("pictures"), members=[bob])
    a = shared_pages.chat(ann_token)
    b = shared_pages.chat(bob_token)
    open_room(a, room)
    open_room(b, room)

    # Pasted with text in the box: the text is the picture's caption, and the box empties.
    a.get_by_label("Message", exact=True).fill("the view from the hut")
    a.evaluate(PASTE, [b64(png(640, 480, (200, 80, 30))), "image.png", "image/png"])
    expect(a.locator("#messages li.message:not(.pending) .attachment-image")).to_have_count(1)
    # Dropped on the room: no caption.
    a.evaluate(DROP, [b64(png(300, 600, (20, 90, 160))), "tall.png", "image/png"])
    expect(a.get_by_label("Message", exact=True)).to_have_value("")

    for page in (a, b):
        pictures = page.locator("#messages li.message:not(.pending) .attachment-image img")
        expect(pictures).to_have_count(2)
        wait_until(lambda p=pictures: natural_width(p.nth(0)) > 0 and natural_width(p.nth(1)) > 0)
        expect(pictures.nth(0)).to_have_attribute("alt", "image.png")
        expect(page.locator("#messages li.message .content").nth(0)).to_have_text(
            "the view from the hut"
        )
        # The thumbnail keeps the picture's shape, at most 360 x 270 in the list.
        assert pictures.nth(0).evaluate("img => [img.width, img.height]") == [360, 270]
        assert pictures.nth(1).evaluate("img => [img.width, img.height]") == [135, 270]
    # Each upload became one message: the echo replaced the pending item.
    expect(a.locator("#messages li.pending")).to_have_count(0)
    assert len(server.messages(ann_token, room["id"])) == 2

    # Bob opens the first picture: the whole picture, in a modal dialog; Escape closes it.
    thumb = b.get_by_role("button", name="Open picture image.png")
    thumb.click()
    dialog = b.locator("#lightbox")
    expect(dialog).to_be_visible()
    wait_until(lambda: natural_width(b.locator("#lightbox-image")) == 640)
    expect(b.locator("#lightbox-name")).to_contain_text("image.png")
    expect(b.locator("#lightbox-close")).to_be_focused()
    b.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(thumb).to_be_focused()  # back where the reader was
    # By keyboard, and closed with a click on the picture.
    thumb.press("Enter")
    expect(dialog).to_be_visible()
    b.locator("#lightbox-image").click()
    expect(dialog).to_be_hidden()


def test_a_pdf_sent_with_the_picker_downloads_with_the_same_bytes(shared_server, shared_pages):
    server = shared_server
    _, ann_token = server.user("Ann")
    bob, bob_token = server.user("Bob")
    room = server.room(ann_token, unique("documents"), members=[bob])
    a = shared_pages.chat(ann_token)
    b = shared_pages.chat(bob_token)
    open_room(a, room)
    open_room(b, room)

    expect(a.get_by_role("button", name="Attach a file")).to_be_visible()
    a.locator("#attach-file").set_input_files(
        {"name": "Minutes.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    for page in (a, b):
        link = page.locator("#messages li.message:not(.pending) a.attachment-file")
        expect(link).to_have_count(1)
        expect(link.locator(".attachment-name")).to_have_text("Minutes.pdf")
        expect(link.locator(".attachment-meta")).to_have_text(f"PDF · {len(PDF)} bytes")
        # Without a caption the name shows once, in the file's link.
        expect(page.locator("#messages li.message .content")).to_have_text("")

    link = b.locator("#messages a.attachment-file")
    with b.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename == "Minutes.pdf"
    with open(download.path(), "rb") as saved:
        assert saved.read() == PDF


def test_a_video_gets_a_player_and_a_download_link(shared_server, shared_pages):
    server = shared_server
    _, token = server.user("Ann")
    room = server.room(token, unique("videos"))
    a = shared_pages.chat(token)
    open_room(a, room)
    # An MP4's first box (ftyp): enough for the server to read it as video/mp4.
    mp4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(2000)
    a.get_by_label("Message", exact=True).fill("the launch")
    a.locator("#attach-file").set_input_files(
        {"name": "launch.mp4", "mimeType": "video/mp4", "buffer": mp4}
    )
    item = a.locator("#messages li.message:not(.pending)")
    expect(item.locator(".content")).to_have_text("the launch")
    video = item.locator("video")
    expect(video).to_have_attribute("preload", "metadata")
    assert video.evaluate(
        "v => v.controls && v.getAttribute('src').startsWith('/api/attachments/')"
    )
    expect(item.locator("a.attachment-file .attachment-meta")).to_have_text(
        "MP4 video · 2 KB"  # 2,024 bytes
    )


def test_upload_errors_are_said_in_plain_words_and_cancel_stops_an_upload(
    tmp_path, browser, monkeypatch
):
    monkeypatch.setenv("CAMPFIRE_MAX_UPLOAD_BYTES", "100000")
    server = Server(tmp_path)
    server.start()
    pages = Pages(browser, server)
    try:
        _, token = server.user("Ann")
        room = server.room(token, unique("limits"))
        a = pages.chat(token)
        open_room(a, room)
        # 400 KB: over the 100,000-byte limit (enforced while the body streams in).
        big = bytes(400_000)
        a.locator("#attach-file").set_input_files(
            {"name": "huge.bin", "mimeType": "application/octet-stream", "buffer": big}
        )
        failed = a.locator("#messages li.message.failed")
        expect(failed.locator(".upload-error")).to_have_text(
            "“huge.bin” is too big to send: files can be at most 97.7 KB."
        )
        failed.get_by_role("button", name="Dismiss").click()
        expect(failed).to_have_count(0)
        assert server.messages(token, room["id"]) == []

        # Cancel: the request is aborted, nothing is posted. Throttle the network so the
        # upload is still running when Cancel is pressed.
        cdp = a.context.new_cdp_session(a)
        cdp.send("Network.enable")
        cdp.send(
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": 50,
                "downloadThroughput": 20_000,
                "uploadThroughput": 20_000,
            },
        )
        a.locator("#attach-file").set_input_files(
            {"name": "slow.bin", "mimeType": "application/octet-stream", "buffer": bytes(90_000)}
        )
        uploading = a.locator("#messages li.uploading")
        expect(uploading.locator("progress")).to_be_visible()
        uploading.get_by_role("button", name="Cancel sending slow.bin").click()
        expect(uploading).to_have_count(0)
        expect(a.locator("#notice")).to_have_text("Sending “slow.bin” was cancelled.")
        assert server.messages(token, room["id"]) == []
        # The browser logs the refused upload (413) as a failed resource load: expected here.
        pages.errors = [e for e in pages.errors if "status of 413" not in e]
    finally:
        pages.close()
        server.stop()


def test_avatars_change_live_for_everyone_and_go_back_to_initials(shared_server, shared_pages):
    server = shared_server
    ann, ann_token = server.user("Ann Avatar")
    bob, bob_token = server.user("Bob")
    room = server.room(ann_token, unique("faces"), members=[bob])
    server.post(ann_token, room["id"], "hello from Ann")
    a = shared_pages.chat(ann_token)
    b = shared_pages.chat(bob_token)
    open_room(a, room)
    open_room(b, room)
    bob_sees = b.locator(f'#messages li.message .avatar[data-avatar-user="{ann["id"]}"]')
    expect(bob_sees).to_have_attribute("data-initials", "AA")
    expect(bob_sees.locator("img")).to_have_count(0)

    # Ann changes her picture from the menu on her own avatar in the sidebar.
    a.get_by_role("button", name="Your picture: change or remove it").click()
    expect(a.get_by_role("button", name="Remove picture")).to_be_disabled()
    a.locator("#avatar-file").set_input_files(
        {"name": "me.png", "mimeType": "image/png", "buffer": png(500, 300, (10, 120, 60))}
    )
    expect(a.locator("#avatar-status")).to_have_text("Your picture is changed.")
    expect(a.get_by_role("button", name="Remove picture")).to_be_enabled()
    for img in (
        a.locator("#my-avatar img"),
        a.locator("#messages li.message .avatar img"),
        bob_sees.locator("img"),  # live, by UserUpdated
        b.locator(f'#user-list button[data-user-id="{ann["id"]}"] .avatar img'),
        b.locator("#presence .person .avatar img").first,
    ):
        expect(img).to_have_count(1)
        wait_until(lambda img=img: natural_width(img) == 256)  # cropped square, resized
    # A reload keeps it (avatar_url from GET /api/users).
    b.reload()
    open_room(b, room)
    expect(bob_sees.locator("img")).to_have_count(1)

    # Not a picture: refused in words, nothing changes.
    a.locator("#avatar-file").set_input_files(
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"just words"}
    )
    expect(a.locator("#avatar-status")).to_have_text(
        "“notes.txt” is not a picture the server can use: choose a PNG, JPEG, GIF or WebP image."
    )
    shared_pages.errors = [e for e in shared_pages.errors if "status of 415" not in e]

    a.get_by_role("button", name="Remove picture").click()
    expect(a.locator("#avatar-status")).to_contain_text("Your picture is removed")
    expect(bob_sees.locator("img")).to_have_count(0)
    expect(bob_sees).to_have_attribute("data-initials", "AA")
    a.keyboard.press("Escape")
    expect(a.locator("#avatar-menu")).to_be_hidden()
    expect(a.locator("#my-avatar")).to_be_focused()


def test_a_full_disk_is_said_in_plain_words(tmp_path, browser, monkeypatch):
    # The edge of the world: the server's files may not grow past 3 MB (RLIMIT_FSIZE), so
    # writing a bigger upload fails with EFBIG, which the server reports as 507 STORAGE_FULL.
    limit = 3 * 1024 * 1024
    monkeypatch.setattr(
        subprocess,
        "Popen",
        functools.partial(
            subprocess.Popen,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)),
        ),
    )
    server = Server(tmp_path)
    server.start()
    pages = Pages(browser, server)
    try:
        _, token = server.user("Ann")
        room = server.room(token, unique("full"))
        a = pages.chat(token)
        open_room(a, room)
        a.locator("#attach-file").set_input_files(
            {"name": "backup.tar", "mimeType": "application/x-tar", "buffer": bytes(4_000_000)}
        )
        expect(a.locator("#messages li.message.failed .upload-error")).to_have_text(
            "The server's disk is full, so “backup.tar” was not saved. "
            "Please tell your administrator."
        )
        assert server.messages(token, room["id"]) == []
        pages.errors = [e for e in pages.errors if "status of 507" not in e]
    finally:
        pages.close()
        server.stop()
