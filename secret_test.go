package starling_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"strings"
	"testing"

	"github.com/starling-social/starling"
)

const plain = "hunter2-very-secret-value"

// TestSecretRedactsItself: a Secret's value cannot reach fmt, log, slog
// (JSON or text) or encoding/json, alone or inside other values; only Reveal
// gives it.
func TestSecretRedactsItself(t *testing.T) {
	s := starling.Secret(plain)
	type request struct {
		Login    string
		Password starling.Secret
		Token    *starling.Secret
	}
	req := request{Login: "alice", Password: s, Token: &s}

	var out []string
	for _, verb := range []string{"%v", "%s", "%q", "%x", "%X", "%#v", "%+v", "%10s", "%-5v"} {
		out = append(out, fmt.Sprintf(verb, s), fmt.Sprintf(verb, req), fmt.Sprintf(verb, []starling.Secret{s}), fmt.Sprintf(verb, map[string]starling.Secret{"k": s}))
	}
	out = append(out, fmt.Sprint(s, req), fmt.Sprintln(s), s.String(), s.GoString())
	out = append(out, fmt.Errorf("sign-in failed for %v with %v", req.Login, s).Error(), errors.New(fmt.Sprint(s)).Error())

	var buf bytes.Buffer
	l := log.New(&buf, "", 0)
	l.Printf("token %v", s)
	l.Print(req)

	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
		lg := slog.New(h)
		lg.Info("attr", "password", s)
		lg.Info("any", slog.Any("req", req))
		lg.Info("group", slog.Group("g", "token", s))
		lg.With("token", s).Info("with")
		lg.Info("slice", "tokens", []starling.Secret{s})
	}
	out = append(out, buf.String())

	for _, v := range []any{s, req, &req, []starling.Secret{s}, map[string]any{"token": s}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	text, _ := s.MarshalText()
	out = append(out, string(text))

	for _, o := range out {
		if strings.Contains(o, plain) || strings.Contains(o, fmt.Sprintf("%x", plain)) || strings.Contains(o, fmt.Sprintf("%X", plain)) {
			t.Errorf("secret leaked: %s", o)
		}
	}
	if !strings.Contains(buf.String(), "[REDACTED]") {
		t.Errorf("logs show no redaction marker:\n%s", buf.String())
	}
	if s.Reveal() != plain {
		t.Fatal("Reveal lost the value")
	}
}
