package capability

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func withStatus(t *testing.T, text string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "status")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	old := statusPath
	statusPath = p
	t.Cleanup(func() { statusPath = old })
}

func TestHasReadsEffectiveSet(t *testing.T) {
	withStatus(t, "Name:\tx\nCapInh:\t0000000000001000\nCapEff:\t0000000000001000\n")
	if ok, err := Has(NetAdmin); err != nil || !ok {
		t.Fatalf("bit 12 set: Has = %v, %v", ok, err)
	}
	withStatus(t, "CapInh:\t0000000000001000\nCapEff:\t0000000000000400\n")
	if ok, err := Has(NetAdmin); err != nil || ok {
		t.Fatalf("only bit 10 set: Has = %v, %v", ok, err)
	}
}

func TestRequireNetAdminSaysWhatToDo(t *testing.T) {
	withStatus(t, "CapEff:\t0000000000000000\n")
	err := RequireNetAdmin("agent apply")
	if err == nil || !strings.Contains(err.Error(), "CAP_NET_ADMIN") || !strings.Contains(err.Error(), "agent apply") {
		t.Fatalf("got %v", err)
	}
}
