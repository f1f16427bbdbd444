"""The floor mas-serve is compared with: the original system's stack,
FastAPI on uvicorn (Debian's python3-fastapi and python3-uvicorn), with
handlers that return the same JSON as mas-serve's /health and /chat but
do no work at all: no agent, no store, no session.  bench-serve.sh runs
it with one worker, as the original ran."""

import datetime

from fastapi import FastAPI, Request

app = FastAPI()

COMPONENTS = {
    "store": {"status": "ok"},
    "bus": {"status": "ok", "backend": "sqlite"},
    "task_workers": {"status": "ok", "running": 2, "configured": 2},
    "model": {"status": "ok", "engine": "embedded"},
    "workers": {"status": "ok", "running": 2, "configured": 2,
                "busy": 0, "queued": 0},
    "agents": {"analysis": {"status": "ok"}, "chat": {"status": "ok"},
               "research": {"status": "ok"}},
}


def now():
    return datetime.datetime.utcnow().isoformat(timespec="milliseconds") + "Z"


@app.get("/health")
async def health():
    return {"status": "healthy", "components": COMPONENTS,
            "version": "0.1.0", "uptime_s": 1, "timestamp": now()}


@app.post("/chat")
async def chat(request: Request):
    body = await request.json()
    return {"status": "success", "timestamp": now(), "data": {
        "response": "企业版每用户每月269元起，25个用户起售；"
                    "大批量采购可联系销售获取专属报价与折扣。",
        "intent": "pricing",
        "sentiment": {"label": "neutral", "score": 0},
        "confidence": 0.9749,
        "suggested_actions": ["view_pricing", "request_quote"],
        "session_id": body.get("session_id"),
        "timestamp": now(),
        "slots": {"plan": "enterprise"},
        "language": "zh",
    }}
