// Command example calls session-manager from Go: log in, validate a request, keep the session alive,
// read a missing attribute (to show the ErrorInfo reason) and log out.
//
//	go run . -target dns:///session-manager-headless.NAMESPACE.svc:50051 [-token-file F]
//
// Stubs: `buf generate` with clients/go/buf.gen.yaml (see clients/go/README.md).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	smv1 "example.com/sessionmanager/gen/go/sessionmanager/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// serviceConfig balances over every address of the headless Service and retries only the
// idempotent calls (grpc-go before 1.40 needs GRPC_GO_RETRY=on for retries).
const serviceConfig = `{
  "loadBalancingConfig": [{"round_robin": {}}],
  "methodConfig": [{
    "name": [
      {"service": "sessionmanager.v1.SessionService", "method": "ValidateSession"},
      {"service": "sessionmanager.v1.SessionService", "method": "Heartbeat"},
      {"service": "sessionmanager.v1.SessionService", "method": "GetSession"},
      {"service": "sessionmanager.v1.SessionService", "method": "GetAttribute"}
    ],
    "retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.05s", "maxBackoff": "1s",
                    "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}
  }]
}`

// bearer puts `authorization: Bearer <token>` on every call (the caller-auth convention).
type bearer struct{ token string }

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity is false only so the example runs against a local plaintext node; use TLS in a cluster.
func (b bearer) RequireTransportSecurity() bool { return false }

// reason returns the stable ErrorInfo reason of a session-manager error.
func reason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.Reason
		}
	}
	return status.Code(err).String()
}

func main() {
	target := flag.String("target", "dns:///127.0.0.1:50051", "grpc target of the nodes")
	tokenFile := flag.String("token-file", "", "file holding the caller's bearer token")
	flag.Parse()

	opts := []grpc.DialOption{grpc.WithInsecure(), grpc.WithDefaultServiceConfig(serviceConfig)}
	if *tokenFile != "" {
		raw, err := os.ReadFile(*tokenFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{strings.TrimSpace(string(raw))}))
	}
	conn, err := grpc.Dial(*target, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer conn.Close()
	client := smv1.NewSessionServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	created, err := client.CreateSession(ctx, &smv1.CreateSessionRequest{
		Site: "default", User: "gopher", ClientType: smv1.ClientType_CLIENT_TYPE_WEB, DeviceId: "go-example",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "create:", reason(err), err)
		os.Exit(1)
	}
	id := created.SessionId
	v, err := client.ValidateSession(ctx, &smv1.ValidateSessionRequest{
		SessionId: id, Client: &smv1.ClientInfo{Ip: "192.0.2.7", UserAgent: "go-example"},
	})
	if err != nil || v.Verdict != smv1.Verdict_VERDICT_VALID {
		fmt.Fprintln(os.Stderr, "validate:", v.GetVerdict(), err)
		os.Exit(1)
	}
	fmt.Println("validate:", v.Verdict, "user:", v.Session.User)
	hb, err := client.Heartbeat(ctx, &smv1.HeartbeatRequest{SessionId: id, InstanceId: "tab-1"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "heartbeat:", err)
		os.Exit(1)
	}
	fmt.Println("heartbeat:", hb.Verdict)
	_, err = client.GetAttribute(ctx, &smv1.GetAttributeRequest{SessionId: id, Name: "cart"})
	fmt.Println("get missing attribute:", status.Code(err), reason(err))
	if status.Code(err) != codes.NotFound || reason(err) != "ATTRIBUTE_NOT_FOUND" {
		os.Exit(1)
	}
	if _, err := client.EndSession(ctx, &smv1.EndSessionRequest{SessionId: id}); err != nil {
		fmt.Fprintln(os.Stderr, "end:", err)
		os.Exit(1)
	}
	after, err := client.ValidateSession(ctx, &smv1.ValidateSessionRequest{SessionId: id})
	if err != nil || after.Verdict != smv1.Verdict_VERDICT_NOT_FOUND {
		fmt.Fprintln(os.Stderr, "validate after logout:", after.GetVerdict(), err)
		os.Exit(1)
	}
	fmt.Println("after logout:", after.Verdict)
}
