package main

import (
	"strings"
	"testing"
)

// TestDeviceIDIsNotACapability is issue 11 case 2, "a device id hands out
// another player's lease", shown over HTTP in three requests against the
// real server and DynamoDB Local.
//
// Scenario: on a one-stream account the TV holds a lease (1). A second
// player asks and is refused; the refusal lists who is watching, the TV's
// deviceId included (2). The second player asks again, sending that
// deviceId (3).
//
// Invariant (docs: leases.md, invariant 5, capability): a lease id is only
// returned to the caller that created it or to one that proves it held it
// (its lease id or device secret); a device id is a label, never a proof.
// So the third answer is a refusal at the limit without the TV's lease id,
// whether or not the TV sent a device secret, and the TV keeps its lease.
func TestDeviceIDIsNotACapability(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"MAX_STREAMS": "1"})
	for _, tc := range []struct{ name, tvBody string }{
		{"tv without secret", `{"deviceId":"living-room-tv"}`},
		{"tv with secret", `{"deviceId":"living-room-tv","deviceSecret":"tv-secret-5b0e8c1d2a47"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uid := "capability-" + strings.ReplaceAll(tc.name, " ", "-")
			// 1. The TV streams.
			tv := call(t, "POST", s.api+"/canStream/"+uid, "application/json", tc.tvBody).
				expect(t, 200, map[string]any{"canStream": true, "streamCount": 1, "maxStreams": 1})
			leaseTV := tv.str("leaseId")

			// 2. Another player is refused and sees the TV's device id.
			refused := call(t, "POST", s.api+"/canStream/"+uid, "", "").
				expect(t, 200, map[string]any{"canStream": false, "streamCount": 1, "maxStreams": 1})
			streams, _ := refused.body["streams"].([]any)
			if len(streams) != 1 {
				t.Fatalf("refusal %s: want the TV's session listed", refused.raw)
			}
			device, _ := streams[0].(map[string]any)["deviceId"].(string)
			if device != "living-room-tv" || strings.Contains(refused.raw, leaseTV) {
				t.Fatalf("refusal %s: want the TV's device id listed, never its lease id", refused.raw)
			}

			// 3. It asks again with that device id: a new request, refused.
			third := call(t, "POST", s.api+"/canStream/"+uid, "application/json", `{"deviceId":"`+device+`"}`)
			if third.status != 200 || third.body["canStream"] != false || third.num("streamCount") != 1 ||
				third.str("leaseId") != "" || third.body["resumed"] != nil || strings.Contains(third.raw, leaseTV) {
				t.Fatalf("a player sending the TV's device id %q got %d %s; want a refusal at the limit without the TV's lease id %s",
					device, third.status, third.raw, leaseTV)
			}

			// The TV's lease is still its own.
			call(t, "POST", s.api+"/heartbeat/"+uid+"/"+leaseTV, "", "").
				expect(t, 200, map[string]any{"leaseId": leaseTV})
		})
	}
}

// TestResumeOverHTTP: a player that proves it holds its lease (device
// secret, or lease id) takes it over under a new lease id at the limit, on
// the real server and DynamoDB Local. Each retry gets a fresh id and only
// the last is renewable; the earlier ids are superseded: their heartbeat
// and canStream answer 410 lease_revoked (reason superseded), their end
// removes nothing.
func TestResumeOverHTTP(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"MAX_STREAMS": "1"})
	const uid = "resume"
	const tvBody = `{"deviceId":"tv","deviceSecret":"tv-secret-93c1f0a7d2e4"}`
	first := call(t, "POST", s.api+"/canStream/"+uid, "application/json", tvBody).
		expect(t, 200, map[string]any{"canStream": true, "streamCount": 1})
	ids := []string{first.str("leaseId")}
	created := call(t, "GET", s.api+"/streams/"+uid, "", "").body["streams"].([]any)[0].(map[string]any)

	// Two retries with the secret, one with the last lease id.
	for _, body := range []string{tvBody, tvBody, ""} {
		if body == "" {
			body = `{"leaseId":"` + ids[len(ids)-1] + `"}`
		}
		a := call(t, "POST", s.api+"/canStream/"+uid, "application/json", body).
			expect(t, 200, map[string]any{"canStream": true, "resumed": true, "streamCount": 1, "maxStreams": 1})
		for _, old := range ids {
			if a.str("leaseId") == old {
				t.Fatalf("canStream %s answered lease id %s again; want a new one", body, old)
			}
		}
		ids = append(ids, a.str("leaseId"))
	}
	last, old := ids[len(ids)-1], ids[:len(ids)-1]
	for _, id := range old {
		call(t, "POST", s.api+"/heartbeat/"+uid+"/"+id, "", "").
			expect(t, 410, map[string]any{"error": "lease_revoked", "reason": "superseded"})
		call(t, "POST", s.api+"/endStream/"+uid+"/"+id, "", "").
			expect(t, 200, map[string]any{"removedStream": false, "streamCount": 1})
		call(t, "POST", s.api+"/canStream/"+uid, "application/json", `{"leaseId":"`+id+`"}`).
			expect(t, 410, map[string]any{"error": "lease_revoked", "reason": "superseded"})
	}
	call(t, "POST", s.api+"/heartbeat/"+uid+"/"+last, "", "").expect(t, 200, map[string]any{"leaseId": last})

	// One session all along: same handle, same createdAt.
	now := call(t, "GET", s.api+"/streams/"+uid, "", "").expect(t, 200, map[string]any{"streamCount": 1})
	session := now.body["streams"].([]any)[0].(map[string]any)
	if session["session"] != created["session"] || session["createdAt"] != created["createdAt"] {
		t.Fatalf("session after the takeovers %v, want the first one's handle and createdAt %v", session, created)
	}
}
