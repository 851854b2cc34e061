"""The handler both wrappers trace in the wrapper-overhead benchmark: it does nothing itself."""


def handler(event, context):
    return {"statusCode": 200, "body": "ok"}
