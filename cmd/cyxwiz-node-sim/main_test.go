package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestFlagsAreChecked(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--token", ""}, "--token is required"},
		{[]string{"--token", "t", "--device", "tpu"}, `--device "tpu"`},
		{[]string{"--token", "t", "--nodes", "0"}, "--nodes"},
		{[]string{"--token", "t", "--failure", "1.5"}, "--failure"},
	} {
		var out, errOut bytes.Buffer
		t.Setenv("CYXWIZ_NODE_OWNER_TOKEN", "")
		err := run(tt.args, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("run(%q) = %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
}
