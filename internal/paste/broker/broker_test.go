package broker

import (
	"strings"
	"testing"
)

// The helper the guides show never prints any part of a password, whatever the URL looks like.
func TestNoPasswordPrinted(t *testing.T) {
	for _, c := range []struct{ url, secret string }{
		{"amqp://svc:2024/Spring!@localhost:1/", "2024/Spring!"},
		{"amqp://guest:hunter2#tail@localhost:1/", "hunter2"},
		{"amqp://guest:a?b=c@localhost:1/", "a?b=c"},
		{"amqp://guest:p@ss@localhost:1/", "p@ss"},
		{"amqp://guest:secret@host:notaport/", "secret"},
		{"amqp://guest:secret@localhost:1/", "secret"},
	} {
		_, err := DialURL(c.url, "test")
		if err == nil || strings.Contains(err.Error(), c.secret) {
			t.Errorf("DialURL(%q): %v", c.url, err)
		}
		if r := Redact(c.url); strings.Contains(r, c.secret) {
			t.Errorf("Redact(%q) = %q", c.url, r)
		}
	}
}
