#!/usr/bin/python3
"""Interop check: a Python gRPC client (Debian python3-grpcio + python3-protobuf) drives a running
session-manager node through the public API, loading the messages from a descriptor set written by
`buf build` (no generated code), and checks status codes and google.rpc.ErrorInfo reasons.

Usage: /usr/bin/python3 client.py --target 127.0.0.1:PORT --descriptors api.binpb [--ids-out FILE] [--results FILE]
Prints one line per check and `python: N passed, M failed`; exits 1 when a check failed.
"""
import argparse
import json
import sys

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

SERVICE = "sessionmanager.v1.SessionService"


def load_pool(path):
    """Builds a descriptor pool from a FileDescriptorSet (buf's image is wire-compatible)."""
    fds = descriptor_pb2.FileDescriptorSet()
    with open(path, "rb") as f:
        fds.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    pending = list(fds.file)
    added = set()
    # buf writes files in dependency order; loop anyway so any order works.
    while pending:
        progress = False
        for fd in list(pending):
            if all(dep in added for dep in fd.dependency):
                pool.Add(fd)
                added.add(fd.name)
                pending.remove(fd)
                progress = True
        if not progress:
            raise RuntimeError("unresolvable imports: %s" % [fd.name for fd in pending])
    return pool


def message_class(pool, name):
    desc = pool.FindMessageTypeByName(name)
    if hasattr(message_factory, "GetMessageClass"):  # protobuf >= 4.22
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)  # Debian 12's 3.21


class Api:
    """Generic unary calls of SessionService, typed only by the descriptor pool."""

    def __init__(self, channel, pool, token=None):
        self.pool = pool
        self.channel = channel
        # The caller's bearer token, sent on every call (SPEC rule 21).
        self.metadata = (("authorization", "Bearer " + token),) if token else ()
        self.msg = lambda n: message_class(pool, n)
        self.enum = lambda e, v: pool.FindEnumTypeByName(e).values_by_name[v].number
        self.Status = self.msg("google.rpc.Status")
        self.ErrorInfo = self.msg("google.rpc.ErrorInfo")

    def call(self, method, **fields):
        svc = self.pool.FindServiceByName(SERVICE)
        m = svc.methods_by_name[method]
        req_cls = message_class(self.pool, m.input_type.full_name)
        res_cls = message_class(self.pool, m.output_type.full_name)
        stub = self.channel.unary_unary(
            "/%s/%s" % (SERVICE, method),
            request_serializer=lambda r: r.SerializeToString(),
            response_deserializer=res_cls.FromString,
        )
        req = req_cls()
        for k, v in fields.items():
            if isinstance(v, dict):
                getattr(req, k).update(v)
            else:
                setattr(req, k, v)
        try:
            res, call = stub.with_call(req, timeout=10, metadata=self.metadata)
            return grpc.StatusCode.OK, res, None
        except grpc.RpcError as e:
            return e.code(), None, self.error_info(e)

    def error_info(self, err):
        """Decodes grpc-status-details-bin as google.rpc.Status and returns its ErrorInfo, if any."""
        for key, value in err.trailing_metadata() or ():
            if key == "grpc-status-details-bin":
                st = self.Status.FromString(value)
                for any_ in st.details:
                    if any_.type_url.endswith("/google.rpc.ErrorInfo"):
                        return self.ErrorInfo.FromString(any_.value)
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--descriptors", required=True)
    ap.add_argument("--ids-out")
    ap.add_argument("--results")
    ap.add_argument("--token-file")
    a = ap.parse_args()

    token = open(a.token_file).read().strip() if a.token_file else None
    pool = load_pool(a.descriptors)
    api = Api(grpc.insecure_channel(a.target), pool, token)
    anonymous = Api(grpc.insecure_channel(a.target), pool)
    results = []
    issued = []

    def check(name, ok, detail=""):
        results.append({"name": name, "ok": bool(ok), "detail": detail})
        print("%s %s%s" % ("ok  " if ok else "FAIL", name, (" -- " + detail) if detail and not ok else ""))
        return ok

    def reason(info):
        return info.reason if info is not None else None

    def domain(info):
        return info.domain if info is not None else None

    mobile = api.enum("sessionmanager.v1.ClientType", "CLIENT_TYPE_MOBILE")
    VALID = api.enum("sessionmanager.v1.Verdict", "VERDICT_VALID")
    NOT_FOUND = api.enum("sessionmanager.v1.Verdict", "VERDICT_NOT_FOUND")

    # a caller without a credential is refused (SPEC rule 21)
    if a.token_file:
        code, _, info = anonymous.call("CreateSession", site="default", user="py-anon", client_type=mobile, device_id="d")
        check("CreateSession without a credential → UNAUTHENTICATED CALLER_CREDENTIAL_REQUIRED",
              code == grpc.StatusCode.UNAUTHENTICATED and reason(info) == "CALLER_CREDENTIAL_REQUIRED", "%s %s" % (code, reason(info)))

    # create
    code, res, info = api.call("CreateSession", site="default", user="py-user", client_type=mobile,
                               device_id="py-laptop", attributes={"login": b"python"})
    if not check("CreateSession → OK with a 43-character id", code == grpc.StatusCode.OK and len(res.session_id) == 43,
                 "%s %s" % (code, reason(info))):
        return finish(results, a)
    sid = res.session_id
    issued.append(sid)
    check("CreateSession → session view without the id", res.session.user == "py-user"
          and list(res.session.attribute_names) == ["login"] and sid not in str(res.session))

    # validate
    code, res, _ = api.call("ValidateSession", session_id=sid)
    check("ValidateSession → VALID", code == grpc.StatusCode.OK and res.verdict == VALID, "%s" % code)
    check("ValidateSession → hit count 1", code == grpc.StatusCode.OK and res.session.hit_count == 1)

    # heartbeat
    code, res, _ = api.call("Heartbeat", session_id=sid, instance_id="tab-1")
    check("Heartbeat → VALID", code == grpc.StatusCode.OK and res.verdict == VALID, "%s" % code)

    # set attribute, then a stale etag
    code, res, info = api.call("SetAttribute", session_id=sid, name="cart", value=b"\x00\x01\xff")
    check("SetAttribute → OK with an etag", code == grpc.StatusCode.OK and len(res.etag) > 0, "%s %s" % (code, reason(info)))
    first = res.etag if res else ""
    code, res, info = api.call("SetAttribute", session_id=sid, name="cart", value=b"two", etag=first)
    check("SetAttribute with the current etag → OK", code == grpc.StatusCode.OK, "%s %s" % (code, reason(info)))
    code, res, info = api.call("SetAttribute", session_id=sid, name="cart", value=b"three", etag=first)
    check("SetAttribute with a stale etag → ABORTED ETAG_MISMATCH",
          code == grpc.StatusCode.ABORTED and reason(info) == "ETAG_MISMATCH", "%s %s" % (code, reason(info)))
    check("ErrorInfo domain is sessionmanager.v1", domain(info) == "sessionmanager.v1", "%s" % domain(info))
    code, res, info = api.call("GetAttribute", session_id=sid, name="cart")
    check("GetAttribute → the value of the last successful write",
          code == grpc.StatusCode.OK and res.attribute.value == b"two", "%s %s" % (code, reason(info)))

    # errors
    code, res, info = api.call("ValidateSession", session_id="not-a-session-id")
    check("malformed id → INVALID_ARGUMENT MALFORMED_SESSION_ID",
          code == grpc.StatusCode.INVALID_ARGUMENT and reason(info) == "MALFORMED_SESSION_ID", "%s %s" % (code, reason(info)))
    code, res, info = api.call("CreateSession", site="default", user="py-user", client_type=99, device_id="d")
    check("unknown client type number → INVALID_ARGUMENT UNKNOWN_CLIENT_TYPE",
          code == grpc.StatusCode.INVALID_ARGUMENT and reason(info) == "UNKNOWN_CLIENT_TYPE", "%s %s" % (code, reason(info)))
    code, res, info = api.call("GetAttribute", session_id=sid, name="nothing-here")
    check("missing attribute → NOT_FOUND ATTRIBUTE_NOT_FOUND",
          code == grpc.StatusCode.NOT_FOUND and reason(info) == "ATTRIBUTE_NOT_FOUND", "%s %s" % (code, reason(info)))

    # end
    code, _, info = api.call("EndSession", session_id=sid)
    check("EndSession → OK", code == grpc.StatusCode.OK, "%s %s" % (code, reason(info)))
    code, res, _ = api.call("ValidateSession", session_id=sid)
    check("ValidateSession after end → verdict NOT_FOUND", code == grpc.StatusCode.OK and res.verdict == NOT_FOUND,
          "%s %s" % (code, res.verdict if res else None))
    code, res, info = api.call("GetSession", session_id=sid)
    check("GetSession after end → NOT_FOUND SESSION_NOT_FOUND",
          code == grpc.StatusCode.NOT_FOUND and reason(info) == "SESSION_NOT_FOUND", "%s %s" % (code, reason(info)))
    code, _, info = api.call("EndSession", session_id=sid)
    check("EndSession twice → NOT_FOUND", code == grpc.StatusCode.NOT_FOUND, "%s %s" % (code, reason(info)))

    if a.ids_out:
        with open(a.ids_out, "w") as f:
            f.write("\n".join(issued) + "\n")
    return finish(results, a)


def finish(results, a):
    passed = sum(1 for r in results if r["ok"])
    failed = len(results) - passed
    if a.results:
        with open(a.results, "w") as f:
            json.dump(results, f)
    print("python: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
