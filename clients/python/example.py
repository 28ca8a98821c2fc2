#!/usr/bin/python3
"""Calls session-manager from Python: log in, validate a request, keep the session alive, read a
missing attribute (to show the ErrorInfo reason) and log out.

    PYTHONPATH=GEN python3 example.py --target dns:///session-manager-headless.NAMESPACE.svc:50051 [--token-file F]

GEN holds the stubs from `buf generate` with clients/python/buf.gen.yaml (see clients/python/README.md).
Debian: apt-get install python3-grpcio python3-protobuf.
"""
import argparse
import json
import sys

import grpc
from google.rpc import error_details_pb2, status_pb2
from sessionmanager.v1 import session_pb2, session_service_pb2 as sm, session_service_pb2_grpc

# Round robin over every address of the headless Service; retries only for the idempotent calls.
SERVICE_CONFIG = json.dumps({
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [{
        "name": [{"service": "sessionmanager.v1.SessionService", "method": m}
                 for m in ("ValidateSession", "Heartbeat", "GetSession", "GetAttribute")],
        "retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.05s", "maxBackoff": "1s",
                        "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]},
    }],
})


def reason(err):
    """The stable ErrorInfo reason of a session-manager error (from grpc-status-details-bin)."""
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            st = status_pb2.Status.FromString(value)
            for detail in st.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return info.reason
    return err.code().name


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--target", default="dns:///127.0.0.1:50051")
    p.add_argument("--token-file")
    a = p.parse_args()
    metadata = []
    if a.token_file:  # the caller-auth convention: a bearer token on every call
        metadata = [("authorization", "Bearer " + open(a.token_file).read().strip())]
    options = [("grpc.service_config", SERVICE_CONFIG), ("grpc.enable_retries", 1)]
    with grpc.insecure_channel(a.target, options=options) as channel:
        api = session_service_pb2_grpc.SessionServiceStub(channel)
        created = api.CreateSession(sm.CreateSessionRequest(
            site="default", user="pythonista", client_type=session_pb2.CLIENT_TYPE_WEB, device_id="py-example"),
            timeout=10, metadata=metadata)
        sid = created.session_id
        v = api.ValidateSession(sm.ValidateSessionRequest(
            session_id=sid, client=sm.ClientInfo(ip="192.0.2.7", user_agent="py-example")), timeout=5, metadata=metadata)
        print("validate:", sm.Verdict.Name(v.verdict), "user:", v.session.user)
        assert v.verdict == sm.VERDICT_VALID
        hb = api.Heartbeat(sm.HeartbeatRequest(session_id=sid, instance_id="tab-1"), timeout=5, metadata=metadata)
        print("heartbeat:", sm.Verdict.Name(hb.verdict))
        try:
            api.GetAttribute(sm.GetAttributeRequest(session_id=sid, name="cart"), timeout=5, metadata=metadata)
            sys.exit("get missing attribute: no error")
        except grpc.RpcError as e:
            print("get missing attribute:", e.code().name, reason(e))
            assert e.code() == grpc.StatusCode.NOT_FOUND and reason(e) == "ATTRIBUTE_NOT_FOUND"
        api.EndSession(sm.EndSessionRequest(session_id=sid), timeout=5, metadata=metadata)
        after = api.ValidateSession(sm.ValidateSessionRequest(session_id=sid), timeout=5, metadata=metadata)
        print("after logout:", sm.Verdict.Name(after.verdict))
        assert after.verdict == sm.VERDICT_NOT_FOUND


if __name__ == "__main__":
    main()
