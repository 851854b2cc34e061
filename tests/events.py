"""Realistic Lambda events, written from the shapes AWS documents for each trigger."""

from __future__ import annotations

from typing import Any

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
XRAY = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def api_gateway_v1(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "resource": "/items/{id}",
        "path": "/items/42",
        "httpMethod": "GET",
        "headers": {
            "Host": "abc123.execute-api.us-east-1.amazonaws.com",
            "User-Agent": "curl/8.4.0",
            "X-Forwarded-Proto": "https",
            "TraceParent": TRACEPARENT,
        },
        "multiValueHeaders": {
            "Host": ["abc123.execute-api.us-east-1.amazonaws.com"],
            "Accept": ["text/html", "application/json"],
        },
        "queryStringParameters": {"verbose": "1"},
        "multiValueQueryStringParameters": {"verbose": ["1"]},
        "pathParameters": {"id": "42"},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/items/{id}",
            "httpMethod": "GET",
            "path": "/prod/items/42",
            "protocol": "HTTP/1.1",
            "stage": "prod",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "curl/8.4.0"},
        },
        "body": None,
        "isBase64Encoded": False,
    }
    event.update(overrides)
    return event


def api_gateway_v2(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "POST /orders/{orderId}",
        "rawPath": "/orders/7",
        "rawQueryString": "dry=true",
        "headers": {
            "content-type": "application/json",
            "host": "api.example.com",
            "traceparent": TRACEPARENT,
            "user-agent": "Mozilla/5.0",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api-id",
            "domainName": "api.example.com",
            "http": {
                "method": "POST",
                "path": "/orders/7",
                "protocol": "HTTP/1.1",
                "sourceIp": "198.51.100.4",
                "userAgent": "Mozilla/5.0",
            },
            "requestId": "id",
            "routeKey": "POST /orders/{orderId}",
            "stage": "$default",
        },
        "body": '{"n": 1}',
        "isBase64Encoded": False,
    }
    event.update(overrides)
    return event


def function_url() -> dict[str, Any]:
    event = api_gateway_v2(routeKey="$default", rawPath="/hook", rawQueryString="")
    event["requestContext"]["domainName"] = "abcdefg.lambda-url.us-east-1.on.aws"
    event["requestContext"]["routeKey"] = "$default"
    event["requestContext"]["http"]["method"] = "GET"
    return event


def alb(multi_value: bool = False) -> dict[str, Any]:
    headers = {
        "host": "lambda-alb-123578498.us-east-1.elb.amazonaws.com",
        "traceparent": TRACEPARENT,
        "user-agent": "ELB-HealthChecker/2.0",
        "x-forwarded-proto": "http",
        "x-amzn-trace-id": XRAY,
    }
    event: dict[str, Any] = {
        "requestContext": {
            "elb": {
                "targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:"
                "targetgroup/lambda-279XGJDqGZ5rsrHC2Fjr/49e9d65c45c6791a"
            }
        },
        "httpMethod": "GET",
        "path": "/lambda",
        "queryStringParameters": {"query": "1234ABCD"},
        "body": "",
        "isBase64Encoded": False,
    }
    if multi_value:
        event["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
    else:
        event["headers"] = headers
    return event


def sqs(records: int = 2, *, with_traces: bool = True) -> dict[str, Any]:
    out = []
    for i in range(records):
        record: dict[str, Any] = {
            "messageId": f"059f36b4-87a3-44ab-83d2-66197599018{i}",
            "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
            "body": f"message {i}",
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": "1545082649183",
                "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                "ApproximateFirstReceiveTimestamp": "1545082649185",
            },
            "messageAttributes": {},
            "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:my-queue",
            "awsRegion": "us-east-2",
        }
        if with_traces and i % 2 == 0:
            record["attributes"]["AWSTraceHeader"] = (
                f"Root=1-5759e988-bd862e3fe1be46a99427279{i};Parent=53995c3f42cd8ad{i};Sampled=1"
            )
        elif with_traces:
            record["messageAttributes"]["traceparent"] = {
                "stringValue": f"00-0af7651916cd43dd8448eb211c80319{i}-b7ad6b716920333{i}-01",
                "dataType": "String",
            }
        out.append(record)
    return {"Records": out}


def sns() -> dict[str, Any]:
    return {
        "Records": [
            {
                "EventVersion": "1.0",
                "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:sns-topic:2bcfbf39",
                "EventSource": "aws:sns",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
                    "TopicArn": "arn:aws:sns:us-east-1:123456789012:sns-topic",
                    "Subject": "example subject",
                    "Message": "example message",
                    "Timestamp": "1970-01-01T00:00:00.000Z",
                    "MessageAttributes": {},
                },
            }
        ]
    }


def eventbridge() -> dict[str, Any]:
    return {
        "version": "0",
        "id": "fe8d3c65-xmpl-c5c3-2c87-81584709a377",
        "detail-type": "RDS DB Instance Event",
        "source": "aws.rds",
        "account": "123456789012",
        "time": "2020-04-28T07:20:20Z",
        "region": "us-east-2",
        "resources": ["arn:aws:rds:us-east-2:123456789012:db:rdz6xmpliljlb1"],
        "detail": {"EventCategories": ["backup"]},
    }


def scheduled() -> dict[str, Any]:
    return {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2015-10-08T16:53:06Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/my-scheduled-rule"],
        "detail": {},
    }


def s3() -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-2",
                "eventTime": "2019-09-03T19:37:27.192Z",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {
                        "name": "amzn-s3-demo-bucket",
                        "arn": "arn:aws:s3:::amzn-s3-demo-bucket",
                    },
                    "object": {"key": "b21b84d653bb07b05b1e6b33684dc11b", "size": 1305107},
                },
            }
        ]
    }


def dynamodb() -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventID": "c4ca4238a0b923820dcc509a6f75849b",
                "eventName": "MODIFY",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {"Keys": {"Id": {"N": "101"}}, "SequenceNumber": "222"},
                "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/ExampleTable/"
                "stream/2015-06-27T00:48:05.899",
            }
        ]
    }


def kinesis() -> dict[str, Any]:
    return {
        "Records": [
            {
                "kinesis": {
                    "partitionKey": "1",
                    "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
                    "data": "SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==",
                },
                "eventSource": "aws:kinesis",
                "eventID": "shardId-000000000006:4959033827149025660855",
                "eventSourceARN": "arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream",
                "awsRegion": "us-east-2",
            }
        ]
    }
