"""SPEC section 13, attachments: uploads of real files (images, a PDF, a file claiming to
be an image that is not, one over the limit), their type from the bytes, images without
metadata and with a thumbnail, sends that carry them, and who may download them."""

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import set_script_prefix
from django.utils import timezone
from PIL import Image, ImageDraw, PngImagePlugin

from accounts.services import block_create
from chat import memberships, services, uploads
from chat.models import Message, Upload
from messaging_site.errors import Invalid

pytestmark = pytest.mark.django_db
URL = "/api/uploads/"

GPS = 0x8825
ORIENTATION = 0x0112
ROTATED_90 = 6  # EXIF: the camera was turned; show the pixels turned 90 degrees clockwise


def jpeg_with_exif(size=(64, 32)) -> bytes:
    """A photo as phones write them: GPS position, camera, orientation, a comment."""
    image = Image.new("RGB", size, "navy")
    ImageDraw.Draw(image).rectangle((0, 0, 16, 16), fill="yellow")
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[ORIENTATION] = ROTATED_90
    exif.get_ifd(GPS).update({1: "N", 2: (51.0, 30.0, 12.0), 3: "W", 4: (0.0, 7.0, 40.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), comment=b"taken at home", quality=95)
    return out.getvalue()


def png_with_metadata() -> bytes:
    image = Image.new("RGBA", (40, 30), (255, 0, 0, 128))
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Alice Liddell")
    info.add_text("Location", "51.5N 0.12W")
    exif = Image.Exif()
    exif[0x010F] = "ScannerMaker"
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info, exif=exif.tobytes())
    return out.getvalue()


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (20, 20), colour) for colour in ("red", "green", "blue")]
    out = io.BytesIO()
    frames[0].save(
        out, "GIF", save_all=True, append_images=frames[1:], duration=[100, 200, 300], loop=0,
        comment=b"made by a secret tool",
    )  # fmt: skip
    return out.getvalue()


def pdf() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (100, 100), "white").save(out, "PDF")
    return out.getvalue()


def file_of(data: bytes, name: str, content_type: str = "application/octet-stream"):
    return SimpleUploadedFile(name, data, content_type=content_type)


def upload(client, data: bytes, name: str, content_type: str = "application/octet-stream"):
    return client.post(URL, {"file": file_of(data, name, content_type)}, format="multipart")


def stored(name: str) -> bool:
    return bool(name) and uploads.storage().exists(name)


def fetch(client, url: str) -> tuple[int, bytes, dict]:
    response = client.get(url)
    body = b"".join(response) if response.streaming else response.content
    return response.status_code, body, response


# --- what an upload becomes --------------------------------------------------------------


def test_a_photo_loses_its_metadata_turns_upright_and_gets_a_thumbnail(client_for, alice):
    # The name and the declared type both lie; the bytes are what count.
    response = upload(client_for(alice), jpeg_with_exif(), "holiday.txt", "text/plain")
    assert response.status_code == 201, response.content
    body = response.json()
    row = Upload.objects.get(pk=body["id"])
    assert body == {
        "id": row.pk,
        "name": "holiday.txt",
        "size": row.size,
        "content_type": "image/jpeg",
        "url": f"/api/uploads/{row.pk}/file/",
        "thumbnail_url": f"/api/uploads/{row.pk}/thumbnail/",
        "width": 32,
        "height": 64,
    }
    status, data, _ = fetch(client_for(alice), body["url"])
    assert status == 200
    assert len(data) == row.size
    with Image.open(io.BytesIO(data)) as kept:
        assert kept.format == "JPEG"
        assert kept.size == (32, 64)  # turned as the orientation tag said
        assert len(kept.getexif()) == 0
        assert "comment" not in kept.info
        assert "exif" not in kept.info
    assert b"PhoneMaker" not in data
    assert b"taken at home" not in data
    status, thumb, response = fetch(client_for(alice), body["thumbnail_url"])
    assert status == 200
    assert response["Content-Type"] == "image/webp"
    with Image.open(io.BytesIO(thumb)) as small:
        assert small.format == "WEBP"
        assert small.size == (32, 64)


def test_a_png_loses_text_and_exif_and_keeps_its_transparency(client_for, alice):
    body = upload(client_for(alice), png_with_metadata(), "scan.png").json()
    _, data, _ = fetch(client_for(alice), body["url"])
    assert b"Alice Liddell" not in data
    assert b"ScannerMaker" not in data
    with Image.open(io.BytesIO(data)) as kept:
        assert kept.format == "PNG"
        assert kept.mode == "RGBA"
        assert kept.getpixel((0, 0)) == (255, 0, 0, 128)
        assert not kept.text
        assert len(kept.getexif()) == 0


def test_an_animation_keeps_its_frames_and_timing(client_for, alice):
    body = upload(client_for(alice), animated_gif(), "dance.gif").json()
    assert body["content_type"] == "image/gif"
    _, data, _ = fetch(client_for(alice), body["url"])
    assert b"secret tool" not in data
    with Image.open(io.BytesIO(data)) as kept:
        assert kept.n_frames == 3
        durations = []
        for frame in range(3):
            kept.seek(frame)
            durations.append(kept.info["duration"])
        assert durations == [100, 200, 300]


def test_large_images_get_a_bounded_thumbnail(client_for, alice):
    out = io.BytesIO()
    Image.new("RGB", (2000, 1000), "green").save(out, "WEBP")
    body = upload(client_for(alice), out.getvalue(), "wide.webp").json()
    assert (body["width"], body["height"]) == (2000, 1000)
    _, thumb, _ = fetch(client_for(alice), body["thumbnail_url"])
    with Image.open(io.BytesIO(thumb)) as small:
        assert small.size == (480, 240)


def test_a_pdf_is_a_file_to_download(client_for, alice):
    body = upload(client_for(alice), pdf(), "report.pdf", "application/pdf").json()
    assert body["content_type"] == "application/pdf"
    assert body["thumbnail_url"] is None
    assert body["width"] is None
    status, data, response = fetch(client_for(alice), body["url"])
    assert status == 200
    assert data.startswith(b"%PDF")
    # Sent as bytes whatever they are: no browser runs a download as this site's code.
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Length"] == str(body["size"])
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"
    assert response["Content-Disposition"] == 'attachment; filename="report.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert fetch(client_for(alice), f"{URL}{body['id']}/thumbnail/")[0] == 404


def test_a_file_claiming_to_be_an_image_is_not_shown_as_one(client_for, alice):
    page = b"<html><body><script>alert(document.cookie)</script></body></html>"
    body = upload(client_for(alice), page, "cat.png", "image/png").json()
    assert body["content_type"] == "text/html"
    assert body["thumbnail_url"] is None
    _status, data, response = fetch(client_for(alice), body["url"])
    assert data == page
    assert response["Content-Disposition"] == 'attachment; filename="cat.png"'
    assert response["X-Content-Type-Options"] == "nosniff"
    # Bytes that begin as a PNG does but are not one: a plain file, not an image.
    broken = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"garbage" * 50
    body = upload(client_for(alice), broken, "broken.png", "image/png").json()
    assert body["content_type"] == "application/octet-stream"
    assert body["thumbnail_url"] is None
    assert fetch(client_for(alice), body["url"])[2]["Content-Disposition"].startswith("attachment;")


def test_an_image_is_shown_inline_with_its_name(client_for, alice):
    body = upload(client_for(alice), jpeg_with_exif(), "photo.jpg").json()
    response = fetch(client_for(alice), body["url"])[2]
    assert response["Content-Type"] == "image/jpeg"
    assert response["Content-Disposition"] == 'inline; filename="photo.jpg"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"].startswith("private")


def test_names_are_names_only(client_for, alice):
    assert uploads.clean_file_name("../../etc/passwd") == "passwd"
    assert uploads.clean_file_name("C:\\Users\\a\\notes.txt") == "notes.txt"
    assert uploads.clean_file_name("a\x00b\nc.txt") == "ab c.txt"
    assert uploads.clean_file_name("...") == "file"
    long = "x" * 300 + ".jpeg"
    assert uploads.clean_file_name(long) == "x" * 250 + ".jpeg"
    body = upload(client_for(alice), b"notes", "../../secret\u202enotes.txt").json()
    assert body["name"] == "secretnotes.txt"  # no right-to-left override to disguise it


# --- limits and bad input ----------------------------------------------------------------


@pytest.fixture
def empty_storage(settings, tmp_path):
    """Uploads of this test alone, to count the files left."""
    from django.core.files.storage import storages

    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path, "base_url": None},
        },
    }
    storages._storages.pop("attachments", None)
    yield tmp_path
    storages._storages.pop("attachments", None)


def files_in(root) -> list:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_over_the_limit_is_413_and_keeps_nothing(client_for, alice, settings, empty_storage):
    settings.UPLOAD_MAX_BYTES = 10_000
    response = upload(client_for(alice), b"x" * 10_001, "big.bin")
    assert response.status_code == 413
    assert response.json() == {"detail": "A file may be at most 9.8 KiB.", "code": "too_large"}
    assert Upload.objects.count() == 0
    assert files_in(empty_storage) == []
    assert upload(client_for(alice), b"x" * 10_000, "exact.bin").status_code == 201


def test_bad_uploads_are_400_and_keep_nothing(client_for, alice, api, settings, empty_storage):
    client = client_for(alice)
    assert upload(client, b"", "empty.txt").status_code == 400
    response = client.post(URL, {"other": "x"}, format="multipart")
    assert response.status_code == 400
    assert "file" in response.json()
    assert client.post(URL, {"file": "x"}, format="json").status_code == 415
    assert api.post(URL, {"file": file_of(b"x", "a.txt")}, format="multipart").status_code == 401
    settings.UPLOAD_MAX_PIXELS = 1000
    response = upload(client, jpeg_with_exif((50, 50)), "big.jpg")
    assert response.status_code == 400
    assert "pixels" in response.json()["file"][0]
    assert Upload.objects.count() == 0
    assert files_in(empty_storage) == []


def test_a_failed_insert_removes_the_files_it_stored(alice, empty_storage, monkeypatch):
    def fail(**_):
        raise RuntimeError("database gone")

    monkeypatch.setattr(Upload.objects, "create", fail)
    with pytest.raises(RuntimeError):
        uploads.upload_create(uploader=alice, file=file_of(jpeg_with_exif(), "a.jpg"))
    assert files_in(empty_storage) == []


# --- sends that carry them ---------------------------------------------------------------


def send(client, conversation, **body):
    return client.post(f"/api/conversations/{conversation.pk}/messages/", body, format="json")


def test_a_message_carries_its_attachments_in_order_everywhere(client_for, alice, bob, group):
    client = client_for(alice)
    photo = upload(client, jpeg_with_exif(), "photo.jpg").json()
    report = upload(client, pdf(), "report.pdf").json()
    response = send(client, group, text="", attachments=[report["id"], photo["id"]])
    assert response.status_code == 201, response.content
    message = response.json()
    assert message["text"] == ""
    assert message["attachments"] == [report, photo]
    history = client_for(bob).get(f"/api/conversations/{group.pk}/messages/").json()
    assert history["results"][-1]["attachments"] == [report, photo]
    assert list(Upload.objects.order_by("position").values_list("pk", "position")) == [
        (report["id"], 0),
        (photo["id"], 1),
    ]
    inbox = client_for(bob).get("/api/inbox/").json()
    assert inbox["results"][0]["messages"][-1]["attachments"] == [report, photo]
    # The model read (WebSocket history) has them too.
    page, _ = services.selectors.message_page(user=bob, conversation=group)
    assert page[-1].attachments == [report, photo]


def test_a_send_with_attachments_costs_one_round_trip_more(alice, group, send):
    send(alice, group, "warm up")
    first = uploads.upload_create(uploader=alice, file=file_of(b"one", "1.txt"))
    with CaptureQueriesContext(connection) as plain:
        send(alice, group, "plain")
    with CaptureQueriesContext(connection) as carrying:
        send(alice, group, "with a file", attachments=[first.pk])
    # Loading the uploads' shapes; locking them is one more statement in the send's
    # pipeline (chat/sending.py), not a round trip of its own.
    assert len(carrying) == len(plain) + 2
    assert "FOR UPDATE" in carrying.captured_queries[-2]["sql"]


def test_attachments_must_be_ones_own_and_free(client_for, alice, bob, group, room):
    mine = upload(client_for(alice), b"mine", "mine.txt").json()["id"]
    theirs = upload(client_for(bob), b"theirs", "theirs.txt").json()["id"]
    client = client_for(alice)
    for attachments, word in [
        ([theirs], "Not an upload of yours"),
        ([mine, mine], "distinct"),
        (list(range(1, 12)), "at most 10"),
        ([999_999], "Not an upload of yours"),
        (["x"], ""),
    ]:
        response = send(client, group, text="hi", attachments=attachments)
        assert response.status_code == 400, attachments
        assert word in str(response.json()), response.json()
    assert send(client, group, text="  ").status_code == 400  # no text, no file
    assert Message.objects.count() == 0
    assert send(client, group, text="first", attachments=[mine]).status_code == 201
    response = send(client, room, text="again", attachments=[mine])
    assert response.status_code == 400
    assert response.json() == {"attachments": [services.ATTACHED_ALREADY]}
    assert Message.objects.count() == 1
    room.refresh_from_db()
    assert room.last_seq == 0


def test_a_retry_returns_the_first_message_with_its_attachments(client_for, alice, group):
    client = client_for(alice)
    file = upload(client, b"data", "a.txt").json()
    first = send(client, group, text="x", attachments=[file["id"]], client_id="c1")
    again = send(client, group, text="x", attachments=[file["id"]], client_id="c1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert again.json()["attachments"] == [file]


def test_direct_messages_carry_attachments(client_for, alice, bob):
    file = upload(client_for(alice), pdf(), "a.pdf").json()
    response = client_for(alice).post(
        "/api/direct/", {"user_id": bob.pk, "text": "", "attachments": [file["id"]]}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["attachments"] == [file]
    assert fetch(client_for(bob), file["url"])[0] == 200


@pytest.mark.django_db(transaction=True)
def test_two_sends_racing_for_one_upload_attach_it_once(alice, bob, make_user):
    group = services.conversation_create(actor=alice, kind="group", name="a")
    other = services.conversation_create(actor=alice, kind="group", name="b")
    file = uploads.upload_create(uploader=alice, file=file_of(b"race", "r.txt"))
    start = threading.Barrier(2)

    def attempt(conversation):
        start.wait()
        try:
            services.message_send(
                sender=alice, conversation_id=conversation.pk, text="x", attachments=[file.pk]
            )
            return "sent"
        except Invalid:
            return "refused"
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(attempt, [group, other]))
    assert outcomes == ["refused", "sent"]
    assert Message.objects.count() == 1
    file.refresh_from_db()
    assert file.message_id == Message.objects.get().pk


# --- who may download --------------------------------------------------------------------


def test_downloads_follow_who_may_read_the_message(client_for, alice, bob, charlie, group, room):
    file = upload(client_for(alice), jpeg_with_exif(), "p.jpg").json()
    for url in (file["url"], file["thumbnail_url"]):
        assert fetch(client_for(alice), url)[0] == 200  # the uploader, before it is sent
        assert fetch(client_for(bob), url)[0] == 404  # not yet anyone else's
    send(client_for(alice), group, text="look", attachments=[file["id"]])
    for url in (file["url"], file["thumbnail_url"]):
        assert fetch(client_for(bob), url)[0] == 200  # a member
        assert fetch(client_for(charlie), url)[0] == 404  # a stranger, as for no file
    assert fetch(client_for(charlie), "/api/uploads/999999/file/")[0] == 404
    # A member who blocks the sender does not see the message, nor its files.
    block_create(blocker=bob, blocked_id=alice.pk)
    assert fetch(client_for(bob), file["url"])[0] == 404


def test_a_member_who_leaves_can_no_longer_download(client_for, alice, bob, group):
    file = upload(client_for(alice), b"plan", "plan.txt").json()
    send(client_for(alice), group, text="plan", attachments=[file["id"]])
    assert fetch(client_for(bob), file["url"])[0] == 200
    memberships.membership_remove(actor=alice, conversation=group, user_id=bob.pk)
    assert fetch(client_for(bob), file["url"])[0] == 404
    assert fetch(client_for(alice), file["url"])[0] == 200


def test_deleting_the_message_deletes_its_files(
    client_for, alice, bob, group, django_capture_on_commit_callbacks
):
    file = upload(client_for(alice), jpeg_with_exif(), "p.jpg").json()
    message = send(client_for(alice), group, text="oops", attachments=[file["id"]]).json()
    row = Upload.objects.get(pk=file["id"])
    assert stored(row.file)
    assert stored(row.thumbnail)
    with django_capture_on_commit_callbacks(execute=True):
        services.message_delete(actor=alice, conversation_id=group.pk, message_id=message["id"])
    assert not stored(row.file)
    assert not stored(row.thumbnail)
    assert not Upload.objects.filter(pk=row.pk).exists()
    assert Message.objects.get(pk=message["id"]).attachments == []
    assert fetch(client_for(bob), file["url"])[0] == 404
    history = client_for(bob).get(f"/api/conversations/{group.pk}/messages/").json()
    assert history["results"][-1]["attachments"] == []


def test_the_sweep_removes_only_old_unattached_uploads(
    alice, group, send, settings, django_capture_on_commit_callbacks
):
    settings.UPLOAD_UNATTACHED_SECONDS = 3600
    old = uploads.upload_create(uploader=alice, file=file_of(b"old", "old.txt"))
    sent = uploads.upload_create(uploader=alice, file=file_of(b"sent", "sent.txt"))
    fresh = uploads.upload_create(uploader=alice, file=file_of(b"new", "new.txt"))
    long_ago = timezone.now() - timedelta(hours=2)
    Upload.objects.filter(pk__in=[old.pk, sent.pk]).update(created_at=long_ago)
    send(alice, group, "kept", attachments=[sent.pk])
    with django_capture_on_commit_callbacks(execute=True):
        assert uploads.sweep() == 1
    assert set(Upload.objects.values_list("pk", flat=True)) == {sent.pk, fresh.pk}
    assert not stored(old.file)
    assert stored(sent.file)
    assert stored(fresh.file)


def test_site_moderators_see_attached_files_in_admin(moderator, client_for, alice, group):
    pending = upload(client_for(alice), b"draft", "draft.txt").json()
    file = upload(client_for(alice), pdf(), "evidence.pdf").json()
    message = send(client_for(alice), group, text="see", attachments=[file["id"]]).json()
    page = moderator.get(f"/admin/chat/message/{message['id']}/change/")
    assert page.status_code == 200
    assert f'href="{file["url"]}"' in page.content.decode()
    assert fetch(moderator, file["url"])[0] == 200
    assert fetch(moderator, pending["url"])[0] == 404  # still only its uploader's


def test_scripts_and_styles_are_never_served_as_such(client_for, alice):
    for data in [
        b"#!/usr/bin/env node\nfunction steal() { fetch('/api/users/me/') }\nsteal();\n",
        b"body { background: url(https://evil.example/x) }\n",
        b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
    ]:
        body = upload(client_for(alice), data, "x.js").json()
        assert body["content_type"] != "application/octet-stream"  # what it is, as metadata
        response = fetch(client_for(alice), body["url"])[2]
        assert response["Content-Type"] == "application/octet-stream"
        assert response["X-Content-Type-Options"] == "nosniff"


def test_a_camera_s_multi_picture_jpeg_keeps_its_first_picture(client_for, alice):
    out = io.BytesIO()
    first, second = Image.new("RGB", (40, 30), "red"), Image.new("RGB", (40, 30), "blue")
    first.save(out, "MPO", save_all=True, append_images=[second])
    response = upload(client_for(alice), out.getvalue(), "pair.jpg")
    assert response.status_code == 201, response.content
    _, data, _ = fetch(client_for(alice), response.json()["url"])
    with Image.open(io.BytesIO(data)) as kept:
        assert kept.getpixel((5, 5)) == pytest.approx((254, 0, 0), abs=3)


def test_an_animation_of_too_many_frames_is_refused_without_walking_them_all(
    client_for, alice, monkeypatch
):
    monkeypatch.setattr(uploads, "MAX_FRAMES", 2)
    response = upload(client_for(alice), animated_gif(), "dance.gif")
    assert response.status_code == 400
    assert "frames" in response.json()["file"][0]


def test_stored_addresses_ignore_the_request_s_script_prefix(alice):
    """Daphne takes a root path from any client's header; a message's stored links must
    not carry one (messaging_site/http.py drops it; the shape does not depend on it)."""
    set_script_prefix("https://evil.example/")
    try:
        file = uploads.upload_create(uploader=alice, file=file_of(pdf(), "a.pdf"))
        assert uploads.attachment_shape(file)["url"] == f"/api/uploads/{file.pk}/file/"
    finally:
        set_script_prefix("/")


def test_a_file_gone_from_storage_is_404_not_500(client_for, alice):
    body = upload(client_for(alice), b"soon gone", "gone.txt").json()
    uploads.storage().delete(Upload.objects.get(pk=body["id"]).file)
    assert fetch(client_for(alice), body["url"])[0] == 404


def test_an_upload_not_yet_sent_can_be_taken_back(
    client_for, alice, bob, group, django_capture_on_commit_callbacks
):
    mine = upload(client_for(alice), b"draft", "draft.txt").json()
    sent = upload(client_for(alice), b"sent", "sent.txt").json()
    send(client_for(alice), group, text="x", attachments=[sent["id"]])
    row = Upload.objects.get(pk=mine["id"])
    assert client_for(bob).delete(f"{URL}{mine['id']}/").status_code == 404  # not his
    assert client_for(alice).delete(f"{URL}{sent['id']}/").status_code == 404  # sent
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(alice).delete(f"{URL}{mine['id']}/").status_code == 204
    assert not stored(row.file)
    assert client_for(alice).delete(f"{URL}{mine['id']}/").status_code == 404
    assert fetch(client_for(bob), sent["url"])[0] == 200


def test_files_waiting_to_be_sent_have_a_ceiling_per_user(client_for, alice, bob, settings):
    settings.UPLOAD_PENDING_MAX_BYTES = 25
    assert upload(client_for(alice), b"x" * 20, "a.bin").status_code == 201
    response = upload(client_for(alice), b"x" * 10, "b.bin")
    assert response.status_code == 413
    assert "not yet sent" in response.json()["detail"]
    assert upload(client_for(bob), b"x" * 20, "c.bin").status_code == 201  # per user
