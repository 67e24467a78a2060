"""File upload limits, preview permissions and images as vision inputs (spec §5.10, §5.1.2)."""

from __future__ import annotations

import base64
from typing import Any

from tests.conftest import COMPLETION_DSL, LiveServer
from tests.support.upstream import ScriptedUpstream

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
UPLOAD_KEYS = [
    "id",
    "reference",
    "name",
    "size",
    "extension",
    "mime_type",
    "created_by",
    "created_at",
    "preview_url",
    "source_url",
    "original_url",
    "user_id",
    "tenant_id",
    "conversation_id",
    "file_key",
]


async def test_upload_then_use_as_vision_input_then_preview(
    server: LiveServer, make_app: Any, scripted: ScriptedUpstream
) -> None:
    handle = await make_app()
    other = await make_app(COMPLETION_DSL)
    async with server.client(handle.key) as client:
        upload = await client.post(
            "/v1/files/upload", files={"file": ("dot.png", PNG, "image/png")}, data={"user": "hal"}
        )
        assert upload.status_code == 201, upload.text
        meta = upload.json()
        before_use = await client.get(f"/v1/files/{meta['id']}/preview")
        chat = await client.post(
            "/v1/chat-messages",
            json={
                "inputs": {},
                "query": "What is in the picture?",
                "user": "hal",
                "files": [
                    {
                        "type": "image",
                        "transfer_method": "local_file",
                        "upload_file_id": meta["id"],
                    },
                    {
                        "type": "image",
                        "transfer_method": "remote_url",
                        "url": "https://example.com/cat.png",
                    },
                ],
            },
        )
        preview = await client.get(f"/v1/files/{meta['id']}/preview")
        attachment = await client.get(
            f"/v1/files/{meta['id']}/preview", params={"as_attachment": "true"}
        )
        history = (
            await client.get(
                "/v1/messages",
                params={"user": "hal", "conversation_id": chat.json()["conversation_id"]},
            )
        ).json()
    async with server.client(other.key) as client:
        denied = await client.get(f"/v1/files/{meta['id']}/preview")
    assert list(meta) == UPLOAD_KEYS
    assert (meta["name"], meta["size"], meta["extension"], meta["mime_type"]) == (
        "dot.png",
        len(PNG),
        "png",
        "image/png",
    )
    assert "/files/" in meta["source_url"] and "sign=" in meta["source_url"]
    assert before_use.status_code == 404 and before_use.json()["code"] == "file_not_found"
    assert chat.status_code == 200, chat.text
    content = scripted.requests[0].json["messages"][-1]["content"]
    kinds = [part["type"] for part in content]
    assert kinds.count("image_url") == 2 and "text" in kinds
    urls = [part["image_url"]["url"] for part in content if part["type"] == "image_url"]
    assert urls[0] == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert urls[1] == "https://example.com/cat.png"
    assert {part["image_url"]["detail"] for part in content if part["type"] == "image_url"} == {
        "low"
    }
    assert preview.status_code == 200 and preview.content == PNG
    assert preview.headers["content-type"] == "image/png"
    assert preview.headers["cache-control"] == "public, max-age=3600"
    assert attachment.headers["content-disposition"] == "attachment; filename*=UTF-8''dot.png"
    assert history["data"][0]["message_files"][0]["upload_file_id"] == meta["id"]
    assert denied.status_code == 403 and denied.json()["code"] == "file_access_denied"


async def test_upload_refusals(server: LiveServer, make_app: Any) -> None:
    server.container.settings.upload_image_file_size_limit_mb = 1
    server.container.settings.upload_file_extension_blacklist = "exe, bat"
    handle = await make_app()
    async with server.client(handle.key) as client:
        none = await client.post("/v1/files/upload", data={"user": "hal"})
        two = await client.post(
            "/v1/files/upload",
            files=[("file", ("a.png", PNG, "image/png")), ("file", ("b.png", PNG, "image/png"))],
        )
        big = await client.post(
            "/v1/files/upload", files={"file": ("big.png", b"\0" * (1024 * 1024 + 1), "image/png")}
        )
        big_doc = await client.post(
            "/v1/files/upload", files={"file": ("big.txt", b"a" * (1024 * 1024 + 1), "text/plain")}
        )
        bad_name = await client.post(
            "/v1/files/upload", files={"file": ("a|b.png", PNG, "image/png")}
        )
        blocked = await client.post(
            "/v1/files/upload", files={"file": ("run.EXE", b"MZ", "application/octet-stream")}
        )
        long_name = await client.post(
            "/v1/files/upload", files={"file": ("n" * 250 + ".txt", b"hi", "text/plain")}
        )
    assert none.status_code == 400 and none.json()["code"] == "no_file_uploaded"
    assert two.status_code == 400 and two.json()["code"] == "too_many_files"
    assert big.status_code == 413
    assert big.json() == {
        "code": "file_too_large",
        "message": "File size exceeded. {message}",
        "status": 413,
    }
    assert big_doc.status_code == 201
    assert (
        bad_name.status_code == 400
        and bad_name.json()["message"] == "Filename contains invalid characters"
    )
    assert blocked.status_code == 400 and "'.exe' is not allowed" in blocked.json()["message"]
    assert long_name.status_code == 201 and len(long_name.json()["name"]) == 200
    assert long_name.json()["name"].endswith(".txt")


async def test_bad_file_mappings(server: LiveServer, make_app: Any) -> None:
    handle = await make_app()
    cases = [
        (
            [{"type": "image", "url": "https://x/y.png"}],
            "transfer_method is required in file mapping",
        ),
        ([{"type": "image", "transfer_method": "remote_url"}], "Invalid file url"),
        (
            [{"type": "image", "transfer_method": "local_file", "upload_file_id": "zzz"}],
            "Invalid upload file id format",
        ),
        (
            [
                {
                    "type": "image",
                    "transfer_method": "local_file",
                    "upload_file_id": "0d9e4b7c-1111-4a53-8f0a-0d7a0e6a1b11",
                }
            ],
            "Invalid upload file",
        ),
        (
            [
                {"type": "image", "transfer_method": "remote_url", "url": f"https://x/{i}.png"}
                for i in range(3)
            ],
            "Number of files exceeds the maximum limit 2",
        ),
    ]
    async with server.client(handle.key) as client:
        for files, message in cases:
            response = await client.post(
                "/v1/chat-messages",
                json={"inputs": {}, "query": "q", "user": "hal", "files": files},
            )
            assert response.status_code == 400, files
            assert response.json() == {"code": "invalid_param", "message": message, "status": 400}
