from __future__ import annotations


def test_live(server):
    response = server.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


def test_ready_lists_the_loaded_models(server):
    response = server.get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert [m["name"] for m in body["models"]] == ["mlp", "xgboost"]
