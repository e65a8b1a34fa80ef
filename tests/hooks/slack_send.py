"""Posts to a RustChat incoming webhook with slack_sdk's WebhookClient, unchanged: the URL is the only
thing that says it is not Slack. Prints one JSON line: the status and body the client saw."""

import json
import os

from slack_sdk.webhook import WebhookClient

client = WebhookClient(os.environ["HOOK_URL"])
response = client.send(
    text="Deploy *finished* on prod",
    attachments=[
        {
            "fallback": "Deploy 42 finished: green",
            "color": "#36a64f",
            "pretext": "CI says",
            "title": "Build 42",
            "title_link": "https://ci.example.com/builds/42",
            "text": "All 311 tests passed",
            "fields": [
                {"title": "Branch", "value": "main", "short": True},
                {"title": "Duration", "value": "4m 12s", "short": True},
            ],
        }
    ],
)
print(json.dumps({"status": response.status_code, "body": response.body}))
