"""A Bedrock Converse endpoint that checks every request's SigV4 signature with botocore's
own signer: it rebuilds the request as received, recomputes the signature with the shared
test credentials at the request's own timestamp, and answers 403 when they differ.

Usage: python bedrock_signature_mock.py PORT FIXTURES_DIR
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "FAKE-SESSION-TOKEN-EXAMPLE"
REGION = "us-east-1"


def expected_authorization(method, path, headers, body):
    """The Authorization header botocore computes for this request at its x-amz-date."""
    request = AWSRequest(
        method=method,
        url=f"http://{headers['host']}{path}",
        data=body,
        headers={
            "Content-Type": headers.get("content-type", ""),
            "Host": headers["host"],
            "X-Amz-Date": headers.get("x-amz-date", ""),
            "X-Amz-Security-Token": headers.get("x-amz-security-token", ""),
        },
    )
    request.context["timestamp"] = headers.get("x-amz-date", "")
    signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN), "bedrock", REGION)
    canonical = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical)
    signature = signer.signature(string_to_sign, request)
    signed_headers = signer.signed_headers(signer.headers_to_sign(request))
    scope = signer.scope(request)
    return (
        f"AWS4-HMAC-SHA256 Credential={scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )


class Handler(BaseHTTPRequestHandler):
    fixtures = ""
    verified = 0

    def log_message(self, *args):
        pass

    def do_GET(self):
        # The test asks how many requests were verified.
        self.answer(200, "application/json", json.dumps({"verified": Handler.verified}).encode())

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        expected = expected_authorization("POST", self.path, headers, body)
        if headers.get("authorization") != expected:
            message = f"signature mismatch: got {headers.get('authorization')!r}, botocore computes {expected!r}"
            self.send_response(403)
            self.send_header("content-type", "application/json")
            self.send_header("x-amzn-errortype", "InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.bedrock/")
            payload = json.dumps({"message": message}).encode()
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        Handler.verified += 1
        if self.path.endswith("/converse-stream"):
            with open(os.path.join(Handler.fixtures, "bedrock/converse_stream.bin"), "rb") as f:
                self.answer(200, "application/vnd.amazon.eventstream", f.read())
        else:
            with open(os.path.join(Handler.fixtures, "bedrock/converse_response.json"), "rb") as f:
                self.answer(200, "application/json", f.read())

    def answer(self, status, content_type, payload):
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


if __name__ == "__main__":
    Handler.fixtures = sys.argv[2]
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
