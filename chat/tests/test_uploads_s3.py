"""Attachments in an S3 bucket (UPLOAD_STORAGE=s3): the same uploads, sends, downloads and
deletions through django-storages' S3Storage and boto3, against moto's server, a local
process that answers as S3's API does (no S3 service is reachable from here)."""

import boto3
import pytest
from django.core.files.storage import storages
from moto.server import ThreadedMotoServer

from chat import services, uploads
from chat.tests.test_uploads import fetch, jpeg_with_exif, pdf, send, upload

pytestmark = pytest.mark.django_db
BUCKET = "attachments-test"


@pytest.fixture(scope="module")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint, settings, monkeypatch):
    """The "attachments" storage as UPLOAD_STORAGE=s3 configures it
    (messaging_site/settings/base.py), on an empty bucket."""
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **credentials)
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_endpoint,
                "region_name": "us-east-1",
                "access_key": "testing",
                "secret_key": "testing",
                "location": "attachments",
                "default_acl": None,
                "file_overwrite": False,
            },
        },
    }
    storages._storages.pop("attachments", None)
    yield client
    storages._storages.pop("attachments", None)
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def keys(client) -> list[str]:
    return sorted(item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_uploads_sends_and_downloads_through_the_bucket(
    bucket, client_for, alice, bob, charlie, group, django_capture_on_commit_callbacks
):
    photo = upload(client_for(alice), jpeg_with_exif(), "photo.jpg").json()
    report = upload(client_for(alice), pdf(), "report.pdf").json()
    stored = keys(bucket)
    assert len(stored) == 3  # the photo, its thumbnail, the PDF
    assert all(key.startswith("attachments/") for key in stored)
    assert all("photo" not in key and "report" not in key for key in stored)  # random names
    # Private: no ACL grants anyone but the owner.
    grants = bucket.get_object_acl(Bucket=BUCKET, Key=stored[0])["Grants"]
    assert [g["Grantee"].get("URI") for g in grants if g["Grantee"].get("URI")] == []
    message = send(client_for(alice), group, text="both", attachments=[photo["id"], report["id"]])
    assert message.status_code == 201
    status, data, response = fetch(client_for(bob), report["url"])
    assert status == 200
    assert data.startswith(b"%PDF")
    assert response["Content-Disposition"] == 'attachment; filename="report.pdf"'
    status, thumb, _ = fetch(client_for(bob), photo["thumbnail_url"])
    assert status == 200
    assert thumb[:4] == b"RIFF"  # WebP
    assert fetch(client_for(charlie), photo["url"])[0] == 404
    with django_capture_on_commit_callbacks(execute=True):
        services.message_delete(
            actor=alice, conversation_id=group.pk, message_id=message.json()["id"]
        )
    assert keys(bucket) == []


def test_a_file_over_the_limit_leaves_nothing_in_the_bucket(bucket, client_for, alice, settings):
    settings.UPLOAD_MAX_BYTES = 1000
    assert upload(client_for(alice), b"x" * 1001, "big.bin").status_code == 413
    assert keys(bucket) == []
    assert uploads.storage().__class__.__name__ == "S3Storage"
