package director

import (
	"testing"

	"github.com/lvsnode/lvsnode/internal/etcdtest"
)

// A first start while etcd is not up yet (a group booted together, its
// directors before etcd): once etcd answers, director.yaml's services are
// seeded and served (regression: the table stayed empty until a SIGHUP).
func TestEtcdSeedOnceEtcdAnswers(t *testing.T) {
	srv := etcdtest.Start(t)
	srv.Stop()
	file := `services:
  - service: tcp 10.0.0.100:80
    nodes: [{address: 10.0.0.11, weight: 1}]
`
	a := startEtcdDirectorFile(t, "a", srv.Endpoint, file)
	if got := a.weights(); got != "" {
		t.Fatalf("a first start while etcd is down serves %q: nothing is known yet", got)
	}
	srv.Start()
	within15s(t, "the file's service once etcd answers", func() bool { return a.weights() == "tcp 10.0.0.100:80 10.0.0.11:80 w=1\n" })
	if got := a.d.Status().Store.FileConflicts; len(got) != 0 {
		t.Fatalf("store.file_conflicts %v after the seed", got)
	}
}
